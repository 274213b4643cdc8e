"""Request plumbing shared by every domain: extensions, the deny-by-default guard, security headers,
error pages and the JSON error shape, locale selection and request ids."""

from __future__ import annotations

import logging
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest.spec.plugins import integerconverter2paramschema
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.routing import IntegerConverter, Map

from app.core import bodies
from app.core.errors import DomainError, error_body
from app.core.permissions import has_permission
from app.extensions import api, babel, csrf, db, limiter, login_manager

log = logging.getLogger("app.request")

# Endpoints owned by libraries; their access is declared here because they carry no decorator.
LIBRARY_PUBLIC_ENDPOINTS = frozenset({"static", "api-docs.openapi_json"})

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


# PostgreSQL INTEGER, the type of our primary keys: SQLAlchemy's psycopg dialect casts bound parameters to
# the column type, so a larger id would fail in the database (a 500) instead of naming no row (a 404).
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<int:…>`` capped at the largest row id (PostgreSQL INTEGER): a larger number names no row, so the
    route answers 404 rather than failing in the database (500). The cap also appears in the OpenAPI
    document."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_ROW_ID,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def select_locale() -> str:
    if not has_request_context():
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])  # CLI and background work
    chosen = session.get("locale")
    return negotiate_locale(current_app.config, chosen, request.path, lambda: request.accept_languages)


def negotiate_locale(
    config: Any, chosen: Any, path: str, accept_languages: Callable[[], LanguageAccept]
) -> str:
    """The language of a response from its inputs: the language the visitor chose (``session["locale"]``),
    the path and, for the API only, the Accept-Language header (read only then). The portal's fast path
    (``app.portal.fastpath``) asks this too, so both pipelines choose the same language."""
    supported = config["LANGUAGES"]
    if chosen in supported:
        return str(chosen)
    if path.startswith("/api/"):
        # API clients (ggzy-bid, other systems) say which language their people read; pages stay Chinese by
        # default whatever the browser sends, with the language switch to change it.
        best = accept_languages().best_match(
            [*supported, "zh", "zh-CN", "zh-Hans"], default=config["BABEL_DEFAULT_LOCALE"]
        )
        return "en" if best and best.lower().startswith("en") else str(config["BABEL_DEFAULT_LOCALE"])
    return str(config["BABEL_DEFAULT_LOCALE"])


def _wants_migrations(app: Flask) -> bool:
    """Flask-Migrate (with Alembic and Mako, about 15 MiB) only serves ``flask db`` and the tests: a
    gunicorn worker never migrates, so it does not load it. ``LOAD_MIGRATIONS`` forces either way."""
    setting = app.config.get("LOAD_MIGRATIONS")
    if setting is not None:
        return bool(setting)
    return "gunicorn.arbiter" not in sys.modules  # a process gunicorn runs, not one that imported its config


