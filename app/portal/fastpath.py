"""The portal's fast path: a cached public page answered before the request pipeline (issue 21).

A cache hit of :mod:`app.portal.cache` still paid the whole Flask pipeline (session, CSRF, locale,
security headers, database session, logging), about four times a bare "hello". This WSGI middleware
answers a repeated anonymous request for a portal page with exactly the response the full pipeline gave
the first time (status, headers in order, body), refreshing only what is per request: the server clock in
the footer, ``X-Request-Id`` and ``Content-Length``. Everything else goes through the full pipeline.

Served from here only when all hold:

* ``GET`` or ``HEAD`` under ``/portal/``, with no ``Cookie`` header at all (a session, a chosen language, a
  form token or a sign-in all ride on a cookie), no ``Authorization`` header and no body;
* the key matches: scheme, ``Host``, server name and port, script root, path, raw query string, the
  forwarded scheme, and the language the full pipeline would choose (``app.core.web.negotiate_locale``);
* the full pipeline stored this response: a 200 page of ``cache.page`` without a form (a form's token
  needs a cookie), with no ``Set-Cookie``, on a route no rate limit applies to;
* the platform's generation is still the one the page was rendered at (the same invalidation as the page
  cache, re-read at most every ``PORTAL_CACHE_REVALIDATE_SECONDS``);
* the page cache is on and the demo clock off (its offset is applied by the full pipeline).

The request is logged as the full pipeline logs it (method, route, status, time, request id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, has_app_context
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from app.core.web import log, log_request, negotiate_locale, request_id

from . import cache

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_PER_REQUEST = frozenset({"content-length", "x-request-id"})


def install(app: Flask) -> None:
    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]


def request_key(config: Any, environ: WSGIEnvironment) -> tuple[str, ...] | None:
    """The key of a request the fast path may answer, or None when it must go through the full pipeline."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return None
    if environ.get("HTTP_COOKIE", "").strip() or "HTTP_AUTHORIZATION" in environ:
        return None
    if environ.get("CONTENT_LENGTH", "") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in environ:
        return None  # a body: the pipeline's body limits and checks decide
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/portal/"):
        return None
    if not config.get("PORTAL_PAGE_CACHE", True) or config.get("DEMO_CLOCK"):
        return None
    locale = negotiate_locale(
        config,
        None,  # no cookie, so no session and no language chosen in it
        path,
        lambda: parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept),
    )
    return (
        str(environ.get("wsgi.url_scheme", "")),
        str(environ.get("HTTP_X_FORWARDED_PROTO", "")),
        str(environ.get("HTTP_HOST", "")),
        str(environ.get("SERVER_NAME", "")),
        str(environ.get("SERVER_PORT", "")),
        str(environ.get("SCRIPT_NAME", "")),
        path,
        str(environ.get("QUERY_STRING", "")),
        locale,
    )


class FastPath:
    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        key = request_key(self.app.config, environ)
        if key is None:
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        current = self._generation()
        if current is not None:
            hit = cache.stored_response(key, current)
            if hit is not None:
                return self._serve(environ, start_response, hit, started)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=list(headers))
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, capture)
        page = environ.get(cache.PAGE_ENVIRON_KEY)
        if page is not None and _storable(captured):
            generation, html, rule = page
            status, headers = captured["status"], tuple(captured["headers"])
            entry = cache.StoredResponse(generation, status, headers, cache.body_parts(html), rule)
            cache.store_response(key, entry)
        return body

    def _generation(self) -> tuple[int, str] | None:
        checked = cache.checked_generation(self.app.config)
        if checked is not None:
            return checked
        try:
            if has_app_context():  # the tests keep one pushed, holding their transaction
                return cache.current_generation()
            with self.app.app_context():
                return cache.current_generation()
        except SQLAlchemyError:
            return None  # the full pipeline gives its one "database unavailable" answer

    @staticmethod
    def _serve(
        environ: WSGIEnvironment, start_response: StartResponse, hit: cache.StoredResponse, started: float
    ) -> Iterable[bytes]:
        body = hit.body()
        rid = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        per_request = {"content-length": str(len(body)), "x-request-id": rid}
        headers = [(name, per_request.get(name.lower(), value)) for name, value in hit.headers]
        start_response(hit.status, headers)
        if log.isEnabledFor(logging.INFO):
            log_request(environ["REQUEST_METHOD"], hit.rule, int(hit.status[:3]), started, rid)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def _storable(captured: dict[str, Any]) -> bool:
    if not str(captured.get("status", "")).startswith("200 "):
        return False
    names = {name.lower() for name, _ in captured.get("headers", ())}
    return "set-cookie" not in names and names >= _PER_REQUEST
