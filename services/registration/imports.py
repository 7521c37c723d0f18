"""Reading existing member ledgers (xlsx or csv) into rows for the import use case.

Parsing and per-row schema validation live here; the rules that need the database (branch,
duplicates) and the all-or-nothing write live in commands.import_members.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from marshmallow import ValidationError
from openpyxl.utils import column_index_from_string

from services.registration import domain
from services.registration.schemas import MemberCreateSchema
from shared import clock
from shared.errors import InvalidInput, NuanliuError

COLUMNS = tuple(MemberCreateSchema().fields)
_ROW_SCHEMA = MemberCreateSchema()

# Limits that hold before a row is read (docs API additions: 5 MB, 10,000 rows). A spreadsheet is
# a zip: a few KB can unpack to gigabytes or declare a sheet of a million rows by 16K columns.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_COLUMNS = 64
MAX_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_ZIP_MEMBERS = 200


class UploadTooLarge(NuanliuError):
    status = 413


@dataclass
class ParsedFile:
    rows: int = 0
    valid: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field="file", location="files")


def read_capped(stream: IO[bytes]) -> bytes:
    """The upload, refused with 413 once it passes MAX_UPLOAD_BYTES (never read past it)."""
    content = stream.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(f"the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", "file", "files")
    return content


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


def _rows(content: bytes, filename: str) -> Iterator[Sequence[Any]]:
    """The file's rows, header first, never more than the header and MAX_ROWS + 1 rows."""
    if content[:2] == b"PK" or filename.lower().endswith(".xlsx"):
        return _xlsx_rows(content)
    return _csv_rows(content)


def _check_archive(content: bytes) -> None:
    """Refuse a zip whose members would unpack past MAX_UNPACKED_BYTES, before any is opened
    (zipfile never returns more than a member's declared size, so the declared sizes bound it),
    and any worksheet whose declared dimension is missing or too large."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
                raise _refuse(f"the xlsx file unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB")
            for member in members:
                if member.filename.endswith(".xml"):
                    with archive.open(member) as part:
                        _check_dimension(part.read(SHEET_HEAD_BYTES))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise _refuse(f"not a readable xlsx file: {type(error).__name__}") from error


# The head of an XML part: its root element and, in a worksheet, the <dimension> before the rows.
SHEET_HEAD_BYTES = 64 * 1024
_WORKSHEET = re.compile(rb"<(?:[\w.-]+:)?worksheet[\s>]")
_DIMENSION = re.compile(
    rb'<(?:[\w.-]+:)?dimension\s+ref="\$?([A-Z]{1,3})\$?(\d{1,7})(?::\$?([A-Z]{1,3})\$?(\d{1,7}))?"'
)
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)


def _check_dimension(head: bytes) -> None:
    """A worksheet must declare its size before its rows, within the limits. Without one,
    openpyxl reads the whole sheet just to size it: that is the row bomb."""
    head = _COMMENT.sub(b"", head)
    if not _WORKSHEET.search(head):
        return
    declared = _DIMENSION.search(head)
    if declared is None:
        raise _refuse("the sheet declares no dimension; save it again from a spreadsheet program")
    last_column, last_row = declared.group(3) or declared.group(1), declared.group(4) or declared.group(2)
    columns, rows = column_index_from_string(last_column.decode()), int(last_row)
    if rows > MAX_ROWS + 1 or columns > MAX_COLUMNS:
        raise _refuse(
            f"the sheet declares {rows} rows and {columns} columns; "
            f"at most {MAX_ROWS} rows and {MAX_COLUMNS} columns"
        )


def _xlsx_rows(content: bytes) -> Iterator[Sequence[Any]]:
    from openpyxl import load_workbook

    _check_archive(content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
    except Exception as error:  # openpyxl raises many types for a damaged file
        raise _refuse(f"not a readable xlsx file: {type(error).__name__}") from error
    try:
        # The declared <dimension ref=...> sizes every row openpyxl builds: check it first.
        declared_rows, declared_columns = sheet.max_row or 0, sheet.max_column or 0
        if declared_rows > MAX_ROWS + 1 or declared_columns > MAX_COLUMNS:
            raise _refuse(
                f"the sheet declares {declared_rows} rows and {declared_columns} columns; "
                f"at most {MAX_ROWS} rows and {MAX_COLUMNS} columns"
            )
        rows = sheet.iter_rows(
            max_row=MAX_ROWS + 2, max_col=min(declared_columns or MAX_COLUMNS, MAX_COLUMNS), values_only=True
        )
        yield from _guarded(rows, "not a readable xlsx file")
    finally:
        workbook.close()


def _csv_rows(content: bytes) -> Iterator[Sequence[Any]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _refuse("a csv file must be UTF-8") from error
    if "\x00" in text:
        raise _refuse("a csv file must not contain NUL characters")
    # csv refuses fields over its limit (128 KB) with csv.Error: a 422, not a 500.
    rows = csv.reader(io.StringIO(text))
    yield from _guarded(
        itertools.islice(rows, MAX_ROWS + 2), "not a readable csv file (a field over 128 KB?)"
    )


def _guarded(rows: Iterator[Sequence[Any]], message: str) -> Iterator[Sequence[Any]]:
    """`rows`, a parser's error on the way becoming a 422 naming the file."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as error:  # csv.Error, XML and zlib errors of a damaged file
            raise _refuse(f"{message}: {type(error).__name__}") from error
        yield row


def parse_members(content: bytes, filename: str, branch_code: str, today: date | None = None) -> ParsedFile:
    """Every data row validated against the member schema and rules; errors name row and field.
    `today` defaults to today in China (shared.clock). Rows are streamed: a file over MAX_ROWS
    is refused at its row MAX_ROWS + 1, whatever it holds after."""
    today = today or clock.local_today()
    rows = _rows(content, filename)
    first = next(rows, None)
    if first is None:
        raise _refuse("the file is empty; the first row must name the columns")
    header = _header(list(first))
    parsed = ParsedFile()
    for number, cells in enumerate(rows, start=1):
        if number > MAX_ROWS:
            raise _refuse(f"at most {MAX_ROWS} rows per file")
        if all(_cell_text("", cell) is None for cell in cells):
            continue
        parsed.rows += 1
        loaded, problems = _check_row(_record(header, list(cells), branch_code), branch_code, today)
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
