"""The demo clock is business time; two-factor codes and sessions are real time. Rehearsing an opening by
moving the demo clock past the deadline must leave everyone able to sign in, step up and open."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.core import democlock
from app.core.clock import clock, now
from app.projects.models import Section
from tests.bidding.conftest import DEADLINE, Tender, upload
from tests.factories import current_code, login


@pytest.fixture
def demo_mode(app: Flask) -> Iterator[None]:
    app.config["DEMO_CLOCK"] = True
    yield
    app.config["DEMO_CLOCK"] = False


def test_after_moving_the_demo_clock_30_days_custodians_sign_in_with_totp_and_open(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any, demo_mode: None
) -> None:
    for bidder, price in zip(tender.bidders, ["9100000", "9200000", "9300000"], strict=True):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
    staff, regulator = tender.world.staff, tender.world.regulator
    login(client, staff)  # a session begun before the jump
    assert client.get("/workbench").status_code == 200

    # the demo starts a week before the deadline, then the administrator moves it 30 days on
    clock.reset()
    democlock.start_at(DEADLINE - dt.timedelta(days=7), actor=None)
    democlock.advance(dt.timedelta(days=30), actor=None)
    db_session.commit()
    clock.reset()  # a fresh worker: the offset is read from the database on the next request
    assert client.get("/workbench").status_code == 200  # the session did not end at the jump
    assert now() > DEADLINE

    # a custodian signs in now (password + a code of the authenticator app, which knows only real time)
    other = app.test_client()
    login(other, regulator)
    assert other.get("/workbench").status_code == 200

    sid = tender.section.id
    api = app.test_client()  # an API client: no cookie session, a token and a code per request
    staff_token = accounts.create_api_token(staff, "ops").raw
    resp = api.post(
        f"/api/v1/bidding/sections/{sid}/ceremony",
        headers={"Authorization": f"Bearer {staff_token}", "X-TOTP-Code": current_code(staff)},
    )
    assert resp.status_code == 201, resp.get_json()
    for custodian in (staff, regulator):
        token = accounts.create_api_token(custodian, "share").raw
        resp = api.post(
            f"/api/v1/bidding/sections/{sid}/shares",
            json={"mnemonic": tender.mnemonic(custodian)},
            headers={"Authorization": f"Bearer {token}", "X-TOTP-Code": current_code(custodian)},
        )
        assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "completed"
    assert db_session.get(Section, sid).status == "opened"