def init_app(app: Flask) -> None:
    import pathlib

    from app.core.db import configure_engine

    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            configure_engine(engine)
    if _wants_migrations(app):
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(pathlib.Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    # Redis down must not take logins down: fall back to in-memory counters.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})
    limiter.init_app(app)
    login_manager.init_app(app)
    app.session_interface = CookieSessions()
    login_manager.session_protection = None  # sessions are server-side rows; see accounts.sessions
    api.init_app(app)
    api.register_converter(RowIdConverter, integerconverter2paramschema)

    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in _csrf below, skipping bearer-token API calls
    # Order matters: who is asking and whether they may (request line, headers, cookie) comes first; only
    # then is the route's body limit applied and may anything read the body (NUL check, CSRF token, view).
    app.before_request(_start_request)
    app.before_request(_guard)
    app.before_request(_limit_body)
    app.before_request(_refuse_nul_characters)
    app.before_request(_csrf)
    app.after_request(_finish_transaction)
    app.after_request(_security_headers)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.jinja_env.globals["csp_nonce"] = lambda: ""

    from app.core import templating

    templating.init_app(app)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, building the signing serializer once per secret key instead of on
    every request (two per request: open and save), which a request without any cookie pays as well."""

    _cached: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._cached
        if cached is not None and cached[0] == key:
            return cached[1]
        serializer = super().get_signing_serializer(app)
        self._cached = (key, serializer)
        return serializer


def request_id(header: str) -> str:
    """The request's id: the front proxy's ``X-Request-Id`` (at most 64 characters) or a new one."""
    return header[:64] or secrets.token_hex(8)


def log_request(method: str, rule: str, status: int, started: float, rid: str) -> None:
    """The one log line of a request: the route, not the path (a path can carry a one-time link's token)."""
    log.info("%s %s %s %.1fms rid=%s", method, rule, status, (time.perf_counter() - started) * 1000, rid)


def _start_request() -> None:
    g.request_id = request_id(request.headers.get("X-Request-Id", ""))
    g.request_started = time.perf_counter()


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _refuse_nul_characters() -> Response | None:
    """Text never legitimately contains NUL, and PostgreSQL cannot store it: refuse it with a clear 422
    instead of failing deep inside a transaction. Runs after the guard and the body limit, so only an
    authorized request of a bounded size is parsed here. Raw binary bodies (sealed envelopes) are not text
    and are not inspected, nor are the bodies of views that stream them."""
    if request.endpoint is None:
        return None  # 404/405: nothing is read
    if not request.query_string and not request.mimetype and "\x00" not in request.path:
        return None  # no query and no form or JSON body to inspect (most GETs)
    if request.max_content_length is None:  # a streamed view: its body is never parsed as a form
        return None
    fields: list[Any] = [list(request.args.values())]
    if request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        fields.append(list(request.form.values()))
    elif request.is_json:
        fields.append(request.get_json(silent=True))
    if any(_contains_nul(f) for f in fields) or "\x00" in request.path:
        message = _("The request contains a NUL character, which no field may contain.")
        if is_api_request():
            resp = jsonify(error_body(422, "unprocessable_entity", message))
            resp.status_code = 422
            return resp
        return Response(render_template("errors/error.html", status=422, message=message), status=422)
    return None


def _csrf() -> None:
    """CSRF on every state-changing request made with the session cookie. A request that a valid bearer
    token authenticated carries no ambient credential, so there is nothing to forge; an ``Authorization``
    header alone proves nothing (any page can send ``Bearer junk`` along with the browser's cookie)."""
    if request.method in {"GET", "HEAD", "OPTIONS", "TRACE"} or not current_app.config["WTF_CSRF_ENABLED"]:
        return
    if request.endpoint is None:
        return  # 404/405: no view runs
    if current_user.is_authenticated and getattr(current_user, "token", None) is not None:
        return
    if getattr(_view_target(request.endpoint), "_signed_callback", False):
        return  # no cookie is trusted there: the sender's signature is checked by the view
    if is_api_request() and not current_user.is_authenticated:
        # An anonymous API call (a public report) acts for nobody: no cookie made it anyone's, so a forged
        # one could do nothing its sender could not do directly. Its body must be JSON besides, which a
        # cross-site form cannot send.
        return
    csrf.protect()


def _limit_body() -> None:
    """The route's body limit and read timeouts (``app.core.bodies``), once the guard let the request in."""
    if request.endpoint is None:
        request.max_content_length = 0  # 404/405: nothing will read it
        return
    markers = _view_markers(request.endpoint) or {}
    bodies.apply(_view_target(request.endpoint), public=bool(markers.get("public")))


def _finish_transaction(response: Response) -> Response:
    """One transaction per request: what the handler left pending (session touch, audit leaves) is
    committed on success and rolled back on an error response."""
    if not db.session.registry.has():
        return response  # the request never touched the database
    if response.status_code < 400:
        if db.session.new or db.session.dirty or db.session.deleted:
            db.session.commit()
    else:
        db.session.rollback()
    return response


def _view_target(endpoint: str) -> Any:
    """The function that serves ``endpoint`` for this request's method (MethodViews: the method)."""
    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return getattr(view_class, request.method.lower(), None) or getattr(view_class, "get", None)
    return view


def _view_markers(endpoint: str | None) -> dict[str, Any] | None:
    """Return the access markers of the view behind ``endpoint`` (method-aware for MethodViews)."""
    if endpoint is None:
        return None
    if endpoint in LIBRARY_PUBLIC_ENDPOINTS:
        return {"public": True}
    if current_app.view_functions.get(endpoint) is None:
        return None
    return markers_of(_view_target(endpoint))


def markers_of(target: Any) -> dict[str, Any] | None:
    if target is None:
        return None
    if getattr(target, "_public", False):
        return {"public": True}
    if getattr(target, "_authenticated", False):
        return {"authenticated": True}
    perms = getattr(target, "_permissions", None)
    if perms:
        return {"permissions": perms, "filters": getattr(target, "_section_filtered", False)}
    return None


def _deny(status: int, message: str) -> Response:
    if is_api_request():
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "error")
        resp = jsonify(error_body(status, code, message))
        resp.status_code = status
        return resp
    if status == 401:
        back = request.full_path if request.method == "GET" else "/"
        return redirect(url_for("auth.login", next=back))  # type: ignore[return-value]
    resp = Response(render_template("errors/error.html", status=status, message=message), status=status)
    return resp


def _guard() -> Response | None:
    """Deny by default: every route must declare who may use it."""
    if request.endpoint is None:
        return None  # 404/405 handled by Flask
    markers = _view_markers(request.endpoint)
    if markers is None:
        log.error("route %s declares no permission; refused", request.endpoint)
        return _deny(403, _("This page is not available."))
    if markers.get("public"):
        return None
    if not current_user.is_authenticated:
        return _deny(401, _("Please sign in."))
    if markers.get("authenticated"):
        return None
    if not current_user.mfa_passed:  # the roles that must, and every account with an authenticator
        if is_api_request():
            return _deny(401, _("Two-factor authentication is required."))
        return redirect(url_for("auth.mfa"))  # type: ignore[return-value]
    for permission in markers["permissions"]:
        if not has_permission(current_user.role, permission):
            from app.core import audit

            audit.record_denial(permission=str(permission), endpoint=request.endpoint)
            return _deny(403, _("Your role may not do this."))
    scope = getattr(current_user, "section_scope", None)
    if scope is not None and is_api_request():
        from app.core import scoping

        if not scoping.allows(
            scope, request.view_args or {}, markers["permissions"], filters=markers.get("filters", False)
        ):
            return _deny(403, _("This API token is limited to other tender sections."))
    return None


_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_TLS_HEADERS = (*_HEADERS, ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))


