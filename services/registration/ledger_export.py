"""The mobile-member ledger (台账): its rows, streamed from the database, and the files they are
written to: json for programs (the API's field names), csv and xlsx for people (Chinese headers
and values, names beside codes, China time, a title row, formula-safe cells), in a shape the
import reads back. The caller checked the scope and audited the export first
(commands.open_ledger)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from services.registration import domain
from services.registration.models import Member, Org
from services.registration.regions import region_name
from shared import clock, sheets
from shared import xlsx_stream as xlsx
from shared.db import Database

Row = dict[str, Any]

# The json ledger's items (unchanged since the first round: programs read it).
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


@dataclass(frozen=True)
class SheetColumn:
    header: str
    key: str
    width: int


# The people's ledger: the import's nine columns first (imports.CHINESE_HEADERS), so a sheet
# exported with masked=false imports back as it is; the other columns are read past on import
# (imports.IGNORED_HEADERS).
SHEET_COLUMNS = (
    SheetColumn("姓名", "name", 10),
    SheetColumn("性别", "gender", 6),
    SheetColumn("出生日期", "birth_date", 12),
    SheetColumn("公民身份号码", "id_number", 21),
    SheetColumn("手机号码", "phone", 14),
    SheetColumn("党员类别", "status", 10),
    SheetColumn("所在支部代码", "branch_code", 18),
    SheetColumn("所在支部", "branch_name", 28),
    SheetColumn("入党日期", "joined_on", 12),
    SheetColumn("党费缴至", "dues_paid_through", 10),
    SheetColumn("活动证号", "activity_card_no", 22),
    SheetColumn("外出日期", "departed_on", 12),
    SheetColumn("流入地区划代码", "destination_region", 16),
    SheetColumn("流入地", "destination_region_name", 24),
    SheetColumn("从事职业", "occupation", 14),
    SheetColumn("工作单位", "employer", 24),
    SheetColumn("现居住地址", "current_address", 32),
    SheetColumn("流入地党组织代码", "inflow_branch_code", 18),
    SheetColumn("流入地党组织", "inflow_branch_name", 28),
    SheetColumn("到达日期", "arrived_on", 12),
    SheetColumn("联系电话", "contact_phone", 14),
    SheetColumn("最近联系时间", "last_contact_at", 18),
    SheetColumn("失去联系", "lost_contact", 10),
)
GENDERS = {"male": "男", "female": "女"}
STATUSES = {"full": "正式党员", "probationary": "预备党员"}

_MEMBER_COLUMNS = (
    "id",
    "name",
    "gender",
    "birth_date",
    "id_number",
    "phone",
    "status",
    "branch_code",
    "joined_on",
    "dues_paid_through",
    "activity_card_no",
    "departed_on",
    "destination_region",
    "occupation",
    "employer",
    "current_address",
    "inflow_branch_code",
    "arrived_on",
    "contact_phone",
    "last_contact_at",
    "lost_contact",
)


def _in_ledger(statement: Any, path: str, side: str) -> Any:
    """The ledger's members: on the outflow side the subtree's members who are away, on the
    inflow side (双向管理) the members with an open inflow at a branch of the subtree. Paths end
    with "/", so a prefix match is exactly the subtree (the indexes serve both)."""
    if side == "inflow":
        return statement.where(Member.inflow_branch_path.like(f"{path}%"))
    statement = statement.where(Member.mobile.is_(True))
    if path != f"/{domain.ROOT_CODE}/":
        statement = statement.where(Member.branch_path.like(f"{path}%"))
    return statement


def _statement(path: str, side: str = "outflow") -> Any:
    branch, inflow = aliased(Org), aliased(Org)
    statement = (
        select(
            *(getattr(Member, name) for name in _MEMBER_COLUMNS),
            branch.name.label("branch_name"),
            inflow.name.label("inflow_branch_name"),
        )
        .join(branch, branch.code == Member.branch_code)
        .outerjoin(inflow, inflow.code == Member.inflow_branch_code)
        .order_by(Member.id)
    )
    return _in_ledger(statement, path, side)


def ledger_rows(
    database: Database, path: str, masked: bool = True, batch: int = 2000, side: str = "outflow"
) -> Iterator[Row]:
    """The ledger's members (`_in_ledger`), one dict each, streamed from a server-side cursor so
    memory stays flat however large the subtree is. Masked (a listing, as every list is): the
    ID number and phones masked, the birth date as its year. The caller checked the scope and
    audited the export first (commands.open_ledger)."""
    with database.reader() as session:
        # yield_per implies stream_results: PostgreSQL uses a named (server-side) cursor.
        for record in session.execute(_statement(path, side).execution_options(yield_per=batch)):
            row = dict(record._mapping)
            row["member_id"] = row.pop("id")
            if masked:
                row["id_number"] = domain.mask_id_number(row["id_number"])
                row["birth_date"] = str(row["birth_date"].year)
                row["phone"] = domain.mask_phone(row["phone"])
                if row["contact_phone"]:
                    row["contact_phone"] = domain.mask_phone(row["contact_phone"])
            yield row


def ledger_size(database: Database, path: str, side: str = "outflow") -> int:
    """How many rows ledger_rows will give (for the xlsx's declared dimension)."""
    statement = _in_ledger(select(func.count()).select_from(Member), path, side)
    with database.reader() as session:
        return int(session.scalar(statement) or 0)


def title(org_name: str, now: datetime | None = None) -> str:
    exported = clock.local_now(now).strftime("%Y-%m-%d %H:%M")
    return f"流动党员台账（{org_name}，导出于 {exported}）"


def _ledger_text(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# --- json ---------------------------------------------------------------------------------


def _batches(rows: Iterator[Row], size: int = 1000) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def json_stream(org: str, rows: Iterator[Row]) -> Iterator[str]:
    yield '{"org": ' + json.dumps(org) + ', "items": ['
    separator = ""
    for batch in _batches(rows):
        yield separator + ",".join(
            json.dumps({name: row[name] for name in LEDGER_COLUMNS}, default=_ledger_text, ensure_ascii=False)
            for row in batch
        )
        separator = ","
    yield "]}"


# --- the people's sheets (csv, xlsx) ------------------------------------------------------

FORMULA_LEADS = sheets.FORMULA_LEADS
is_formula_like = sheets.is_formula_like


def sheet_values(row: Row) -> list[Any]:
    """A row as the people's sheet shows it: Chinese values, names beside codes, China time;
    dates stay dates (the xlsx writes them as date cells, the csv as YYYY-MM-DD)."""
    values = dict(row)
    values["gender"] = GENDERS.get(row["gender"], row["gender"])
    values["status"] = STATUSES.get(row["status"], row["status"])
    values["destination_region_name"] = region_name(row["destination_region"])
    values["lost_contact"] = "是" if row["lost_contact"] else "否"
    last = row["last_contact_at"]
    values["last_contact_at"] = clock.local_now(last).strftime("%Y-%m-%d %H:%M") if last else None
    return [values[column.key] for column in SHEET_COLUMNS]


def csv_stream(org_name: str, rows: Iterator[Row]) -> Iterator[str]:
    """The ledger as csv, row by row (in batches of 1,000), with a BOM so spreadsheet programs
    read it as UTF-8, the title row, then the header row (shared.sheets)."""
    return sheets.csv_stream(
        title(org_name), [column.header for column in SHEET_COLUMNS], (sheet_values(row) for row in rows)
    )


def xlsx_stream(org_name: str, rows: Iterator[Row], size: int) -> Iterator[bytes]:
    """The ledger as an xlsx, streamed row by row (shared.xlsx_stream): text
    cells are inline strings, never formulas; dates are date cells. `size` (ledger_size)
    declares the sheet's dimension, which the import requires before it reads a sheet."""
    return xlsx.xlsx_stream(
        "流动党员台账",
        title(org_name),
        [(column.header, column.width) for column in SHEET_COLUMNS],
        (sheet_values(row) for row in rows),
        size,
    )
