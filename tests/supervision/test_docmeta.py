"""Author and company from Office and PDF document properties, from crafted files."""

from __future__ import annotations

import io
import zipfile

from app.supervision import docmeta


def _ooxml(core: str, app_xml: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("docProps/core.xml", core)
        if app_xml is not None:
            zf.writestr("docProps/app.xml", app_xml)
    return buf.getvalue()


CORE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/">'
    "<dc:creator>王 工</dc:creator><cp:lastModifiedBy>Li Lei</cp:lastModifiedBy>"
    '<dcterms:created xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="dcterms:W3CDTF">'
    "2026-03-01T08:00:00Z</dcterms:created></cp:coreProperties>"
)
APP = (
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>Microsoft Excel</Application><Company>某某造价咨询有限公司</Company></Properties>"
)


def test_xlsx_core_and_app_properties() -> None:
    assert docmeta.extract(_ooxml(CORE, APP)) == {
        "author": "王 工",
        "last_modified_by": "Li Lei",
        "company": "某某造价咨询有限公司",
    }


def test_openpyxl_workbook_author() -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.properties.creator = "张三"
    buf = io.BytesIO()
    wb.save(buf)
    assert docmeta.extract(buf.getvalue())["author"] == "张三"


def test_pdf_info_dictionary_literal_and_utf16_hex() -> None:
    name = "赵六".encode("utf-16-be")
    pdf = (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
        b"2 0 obj\n<< /Author (Wang \\(Engineer\\)) /Company <FEFF" + name.hex().encode() + b"> >>\nendobj\n"
        b"trailer\n<< /Info 2 0 R >>\n%%EOF\n"
    )
    assert docmeta.extract(pdf) == {"author": "Wang (Engineer)", "company": "赵六"}


def test_unreadable_or_unknown_files_give_nothing() -> None:
    assert docmeta.extract(b"PK\x03\x04 broken zip") == {}
    assert docmeta.extract(b"plain text") == {}
    assert docmeta.extract(_ooxml("<not-xml")) == {}
