"""Author and company from a document's own properties: Office Open XML ``docProps/core.xml`` and
``docProps/app.xml`` (docx, xlsx, pptx) and the PDF Info dictionary. Stdlib only; anything unreadable
gives an empty result rather than an error (metadata is a hint, never evidence on its own)."""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

#: Properties compared across bidders; timestamps and tool names are left out (they are shared widely).
FIELDS = ("author", "last_modified_by", "company")

_OOXML_TAGS = {
    "{http://purl.org/dc/elements/1.1/}creator": "author",
    "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}lastModifiedBy": (
        "last_modified_by"
    ),
    "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}Company": "company",
}
_PDF_KEYS = {b"Author": "author", b"Creator": "creator_tool", b"Company": "company"}
_MAX_XML = 1 << 20
_PDF_SCAN = 4 << 20


def _ooxml(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in ("docProps/core.xml", "docProps/app.xml"):
                try:
                    info = zf.getinfo(name)
                except KeyError:
                    continue
                if info.file_size > _MAX_XML:
                    continue
                root = ElementTree.fromstring(zf.read(info))  # noqa: S314 - size-capped, no DTDs in stdlib ET
                for el in root:
                    key = _OOXML_TAGS.get(el.tag)
                    if key and el.text and el.text.strip():
                        out[key] = el.text.strip()
    except (zipfile.BadZipFile, ElementTree.ParseError, OSError):
        return {}
    return out


_PDF_ENTRY = re.compile(rb"/(Author|Creator|Company)\s*(\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>)")


def _pdf_string(token: bytes) -> str:
    if token.startswith(b"<"):
        raw = bytes.fromhex(re.sub(rb"\s", b"", token[1:-1]).decode())
    else:
        body = token[1:-1]
        raw = re.sub(rb"\\([\\()])", rb"\1", body)
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", errors="replace")
    return raw.decode("latin-1")


def _pdf(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, token in _PDF_ENTRY.findall(data[:_PDF_SCAN]):
        name = _PDF_KEYS[key]
        try:
            text = _pdf_string(token).strip()
        except ValueError:
            continue
        if text:
            out.setdefault(name, text)
    return out


def extract(data: bytes) -> dict[str, str]:
    """``{"author": …, "last_modified_by": …, "company": …}`` for what the document declares."""
    if data[:4] == b"PK\x03\x04":
        return _ooxml(data)
    if data[:5] == b"%PDF-":
        return _pdf(data)
    return {}
