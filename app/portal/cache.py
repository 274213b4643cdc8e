"""Rendered public pages, cached per worker and invalidated exactly by the audit log.

Every state change of the platform appends an audit leaf in its own transaction (architecture rule), so the
log's tree size is a generation number of everything the portal shows: a page rendered while the size was
``n`` is current for as long as the size is still ``n``. A hit costs one primary-key read of the log head.
The generation is read *before* the page's data, so a cached page is never older than its generation (at
worst it is newer, and is re-rendered once more).

A worker re-reads the generation at most every ``PORTAL_CACHE_REVALIDATE_SECONDS`` (default 1 s; 0 under
``TESTING``), so an anonymous visitor may see a change up to that long after it committed; the open-data
API and signed-in users are never served from this cache.

Only anonymous GET requests with no pending flash message use the cache. The per-visitor parts of a page
(the CSRF token of a form such as the public comment, the server clock in the footer) are rendered as
markers and filled in per request.

A page without a form (so without a cookie) on a route with no rate limit is also handed to the fast path
(:mod:`app.portal.fastpath`), which keeps the whole response and answers the next anonymous request for it
before the request pipeline, under the same generation.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from app.core.clock import now
from app.core.db import db
from app.core.models import AuditHead
from app.core.templating import fmt_dt
from app.core.web import select_locale
from app.extensions import limiter

MAX_ENTRIES = 512
PAGE_ENVIRON_KEY = "ggzy.portal.page"  # (generation, page with markers, route) of a page without a form
_CSRF_MARK = "\x00portal-csrf\x00"
_TIME_MARK = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_TIME_ISO = _TIME_MARK.isoformat()
_TIME_LOCAL = fmt_dt(_TIME_MARK, "%Y-%m-%d %H:%M:%S")

_lock = threading.Lock()
_checked: dict[str, Any] = {"at": -1.0, "generation": None}
_pages: OrderedDict[tuple[str, str, str], tuple[tuple[int, str], str]] = OrderedDict()


@dataclass(frozen=True)
class StoredResponse:
    """What the full pipeline answered to an anonymous request for a page without a form: its status, its
    headers in order (``X-Request-Id`` and ``Content-Length`` are set per request) and the page with its
    markers (``body_parts``), valid while the platform's generation is ``generation``."""

    generation: tuple[int, str]
    status: str
    headers: tuple[tuple[str, str], ...]
    body_parts: tuple[bytes | int, ...]
    rule: str

    def body(self) -> bytes:
        """The page as ``fill_time`` fills it, encoded: the same bytes without going over the whole text."""
        at = now()
        clock = (at.isoformat().encode(), fmt_dt(at, "%Y-%m-%d %H:%M:%S").encode())
        return b"".join(clock[part] if isinstance(part, int) else part for part in self.body_parts)


_TIME_MARKS = re.compile(f"({re.escape(_TIME_ISO)}|{re.escape(_TIME_LOCAL)})")


def body_parts(html: str) -> tuple[bytes | int, ...]:
    """The page cut at its clock markers: encoded text, and 0 (ISO instant) or 1 (local time) for each."""
    return tuple(
        (0 if piece == _TIME_ISO else 1) if i % 2 else piece.encode()
        for i, piece in enumerate(_TIME_MARKS.split(html))
    )


# The fast path's entries (app.portal.fastpath), keyed by everything of the request the response depends on.
responses: OrderedDict[tuple[str, ...], StoredResponse] = OrderedDict()


def stored_response(key: tuple[str, ...], current: tuple[int, str]) -> StoredResponse | None:
    with _lock:
        hit = responses.get(key)
        if hit is None or hit.generation != current:
            return None
        responses.move_to_end(key)
        return hit


def store_response(key: tuple[str, ...], entry: StoredResponse) -> None:
    with _lock:
        responses[key] = entry
        responses.move_to_end(key)
        while len(responses) > MAX_ENTRIES:
            responses.popitem(last=False)


def generation() -> tuple[int, str]:
    """The audit log's tree size and its newest subtree root: changes with every committed state change
    (the root also tells apart two logs of the same size, e.g. after a rolled-back transaction)."""
    row = db.session.execute(select(AuditHead.size, AuditHead.frontier).where(AuditHead.id == 1)).first()
    if row is None:
        return (0, "")
    size, frontier = row
    return (int(size or 0), str(frontier[-1]) if frontier else "")


def checked_generation(config: Any) -> tuple[int, str] | None:
    """The generation this worker read less than ``PORTAL_CACHE_REVALIDATE_SECONDS`` ago, or None."""
    interval = float(config.get("PORTAL_CACHE_REVALIDATE_SECONDS", 0.0 if config.get("TESTING") else 1.0))
    with _lock:
        if _checked["generation"] is not None and time.monotonic() - _checked["at"] < interval:
            cached: tuple[int, str] = _checked["generation"]
            return cached
    return None


def current_generation() -> tuple[int, str]:
    checked = checked_generation(current_app.config)
    if checked is not None:
        return checked
    tick = time.monotonic()
    value = generation()
    with _lock:
        _checked.update(at=tick, generation=value)
    return value


def _cacheable() -> bool:
    return (
        bool(current_app.config.get("PORTAL_PAGE_CACHE", True))
        and request.method == "GET"
        and not getattr(current_user, "is_authenticated", False)
        and "_flashes" not in session
    )


def fill_time(html: str) -> str:
    """The page with the server clock of this moment in place of its marker."""
    at = now()
    return html.replace(_TIME_ISO, at.isoformat()).replace(_TIME_LOCAL, fmt_dt(at, "%Y-%m-%d %H:%M:%S"))


def _fill(html: str, current: tuple[int, str]) -> str:
    if _CSRF_MARK in html:  # only pages with a form: a token costs a signed session cookie per visitor
        return fill_time(html.replace(_CSRF_MARK, generate_csrf()))
    # No form, so no cookie: the fast path (app.portal.fastpath) may serve this page's response again,
    # unless a rate limit applies to the page (the fast path counts none).
    if not _rate_limited():
        rule = request.url_rule.rule if request.url_rule is not None else ""
        request.environ[PAGE_ENVIRON_KEY] = (current, html, rule)
    return fill_time(html)


def _rate_limited() -> bool:
    """Whether a rate limit (the application's, the default, the route's or its blueprint's) applies here."""
    manager = limiter.limit_manager
    defaults, decorated = manager.resolve_limits(current_app, request.endpoint, request.blueprint)
    return bool(manager.application_limits or defaults or decorated)


def page(template: str, context: Callable[[], dict[str, Any]]) -> Response:
    """Render ``template`` with ``context()``, from the cache when the platform has not changed since."""
    if not _cacheable():
        return Response(render_template(template, **context()), mimetype="text/html")
    # The host is part of the key: a page may show addresses built on it (the sealing commands), and one
    # request with a forged Host header must not poison what every other visitor is served.
    key = (request.host, request.full_path, select_locale())  # select_locale: Babel's parse costs more
    current = current_generation()
    with _lock:
        hit = _pages.get(key)
        if hit is not None:
            _pages.move_to_end(key)
    if hit is not None and hit[0] == current:
        html = hit[1]
    else:
        html = render_template(template, **context(), csrf_token=lambda: _CSRF_MARK, server_now=_TIME_MARK)
        with _lock:
            _pages[key] = (current, html)
            _pages.move_to_end(key)
            while len(_pages) > MAX_ENTRIES:
                _pages.popitem(last=False)
    return Response(_fill(html, current), mimetype="text/html")


def clear() -> None:
    with _lock:
        _pages.clear()
        responses.clear()
        _checked.update(at=-1.0, generation=None)
