#!/usr/bin/env bash
# Starts `make run` as the README says, waits until all four /readyz answer 200, drives the
# README's slice by hand (a dev token, a member, a check-in, the secretary's notification),
# then stops it with Ctrl-C and checks that every process is gone.
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

slice=0
if [ "$ready" = 1 ]; then
  branch=TJ-WQ-YC-01
  admin=$(.venv/bin/nuanliu token --role admin --org CN --sub admin)
  secretary=$(.venv/bin/nuanliu token --role branch_secretary --org "$branch" --sub "smoke-sec")
  # A fresh, valid resident ID and phone each run: it may run again on the same databases.
  read -r id_number phone < <(.venv/bin/python -c '
import random
from services.registration.domain import id_check_digit
first = "110105" + "19900517" + f"{random.randrange(1000):03d}"
print(first + id_check_digit(first), f"138{random.randrange(10**8):08d}")')
  member=$(curl -s -X POST localhost:5001/api/v1/members -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d "{\"name\":\"冒烟\",\"gender\":\"male\",\"birth_date\":\"1990-05-17\",
    \"id_number\":\"$id_number\",\"phone\":\"$phone\",\"status\":\"full\",\"branch_code\":\"$branch\",
    \"joined_on\":\"2015-07-01\",\"dues_paid_through\":\"2026-01\"}" |
    .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))')
  if [ -n "$member" ]; then
    mine=$(.venv/bin/nuanliu token --role member --org "$branch" --sub "$member")
    curl -s -o /dev/null -X POST localhost:5001/api/v1/checkins -H "Authorization: Bearer $mine" \
      -H 'Content-Type: application/json' -d "{\"member_id\":\"$member\",\"branch_code\":\"$branch\",\"kind\":\"self\"}"
    for _ in $(seq 60); do
      if curl -s "localhost:5004/api/v1/notifications?limit=200" -H "Authorization: Bearer $secretary" |
        grep -q "冒烟"; then
        slice=1
        break
      fi
      sleep 1
    done
  fi
fi

kill -INT -- "-$pid" 2>/dev/null
stopped=0
for _ in $(seq 30); do
  if ! kill -0 "$pid" 2>/dev/null && ! pgrep -g "$pid" >/dev/null; then stopped=1; break; fi
  sleep 1
done
kill -KILL -- "-$pid" 2>/dev/null

if [ "$ready" = 1 ] && [ "$slice" = 1 ] && [ "$stopped" = 1 ]; then
  echo "make run: all four /readyz answered 200 after ${elapsed}s; the slice worked; Ctrl-C stopped everything"
  exit 0
fi
[ "$ready" = 1 ] || echo "make run did not become ready" >&2
[ "$ready" = 1 ] && [ "$slice" = 0 ] && echo "the check-in did not reach the secretary's notifications" >&2
[ "$stopped" = 0 ] && echo "Ctrl-C did not stop every process within 30 s" >&2
echo "its output:" >&2
tail -n 80 "$log" >&2
exit 1
