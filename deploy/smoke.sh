#!/usr/bin/env bash
# Starts `make run` as the README says, waits until all four /readyz answer 200, stops it.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
SECONDS=0
setsid make run >"$log" 2>&1 &
pid=$!
ready=0
for _ in $(seq 240); do
  ok=0
  for port in 5001 5002 5003 5004; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
    [ "$code" = 200 ] && ok=$((ok + 1))
  done
  if [ "$ok" = 4 ]; then ready=1; break; fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 1
done
elapsed=$SECONDS
kill -INT -- "-$pid" 2>/dev/null
for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
kill -KILL -- "-$pid" 2>/dev/null
if [ "$ready" = 1 ]; then
  echo "make run: all four /readyz answered 200 after ${elapsed}s"
  exit 0
fi
echo "make run did not become ready; its output:" >&2
tail -n 80 "$log" >&2
exit 1
