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
from openpyxl.utils import column_index_from_string, get_column_letter

from services.registration import domain
from services.registration.schemas import MemberCreateSchema
from shared import clock, sheets
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
# A sheet may open with a title or notes rows (the template, the ledger export): the column
# names are looked for in its first rows, and those rows are not counted as member rows.
HEADER_SEARCH_ROWS = 5
MAX_SHEET_ROWS = MAX_ROWS + HEADER_SEARCH_ROWS

# The Chinese column names a secretary's sheet has (the template's and the ledger export's),
# with a few names people commonly write; the English ones are the API's field names.
CHINESE_HEADERS = {
    "name": "姓名",
    "gender": "性别",
    "birth_date": "出生日期",
    "id_number": "公民身份号码",
    "phone": "手机号码",
    "status": "党员类别",
    "branch_code": "所在支部代码",
    "joined_on": "入党日期",
    "dues_paid_through": "党费缴至",
}
HEADER_ALIASES = {
    **{chinese: name for name, chinese in CHINESE_HEADERS.items()},
    "身份证号码": "id_number",
    "身份证号": "id_number",
    "手机号": "phone",
}
# Columns the ledger export (ledger_export.SHEET_COLUMNS) adds, and a sheet's own row number and
# remarks: read past, so an exported ledger imports back as it is.
IGNORED_HEADERS = frozenset(
    {
        "序号",
        "备注",
        "所在支部",
        "活动证号",
        "外出日期",
        "流入地区划代码",
        "流入地",
        "从事职业",
        "工作单位",
        "现居住地址",
        "流入地党组织代码",
        "流入地党组织",
        "到达日期",
        "联系电话",
        "最近联系时间",
        "失去联系",
    }
)
GENDERS = {"男": "male", "女": "female"}
STATUSES = {"正式党员": "full", "预备党员": "probationary", "正式": "full", "预备": "probationary"}
DATE_COLUMNS = frozenset({"birth_date", "joined_on"})
# The ledger export writes text that a spreadsheet would run as a formula with a leading
# apostrophe (csv); reading it back takes the apostrophe off again.
FORMULA_LEADS = sheets.FORMULA_LEADS


class UploadTooLarge(NuanliuError):
    status = 413


@dataclass
class ParsedFile:
    rows: int = 0
    valid: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Where things are in the sheet, for errors a person can find: the sheet row of the column
    # names (data row n is sheet row header_row + n), and each field's column letter and name.
    header_row: int = 1
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field="file", location="files")


def read_capped(stream: IO[bytes]) -> bytes:
    """The upload, refused with 413 once it passes MAX_UPLOAD_BYTES (never read past it)."""
    content = stream.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(f"the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", "file", "files")
    return content


_TEXT_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_TEXT_MONTH = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$")
# Excel's serial day numbers of 1900-01-01 .. 9999-12-31 (a date cell saved without its format).
_EXCEL_SERIALS = (1, 2_958_465)


def _cell_text(column: str, value: Any) -> str | None:
    """Spreadsheet cells arrive typed, and people write dates and values their own way; the
    member schema wants the API's text forms (1990-05-17, 2026-11, male, full)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if column in DATE_COLUMNS or column == "dues_paid_through":
        value = _as_date(value)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%Y-%m") if column == "dues_paid_through" else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_LEADS):
        text = text[1:]
    if column == "gender":
        text = GENDERS.get(text, text)
    elif column == "status":
        text = STATUSES.get(text, text)
    return text or None


def _as_date(value: Any) -> Any:
    """A date cell, an Excel serial number or a text date (1990-5-17, 1990/05/17, 1990.5.17,
    1990年5月17日, 19900517; months as 2026-11 or 2026年11月) as a date; anything else as it was."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if _EXCEL_SERIALS[0] <= value <= _EXCEL_SERIALS[1]:
            from openpyxl.utils.datetime import from_excel

            return from_excel(value)
        return value
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if found := _TEXT_DATE.match(text):
        year, month, day = (int(part) for part in found.groups())
        try:
            return date(year, month, day)
        except ValueError:
            return value
    if found := _TEXT_MONTH.match(text):
        year, month = (int(part) for part in found.groups())
        return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else value
    return value


