"""The authorization matrix: every registered route × every role (and the anonymous public).

Generated from the route table, so a new route is covered the moment it is registered, and a route
without a declared permission fails ``test_every_route_declares_its_access``."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter

from app.core.permissions import Role, has_permission
from app.core.web import LIBRARY_PUBLIC_ENDPOINTS, markers_of, undeclared_endpoints
from tests.factories import login, make_user

ANONYMOUS = "anonymous"


def test_every_route_declares_its_access(app: Flask) -> None:
    assert undeclared_endpoints(app) == []


def _routes(app: Flask) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(endpoint, method, url, markers) for every rule and method, with placeholder arguments."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in LIBRARY_PUBLIC_ENDPOINTS:
            continue
        values = {}
        for arg in rule.arguments:
            is_int = isinstance(rule._converters[arg], IntegerConverter)  # app.core.web.RowIdConverter too
            values[arg] = 999999 if is_int else "matrix-probe"
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            target = view
            view_class = getattr(view, "view_class", None)
            if view_class is not None:
                target = getattr(view_class, method.lower())
            out.append((rule.endpoint, method, url, markers_of(target)))
    return out


def _expected(markers: dict[str, Any] | None, who: str) -> str:
    if markers is None:
        return "deny"
    if markers.get("public"):
        return "allow"
    if who == ANONYMOUS:
        return "login"
    if markers.get("authenticated"):
        return "allow"
    role = Role(who)
    return "allow" if all(has_permission(role, p) for p in markers["permissions"]) else "deny"


def _classify(status: int, location: str | None, is_api: bool) -> str:
    if status == 403:
        return "deny"
    # The guard answers API calls 401 and sends browsers to the sign-in page with a ``next`` target;
    # an HTML page answering 401 itself (a failed sign-in attempt) was allowed to run.
    if (status == 401 and is_api) or (status == 302 and location and "/auth/login?next=" in location):
        return "login"
    return "allow"


@pytest.mark.parametrize("who", [ANONYMOUS, *[r.value for r in Role]])
def test_route_access_per_role(app: Flask, db_session: Any, who: str) -> None:
    client = app.test_client()
    if who != ANONYMOUS:
        login(client, make_user(Role(who)))
    app.config["WTF_CSRF_ENABLED"] = False  # the matrix probes authorization, not CSRF (tested elsewhere)
    mismatches = []
    try:
        for endpoint, method, url, markers in _routes(app):
            if endpoint == "auth.logout":
                continue  # would end the probing session; covered in the auth tests
            resp = client.open(url, method=method, data={})
            got = _classify(resp.status_code, resp.headers.get("Location"), url.startswith("/api/"))
            want = _expected(markers, who)
            if got != want:
                mismatches.append(f"{method} {url} ({endpoint}): expected {want}, got {resp.status_code}")
            assert resp.status_code < 500, f"{method} {url} as {who}: {resp.status_code}"
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert mismatches == []


def test_matrix_covers_a_meaningful_number_of_routes(app: Flask) -> None:
    routes = _routes(app)
    assert len(routes) >= 20
    assert any(m and m.get("permissions") for *_, m in routes)
