"""Printed records: the PDFs people keep on paper (开标记录表, 评标报告, 中标通知书, 投诉处理决定书).

Each PDF carries the SHA-256 of the record the platform holds and the platform's Ed25519 signature over the
printed-record statement, spelled as ASCII text so any tool can rebuild it::

    ggzy-printed-record-v1\\n<kind>\\n<object id>\\n<sha256 hex, lower case>\\n

and a QR code of the public verification link (``portal.verify_record``), which checks the signature under the
platform's keys (the one in use and the retired ones) and whether the hash is that of the record the platform
holds now. Each domain registers its kinds of record (:func:`register`) with a function returning the current
hash of a record by its object id; the verification page only ever answers yes or no, it shows no content.

The PDF is drawn with fpdf2 and a CJK font (fonts-noto-cjk on Debian; ``PDF_CJK_FONT`` to choose another). A
machine without the font gets :class:`PdfUnavailable` (a translated 503), never a server error.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import segno
from cryptography.exceptions import InvalidSignature
from flask import current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _

from app.core import audit
from app.core.clock import now
from app.core.crypto import signing_key
from app.core.errors import DomainError
from app.core.templating import fmt_dt

STATEMENT_PREFIX = "ggzy-printed-record-v1"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

# Debian's fonts-noto-cjk (scripts/test-system-deps.sh installs it), then other common places.
FONT_CANDIDATES = (
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    ),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    ),
)
# In the Noto CJK collections the faces are ordered JP, KR, SC, TC, HK: 2 is Simplified Chinese.
DEFAULT_FONT_INDEX = 2


class PdfUnavailable(DomainError):
    """The server cannot draw PDFs (no CJK font installed)."""

    status = 503
    code = "pdf_unavailable"


@dataclass(frozen=True)
class RecordKind:
    code: str
    title: Callable[[], str]
    current_sha256: Callable[[int], str | None]
    """The SHA-256 of the record of this kind the platform holds now (None: no such record, or not yet)."""


KINDS: dict[str, RecordKind] = {}


def register(code: str, title: Callable[[], str], current_sha256: Callable[[int], str | None]) -> None:
    KINDS[code] = RecordKind(code, title, current_sha256)


@dataclass(frozen=True)
class PrintedRecord:
    """What one PDF prints: the record's kind, object id and hash, its heading and its body as simple HTML
    (the subset fpdf2's ``write_html`` reads: headings, paragraphs, lists and tables)."""

    kind: str
    object_id: int
    sha256: str
    title: str
    body_html: str
    filename: str


# -- the signature and the verification link --------------------------------------------------------------


def statement(kind: str, object_id: int, sha256: str) -> bytes:
    return f"{STATEMENT_PREFIX}\n{kind}\n{object_id}\n{sha256.lower()}\n".encode("ascii")


def sign(kind: str, object_id: int, sha256: str) -> str:
    """The platform's signature over the statement, URL-safe base64 without padding (it travels in a link)."""
    raw = signing_key().sign(statement(kind, object_id, sha256))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_signature(text: str) -> bytes | None:
    text = (text or "").strip()
    if not text or len(text) > 200:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def verify_url(kind: str, object_id: int, sha256: str, signature: str) -> str:
    from app.core.web import public_url

    # On the platform's configured address: a printed record travels, and a forged Host header must not
    # put another site's "verification" page on a genuine record.
    return public_url("portal.verify_record", kind=kind, id=object_id, sha256=sha256, sig=signature)


@dataclass(frozen=True)
class Verdict:
    """What the verification page says: the signature is the platform's, and the hash is that of the record
    the platform holds now (None: no such record)."""

    kind_title: str | None
    signature_ok: bool
    current: bool | None

    @property
    def genuine(self) -> bool:
        return self.signature_ok and self.current is True


def check(kind: str, object_id: int, sha256: str, signature: str) -> Verdict:
    record_kind = KINDS.get(kind)
    sha256 = (sha256 or "").strip().lower()
    if record_kind is None or not SHA256_HEX.match(sha256):
        return Verdict(record_kind.title() if record_kind else None, False, None)
    raw = _decode_signature(signature)
    message = statement(kind, object_id, sha256)
    signature_ok = False
    if raw is not None and len(raw) == 64:
        for key in audit.platform_public_keys():
            try:
                key.verify(raw, message)
            except InvalidSignature:
                continue
            signature_ok = True
            break
    held = record_kind.current_sha256(object_id)
    return Verdict(record_kind.title(), signature_ok, None if held is None else held == sha256)


# -- the PDF ------------------------------------------------------------------------------------------------


def fonts() -> tuple[str, str, int]:
    """(regular, bold, collection index) of the CJK font; PdfUnavailable when none is installed."""
    configured = current_app.config.get("PDF_CJK_FONT")
    index = int(current_app.config.get("PDF_CJK_FONT_INDEX") or DEFAULT_FONT_INDEX)
    if configured:
        bold = current_app.config.get("PDF_CJK_FONT_BOLD") or configured
        if os.path.isfile(configured) and os.path.isfile(bold):
            return configured, bold, index
    else:
        for regular, bold in FONT_CANDIDATES:
            if os.path.isfile(regular):
                return regular, bold if os.path.isfile(bold) else regular, index
    current_app.logger.error(
        "no CJK font for PDFs: install the Debian package fonts-noto-cjk or set PDF_CJK_FONT (now %r)",
        configured,
    )
    raise PdfUnavailable(
        _(
            "PDF download is not available on this server: the Chinese font is not installed. "
            "Ask the administrator to install it (fonts-noto-cjk), or use the web page."
        )
    )


def qr_png(link: str) -> bytes:
    """The QR code of the link, one pixel per module and a quiet zone of four (tests read it back)."""
    buf = io.BytesIO()
    segno.make(link, error="m").save(buf, kind="png", scale=1, border=4)
    return buf.getvalue()


def render(record: PrintedRecord) -> bytes:
    from fpdf import FPDF  # imported when a PDF is drawn: the web workers start without it
    from fpdf.enums import WrapMode

    regular, bold, index = fonts()
    signature = sign(record.kind, record.object_id, record.sha256)
    link = verify_url(record.kind, record.object_id, record.sha256, signature)
    platform = _("Public Resource E-Trading Platform")
    footer_hash = record.sha256

    class Document(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("cjk", size=7)
            self.set_text_color(110)
            self.cell(0, 5, f"SHA-256 {footer_hash} · {self.page_no()}/{{nb}}", align="C")

    pdf = Document(format="A4")
    pdf.set_title(record.title)
    pdf.set_creator(platform)
    pdf.set_lang("zh-CN")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=18)
    for style, path in (("", regular), ("B", bold), ("I", regular), ("BI", bold)):
        collection = index if path.lower().endswith((".ttc", ".otc")) else 0
        pdf.add_font("cjk", style=style, fname=path, collection_font_number=collection)
    pdf.add_page()
    pdf.set_font("cjk", size=9)
    pdf.set_text_color(90)
    pdf.cell(0, 5, platform, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font("cjk", size=10)
    pdf.write_html(record.body_html, font_family="cjk")

    pdf.ln(6)
    if pdf.will_page_break(62):
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_draw_color(150)
    pdf.line(pdf.l_margin, top, pdf.w - pdf.r_margin, top)
    pdf.image(io.BytesIO(qr_png(link)), x=pdf.w - pdf.r_margin - 38, y=top + 3, w=38, h=38)
    pdf.set_xy(pdf.l_margin, top + 3)
    text_w = pdf.w - pdf.l_margin - pdf.r_margin - 42
    pdf.set_font("cjk", "B", size=10)
    pdf.multi_cell(text_w, 6, _("Verification of this printed record"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    lines = [
        _("Printed at %(at)s (Beijing time)", at=fmt_dt(now())),
        _("Record SHA-256: %(sha256)s", sha256=record.sha256),
        _("Platform signature (Ed25519): %(signature)s", signature=signature),
        _("Scan the QR code or open the link to check that this record is genuine:"),
    ]
    for line in lines:
        pdf.multi_cell(text_w, 4.5, line, new_x="LMARGIN", new_y="NEXT", wrapmode=WrapMode.CHAR)
    pdf.set_text_color(0, 70, 160)
    pdf.multi_cell(text_w, 4.5, link, new_x="LMARGIN", new_y="NEXT", wrapmode=WrapMode.CHAR, link=link)
    return bytes(pdf.output())


@contextmanager
def requested_locale() -> Iterator[None]:
    """``?lang=en`` or ``?lang=zh`` prints in that language; otherwise the reader's own."""
    code = {"en": "en", "zh": "zh_CN", "zh_CN": "zh_CN"}.get(request.args.get("lang", ""))
    if code is None:
        yield
        return
    with force_locale(code):
        yield


def response(record: PrintedRecord) -> tuple[bytes, int, dict[str, str]]:
    """The PDF as a download (the view's answer)."""
    data = render(record)
    return (
        data,
        200,
        {
            "Content-Type": "application/pdf",
            "Content-Disposition": f'attachment; filename="{record.filename}"',
            "X-Record-SHA256": record.sha256,
            "Cache-Control": "private, no-store",
        },
    )
