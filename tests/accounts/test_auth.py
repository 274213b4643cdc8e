"""Sign-in behaviour a user notices: throttling, rate limit, MFA, single-use codes, session rotation,
CSRF, logout everywhere, step-up and API tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts import services
from app.accounts.models import User, UserSession
from app.core.clock import security_clock, security_now
from app.core.models import AuditLeaf
from app.core.permissions import Role
from tests.factories import PASSWORD, csrf_token, current_code, login, make_user


def _post_login(client, username, password):
    return client.post(
        "/auth/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)}
    )


def _actions(db_session, user_id=None):
    stmt = select(AuditLeaf.action).order_by(AuditLeaf.idx)
    if user_id is not None:
        stmt = stmt.where(AuditLeaf.actor_id == user_id)
    return list(db_session.scalars(stmt))


def test_bidder_signs_in_with_password_only(client, db_session):
    user = make_user(Role.BIDDER)
    login(client, user)
    page = client.get("/workbench")
    assert page.status_code == 200
    assert user.display_name in page.get_data(as_text=True)
    assert "auth:login:success" in _actions(db_session, user.id)


def test_wrong_password_is_generic_and_audited(client, db_session):
    user = make_user(Role.BIDDER)
    resp = _post_login(client, user.username, "wrong password!")
    assert resp.status_code == 401
    unknown = _post_login(client, "nobody-here", "wrong password!")
    assert unknown.status_code == 401
    # the same message whether or not the account exists
    assert "User name or password is wrong" in resp.get_data(as_text=True) or "用户名或密码" in resp.get_data(
        as_text=True
    )
    assert resp.get_data(as_text=True).count("flash-error") == unknown.get_data(as_text=True).count(
        "flash-error"
    )
    assert "auth:login:failure" in _actions(db_session, user.id)


def _login_from(client, address, username, password):
    token = csrf_token(client)
    return client.post(
        "/auth/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failures_throttle_this_name_from_this_address_never_the_account(app, client, db_session):
    """An outsider's wrong passwords slow down that outsider only: the real user, elsewhere, signs in at once
    (no account lock-out anyone can trigger before an opening); the delay grows and then passes."""
    from app.core.models import Throttle

    user = make_user(Role.BIDDER)
    policy = services.LOGIN_PER_ACCOUNT_AND_SOURCE
    for _ in range(policy.free):
        assert _login_from(client, "203.0.113.9", user.username, "not the password").status_code == 401
    # the next failure from there blocks that name from that address
    assert _login_from(client, "203.0.113.9", user.username, "not the password").status_code == 401
    refused = _login_from(client, "203.0.113.9", user.username, PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # the holder, from the office, is not affected
    assert _login_from(app.test_client(), "198.51.100.20", user.username, PASSWORD).status_code == 302
    # the counters hold no name and no address in clear
    keys = [row.key for row in db_session.scalars(select(Throttle))]
    assert keys and all(user.username not in k and "203.0.113.9" not in k for k in keys)
    security_clock.freeze(security_now() + policy.base * 2)
    assert _login_from(client, "203.0.113.9", user.username, PASSWORD).status_code == 302


def test_unknown_and_known_names_are_answered_alike_when_throttled(client, db_session):
    user = make_user(Role.BIDDER)
    answers = {}
    for name in (user.username, "no-such-account"):
        for _ in range(services.LOGIN_PER_ACCOUNT_AND_SOURCE.free + 1):
            _login_from(client, "192.0.2.77", name, "wrong guess 123")
        resp = _login_from(client, "192.0.2.77", name, "wrong guess 123")
        answers[name] = (resp.status_code, "flash-error" in resp.get_data(as_text=True))
    assert answers[user.username] == answers["no-such-account"] == (429, True)


def test_login_rate_limit_per_address(app, client, db_session):
    from app.extensions import limiter

    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    limiter.reset()
    try:
        codes = [_post_login(client, "someone", "whatever-123").status_code for _ in range(5)]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
        limiter.reset()
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


def test_mfa_is_required_for_staff_before_any_page(client, db_session):
    staff = make_user(Role.CENTER_STAFF)
    login(client, staff, mfa=False)
    resp = client.get("/workbench")
    assert resp.status_code == 302 and "/auth/mfa" in resp.location
    api = client.get("/api/v1/me")
    assert api.status_code == 401
    assert api.json["code"] == "unauthorized"


def test_staff_without_totp_must_enrol_first(client, db_session):
    staff = make_user(Role.REGULATOR, with_totp=False)
    login(client, staff, mfa=False)
    resp = client.get("/auth/mfa")
    assert resp.status_code == 302 and "/auth/mfa/enrol" in resp.location
    page = client.get("/auth/mfa/enrol")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)
    db_session.refresh(staff)
    code = current_code(staff)
    resp = client.post(
        "/auth/mfa/enrol", data={"code": code, "csrf_token": csrf_token(client, "/auth/mfa/enrol")}
    )
    assert resp.status_code == 302
    assert client.get("/workbench").status_code == 200
    db_session.refresh(staff)
    assert staff.totp_enabled
    assert "auth:mfa:enrolled" in _actions(db_session, staff.id)


def test_totp_code_cannot_be_replayed(client, app, db_session):
    staff = make_user(Role.MANAGER)
    login(client, staff, mfa=False)
    code = current_code(staff)
    ok = client.post("/auth/mfa", data={"code": code, "csrf_token": csrf_token(client, "/auth/mfa")})
    assert ok.status_code == 302
    # a second browser tries the same code
    other = app.test_client()
    login(other, staff, mfa=False)
    replay = other.post("/auth/mfa", data={"code": code, "csrf_token": csrf_token(other, "/auth/mfa")})
    assert replay.status_code == 401
    assert other.get("/workbench").status_code == 302
    assert "auth:mfa:failure" in _actions(db_session, staff.id)


def test_session_is_rotated_on_login(client, db_session):
    user = make_user(Role.BIDDER)
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-known-value"
    login(client, user)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        first = sess["_user_id"]
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/account/")})
    login(client, user)
    with client.session_transaction() as sess:
        assert sess["_user_id"] != first


def test_logout_revokes_the_server_session(client, db_session):
    user = make_user(Role.BIDDER)
    login(client, user)
    with client.session_transaction() as sess:
        stolen = sess["_user_id"]
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/account/")})
    with client.session_transaction() as sess:
        sess["_user_id"] = stolen  # replaying the old cookie value
    assert client.get("/workbench").status_code == 302


def test_post_without_csrf_token_is_rejected(client, db_session):
    user = make_user(Role.BIDDER)
    resp = client.post("/auth/login", data={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 400
    login(client, user)
    resp = client.post("/account/tokens", data={"name": "cli"})
    assert resp.status_code == 400


def test_password_change_signs_out_everywhere_else(app, client, db_session):
    user = make_user(Role.BIDDER)
    login(client, user)
    other = app.test_client()
    login(other, user)
    new_password = "a brand new long passphrase"
    resp = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": new_password, "csrf_token": csrf_token(client, "/account/")},
    )
    assert resp.status_code == 302
    assert client.get("/workbench").status_code == 200  # this session stays
    assert other.get("/workbench").status_code == 302  # the other one is gone
    assert _post_login(app.test_client(), user.username, new_password).status_code == 302


@pytest.mark.parametrize("bad", ["short1", "password", "12345678", "qwertyuiop"])
def test_weak_passwords_are_refused(client, db_session, bad):
    user = make_user(Role.BIDDER)
    login(client, user)
    client.post(
        "/account/password",
        data={"current": PASSWORD, "new": bad, "csrf_token": csrf_token(client, "/account/")},
    )
    db_session.refresh(user)
    assert services.passwords.verify_password(PASSWORD, user.password_hash)


def test_long_passphrases_and_no_composition_rules():
    assert services.passwords.password_problems("x" * 64 + "y" * 40) == []
    assert services.passwords.password_problems("all lowercase words here") == []
    assert services.passwords.password_problems("short") != []


def test_passwords_are_stored_with_argon2id_at_asvs_parameters():
    """ASVS 11.4.2 / Appendix C: argon2id, t=2, m=19 MiB, p=1, with a per-password salt."""
    first = services.passwords.hash_password("correct horse battery staple")
    second = services.passwords.hash_password("correct horse battery staple")
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and first != second
    assert services.passwords.verify_password("correct horse battery staple", first)


def test_disabling_an_account_ends_its_sessions(app, client, db_session):
    admin = make_user(Role.SYSADMIN)
    victim = make_user(Role.BIDDER)
    victim_client = app.test_client()
    login(victim_client, victim)
    login(client, admin)
    token = csrf_token(client, "/admin/users")
    resp = client.post(f"/admin/users/{victim.id}/disable", data={"csrf_token": token, "confirm": "y"})
    assert resp.status_code == 302
    assert victim_client.get("/workbench").status_code == 302
    assert (
        db_session.scalars(
            select(UserSession).where(UserSession.user_id == victim.id, UserSession.revoked_at.is_(None))
        ).all()
        == []
    )


def test_idle_session_expires(app, client, db_session):
    user = make_user(Role.BIDDER)
    login(client, user)
    security_clock.freeze(security_now() + dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1))
    assert client.get("/workbench").status_code == 302


def test_absolute_session_lifetime_ends_an_active_session(app, client, db_session):
    """ASVS 7.3.2: a session used every few minutes still ends after SESSION_ABSOLUTE_HOURS."""
    user = make_user(Role.BIDDER)
    login(client, user)
    start = security_now()
    step = dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 5)
    moment = start
    while moment + step < start + dt.timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"]):
        moment += step
        security_clock.freeze(moment)
        assert client.get("/workbench").status_code == 200  # never idle
    security_clock.freeze(start + dt.timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"], seconds=1))
    assert client.get("/workbench").status_code == 302


def test_host_prefixed_secure_cookie_and_hsts_behind_tls(app, db_session, monkeypatch, tmp_path):
    """ASVS 3.3.1/3.3.3/3.4.1: with SESSION_COOKIE_SECURE the cookie is __Host-, Secure, Path=/, no Domain,
    and every response carries HSTS of at least a year including subdomains."""
    from app.config import load_config

    secure = load_config(str(tmp_path), {"SESSION_COOKIE_SECURE": True})
    assert secure["SESSION_COOKIE_NAME"] == "__Host-session"
    assert load_config(str(tmp_path), {})["SESSION_COOKIE_NAME"] == "session"
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    monkeypatch.setitem(app.config, "SESSION_COOKIE_NAME", "__Host-session")
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    user = make_user(Role.BIDDER)
    resp = client.get("/auth/login")
    assert resp.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    resp = client.post(
        "/auth/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie and "Domain=" not in cookie
    assert client.get("/workbench").status_code == 200


def test_step_up_required_and_accepted(app, db_session):
    from app.accounts.stepup import step_up_required
    from app.core.permissions import Permission, require

    staff = make_user(Role.CENTER_STAFF)
    client = app.test_client()
    login(client, staff)
    row = db_session.scalars(select(UserSession).where(UserSession.user_id == staff.id)).first()
    security_clock.freeze(security_now() + dt.timedelta(seconds=app.config["STEP_UP_SECONDS"] + 5))
    assert not services.recently_stepped_up(row)
    # the helper redirects to the step-up page, which accepts a fresh code
    with app.test_request_context("/x"):
        from flask_login import login_user  # noqa: F401 - not used: we check the decorator's contract

        assert callable(step_up_required(require(Permission.WORKBENCH_VIEW)(lambda: "ok")))
    resp = client.get("/auth/step-up?next=/account/")
    assert resp.status_code == 200
    db_session.refresh(staff)
    resp = client.post(
        "/auth/step-up?next=/account/",
        data={"code": current_code(staff), "csrf_token": csrf_token(client, "/auth/step-up")},
    )
    assert resp.status_code == 302 and resp.location.endswith("/account/")
    db_session.refresh(row)
    assert services.recently_stepped_up(row)


def test_api_token_scoped_to_role_hashed_and_revocable(client, app, db_session):
    user = make_user(Role.BIDDER)
    login(client, user)
    page = client.post(
        "/account/tokens", data={"name": "bidder tool", "csrf_token": csrf_token(client, "/account/")}
    )
    import re

    raw = re.search(r'id="new-token">([^<]+)<', page.get_data(as_text=True)).group(1).strip()
    api = app.test_client()
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200
    assert me.json["role"] == "bidder"
    assert "admin:users:manage" not in me.json["permissions"]
    stored = db_session.scalars(select(User).where(User.id == user.id)).one().api_tokens[0]
    assert stored.token_hash != raw.encode() and len(stored.token_hash) == 32
    client.post(f"/account/tokens/{stored.id}/revoke", data={"csrf_token": csrf_token(client, "/account/")})
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    db_session.refresh(stored)
    assert stored.last_used_at is not None  # the owner sees when it was used; no audit entry names the user
    assert "auth:token:use" not in _actions(db_session)


def test_security_headers_and_cookie_flags(client, db_session):
    resp = client.get("/auth/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    user = make_user(Role.BIDDER)
    resp = client.post(
        "/auth/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers_are_not_duplicated_when_a_view_sets_one(app, client, db_session):
    resp = client.get("/portal/")
    assert resp.headers.getlist("X-Frame-Options") == ["DENY"]
    assert len(resp.headers.getlist("Content-Security-Policy")) == 1
    assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in resp.headers  # only behind TLS (test above)


def test_language_link_switches_and_returns_to_the_same_page(client, db_session):
    resp = client.get("/portal/")
    html = resp.get_data(as_text=True)
    assert 'id="switch-en"' in html and "/auth/locale?locale=en" in html
    # An anonymous portal page carries no form token, so it sets no cookie at all (cheap, cacheable).
    assert "Set-Cookie" not in resp.headers

    resp = client.get("/auth/locale?locale=en&next=/portal/announcements")
    assert resp.status_code == 302 and resp.headers["Location"] == "/portal/announcements"
    assert '<html lang="en">' in client.get("/portal/").get_data(as_text=True)
    client.get("/auth/locale?locale=xx&next=/portal/")  # unknown language: ignored
    assert '<html lang="en">' in client.get("/portal/").get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/ok\r\nX: 1",
        "portal",
    ],
)
def test_language_switch_never_redirects_off_site(client, db_session, target):
    resp = client.get("/auth/locale", query_string={"locale": "zh_CN", "next": target})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/auth/login"


def test_step_up_is_by_code_only_and_a_custodian_without_one_enrols_first(app, client, db_session):
    """SPEC §1: tenderers hold opening-key shares, so they sign in with a second factor: one without an
    authenticator enrols before any page; step-up is a TOTP code, never the password alone."""
    from app.accounts import totp

    tenderer = make_user(Role.TENDERER, with_totp=False)
    login(client, tenderer, mfa=False)
    assert client.get("/workbench").location.startswith("/auth/mfa")
    row = db_session.scalars(select(UserSession).where(UserSession.user_id == tenderer.id)).one()
    with pytest.raises(services.AuthError):
        services.step_up(tenderer, row, code="000000")
    resp = client.get("/auth/mfa")
    assert resp.status_code == 302 and resp.location.startswith("/auth/mfa/enrol")
    page = client.get("/auth/mfa/enrol").get_data(as_text=True)  # the enrolment page creates the secret
    assert "<svg" in page
    db_session.refresh(tenderer)
    secret = services.totp_secret(tenderer)
    code = totp.code_at(secret, security_now())
    enrolled = client.post(
        "/auth/mfa/enrol", data={"code": code, "csrf_token": csrf_token(client, "/auth/mfa/enrol")}
    )
    assert enrolled.status_code == 302
    assert client.get("/workbench").status_code == 200
    back = client.get("/auth/step-up?next=/account/")  # a fresh code at enrolment counts as the step-up
    assert back.status_code == 302 and back.location.endswith("/account/")
    assert "auth:stepup:failure" in _actions(db_session, tenderer.id)
    assert "auth:mfa:enrolled" in _actions(db_session, tenderer.id)


def test_a_form_refused_by_csrf_says_what_to_do_in_the_readers_language(client: FlaskClient) -> None:
    """A form sent without its token, or with a stale one (a tab left open across a sign-out), is refused
    with words a person can act on, in Chinese (English when chosen), never Flask-WTF's "The CSRF token is
    missing." on a Chinese page."""
    for token in (None, "stale-token"):
        data = {"username": "someone", "password": "x"} | ({"csrf_token": token} if token else {})
        resp = client.post("/auth/login", data=data)
        assert resp.status_code == 400
        html = resp.get_data(as_text=True)
        assert "无法校验该表单。请返回，刷新页面后重新提交。" in html
        assert "CSRF" not in html
    with client.session_transaction() as sess:
        sess["locale"] = "en"
    html = client.post("/auth/login", data={"username": "someone"}).get_data(as_text=True)
    assert "The form could not be checked. Go back, reload the page and send it again." in html
    assert "CSRF" not in html


def test_an_expired_form_is_told_apart(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    from app.core.web import _http_message

    with app.test_request_context("/"):
        message = _http_message(CSRFError("The CSRF token has expired."), 400)
    assert message == "表单已过期（页面打开时间过长）。请返回，刷新页面后重新提交。"