def _rows(content: bytes, filename: str) -> Iterator[Sequence[Any]]:
    """The file's rows, never more than MAX_SHEET_ROWS + 1 (title and header rows, MAX_ROWS + 1
    member rows)."""
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
    if rows > MAX_SHEET_ROWS or columns > MAX_COLUMNS:
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
        if declared_rows > MAX_SHEET_ROWS or declared_columns > MAX_COLUMNS:
            raise _refuse(
                f"the sheet declares {declared_rows} rows and {declared_columns} columns; "
                f"at most {MAX_ROWS} rows and {MAX_COLUMNS} columns"
            )
        rows = sheet.iter_rows(
            max_row=MAX_SHEET_ROWS + 1,
            max_col=min(declared_columns or MAX_COLUMNS, MAX_COLUMNS),
            values_only=True,
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
        itertools.islice(rows, MAX_SHEET_ROWS + 1), "not a readable csv file (a field over 128 KB?)"
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
    header, header_row = _find_header(rows)
    parsed = ParsedFile(header_row=header_row, columns=_columns(header))
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


def _find_header(rows: Iterator[Sequence[Any]]) -> tuple[list[str], int]:
    """The column names (as field names; "" for a column read past) and their sheet row: the
    first of the first HEADER_SEARCH_ROWS rows that names three known columns, so a title or
    notes row above them is skipped. Without one, the first non-empty row is taken and its
    unknown or missing columns refuse the whole file."""
    first: tuple[list[Any], int] | None = None
    for number, cells in enumerate(itertools.islice(rows, HEADER_SEARCH_ROWS), start=1):
        names = [_header_text(cell) for cell in cells]
        if sum(1 for name in names if name in COLUMNS or name in HEADER_ALIASES) >= 3:
            return _header(names), number
        if first is None and any(names):
            first = (names, number)
    if first is None:
        raise _refuse("the file is empty; the first row must name the columns")
    return _header(first[0]), first[1]


def _header_text(cell: Any) -> str:
    # People mark required columns (姓名*) and pad names with full-width spaces.
    return "" if cell is None else str(cell).replace("\u3000", " ").strip().rstrip("*＊").strip()


def _header(names: list[str]) -> list[str]:
    """The row's columns as field names; unknown, repeated or missing columns refuse the file."""
    header = [
        "" if name in IGNORED_HEADERS else name if name in COLUMNS else HEADER_ALIASES.get(name, name)
        for name in names
    ]
    unknown = [text for text, name in zip(names, header, strict=True) if name and name not in COLUMNS]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    missing = [name for name in COLUMNS if name != "branch_code" and name not in header]
    if unknown or repeated or missing:
        problems = [f"无法识别的列（unknown columns）：{'、'.join(unknown)}"] if unknown else []
        problems += [f"重复的列（repeated columns）：{'、'.join(_named(repeated))}"] if repeated else []
        problems += [f"缺少的列（missing columns）：{'、'.join(_named(missing))}"] if missing else []
        raise InvalidInput("；".join(problems), field="file", location="files")
    return header


def _named(fields: list[str]) -> list[str]:
    return [f"{CHINESE_HEADERS[name]}（{name}）" for name in fields]


def _columns(header: list[str]) -> dict[str, tuple[str, str]]:
    return {
        name: (get_column_letter(index + 1), CHINESE_HEADERS[name])
        for index, name in enumerate(header)
        if name
    }


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


# --- errors a secretary can act on ------------------------------------------------------------

# What each column must hold, said as a person would (the schema's own messages are English).
EXPECTED = {
    "name": "应填写姓名（1 至 100 个字，不含控制字符）",
    "gender": "应填“男”或“女”",
    "birth_date": "应为日期，如 1990-05-17",
    "id_number": "应为 18 位公民身份号码",
    "phone": "应为 11 位手机号码",
    "status": "应填“正式党员”或“预备党员”",
    "branch_code": "应为支部代码",
    "joined_on": "应为日期，如 2015-07-01",
    "dues_paid_through": "应为年月，如 2026-11",
}
RULES = {
    "birth_date differs from the one in id_number": "与公民身份号码中的出生日期不一致",
    "phone must be an 11-digit mainland mobile number": "应为 11 位大陆手机号码（1 开头）",
    "joined_on must be on or after the 18th birthday": "入党日期应在年满 18 周岁之后",
    "joined_on cannot be in the future": "入党日期不能晚于今天",
    "dues_paid_through cannot be beyond this month": "党费缴至不能晚于本月",
    "a member with this id_number is already registered": "该公民身份号码已登记",
}
_REPEATS = re.compile(r"^repeats row (\d+)$")
_OTHER_BRANCH = re.compile(r"^the import is for branch (\S+)$")


def readable_errors(parsed: ParsedFile, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The row errors, same shape ({row, field, message}), each message in Chinese naming the
    sheet row and column as the spreadsheet shows them (第 5 行 B 列「性别」：应填“男”或“女”).
    `row` stays the data row number (1 for the first member row), `field` the API field."""
    return [{**error, "message": _readable(parsed, error)} for error in errors]


def _readable(parsed: ParsedFile, error: dict[str, Any]) -> str:
    field_name, message = str(error["field"]), str(error["message"])
    where = f"第 {parsed.header_row + int(error['row'])} 行"
    if field_name in parsed.columns:
        letter, header = parsed.columns[field_name]
        where += f" {letter} 列「{header}」"
    elif field_name in CHINESE_HEADERS:
        where += f"「{CHINESE_HEADERS[field_name]}」"
    return f"{where}：{_problem(parsed, field_name, message)}"


def _problem(parsed: ParsedFile, field_name: str, message: str) -> str:
    if message in RULES:
        return RULES[message]
    if repeated := _REPEATS.match(message):
        return f"与第 {parsed.header_row + int(repeated.group(1))} 行的公民身份号码重复"
    if other := _OTHER_BRANCH.match(message):
        return f"本次导入的是支部 {other.group(1)}，本行填的是其他支部"
    if message.startswith(("Missing data", "Field may not be null")):
        return "必须填写"
    if field_name == "id_number" and message.startswith("id_number "):
        return "公民身份号码无效（出生日期或校验码不对）"
    return EXPECTED.get(field_name, message)
