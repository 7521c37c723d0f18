"""Reading existing member ledgers (xlsx or csv) into rows for the import use case.

Parsing and per-row schema validation live here; the rules that need the database (branch,
duplicates) and the all-or-nothing write live in commands.import_members.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from marshmallow import ValidationError

from services.registration import domain
from services.registration.schemas import MemberCreateSchema
from shared import clock
from shared.errors import InvalidInput

COLUMNS = tuple(MemberCreateSchema().fields)
MAX_ROWS = 50_000
_ROW_SCHEMA = MemberCreateSchema()


@dataclass
class ParsedFile:
    rows: int = 0
    valid: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _cell_text(column: str, value: Any) -> str | None:
    """Spreadsheet cells arrive typed; the member schema wants the API's text forms."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m") if column == "dues_paid_through" else value.date().isoformat()
    if isinstance(value, date):
        return value.strftime("%Y-%m") if column == "dues_paid_through" else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _table(content: bytes, filename: str) -> list[list[Any]]:
    if content[:2] == b"PK" or filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many types for a damaged file
            raise InvalidInput(
                f"not a readable xlsx file: {type(error).__name__}", field="file", location="files"
            ) from error
        sheet = workbook.worksheets[0]
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
        workbook.close()
        return table
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput("a csv file must be UTF-8", field="file", location="files") from error
    return [list(row) for row in csv.reader(io.StringIO(text))]


def parse_members(content: bytes, filename: str, branch_code: str, today: date | None = None) -> ParsedFile:
    """Every data row validated against the member schema and rules; errors name row and field.
    `today` defaults to today in China (shared.clock)."""
    today = today or clock.local_today()
    table = _table(content, filename)
    if not table:
        raise InvalidInput(
            "the file is empty; the first row must name the columns", field="file", location="files"
        )
    header = _header(table[0])
    if len(table) - 1 > MAX_ROWS:
        raise InvalidInput(f"at most {MAX_ROWS} rows per file", field="file", location="files")
    parsed = ParsedFile()
    for number, cells in enumerate(table[1:], start=1):
        if all(_cell_text("", cell) is None for cell in cells):
            continue
        parsed.rows += 1
        loaded, problems = _check_row(_record(header, cells, branch_code), branch_code, today)
        if problems:
            parsed.errors += [
                {"row": number, "field": name, "message": message}
                for name, message in sorted(problems.items())
            ]
        else:
            parsed.valid.append((number, loaded))
    return parsed


def _header(cells: list[Any]) -> list[str]:
    """The column names of the first row; unknown or missing columns refuse the whole file."""
    header = [str(cell).strip() if cell is not None else "" for cell in cells]
    unknown = [name for name in header if name and name not in COLUMNS]
    missing = [name for name in COLUMNS if name != "branch_code" and name not in header]
    if unknown or missing:
        problems = [f"unknown columns: {', '.join(unknown)}"] if unknown else []
        problems += [f"missing columns: {', '.join(missing)}"] if missing else []
        raise InvalidInput("; ".join(problems), field="file", location="files")
    return header


def _record(header: list[str], cells: list[Any], branch_code: str) -> dict[str, str]:
    """One row as the member schema's text fields; an absent branch is the import's branch."""
    record = {
        name: _cell_text(name, cells[index] if index < len(cells) else None)
        for index, name in enumerate(header)
        if name
    }
    present = {name: value for name, value in record.items() if value is not None}
    present.setdefault("branch_code", branch_code)
    return present


def _check_row(
    record: dict[str, str], branch_code: str, today: date
) -> tuple[dict[str, Any], dict[str, str]]:
    """The row as loaded, and every problem of it by field: its schema errors, another branch,
    and the member rules on whatever fields did load."""
    problems: dict[str, str] = {}
    if record["branch_code"] != branch_code:
        problems["branch_code"] = f"the import is for branch {branch_code}"
    try:
        loaded = _ROW_SCHEMA.load(record)
    except ValidationError as error:
        loaded = error.valid_data if isinstance(error.valid_data, dict) else {}
        for name, problem in error.normalized_messages().items():
            text = problem[0] if isinstance(problem, list) and problem else problem
            problems.setdefault(str(name), str(text))
    for name, message in domain.member_problems(loaded, today):
        problems.setdefault(name, message)
    return loaded, problems
