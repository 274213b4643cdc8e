"""Factories and sign-in helpers shared by every domain's tests (loaded as a pytest plugin)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.accounts import totp
from app.accounts.models import Organization, User
from app.core.clock import now, security_clock, security_now
from app.core.crypto import encrypt_at_rest
from app.core.permissions import MFA_REQUIRED_ROLES, ROLE_ORG_KINDS, OrgKind, Role

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)

ROLE_DEFAULT_KIND = {role: sorted(kinds)[0] for role, kinds in ROLE_ORG_KINDS.items()}


def make_org(kind: OrgKind | str = OrgKind.BIDDER, name: str | None = None, **kw: Any) -> Organization:
    kind = OrgKind(kind)
    if kind is OrgKind.REGULATOR:
        kw.setdefault("industry", "housing_construction")
    return accounts.create_organization(name or f"{kind.value}-org-{next(_counter)}", kind, actor=None, **kw)


def make_user(
    role: Role | str = Role.BIDDER,
    org: Organization | None = None,
    *,
    username: str | None = None,
    password: str = PASSWORD,
    with_totp: bool | None = None,
) -> User:
    role = Role(role)
    org = org or make_org(ROLE_DEFAULT_KIND[role])
    user = accounts.create_user(
        username=username or f"{role.value}{next(_counter)}",
        display_name=f"Test {role.value}",
        organization=org,
        role=role,
        password=password,
        actor=None,
    )
    if with_totp is None:
        with_totp = role in MFA_REQUIRED_ROLES
    if with_totp:
        user.totp_secret_enc = encrypt_at_rest(totp.new_secret(), purpose=accounts.TOTP_PURPOSE)
        user.totp_enabled_at = now()
    return user


def current_code(user: User) -> str:
    """A code the server accepts now and for at least ~15 s more, not used yet (codes are single use).

    The server accepts the previous, current and next 30 s step. The previous step's code is taken only
    while it has ≥ 15 s left, so a slow, loaded machine does not see it expire on its way; when all usable
    codes of this window are spent, wait for the next window (real time) or move a frozen security clock
    on."""
    import datetime as dt
    import time

    secret = accounts.totp_secret(user)
    assert secret is not None
    for _attempt in range(3):
        moment = security_now()  # codes are about real time, never the demo clock
        current = int(moment.timestamp()) // totp.STEP_SECONDS
        left_in_step = totp.STEP_SECONDS - (moment.timestamp() % totp.STEP_SECONDS)
        candidates = ([current - 1] if left_in_step >= 15 else []) + [current, current + 1]
        usable = [c for c in candidates if user.totp_last_step is None or c > user.totp_last_step]
        if usable:
            return totp.code_at(secret, dt.datetime.fromtimestamp(usable[0] * totp.STEP_SECONDS, dt.UTC))
        if security_clock.is_frozen:  # the next code appears when real time would have moved on
            security_clock.advance(dt.timedelta(seconds=left_in_step))
        else:
            time.sleep(left_in_step + 0.1)
    raise AssertionError("no usable TOTP code")


def csrf_token(client: FlaskClient, path: str = "/auth/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, user: User, *, password: str = PASSWORD, mfa: bool = True) -> None:
    """Sign in through the real pages (password, then TOTP for roles that need it)."""
    token = csrf_token(client)
    resp = client.post(
        "/auth/login", data={"username": user.username, "password": password, "csrf_token": token}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    if mfa and accounts.requires_second_factor(user):
        token = csrf_token(client, "/auth/mfa")
        resp = client.post("/auth/mfa", data={"code": current_code(user), "csrf_token": token})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]


def signed_in(app: Flask, user: User) -> FlaskClient:
    """A test client signed in as ``user`` through the real pages."""
    client = app.test_client()
    login(client, user)
    return client


@pytest.fixture
def factory(db_session: Any) -> Callable[..., Any]:
    return make_user


@pytest.fixture
def org_factory(db_session: Any) -> Callable[..., Any]:
    return make_org


def intention_published(project: Any, *, days_before: int = 40) -> Any:
    """A government procurement project needs its procurement intention public ≥ 30 days before the tender
    announcement (财库〔2020〕10号): give it one published ``days_before`` days ago (test set-up, not the
    service under test). Other categories are left alone. Returns the intention or None."""
    import datetime as dt
    from decimal import Decimal

    from app.contracts.enums import IntentionStatus
    from app.contracts.models import ProcurementIntention
    from app.core.db import db
    from app.projects.enums import Category

    if project.catalogue_item.category != Category.GOVERNMENT_PROCUREMENT:
        return None
    for row in db.session.query(ProcurementIntention).filter_by(project_id=project.id):
        if row.status == IntentionStatus.PUBLISHED:
            return row
    at = now() - dt.timedelta(days=days_before)
    row = ProcurementIntention(
        project_id=project.id,
        org_id=project.owner_org_id,
        project_name=project.name,
        budget=project.budget or Decimal("1000000"),
        needs_summary="采购需求概况（测试）",
        expected_month=dt.date(at.year + (at.month + 1) // 12, (at.month + 1) % 12 + 1, 1),
        status=IntentionStatus.PUBLISHED.value,
        created_at=at,
        created_by=project.created_by,
        published_at=at,
    )
    db.session.add(row)
    db.session.flush()
    return row
