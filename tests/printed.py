"""Reading printed-record PDFs back (app.core.printing): their text, their verification link and QR code."""

from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pypdf
import segno


@dataclass
class Printed:
    text: str  # all pages, whitespace removed (CJK text is extracted with spaces between the glyphs)
    link: str
    params: dict[str, str]
    qr: list[list[bool]]  # the modules of the embedded QR image, quiet zone removed


def _qr_modules(reader: pypdf.PdfReader) -> list[list[bool]]:
    for page in reader.pages:
        for image in page.images:
            img = image.image.convert("L")
            width, height = img.size
            border = 4
            return [
                [img.getpixel((x, y)) < 128 for x in range(border, width - border)]
                for y in range(border, height - border)
            ]
    raise AssertionError("no QR image in the PDF")


def read(data: bytes) -> Printed:
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    # pypdf reads fpdf2's CID text with NULs between the glyphs, and a wrapped link spans lines
    text = "".join("".join((page.extract_text() or "").replace("\x00", "").split()) for page in reader.pages)
    links = {
        str(annot.get_object()["/A"]["/URI"])
        for page in reader.pages
        for annot in page.get("/Annots") or []
        if "/A" in annot.get_object() and "/URI" in annot.get_object()["/A"]
    }
    assert len(links) == 1, links  # one link, clickable on each line it is wrapped over
    (link,) = links
    assert link in text  # printed as well as clickable
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    return Printed(text=text, link=link, params=params, qr=_qr_modules(reader))


def segno_modules(link: str) -> list[list[bool]]:
    return [[bool(m) for m in row] for row in segno.make(link, error="m").matrix]
