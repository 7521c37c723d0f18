"""A streaming xlsx writer for one large sheet (the ledger, or any sheet for people): the zip is
written into the response as the rows come, so memory stays flat and the first bytes leave at once.

openpyxl's write_only mode keeps memory flat too, but without lxml it serialises each cell
through a pure-Python XML writer (some 70 s for 100,000 ledger rows on this machine) and must
finish the file before the first byte is sent. A ledger sheet needs only a few features
(inline strings, numbers, dates, two bold rows, column widths, a frozen header), written here as
SpreadsheetML directly. Every text is an inline string: never a formula, whatever it starts with.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl.utils import get_column_letter

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{_PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{_PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_RELS}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# Cell styles by index: 0 plain, 1 a date (yyyy-mm-dd), 2 bold (the header), 3 large bold (the title).
DATE_STYLE, HEADER_STYLE, TITLE_STYLE = 1, 2, 3
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="3"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="14"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
# Characters XML 1.0 cannot carry (a spreadsheet program refuses the file over one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EXCEL_EPOCH = date(1899, 12, 30)


class _Sink:
    """A write-only stream the zip writes into and the response drains (no tell/seek: zipfile
    then writes each part's sizes after its data, as a streamed zip must)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _text_cell(reference: str, text: str, style: int = 0) -> str:
    if _NOT_XML.search(text):
        text = _NOT_XML.sub("", text)
    space = ' xml:space="preserve"' if text != text.strip() else ""
    styled = f' s="{style}"' if style else ""
    # A carriage return as a reference: XML readers turn a literal one into a line feed.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    return f'<c r="{reference}"{styled} t="inlineStr"><is><t{space}>{escaped}</t></is></c>'


def _cell(reference: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if type(value) is str:  # most cells: the fast path first
        return _text_cell(reference, value)
    if isinstance(value, bool):
        return f'<c r="{reference}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{reference}"><v>{value}</v></c>'
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f'<c r="{reference}" s="{DATE_STYLE}"><v>{(value - _EXCEL_EPOCH).days}</v></c>'
    return _text_cell(reference, str(value))


def xlsx_stream(
    sheet_name: str,
    title: str,
    headers: Sequence[tuple[str, int]],
    rows: Iterable[Sequence[Any]],
    size: int,
    batch: int = 1000,
) -> Iterator[bytes]:
    """An xlsx of one sheet, chunk by chunk: a bold title row, a bold header row of
    (name, width) columns, then `rows` (`size` of them, for the declared dimension). Texts are
    inline strings, dates date cells."""
    letters = [get_column_letter(index) for index in range(1, len(headers) + 1)]
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=5) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_RELS}"><sheets>'
            f'<sheet name="{_attribute(sheet_name)}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        yield sink.drain()
        with archive.open("xl/worksheets/sheet1.xml", "w") as part:
            columns = "".join(
                f'<col min="{index}" max="{index}" width="{width}" customWidth="1"/>'
                for index, (_, width) in enumerate(headers, start=1)
            )
            part.write(
                (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                    f'<worksheet xmlns="{_MAIN}" xmlns:r="{_RELS}">'
                    f'<dimension ref="A1:{letters[-1]}{size + 2}"/>'
                    '<sheetViews><sheetView workbookViewId="0">'
                    '<pane ySplit="2" topLeftCell="A3" activePane="bottomLeft" state="frozen"/>'
                    "</sheetView></sheetViews>"
                    f"<cols>{columns}</cols><sheetData>"
                    f'<row r="1">{_text_cell("A1", title, TITLE_STYLE)}</row>'
                    '<row r="2">'
                    + "".join(
                        _text_cell(f"{letter}2", name, HEADER_STYLE)
                        for letter, (name, _) in zip(letters, headers, strict=True)
                    )
                    + "</row>"
                ).encode()
            )
            lines: list[str] = []
            for number, values in enumerate(rows, start=3):
                cells = "".join(
                    _cell(f"{letter}{number}", value) for letter, value in zip(letters, values, strict=True)
                )
                lines.append(f'<row r="{number}">{cells}</row>')
                if len(lines) == batch:
                    part.write("".join(lines).encode("utf-8", "replace"))
                    lines.clear()
                    yield sink.drain()
            part.write(("".join(lines) + "</sheetData></worksheet>").encode("utf-8", "replace"))
    yield sink.drain()
