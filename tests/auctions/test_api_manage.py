"""Issue 19 — a listing run through the API alone: the transferor drafts and publishes, bidders register,
the center staff see who registered, confirm deposits, qualify and terminate; each refusal in the one error
shape, and each role kept to its own acts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.accounts.models import User
from app.core.clock import clock
from tests.auctions.conftest import LAND_END, LAND_START, T0, World, bid, state


def _auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.create_api_token(user, 'api').raw}"}


def _listing_body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "catalogue_item_id": world.item_id("TD-01"),
        "title": "崇川区某地块国有建设用地使用权",
        "notice_at": T0.isoformat(),
        "listing_starts_at": LAND_START.isoformat(),
        "listing_ends_at": LAND_END.isoformat(),
        "start_price": "10000000.00",
        "increment": "100000.00",
        "deposit": "2000000.00",
        "reserve_price": "10500000.00",
    }
    body.update(overrides)
    return body


def test_a_listing_run_through_the_api(client: FlaskClient, world: World, db_session: Any) -> None:
    base = "/api/v1/auctions"
    owner, staff, regulator = _auth(world.transferor), _auth(world.staff), _auth(world.regulator)
    a, b, _c = world.bidders
    clock.freeze(T0)

    short = client.post(
        f"{base}/listings",
        json=_listing_body(world, listing_starts_at=(T0 + dt.timedelta(days=3)).isoformat()),
        headers={**owner, "Accept-Language": "zh-CN"},
    )
    assert short.status_code == 422 and short.get_json()["code"] == "listing_invalid"
    assert "第十一条" in " ".join(short.get_json()["errors"]["listing_starts_at"])
    # a bidder cannot list; a staff member cannot either (the transferor lists)
    for headers in (a.headers(), staff):
        assert client.post(f"{base}/listings", json=_listing_body(world), headers=headers).status_code == 403

    made = client.post(f"{base}/listings", json=_listing_body(world), headers=owner)
    assert made.status_code == 201, made.get_data(as_text=True)
    listing = made.get_json()
    assert listing["status"] == "draft" and "reserve" not in str(listing)
    lid = listing["id"]
    # a draft is the transferor's alone
    assert client.get(f"{base}/listings/{lid}", headers=a.headers()).status_code == 404
    assert client.post(f"{base}/listings/{lid}/publication", headers=staff).status_code == 403
    published = client.post(f"{base}/listings/{lid}/publication", headers=owner)
    assert published.status_code == 201 and published.get_json()["status"] == "announced"
    assert lid in [x["id"] for x in client.get(f"{base}/listings", headers=a.headers()).get_json()]

    regs = {}
    for bidder in (a, b):
        resp = client.post(f"{base}/listings/{lid}/registrations", headers=bidder.headers())
        assert resp.status_code == 201
        regs[bidder.org.id] = resp.get_json()["id"]
    # who registered: staff and the regulator, not the transferor nor a bidder
    seen = client.get(f"{base}/listings/{lid}/registrations", headers=staff)
    assert seen.status_code == 200
    assert {r["org_name"] for r in seen.get_json()} == {a.org.name, b.org.name}
    assert client.get(f"{base}/listings/{lid}/registrations", headers=regulator).status_code == 200
    assert client.get(f"{base}/listings/{lid}/registrations", headers=owner).status_code == 404
    assert client.get(f"{base}/listings/{lid}/registrations", headers=a.headers()).status_code == 404

    reg_a = regs[a.org.id]
    low = client.post(
        f"{base}/registrations/{reg_a}/deposit",
        json={"amount": "100.00", "reference": "CCB-1"},
        headers=staff,
    )
    assert low.status_code == 422 and low.get_json()["code"] == "deposit_short"
    unknown = client.post(
        f"{base}/registrations/{reg_a}/deposit",
        json={"amount": "2000000.00", "reference": "CCB-1", "extra": 1},
        headers=staff,
    )
    assert unknown.status_code == 422  # unknown fields are refused, nothing recorded
    early = client.post(f"{base}/registrations/{reg_a}/review", json={"decision": "qualify"}, headers=staff)
    assert early.status_code == 422 and early.get_json()["code"] == "deposit_missing"
    assert (
        client.post(
            f"{base}/registrations/{reg_a}/deposit",
            json={"amount": "2000000.00", "reference": "CCB-1"},
            headers=a.headers(),
        ).status_code
        == 403
    )
    for reg_id in regs.values():
        ok = client.post(
            f"{base}/registrations/{reg_id}/deposit",
            json={"amount": "2000000.00", "reference": f"CCB-{reg_id}"},
            headers=staff,
        )
        assert ok.status_code == 201 and ok.get_json()["deposit_reference"] == f"CCB-{reg_id}"
        qualified = client.post(
            f"{base}/registrations/{reg_id}/review", json={"decision": "qualify"}, headers=staff
        )
        assert qualified.status_code == 201 and qualified.get_json()["status"] == "qualified"

    clock.freeze(LAND_START + dt.timedelta(hours=1))
    assert bid(client, lid, a, "10000000").status_code == 201
    assert (
        client.post(f"{base}/listings/{lid}/termination", json={"reason": "x"}, headers=owner).status_code
        == 403
    )
    empty = client.post(f"{base}/listings/{lid}/termination", json={"reason": ""}, headers=staff)
    assert empty.status_code == 422
    done = client.post(
        f"{base}/listings/{lid}/termination", json={"reason": "法院裁定中止出让"}, headers=staff
    )
    assert done.status_code == 201 and done.get_json()["status"] == "terminated"
    assert state(client, lid, b)["termination_reason"] == "法院裁定中止出让"
    again = client.post(f"{base}/listings/{lid}/termination", json={"reason": "再次"}, headers=staff)
    assert again.status_code == 404
    # after the termination every deposit received falls due; staff record a refund, once
    regs_after = {
        r["id"]: r for r in client.get(f"{base}/listings/{lid}/registrations", headers=staff).get_json()
    }
    assert all(r["deposit_refund_due_at"] and not r["deposit_applied"] for r in regs_after.values())
    assert (
        client.post(
            f"{base}/registrations/{reg_a}/refund", json={"reference": "R-1"}, headers=a.headers()
        ).status_code
        == 403
    )
    refunded = client.post(f"{base}/registrations/{reg_a}/refund", json={"reference": "R-1"}, headers=staff)
    assert refunded.status_code == 201 and refunded.get_json()["deposit_refund_reference"] == "R-1"
    twice = client.post(f"{base}/registrations/{reg_a}/refund", json={"reference": "R-2"}, headers=staff)
    assert twice.status_code == 409 and twice.get_json()["code"] == "refunded"


@pytest.mark.parametrize(
    "moments",
    [
        {"notice_at": "0001-01-01T00:00:00+08:00"},
        {
            "notice_at": "0001-01-01T00:00:00+14:00",
            "listing_starts_at": "0001-02-01T00:00:00+14:00",
            "listing_ends_at": "0001-03-01T00:00:00+14:00",
        },
        {"listing_ends_at": "9999-12-31T23:59:00-12:00"},
        {"listing_ends_at": "9999-12-31T23:59:00+08:00"},
    ],
)
def test_dates_years_away_are_refused_not_a_server_error(
    client: FlaskClient, world: World, db_session: Any, moments: dict[str, str]
) -> None:
    clock.freeze(T0)
    resp = client.post(
        "/api/v1/auctions/listings",
        json=_listing_body(world, **moments),
        headers={**_auth(world.transferor), "Accept-Language": "zh-CN"},
    )
    assert resp.status_code == 422 and resp.get_json()["code"] == "listing_invalid"
    for name in moments:
        assert resp.get_json()["errors"][name] == ["请输入距今两年以内的日期。"]
