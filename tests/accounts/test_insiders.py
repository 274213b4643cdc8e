"""Second factor for everyone who has one, shared attempt limits, and an administrator who keeps the
platform running but can never become a business user (监管办分离): each reproduced through the pages/API."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts import services
from app.accounts.models import AccountLink, AccountNotice, ApiToken, User
from app.core.models import AuditLeaf, OutboxMessage
from app.core.permissions import OrgKind, Role
from tests.bidding.conftest import _own_blob_dir as _own_blob_dir
from tests.bidding.conftest import tender as tender
from tests.factories import PASSWORD, csrf_token, current_code, login, make_org, make_user
from tests.projects.conftest import world as world

NEW_PASSWORD = "a brand new passphrase for 2026"


def _token_via_page(client: FlaskClient) -> str:
    page = client.post(
        "/account/tokens", data={"name": "tool", "csrf_token": csrf_token(client, "/account/")}
    ).get_data(as_text=True)
    match = re.search(r'id="new-token">([^<]+)<', page)
    assert match, "no token shown"
    return match.group(1).strip()


def test_an_enrolled_authenticator_is_required_for_every_page_and_for_minting_tokens(
    app: Flask, client: FlaskClient, db_session
) -> None:
    """A tenderer (a key custodian) or a bidder who enrolled an authenticator cannot reach any page, mint an
    API token or swap the share recipient with the password alone."""
    for user in (make_user(Role.TENDERER), make_user(Role.BIDDER, with_totp=True)):
        c = app.test_client()
        login(c, user, mfa=False)
        assert c.get("/workbench").location.startswith("/auth/mfa")
        token = csrf_token(c, "/auth/mfa")
        resp = c.post("/account/tokens", data={"name": "x", "csrf_token": token})
        assert resp.status_code == 302 and resp.location.startswith("/auth/mfa")
        assert db_session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id)) is None


def test_swapping_the_custodian_recipient_needs_a_fresh_code(
    app: Flask, client: FlaskClient, db_session
) -> None:
    import pyrage

    from app.core.clock import security_clock, security_now

    tenderer = make_user(Role.TENDERER)
    login(client, tenderer)
    security_clock.freeze(security_now() + services.dt.timedelta(minutes=10))  # the sign-in's step-up lapsed
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    token = csrf_token(client, "/bidding/custodian")
    resp = client.post("/bidding/custodian/key", data={"age_recipient": recipient, "csrf_token": token})
    assert resp.status_code == 302 and "/auth/step-up" in resp.location
    from app.bidding.services import active_custodian_key

    assert active_custodian_key(tenderer) is None
    client.post(
        "/auth/step-up?next=/bidding/custodian",
        data={"code": current_code(tenderer), "csrf_token": csrf_token(client, "/auth/step-up")},
    )
    resp = client.post("/bidding/custodian/key", data={"age_recipient": recipient, "csrf_token": token})
    assert resp.status_code == 302 and resp.location.endswith("/bidding/custodian")
    assert active_custodian_key(tenderer).age_recipient == recipient


def test_password_change_revokes_api_tokens(app: Flask, client: FlaskClient, db_session) -> None:
    user = make_user(Role.BIDDER)
    login(client, user)
    raw = _token_via_page(client)
    api = app.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    client.post(
        "/account/password",
        data={"current": PASSWORD, "new": NEW_PASSWORD, "csrf_token": csrf_token(client, "/account/")},
    )
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_step_up_codes_cannot_be_guessed_and_a_late_right_code_confirms_nothing(
    app: Flask, client: FlaskClient, db_session, tender
) -> None:
    """X-TOTP-Code on a sensitive API call: after five wrong codes the account's codes are refused (429) for a
    growing time, the right one included; the counter is shared (database), not per worker."""
    from app.core.models import Throttle

    staff = tender.world.staff
    sid = tender.section.id
    raw = services.create_api_token(staff, "ops").raw
    db_session.commit()
    api = app.test_client()
    statuses = []
    for guess in range(services.TOTP_ATTEMPTS.free + 1):
        resp = api.post(
            f"/api/v1/bidding/sections/{sid}/ceremony",
            headers={"Authorization": f"Bearer {raw}", "X-TOTP-Code": f"{guess:06d}"},
        )
        statuses.append(resp.status_code)
    assert statuses == [401] * (services.TOTP_ATTEMPTS.free + 1)
    right = api.post(
        f"/api/v1/bidding/sections/{sid}/ceremony",
        headers={"Authorization": f"Bearer {raw}", "X-TOTP-Code": current_code(staff)},
    )
    assert right.status_code == 429 and right.json["code"] == "too_many_attempts"
    assert int(right.headers["Retry-After"]) >= 1
    # signing in with a code shares the counter: the right code is refused there too
    login(client, staff, mfa=False)
    page = client.post(
        "/auth/mfa", data={"code": current_code(staff), "csrf_token": csrf_token(client, "/auth/mfa")}
    )
    assert page.status_code == 429
    assert db_session.scalar(select(Throttle.count)) is not None


# -- the administrator --------------------------------------------------------------------------------------


def _admin(app: Flask) -> tuple[FlaskClient, User]:
    admin = make_user(Role.SYSADMIN)
    admin.email = "ops@platform.example"
    c = app.test_client()
    login(c, admin)
    return c, admin


def _approve(app: Flask, user: User, approver: User, headers: dict[str, str] | None = None) -> None:
    """The second party approves an account the administrator created, through its page."""
    c = app.test_client()
    login(c, approver)
    token = csrf_token(c, "/account/approvals")
    if headers:
        for cookie in list(c._cookies.values()):
            c.set_cookie(cookie.key, cookie.value, domain=headers["Host"], path=cookie.path)
    resp = c.post(
        f"/account/approvals/{user.id}/approve", data={"confirm": "y", "csrf_token": token}, headers=headers
    )
    assert resp.status_code == 302


def _link_sent_to(db_session, user: User) -> str:
    msg = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.user_id == user.id).order_by(OutboxMessage.id.desc())
    ).first()
    assert msg is not None and msg.sensitive
    match = re.search(r"/auth/link/([A-Za-z0-9_-]+)", msg.body)
    assert match
    return match.group(1)


def test_admin_password_reset_never_shows_a_password_and_the_holder_sets_one(
    app: Flask, client: FlaskClient, db_session
) -> None:
    admin_client, admin = _admin(app)
    bidder = make_user(Role.BIDDER)
    bidder.email = "li@bidder.example"
    db_session.commit()
    resp = admin_client.post(
        f"/admin/users/{bidder.id}/reset-password",
        data={"confirm": "y", "csrf_token": csrf_token(admin_client, "/admin/users")},
    )
    assert resp.status_code == 302
    page = admin_client.get(resp.location).get_data(as_text=True)
    assert "l***@bidder.example" in page  # where the link went, masked; no password anywhere
    db_session.refresh(bidder)
    # the old password is dead: nobody, the administrator included, can sign in with any password
    assert (
        client.post(
            "/auth/login",
            data={"username": bidder.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
        ).status_code
        == 401
    )
    raw = _link_sent_to(db_session, bidder)
    assert client.get(f"/auth/link/{raw}").status_code == 200  # opening it changes nothing
    assert db_session.scalar(select(AccountLink.used_at).where(AccountLink.user_id == bidder.id)) is None
    set_it = client.post(
        f"/auth/link/{raw}",
        data={
            "new": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
            "csrf_token": csrf_token(client, f"/auth/link/{raw}"),
        },
    )
    assert set_it.status_code == 302
    assert client.get(f"/auth/link/{raw}").status_code == 404  # once only
    login(client, bidder, password=NEW_PASSWORD)
    shown = client.get("/workbench").get_data(as_text=True)
    assert admin.display_name in shown  # told at sign-in what the administrator did
    assert db_session.scalar(select(AccountNotice.seen_at).where(AccountNotice.user_id == bidder.id))
    # the regulators see it too
    regulator = make_user(Role.REGULATOR)
    rc = app.test_client()
    login(rc, regulator)
    acts = rc.get("/supervision/admin-acts").get_data(as_text=True)
    assert bidder.username in acts and admin.display_name in acts


def test_the_log_adapter_never_prints_a_credential_link(app: Flask, db_session, caplog) -> None:
    from app.core import outbox

    user = make_user(Role.BIDDER)
    user.email = "x@bidder.example"
    from app.accounts import links

    with app.test_request_context():
        links.send_link(user, "password", actor=None)
    db_session.commit()
    with caplog.at_level("INFO"):
        assert outbox.deliver_pending() >= 1
    assert "/auth/link/" not in caplog.text
    sent = db_session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == user.id)).one()
    assert "/auth/link/" not in sent.body  # scrubbed once delivered


def test_admin_mfa_reset_lets_only_the_holder_enrol(app: Flask, client: FlaskClient, db_session) -> None:
    admin_client, _ = _admin(app)
    staff = make_user(Role.CENTER_STAFF)
    staff.phone = "13800000001"
    db_session.commit()
    admin_client.post(
        f"/admin/users/{staff.id}/reset-mfa",
        data={"confirm": "y", "csrf_token": csrf_token(admin_client, "/admin/users")},
    )
    db_session.refresh(staff)
    assert not staff.totp_enabled and staff.totp_reset_at is not None
    # with the password alone (whoever has it), no new authenticator can be enrolled
    login(client, staff, mfa=False)
    assert client.get("/auth/mfa/enrol").status_code == 403
    raw = _link_sent_to(db_session, staff)
    other = app.test_client()
    other.post(
        f"/auth/link/{raw}", data={"confirm": "y", "csrf_token": csrf_token(other, f"/auth/link/{raw}")}
    )
    page = client.get("/auth/mfa/enrol")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)


def test_admin_creates_accounts_without_passwords_and_not_for_their_own_contact(
    app: Flask, db_session
) -> None:
    admin_client, admin = _admin(app)
    org = make_org(OrgKind.BIDDER)
    db_session.commit()
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert 'name="password"' not in page
    token = csrf_token(admin_client, "/admin/users")
    base = {"display_name": "王五", "organization": org.id, "role": "bidder", "csrf_token": token}
    typo = admin_client.post(
        "/admin/users", data={**base, "username": "wangwu", "email": "wang#bidder.example"}
    )
    assert typo.status_code == 200
    html = typo.get_data(as_text=True)
    assert "请输入有效的电子邮箱地址，例如 name@example.com。" in html and "Email" not in html
    assert 'value="wangwu"' in html and 'value="王五"' in html  # what the administrator typed stays
    mine = admin_client.post("/admin/users", data={**base, "username": "wangwu", "email": admin.email})
    assert db_session.scalar(select(User.id).where(User.username == "wangwu")) is None
    assert mine.status_code == 200
    ok = admin_client.post(
        "/admin/users", data={**base, "username": "wangwu", "email": "wang@bidder.example"}
    )
    assert ok.status_code == 302
    created = db_session.scalars(select(User).where(User.username == "wangwu")).one()
    _approve(app, created, make_user(Role.CENTER_STAFF))  # a business account waits for a second party
    assert _link_sent_to(db_session, created)
    leaves = db_session.scalars(select(AuditLeaf.action).where(AuditLeaf.object_id == str(created.id))).all()
    assert "admin:user:create" in leaves and "auth:link:send" in leaves


def test_credential_links_use_the_configured_address_not_the_host_header(
    app: Flask, db_session, monkeypatch
) -> None:
    """A request with a forged Host header (an insider, or a proxy passing any Host) must not send the
    holder a credential link to another site: every link sent out of band is on PUBLIC_BASE_URL."""
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://ggzy.platform.example")
    admin_client, _admin_user = _admin(app)
    org = make_org(OrgKind.BIDDER)
    holder = make_user(Role.BIDDER)
    holder.email = "holder@bidder.example"
    db_session.commit()
    token = csrf_token(admin_client, "/admin/users")
    forged = {"Host": "evil.example"}
    for cookie in list(admin_client._cookies.values()):  # the browser sends its cookies to the forged host
        admin_client.set_cookie(cookie.key, cookie.value, domain="evil.example", path=cookie.path)
    for url, data in (
        (f"/admin/users/{holder.id}/reset-password", {"confirm": "y"}),
        (f"/admin/users/{holder.id}/reset-mfa", {"confirm": "y"}),
        (
            "/admin/users",
            {
                "display_name": "赵六",
                "organization": org.id,
                "role": "bidder",
                "username": "zhaoliu",
                "email": "zhao@bidder.example",
            },
        ),
    ):
        resp = admin_client.post(url, data={**data, "csrf_token": token}, headers=forged)
        assert resp.status_code == 302, url
    created = db_session.scalars(select(User).where(User.username == "zhaoliu")).one()
    _approve(app, created, make_user(Role.CENTER_STAFF), headers=forged)  # the activation link goes out now
    bodies = db_session.scalars(select(OutboxMessage.body).where(OutboxMessage.sensitive.is_(True))).all()
    assert len(bodies) >= 3
    for body in bodies:
        assert "evil.example" not in body
        assert "https://ggzy.platform.example/auth/link/" in body


def _pending_page(app: Flask, who: User) -> str:
    c = app.test_client()
    login(c, who)
    return c.get("/account/approvals").get_data(as_text=True)


def test_a_business_account_an_admin_creates_is_unusable_until_a_second_party_approves_it(
    app: Flask, db_session
) -> None:
    """监管办分离: the administrator cannot create a working regulator (or staff) account alone, e.g. with an
    address it controls. The account is inactive and no link goes out until a regulator of the same
    organization or the management office approves it (staff: the management office); the approval is
    audited, listed for the regulators and told to the holder."""
    admin_client, _admin_user = _admin(app)
    reg_org = make_org(OrgKind.REGULATOR)
    other_reg_org = make_org(OrgKind.REGULATOR)
    colleague = make_user(Role.REGULATOR, org=reg_org)
    outsider = make_user(Role.REGULATOR, org=other_reg_org)
    staff = make_user(Role.CENTER_STAFF)
    manager = make_user(Role.MANAGER)
    db_session.commit()
    token = csrf_token(admin_client, "/admin/users")
    made = admin_client.post(
        "/admin/users",
        data={
            "username": "newreg",
            "display_name": "新监管",
            "organization": reg_org.id,
            "role": "regulator",
            "email": "someone@attacker.example",
            "csrf_token": token,
        },
    )
    assert made.status_code == 302
    new = db_session.scalars(select(User).where(User.username == "newreg")).one()
    assert not new.is_active and new.awaiting_approval
    assert db_session.scalar(select(OutboxMessage.id).where(OutboxMessage.user_id == new.id)) is None
    # the administrator cannot switch it on, nor approve it
    admin_client.post(f"/admin/users/{new.id}/enable", data={"confirm": "y", "csrf_token": token})
    db_session.refresh(new)
    assert not new.is_active
    # nor send it a link before the approval (a reset link would make the approved account its own)
    for reset in ("reset-password", "reset-mfa"):
        admin_client.post(f"/admin/users/{new.id}/{reset}", data={"confirm": "y", "csrf_token": token})
    assert db_session.scalar(select(OutboxMessage.id).where(OutboxMessage.user_id == new.id)) is None
    assert admin_client.get("/account/approvals").status_code == 403
    assert (
        admin_client.post(
            f"/account/approvals/{new.id}/approve", data={"confirm": "y", "csrf_token": token}
        ).status_code
        == 403
    )
    # a regulator of another organization and center staff do not see it and cannot approve it
    for who in (outsider, staff):
        assert "newreg" not in _pending_page(app, who)
        c = app.test_client()
        login(c, who)
        c.post(
            f"/account/approvals/{new.id}/approve",
            data={"confirm": "y", "csrf_token": csrf_token(c, "/account/approvals")},
        )
        db_session.refresh(new)
        assert not new.is_active
    # a regulator of the same organization approves it: then, and only then, the link goes to the holder
    pending = _pending_page(app, colleague)
    assert "newreg" in pending and "someone@attacker.example" in pending  # the approver sees the contact
    _approve(app, new, colleague)
    db_session.refresh(new)
    assert new.is_active and new.approved_by == colleague.id
    assert _link_sent_to(db_session, new)
    leaf = db_session.scalars(
        select(AuditLeaf).where(
            AuditLeaf.action == "account:user:approve", AuditLeaf.object_id == str(new.id)
        )
    ).one()
    assert leaf.actor_id == colleague.id
    rc = app.test_client()
    login(rc, outsider)
    acts = rc.get("/supervision/admin-acts").get_data(as_text=True)
    assert colleague.display_name in acts and "newreg" in acts
    # staff accounts: the management office approves, not a regulator
    made = admin_client.post(
        "/admin/users",
        data={
            "username": "newstaff",
            "display_name": "新员工",
            "organization": staff.org_id,
            "role": "center_staff",
            "email": "staff@center.example",
            "csrf_token": token,
        },
    )
    assert made.status_code == 302
    new_staff = db_session.scalars(select(User).where(User.username == "newstaff")).one()
    assert not new_staff.is_active
    assert "newstaff" not in _pending_page(app, colleague)
    assert "newstaff" in _pending_page(app, manager)
    _approve(app, new_staff, manager)
    db_session.refresh(new_staff)
    assert new_staff.is_active and new_staff.approved_by == manager.id
