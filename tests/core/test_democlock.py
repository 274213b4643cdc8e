"""The demo clock moves platform time forward for every worker, only in demo installs."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core import democlock
from app.core.clock import clock, now
from app.core.errors import DomainError
from app.core.models import AuditLeaf
from tests.factories import csrf_token, login, make_user


@pytest.fixture
def demo_mode(app):
    app.config["DEMO_CLOCK"] = True
    yield
    app.config["DEMO_CLOCK"] = False
    clock.reset()


def test_sysadmin_moves_time_forward_and_it_is_audited(app, client, db_session, demo_mode):
    admin = make_user("sysadmin")
    login(client, admin)
    before = now()
    resp = client.post(
        "/admin/demo-clock",
        data={"days": 3, "hours": 0, "minutes": 0, "csrf_token": csrf_token(client, "/admin/demo-clock")},
    )
    assert resp.status_code == 302
    assert now() - before >= dt.timedelta(days=3)
    assert db_session.query(AuditLeaf).filter_by(action="admin:demo_clock:advance").count() == 1
    # another worker (a fresh request) reads the same offset from the database
    clock.reset()
    client.get("/workbench")
    assert now() - before >= dt.timedelta(days=3)


def test_time_never_moves_back(app, db_session, demo_mode):
    with pytest.raises(DomainError):
        democlock.advance(dt.timedelta(hours=-1), actor=None)


def test_off_in_production(app, client, db_session):
    admin = make_user("sysadmin")
    login(client, admin)
    assert client.get("/admin/demo-clock").status_code == 404
    with pytest.raises(DomainError):
        democlock.advance(dt.timedelta(hours=1), actor=None)


def test_demo_totp_prints_the_real_time_code_after_the_clock_moved(app, client, db_session, demo_mode):
    """Issue 13: two-factor codes are about real time, the demo clock is business time. After the demo clock
    moved 30 days, `flask demo totp USER` prints the code of real time, and that code signs the user in."""
    from app.accounts import services as accounts
    from app.accounts import totp
    from app.core.clock import security_now
    from app.core.db import db
    from tests.factories import PASSWORD

    staff = make_user("center_staff")
    db.session.commit()
    before = now()
    democlock.advance(dt.timedelta(days=30), actor=None)
    db.session.commit()
    assert now() - before >= dt.timedelta(days=30)

    result = app.test_cli_runner().invoke(args=["demo", "totp", staff.username])
    assert result.exit_code == 0, result.output
    printed = result.output.strip()
    secret = accounts.totp_secret(staff)
    assert printed == totp.code_at(secret, security_now())
    assert printed != totp.code_at(secret, now())  # not the code of the demo clock's time

    token = csrf_token(client)
    resp = client.post(
        "/auth/login", data={"username": staff.username, "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302
    resp = client.post("/auth/mfa", data={"code": printed, "csrf_token": csrf_token(client, "/auth/mfa")})
    assert resp.status_code == 302 and "/auth/" not in resp.headers["Location"]
    assert client.get("/workbench").status_code == 200
