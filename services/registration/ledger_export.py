"""The mobile-member ledger (台账): its rows, streamed from the database, and the files they are
written to (csv, json, xlsx). The caller checked the scope and audited the export first
(commands.open_ledger)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from services.registration import domain
from services.registration.models import Member
from shared.db import Database

LEDGER_COLUMNS = (
    "member_id",
    "name",
    "gender",
    "status",
    "branch_code",
    "activity_card_no",
    "departed_on",
    "destination_region",
    "occupation",
    "employer",
    "current_address",
    "inflow_branch_code",
    "arrived_on",
    "contact_phone",
    "dues_paid_through",
    "last_contact_at",
    "lost_contact",
)


def ledger_rows(database: Database, path: str, batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    """The mobile members of a subtree as tuples in LEDGER_COLUMNS order, streamed from a
    server-side cursor so memory stays flat however large the subtree is. The caller checked
    the scope and audited the export first (commands.open_ledger)."""
    statement = (
        select(*(getattr(Member, "id" if name == "member_id" else name) for name in LEDGER_COLUMNS))
        .where(Member.mobile.is_(True))
        .order_by(Member.id)
    )
    if path != f"/{domain.ROOT_CODE}/":
        # Paths end with "/", so a prefix match is exactly the subtree (the index serves it).
        statement = statement.where(Member.branch_path.like(f"{path}%"))
    phone = LEDGER_COLUMNS.index("contact_phone")
    with database.reader() as session:
        # yield_per implies stream_results: PostgreSQL uses a named (server-side) cursor.
        for row in session.execute(statement.execution_options(yield_per=batch)):
            values = tuple(row)
            if values[phone]:
                # A ledger is a listing: contact numbers are masked like in every other list.
                values = (*values[:phone], domain.mask_phone(values[phone]), *values[phone + 1 :])
            yield values


def _ledger_text(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# A cell starting with one of these is run as a formula (or DDE command) by spreadsheet programs.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _ledger_cell(value: Any) -> Any:
    """A ledger value for a spreadsheet (xlsx or csv): text a member wrote stays text, never a
    formula (`=HYPERLINK(...)`, `+cmd|...`): it is written with a leading apostrophe."""
    value = _ledger_text(value)
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def _batches(rows: Iterator[tuple[Any, ...]], size: int = 1000) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_stream(rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a BOM so spreadsheet programs read the Chinese names as UTF-8
    writer.writerow(LEDGER_COLUMNS)
    for batch in _batches(rows):
        writer.writerows([_ledger_cell(value) for value in row] for row in batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def json_stream(org: str, rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    yield '{"org": ' + json.dumps(org) + ', "items": ['
    separator = ""
    for batch in _batches(rows):
        yield separator + ",".join(
            json.dumps(dict(zip(LEDGER_COLUMNS, row, strict=True)), default=_ledger_text, ensure_ascii=False)
            for row in batch
        )
        separator = ","
    yield "]}"


def xlsx_file(rows: Iterator[tuple[Any, ...]]) -> Any:
    from openpyxl import Workbook

    # write_only keeps openpyxl's memory flat; the workbook goes to a temporary file, not RAM.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("ledger")
    sheet.append(list(LEDGER_COLUMNS))
    for row in rows:
        sheet.append([_ledger_cell(value) for value in row])
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it after the response)
    workbook.save(spool)
    spool.seek(0)
    return spool
