"""The draw verification procedure is served by the portal (issue 16): docs/verify-a-draw.md rendered as a
page in Chinese and English (the file is the single source), linked from "how to verify", downloadable as
the file itself, and shipped in the tools archive."""

from __future__ import annotations

import io
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

from flask.testing import FlaskClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "verify-a-draw.md"
CJK = re.compile(r"[\u3400-\u9fff]")


def _english(client: FlaskClient) -> None:
    with client.session_transaction() as sess:
        sess["locale"] = "en"


class _Text(HTMLParser):
    """The page's text outside any element marked lang="en" (what a Chinese reader is shown as Chinese)."""

    VOID: ClassVar[set[str]] = {
        "br",
        "hr",
        "img",
        "input",
        "meta",
        "link",
        "wbr",
        "col",
        "area",
        "base",
        "source",
    }

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open element: inside a lang="en" passage
        self.outside: list[str] = []
        self.inside: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        marked = (self.stack[-1] if self.stack else False) or dict(attrs).get("lang") == "en"
        self.stack.append(marked)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip():
            (self.inside if self.stack and self.stack[-1] else self.outside).append(data.strip())


def test_the_verify_page_links_the_procedure(client: FlaskClient) -> None:
    html = client.get("/portal/verify").get_data(as_text=True)
    assert 'id="link-draw-procedure" href="/portal/verify/draws"' in html
    assert "docs/verify-a-draw.md" in html


def test_the_procedure_page_in_chinese_introduces_the_english_reference(client: FlaskClient) -> None:
    resp = client.get("/portal/verify/draws")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "<h1>如何验证专家抽取</h1>" in html
    text = _Text()
    text.feed(html)
    # The Chinese introduction is outside the English passage; the document, rendered from the file, inside.
    intro = " ".join(text.outside)
    assert "技术说明" in intro and "docs/verify-a-draw.md" in intro
    reference = " ".join(text.inside)
    assert "Verify an expert draw" in reference and "The computation, byte by byte" in reference
    assert "Verify an expert draw" not in intro
    assert re.search(r'<div class="document" lang="en">\s*<h2>Verify an expert draw</h2>', html)
    assert "<table>" in html and "<td>server random, witness entropy, seed</td>" in html  # Markdown rendered
    # Every line of prose in the file is on the page (no second copy that could drift).
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("The record is recomputable on its own"):
            assert line in html
    assert 'href="/portal/verify"' in html and 'href="/portal/verify/draws.md"' in html


def test_the_procedure_page_in_english(client: FlaskClient) -> None:
    _english(client)
    html = client.get("/portal/verify/draws").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>How to verify an expert draw</h1>" in html
    assert "The technical reference below is the file" in html
    assert "Verify an expert draw" in html and "RFC 3797" in html
    text = _Text()
    text.feed(html)
    # Outside the quoted document, an English page has no Chinese (but the language switch's own name).
    assert not [t for t in text.outside if CJK.search(t) and t != "中文"]


def test_the_procedure_is_the_file_itself(client: FlaskClient) -> None:
    resp = client.get("/portal/verify/draws.md")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert resp.get_data() == DOC.read_bytes()


def test_raw_html_in_the_procedure_is_shown_not_run(tmp_path: Path) -> None:
    from app.portal import procedures

    doc = tmp_path / "verify-a-draw.md"
    doc.write_text("# Title\n\n<script>alert(1)</script>\n\nText <b>bold</b>\n", encoding="utf-8")
    html = procedures._render(doc, doc.stat().st_mtime_ns)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>" not in html and "<h2>Title</h2>" in html


def test_the_tools_archive_carries_the_procedure(client: FlaskClient) -> None:
    data = client.get("/portal/tools/ggzy-platform.zip").get_data()
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read("ggzy-platform/docs/verify-a-draw.md") == DOC.read_bytes()
