"""Sheets for people (the ledger, the console's list exports): csv that spreadsheet programs open
as UTF-8 and never run as formulas. The streamed xlsx is shared.xlsx_stream (its text cells are
inline strings, never formulas)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

# A cell starting with one of these is run as a formula (or DDE command) by spreadsheet programs.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_LEADS)


def csv_cell(value: Any) -> Any:
    """csv has no cell types: text a spreadsheet would run as a formula gets a leading apostrophe
    (which the ledger import takes off again); dates are written YYYY-MM-DD."""
    if isinstance(value, date):
        return value.isoformat()
    if is_formula_like(value):
        return "'" + value
    return value


def csv_stream(
    title: str | None, headers: Sequence[str], rows: Iterable[Sequence[Any]], batch: int = 1000
) -> Iterator[str]:
    """A csv, `batch` rows a chunk: a BOM (so spreadsheet programs read UTF-8), the title row
    (if any), the header row, then the rows; every cell formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    if title is not None:
        writer.writerow([csv_cell(title)])
    writer.writerow([csv_cell(header) for header in headers])
    pending = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        pending += 1
        if pending == batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()
