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
from tests.bidding.conftest import _own_blob_dir as _own_blob_dir
from tests.bidding.conftest import publish_tender
from tests.factories import login, make_user
from tests.projects.conftest import World
from tests.projects.conftest import world as world

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


# -- object level: a party of the right role but the wrong organization changes nothing ----------------------

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _section_writes(app: Flask, role: Role) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) of every state-changing route on one section (its only path argument)
    whose declared permissions the role holds: only the object check stands between it and the section."""
    out = []
    for rule in app.url_map.iter_rules():
        if set(rule.arguments) != {"section_id"}:
            continue
        view = app.view_functions[rule.endpoint]
        markers = markers_of(view)
        if not markers or not markers.get("permissions"):
            continue
        if not all(has_permission(role, p) for p in markers["permissions"]):
            continue
        for method in sorted((rule.methods or set()) & WRITE_METHODS):
            out.append((rule.endpoint, method, rule.rule))
    return out


def _trail() -> tuple[int, int]:
    from sqlalchemy import func, select

    from app.core.db import db
    from app.core.models import AuditLeaf, OutboxMessage

    return (
        db.session.scalar(select(func.count()).select_from(AuditLeaf)) or 0,
        db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
    )


# POSTs on a section that any account of the role may make: verifying the section's audit timeline changes
# nothing and reads what every regulator reads (SPEC §1: regulators read everything).
OPEN_TO_THE_ROLE = {(Role.REGULATOR, "supervision.verify_section")}


@pytest.mark.parametrize("role", [Role.TENDERER, Role.REGULATOR, Role.EXPERT])
def test_a_party_of_another_organization_changes_nothing_on_a_section(
    app: Flask, world: World, role: Role
) -> None:
    """Every state-changing route on a section, called by an account of the role the route declares but of
    an organization that is no party to the section (another tenderer, the regulator of another industry,
    an expert not drawn for it):
    refused with 404 or 403, and no audit leaf and no outbox message is written."""
    from app.core.permissions import OrgKind
    from tests.factories import make_org

    with app.test_request_context():
        tender = publish_tender(world, bidders=1)
    kind = {Role.TENDERER: OrgKind.TENDERER, Role.REGULATOR: OrgKind.REGULATOR}.get(
        role, OrgKind.EXPERT_EMPLOYER
    )
    outsider = make_user(role, make_org(kind))
    client = app.test_client()
    login(client, outsider)
    routes = [r for r in _section_writes(app, role) if (role, r[0]) not in OPEN_TO_THE_ROLE]
    assert len(routes) >= 5
    app.config["WTF_CSRF_ENABLED"] = False  # authorization, not CSRF, is probed here
    accepted = []
    try:
        for endpoint, method, rule in routes:
            url = rule.replace("<int:section_id>", str(tender.section.id))
            before = _trail()
            resp = client.open(url, method=method, data={}, headers={"X-TOTP-Code": "000000"})
            after = _trail()
            refused = resp.status_code in (403, 404) or (resp.status_code == 422 and url.startswith("/api/"))
            if not refused or after != before:
                accepted.append(f"{method} {url} ({endpoint}): {resp.status_code}, trail {before} -> {after}")
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert accepted == []
