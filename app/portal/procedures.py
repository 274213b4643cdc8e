"""Published procedures: the documents in ``docs/`` that tell an outsider how to check the platform.

The Markdown file stays the single source (the test suite recomputes its worked example); the portal
renders it as it is, in the language it is written in (English), and the tools archive carries the same
file. Raw HTML in the file is escaped, not passed through: the page shows the document, it does not run it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup

from .tools import ROOT

DRAW_PROCEDURE = ROOT / "docs" / "verify-a-draw.md"


def draw_procedure_available() -> bool:
    return DRAW_PROCEDURE.is_file()


def draw_procedure_text() -> str:
    return DRAW_PROCEDURE.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=4)
def _render(path: Path, mtime_ns: int) -> Markup:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(path.read_text(encoding="utf-8"))
    for token in tokens:
        # The page has its own title (h1): the document's headings move one level down.
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    html = md.renderer.render(tokens, md.options, {})
    # A code block wider than the page scrolls: it takes the keyboard focus, to be scrolled without a mouse.
    html = html.replace("<pre>", '<pre tabindex="0">')
    return Markup(html)  # noqa: S704 - html=False escapes the source


def draw_procedure_html() -> Markup:
    """The rendered procedure; re-rendered when the file changes (its modification time is the cache key)."""
    return _render(DRAW_PROCEDURE, DRAW_PROCEDURE.stat().st_mtime_ns)
