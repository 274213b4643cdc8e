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
