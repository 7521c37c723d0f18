"""The ledger's spreadsheet cells and the import's reading of people's values, without a database:
every lead that makes a spreadsheet run a formula, in both formats; dates and Chinese values."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from services.registration import imports
from services.registration.regions import region_name
from shared import sheets
from shared.xlsx_stream import xlsx_stream

LEADS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def test_every_formula_lead_is_a_text_cell_in_the_streamed_xlsx():
    rows = [[text, date(2026, 1, 2), None, "a\x01b", "  padded  "] for text in LEADS]
    headers = [("文本", 10), ("日期", 12), ("空", 4), ("控制字符", 8), ("空格", 8)]
    content = b"".join(xlsx_stream("表", "标题", headers, iter(rows), len(rows), batch=2))
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    assert sheet["A1"].value == "标题" and [cell.value for cell in sheet[2]] == [h for h, _ in headers]
    for number, text in enumerate(LEADS, start=3):
        cell = sheet.cell(row=number, column=1)
        assert (cell.data_type, cell.value) == ("s", text)
        assert sheet.cell(row=number, column=2).value == datetime(2026, 1, 2)
        assert sheet.cell(row=number, column=3).value is None
        assert sheet.cell(row=number, column=4).value == "ab"  # XML cannot carry \x01
        assert sheet.cell(row=number, column=5).value == "  padded  "
    assert sheet.column_dimensions["A"].width == 10
    # The declared dimension: what the import checks before it reads a row.
    imports._check_archive(content)


def test_every_formula_lead_gets_an_apostrophe_in_csv_and_loses_it_on_import():
    buffer = io.StringIO()
    csv.writer(buffer).writerow([sheets.csv_cell(text) for text in LEADS])
    written = next(csv.reader(io.StringIO(buffer.getvalue())))
    assert written == ["'" + text for text in LEADS]
    assert [imports._cell_text("name", text) for text in written] == LEADS
    assert imports._cell_text("name", "'quoted") == "'quoted"  # an apostrophe of the text's own stays


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("birth_date", "1990年5月17日", "1990-05-17"),
        ("birth_date", "1990/5/17", "1990-05-17"),
        ("birth_date", "1990.05.17", "1990-05-17"),
        ("birth_date", "19900517", "1990-05-17"),
        ("birth_date", 33010, "1990-05-17"),  # an Excel serial day
        ("birth_date", datetime(1990, 5, 17), "1990-05-17"),
        ("birth_date", "1990-02-30", "1990-02-30"),  # left for the schema to refuse
        ("dues_paid_through", "2026年9月", "2026-09"),
        ("dues_paid_through", date(2026, 9, 1), "2026-09"),
        ("dues_paid_through", "2026/9", "2026-09"),
        ("gender", "男", "male"),
        ("gender", "女", "female"),
        ("status", "正式党员", "full"),
        ("status", "预备党员", "probationary"),
        ("id_number", 110101199005170011, "110101199005170011"),
    ],
)
def test_the_import_reads_values_as_people_write_them(column, value, expected):
    assert imports._cell_text(column, value) == expected


def test_region_names_go_down_to_the_county_where_known():
    assert region_name("330602") == "浙江省绍兴市越城区"
    assert region_name("330602001001") == "浙江省绍兴市越城区"
    assert region_name("120114") == "天津市武清区"
    assert region_name("440305") == "广东省"  # a county not in the table: its province
    assert region_name("99") == "" and region_name(None) == ""


def test_a_shared_csv_starts_with_a_bom_and_quotes_every_formula_lead_headers_and_title_too():
    text = "".join(sheets.csv_stream("=标题", ["=表头", "姓名"], [[lead, "王"] for lead in LEADS], batch=2))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["'=标题"] and rows[1] == ["'=表头", "姓名"]
    assert [row[0] for row in rows[2:]] == ["'" + lead for lead in LEADS]
