"""Rendering the three-part introduction letter (issue 20): letters per second on one worker,
and the p99 of one render, against rendering the same HTML without its QR codes, in the same run.

What is timed is what `GET /transfers/{id}/letter.pdf` does once its data is loaded (with no
database session open): the Jinja template, three QR codes drawn by segno as inline SVG, and
weasyprint laying out and writing the A4 PDF with the Noto CJK fonts subset into it. The HTTP
reads of the member and org names from registration are not included (they are cached or
measured by the registration benchmarks). Each letter has its own serial, so no QR is reused.

LETTER_RENDERS (default 60) renders per variant, after 5 warm-up renders each.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import date, timedelta
from typing import Any

from bench.common import emit
from services.transfer.letter_codes import LetterCodes
from services.transfer.letters import LOADER, MemberParticulars
from shared.documents import render_pdf

CODES = LetterCodes(os.urandom(32), "http://127.0.0.1:5000")


def context(sequence: int, with_qr: bool) -> dict[str, Any]:
    number = f"TJ-WQ-2026-{sequence:06d}"
    issued = date(2026, 12, 7)
    return {
        "number": number,
        "issued_on": issued,
        "valid_until": issued + timedelta(days=90),
        "validity_days": 90,
        "dues_year": "2026",
        "dues_month": "12",
        "member": MemberParticulars("朱明", "女", 38, "预备党员", "11010519880309002X"),
        "issuing_org_name": "中共天津市武清区委组织部",
        "sending_org_name": "武清区杨村街道第一社区党支部",
        "receiving_org_name": "浙江省绍兴市柯桥区红建村党支部",
        "verification_url": CODES.verification_url(number),
        "verify_hint": "http://127.0.0.1:5000/verify",
        "with_qr": with_qr,
    }


def measure(with_qr: bool, renders: int, start: int) -> tuple[float, float, int]:
    """(letters per second, p99 ms, bytes of the last PDF)."""
    for warm in range(5):
        render_pdf(LOADER, "letter.html", context(start + warm, with_qr))
    took: list[float] = []
    size = 0
    began = time.perf_counter()
    for n in range(renders):
        one = time.perf_counter()
        size = len(render_pdf(LOADER, "letter.html", context(start + 100 + n, with_qr)))
        took.append(time.perf_counter() - one)
    elapsed = time.perf_counter() - began
    p99 = statistics.quantiles(took, n=100)[98] * 1000 if len(took) >= 2 else took[0] * 1000
    return renders / elapsed, p99, size


def main() -> None:
    renders = int(os.environ.get("LETTER_RENDERS", "60"))
    # Alternate the variants so drift on a shared machine falls on both alike.
    plain_rate, plain_p99, plain_size = measure(False, renders // 2, 10_000)
    qr_rate, qr_p99, qr_size = measure(True, renders // 2, 20_000)
    plain_rate2, plain_p992, _ = measure(False, renders - renders // 2, 30_000)
    qr_rate2, qr_p992, _ = measure(True, renders - renders // 2, 40_000)
    plain = statistics.fmean([plain_rate, plain_rate2])
    with_qr = statistics.fmean([qr_rate, qr_rate2])
    print(f"letter with QR: {with_qr:.1f} letters/s, p99 {max(qr_p99, qr_p992):.0f} ms, {qr_size} bytes")
    print(
        f"baseline, same HTML without QR: {plain:.1f} letters/s, p99 {max(plain_p99, plain_p992):.0f} ms, {plain_size} bytes"
    )
    emit("letter render (one worker)", with_qr, "letters/s", "same HTML without QR", plain)
    emit(
        "letter render p99 (lower is better)",
        max(qr_p99, qr_p992),
        "ms",
        "same HTML without QR",
        max(plain_p99, plain_p992),
    )


if __name__ == "__main__":
    main()
