"""A batch of 100 decisions against 100 single decisions, over HTTP on a real stack.

Run: .venv/bin/python -m bench.transfer_batch [--items 100] [--rounds 2]

The graduate peak (June–September) brings a secretary dozens of transfers to approve at once:
`POST /api/v1/transfers/decisions` decides up to 100 in one request, each item exactly as the
single endpoint (`POST /api/v1/transfers/{id}/decisions`) would, so each still costs its own
workflow update and projection step. The baseline is the same number of single calls, one after
another as a secretary's client would send them, measured in the same run on the same stack. The
two take turns (the batch first in even rounds), each on transfers of its own, all waiting at the
sending branch (each approval there reads the member's dues from registration, in both).
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.common import emit, running_stack

PROCESSES = ["temporal", "registration-api", "transfer-api", "transfer-worker"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from tests.e2e.transfer_stack import create_chain
    from tests.support.builders import member_body
    from tests.support.tokens import ADMIN, bearer

    with running_stack(PROCESSES) as stack:
        registration, transfer = stack.url("registration"), stack.url("transfer")
        levels = [
            ("province", "湖北省"),
            ("county", "利川市"),
            ("township", "谋道镇"),
            ("branch", "鱼木村党支部"),
        ]
        sending = create_chain(registration, levels)
        receiving = create_chain(registration, [("branch", "红建村党支部")], parent=sending["township"])
        secretary = bearer("branch_secretary", sending["branch"], "bench-secretary")
        session = requests.Session()

        def new_transfer(_: int) -> str:
            body = member_body(sending["branch"])
            member = requests.post(f"{registration}/api/v1/members", json=body, headers=ADMIN, timeout=30)
            member.raise_for_status()
            application = {
                "member_id": member.json()["id"],
                "to_branch_code": receiving["branch"],
                "reason": "毕业分配",
            }
            applied = requests.post(
                f"{transfer}/api/v1/transfers", json=application, headers=secretary, timeout=60
            )
            applied.raise_for_status()
            return str(applied.json()["id"])

        def prepare(count: int) -> list[str]:
            with ThreadPoolExecutor(max_workers=4) as pool:
                return list(pool.map(new_transfer, range(count)))

        def singles(ids: list[str]) -> float:
            started = time.perf_counter()
            for transfer_id in ids:
                response = session.post(
                    f"{transfer}/api/v1/transfers/{transfer_id}/decisions",
                    json={"decision": "approve"},
                    headers=secretary,
                    timeout=60,
                )
                assert response.status_code == 200, response.text
            return time.perf_counter() - started

        def batch(ids: list[str]) -> float:
            items = [{"transfer_id": transfer_id, "decision": "approve"} for transfer_id in ids]
            started = time.perf_counter()
            response = session.post(
                f"{transfer}/api/v1/transfers/decisions",
                json={"items": items},
                headers=secretary,
                timeout=600,
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            statuses = {result["status"] for result in response.json()["results"]}
            assert statuses == {200}, statuses
            return elapsed

        # Untimed warm-up: gunicorn workers, client connections, the org directory's cache.
        warm = prepare(4)
        singles(warm[:2])
        batch(warm[2:])
        single_times, batch_times = [], []
        for round_no in range(args.rounds):
            for kind in ("batch", "single") if round_no % 2 == 0 else ("single", "batch"):
                ids = prepare(args.items)
                if kind == "batch":
                    batch_times.append(batch(ids))
                else:
                    single_times.append(singles(ids))
            print(
                f"round {round_no + 1}: {args.items} single calls {single_times[-1]:.2f} s, "
                f"one batch of {args.items} {batch_times[-1]:.2f} s",
                flush=True,
            )

    single, batched = statistics.median(single_times), statistics.median(batch_times)
    print(
        f"{args.items} single decisions (baseline): {single:.2f} s ({args.items / single:.1f} decisions/s); "
        f"one batch: {batched:.2f} s ({args.items / batched:.1f} decisions/s); ratio {batched / single:.2f}"
    )
    emit(
        f"transfer_batch_{args.items}_seconds", batched, "s", f"transfer_single_x{args.items}_seconds", single
    )


if __name__ == "__main__":
    main()