def _security_headers(response: Response) -> Response:
    h = response.headers
    present = {key.lower() for key, _ in h.items()}  # one pass; each setdefault would scan them all
    defaults = _TLS_HEADERS if current_app.config.get("SESSION_COOKIE_SECURE") else _HEADERS
    h.extend([(key, value) for key, value in defaults if key.lower() not in present])
    # Read the user only if this request loaded one: touching current_user would load it for nothing.
    loaded = g.get("_login_user")
    if loaded is not None and loaded.is_authenticated:
        h.setdefault("Cache-Control", "no-store")
    h["X-Request-Id"] = g.get("request_id", "")
    started = g.get("request_started")
    if started is not None and log.isEnabledFor(logging.INFO):  # the arguments cost even when not logged
        # The route, not the path: a path can carry a one-time link's token (/auth/link/<raw>,
        # /experts/answer/<token>), and the log is read by whoever runs the platform.
        rule = request.url_rule
        log_request(
            request.method,
            rule.rule if rule is not None else "(no route)",
            response.status_code,
            started,
            g.get("request_id", ""),
        )
    return response


def _domain_error(err: DomainError) -> Response | tuple[str, int, dict[str, str]]:
    db.session.rollback()
    retry_after = getattr(err, "retry_after", None)  # a throttled attempt says when to try again
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if is_api_request() or request.accept_mimetypes.best == "application/json":
        resp = jsonify(error_body(err.status, err.code, err.message, err.errors))
        resp.status_code = err.status
        resp.headers.update(headers)
        return resp
    return render_template("errors/error.html", status=err.status, message=err.message), err.status, headers


def _database_unavailable(err: OperationalError) -> Response | tuple[str, int]:
    """The database cannot be reached (a restart, a failover, SQLite busy beyond its timeout): nothing of
    this request was committed, so say so and ask the client to retry, as a 503 in the one error shape."""
    log.warning("database unavailable: %s", str(err).splitlines()[0][:200])
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the server rolled the transaction back already
        db.session.registry.clear()
    message = _("The database is not reachable at the moment; nothing was saved. Retry shortly.")
    response = _http_error(ServiceUnavailable(message))
    if isinstance(response, tuple):
        response = Response(response[0], status=response[1], mimetype="text/html")
    response.headers["Retry-After"] = "5"
    return response


