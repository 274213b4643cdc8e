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
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
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

MAX_ENTRIES = 512
_CSRF_MARK = "\x00portal-csrf\x00"
_TIME_MARK = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_TIME_ISO = _TIME_MARK.isoformat()
_TIME_LOCAL = fmt_dt(_TIME_MARK, "%Y-%m-%d %H:%M:%S")

_lock = threading.Lock()
_checked: dict[str, Any] = {"at": -1.0, "generation": None}
_pages: OrderedDict[tuple[str, str, str], tuple[tuple[int, str], str]] = OrderedDict()


def generation() -> tuple[int, str]:
    """The audit log's tree size and its newest subtree root: changes with every committed state change
    (the root also tells apart two logs of the same size, e.g. after a rolled-back transaction)."""
    row = db.session.execute(select(AuditHead.size, AuditHead.frontier).where(AuditHead.id == 1)).first()
    if row is None:
        return (0, "")
    size, frontier = row
    return (int(size or 0), str(frontier[-1]) if frontier else "")


def _current_generation() -> tuple[int, str]:
    default = 0.0 if current_app.testing else 1.0
    interval = float(current_app.config.get("PORTAL_CACHE_REVALIDATE_SECONDS", default))
    tick = time.monotonic()
    with _lock:
        if _checked["generation"] is not None and tick - _checked["at"] < interval:
            cached: tuple[int, str] = _checked["generation"]
            return cached
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


def _fill(html: str) -> str:
    at = now()
    if _CSRF_MARK in html:  # only pages with a form: a token costs a signed session cookie per visitor
        html = html.replace(_CSRF_MARK, generate_csrf())
    return html.replace(_TIME_ISO, at.isoformat()).replace(_TIME_LOCAL, fmt_dt(at, "%Y-%m-%d %H:%M:%S"))


def page(template: str, context: Callable[[], dict[str, Any]]) -> Response:
    """Render ``template`` with ``context()``, from the cache when the platform has not changed since."""
    if not _cacheable():
        return Response(render_template(template, **context()), mimetype="text/html")
    # The host is part of the key: a page may show addresses built on it (the sealing commands), and one
    # request with a forged Host header must not poison what every other visitor is served.
    key = (request.host, request.full_path, select_locale())  # select_locale: Babel's parse costs more
    current = _current_generation()
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
    return Response(_fill(html), mimetype="text/html")


def clear() -> None:
    with _lock:
        _pages.clear()
        _checked.update(at=-1.0, generation=None)
