"""Issue 20, done means: a crawler with only the public API reproduces the portal's data. It pages through
``/api/v1/public/sections`` with the cursor, reads each section's detail and the catalogue, and finds on
the portal's own pages exactly the sections, and for each the facts, that the API gave it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask.testing import FlaskClient

from app.core.clock import CST, clock
from app.projects import services
from tests.portal.conftest import T0, Portal


def _crawl_all(client: FlaskClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/public/sections{query}").get_json()
        items += page["data"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items


def _beijing(iso: str) -> str:
    """An API instant (ISO 8601 with offset) as the portal shows it: Beijing time to the minute."""
    return dt.datetime.fromisoformat(iso).astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _portal_codes(client: FlaskClient) -> set[str]:
    codes: set[str] = set()
    page_no = 1
    while True:
        html = client.get(f"/portal/announcements?page={page_no}").get_data(as_text=True)
        found = set(re.findall(r'<td class="col-code"[^>]*><code>([^<]+)</code></td>', html))
        if not found - codes:
            return codes
        codes |= found
        page_no += 1


def test_a_crawler_with_only_the_public_api_reproduces_the_portal(
    portal: Portal, client: FlaskClient
) -> None:
    sections = [portal.publish(name=f"开放数据标段{i}") for i in range(3)]
    sections.append(portal.publish(portal.goods, name="开放数据货物标段"))
    clock.freeze(T0 + dt.timedelta(hours=2))
    services.publish_amendment(
        sections[0], actor=portal.agent, title="关于开放数据标段的澄清", body="补充说明", affects_bids=False
    )
    portal.draft(name="不应公开的草稿")

    anonymous = client  # no session, no token: only what anybody can fetch
    crawled = _crawl_all(anonymous)
    details = [anonymous.get(f"/api/v1/public/sections/{item['id']}").get_json() for item in crawled]
    assert sorted(d["code"] for d in details) == sorted(s.code for s in sections)
    assert all(d["status"] != "draft" for d in details)

    # the portal's list holds the same sections, no more (the draft is on neither)
    listed = _portal_codes(anonymous)
    assert {d["code"] for d in details} == listed, listed

    # each section's page shows what its API detail says
    for detail in details:
        html = anonymous.get(f"/portal/sections/{detail['id']}").get_data(as_text=True)
        assert detail["code"] in html and detail["name"] in html
        assert _beijing(detail["bid_deadline"]) in html, (detail["code"], detail["bid_deadline"])
        for doc in detail["documents"]:
            assert doc["sha256"] in html or doc["filename"] in html
        for amendment in detail.get("amendments", []):
            assert amendment["title"] in html
    amended = next(d for d in details if d["id"] == sections[0].id)
    assert [a["title"] for a in amended.get("amendments", [])] == ["关于开放数据标段的澄清"]

    # the catalogue: every item the API lists is on the portal's catalogue page
    catalogue = anonymous.get("/api/v1/public/catalogue").get_json()
    page = anonymous.get("/portal/catalogue").get_data(as_text=True)
    for item in catalogue["items"]:
        assert item["code"] in page and item["name"] in page


def test_a_forged_host_header_does_not_poison_the_cached_tender_page(
    portal: Portal, client: FlaskClient
) -> None:
    """The public tender page is cached for everybody and shows pasteable commands with the platform's
    address: a request with a forged Host header must not decide the address every later visitor is shown."""
    section = portal.publish(name="缓存标段")
    forged = client.get(f"/portal/sections/{section.id}", headers={"Host": "evil.example"})
    assert forged.status_code == 200
    html = client.get(f"/portal/sections/{section.id}").get_data(as_text=True)
    assert section.code in html and "evil.example" not in html
    assert "http://localhost" in html  # the commands carry the address this visitor used