def _http_message(err: HTTPException, status: int) -> str:
    """The words for an HTTP error: the platform's own message when a view gave one, else the registry's
    (werkzeug's defaults are English sentences)."""
    from flask_wtf.csrf import CSRFError

    from app.core.labels import has_label, label

    if isinstance(err, CSRFError):
        # Flask-WTF's reasons are English sentences about tokens; the person only needs to know what to do.
        if "expired" in str(err.description):
            return _(
                "The form has expired (it was open too long). Go back, reload the page and send it again."
            )
        return _("The form could not be checked. Go back, reload the page and send it again.")
    if err.description and err.description != type(err).description:
        return str(err.description)
    if has_label("http_error", str(status)):
        return label("http_error", str(status))
    return label("http_error", "500" if status >= 500 else "400")


def _same_origin_referrer() -> str | None:
    """The page a refused form was sent from (path and query), when it is one of ours: where the person
    opens the form again. Another site's address is never offered as a link."""
    from urllib.parse import urlsplit

    ref = urlsplit(request.referrer or "")
    if ref.scheme not in {"http", "https"} or ref.netloc != request.host or not ref.path.startswith("/"):
        return None
    return ref.path + (f"?{ref.query}" if ref.query else "")


def _http_error(err: HTTPException) -> Response | tuple[str, int]:
    status = err.code or 500
    message = _http_message(err, status)
    if is_api_request():
        data = getattr(err, "data", None) or {}
        errors = data.get("messages") or data.get("errors") or {}
        code = (err.name or "error").lower().replace(" ", "_")
        from flask_wtf.csrf import CSRFError

        if isinstance(err, CSRFError):  # an API client tells this refusal apart by its code, not by words
            code = "csrf_failed"
        resp = jsonify(error_body(status, code, message, errors))
        resp.status_code = status
    else:
        from flask_wtf.csrf import CSRFError

        refused = isinstance(err, CSRFError) and request.method == "POST"
        page = render_template(
            "errors/error.html",
            status=status,
            message=message,
            form_refused=refused,
            back_url=_same_origin_referrer() if refused else None,
        )
        resp = Response(page, status=status)
    # 429 and 503 say when to come back (flask-limiter's own response, or the exception's retry_after).
    if status in (429, 503):
        source = err.response.headers.items() if err.response is not None else err.get_headers()
        resp.headers.update({k: v for k, v in source if k.startswith("Retry")})
    return resp


def check_declared_permissions(app: Flask) -> None:
    """Fail fast at start-up if a route forgot its access declaration (deny-by-default backstop)."""
    missing = [ep for ep in undeclared_endpoints(app)]
    if missing:
        raise RuntimeError(f"routes without a declared permission: {', '.join(sorted(missing))}")


def undeclared_endpoints(app: Flask) -> list[str]:
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in LIBRARY_PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        if view_class is not None:
            methods = [m.lower() for m in (rule.methods or set()) if m not in {"HEAD", "OPTIONS"}]
            if any(markers_of(getattr(view_class, m, None)) is None for m in methods):
                missing.append(rule.endpoint)
        elif markers_of(view) is None:
            missing.append(rule.endpoint)
    return missing


DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"


def public_base_url() -> str:
    """The platform's public address (``PUBLIC_BASE_URL``), never the request's ``Host`` header: a link
    that leaves the request — a one-time credential link by e-mail or SMS, an invitation, the verification
    link printed on a record — must lead to the platform whoever sent the request and whatever it claimed
    its host to be."""
    return str(current_app.config.get("PUBLIC_BASE_URL") or DEFAULT_PUBLIC_BASE_URL).rstrip("/")


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link to ``endpoint`` under :func:`public_base_url`."""
    from flask import url_for

    return public_base_url() + url_for(endpoint, **values)


def public_url_context() -> Any:
    """A request context for jobs run outside a request (CLI, cron) whose output carries absolute links:
    ``url_for(..., _external=True)`` is built against the public address (``PUBLIC_BASE_URL``)."""
    return current_app.test_request_context(base_url=public_base_url())
