"""The member import template (党员信息导入模板): the sheet a secretary fills in and uploads.

Its first sheet has a title row, then the Chinese column names the import reads
(imports.CHINESE_HEADERS); ID numbers, phones, codes and months are text cells (a spreadsheet
would otherwise turn an 18-digit ID into 4.2E+17 and lose its last digits), dates are date
cells, and 性别 and 党员类别 offer their values as lists. A second sheet explains each column.
"""

from __future__ import annotations

import io
from functools import cache

from services.registration.imports import CHINESE_HEADERS, MAX_ROWS

TITLE = "流动党员信息导入模板（第 1 行为标题，第 2 行为列名，请从第 3 行起每行填写一名党员）"
# (field, width, number format, note)
COLUMNS = (
    ("name", 12, "@", "必填。党员姓名。"),
    ("gender", 8, "@", "必填。从下拉列表选择“男”或“女”。"),
    ("birth_date", 14, "yyyy-mm-dd", "必填。日期，如 1990-05-17，须与公民身份号码中的出生日期一致。"),
    ("id_number", 22, "@", "必填。18 位公民身份号码（本列为文本格式，请勿改为数字）。"),
    ("phone", 15, "@", "必填。11 位手机号码。"),
    ("status", 12, "@", "必填。从下拉列表选择“正式党员”或“预备党员”。"),
    ("branch_code", 20, "@", "可不填（默认为导入的支部）；填写时须为本次导入的支部代码。"),
    ("joined_on", 14, "yyyy-mm-dd", "必填。入党日期，如 2015-07-01，须在年满 18 周岁之后。"),
    ("dues_paid_through", 12, "@", "必填。党费缴至的年月，如 2026-11，不能晚于本月。"),
)
NOTES = (
    "填写说明",
    "1. 每行一名党员；标题行和列名行请勿删除或修改，列的顺序可以调整。",
    f"2. 每个文件最多 {MAX_ROWS:,} 名党员，文件不超过 5 MB。",
    "3. 导入为“全部成功或全部不导入”：任一行有错误时不会导入任何党员，错误会指出行号和列名。",
    "4. 已在本支部登记的公民身份号码会被跳过，同一文件可以重复导入。",
    "5. 也可导入从本系统导出的流动党员台账（含完整公民身份号码的台账），多出的列会被忽略。",
    "6. 列名也可使用英文：name, gender (male/female), birth_date, id_number, phone, "
    "status (full/probationary), branch_code, joined_on, dues_paid_through。",
)


@cache
def template_bytes() -> bytes:
    """The template as xlsx bytes (built once per process: it never changes)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "党员信息"
    sheet.append([TITLE])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A1"].alignment = Alignment(wrap_text=True, vertical="center")
    sheet.row_dimensions[1].height = 36
    sheet.append([CHINESE_HEADERS[field] for field, *_ in COLUMNS])
    last_row = MAX_ROWS + 2
    for index, (field, width, number_format, note) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=2, column=index)
        header.font = Font(bold=True)
        dimension = sheet.column_dimensions[letter]
        dimension.width = width
        # A column style applies to the cells people type into (rows 3 on).
        dimension.number_format = number_format
        validation = DataValidation(
            type="list",
            formula1={"gender": '"男,女"', "status": '"正式党员,预备党员"'}.get(field),
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=CHINESE_HEADERS[field],
            error=note,
            promptTitle=CHINESE_HEADERS[field],
            prompt=note,
            showInputMessage=True,
        )
        if field not in ("gender", "status"):
            # Not a list: only the input prompt (the note) when a cell of the column is chosen.
            validation.type = None
            validation.showErrorMessage = False
        validation.add(f"{letter}3:{letter}{last_row}")
        sheet.add_data_validation(validation)
    sheet.freeze_panes = "A3"

    notes = workbook.create_sheet("填写说明")
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 90
    notes.append([NOTES[0]])
    notes["A1"].font = Font(bold=True, size=13)
    for line in NOTES[1:]:
        notes.append(["", line])
    notes.append([])
    notes.append(["列名", "填写要求"])
    for field, _width, _format, note in COLUMNS:
        notes.append([CHINESE_HEADERS[field], note])

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
