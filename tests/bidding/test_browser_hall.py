"""The opening hall is live for every role (headless Chromium, live server): a visitor and a bidder watch the
same ceremony; as the custodians submit their shares the count moves, the opening record appears with its
header row, and the bidder's own forms (confirm the record, object on the spot) appear — all without a reload
and in Chinese."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.accounts import services as accounts
from app.accounts.models import User
from app.bidding import opening
from app.core.clock import clock
from app.core.db import db
from tests.bidding.conftest import after_deadline, publish_tender, upload
from tests.bidding.test_browser_sealing import _world
from tests.factories import PASSWORD, current_code
from tests.live import ARTIFACTS
from tests.system import CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Hall:
    url: str
    app: Flask
    section_id: int
    bidder: str
    custodians: list[tuple[int, str]]  # (user id, decrypted share mnemonic)
    staff_id: int
    shots: Path


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hall]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("hall")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/h.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.test_request_context():
        upgrade(revision="heads")
        tender = publish_tender(_world(), bidders=3)
        db.session.commit()
        sid, staff_id = tender.section.id, tender.world.staff.id
        username = tender.bidders[0].user.username
        shares = [(c.id, tender.mnemonic(c)) for c in tender.custodians]
        sealed = [tender.summary(price) for price in ("9100000", "9200000", "9300000")]
        db.session.remove()
    for bidder, data in zip(tender.bidders, sealed, strict=True):  # each upload its own request, as in life
        resp = upload(app.test_client(), tender, bidder, data, section_id=sid)
        assert resp.status_code == 201, resp.get_json()
    with app.test_request_context():
        after_deadline()
        opening.start_ceremony(sid, actor=db.session.get(User, staff_id))
        db.session.commit()
        db.session.remove()
    shots = ARTIFACTS / "opening-hall"
    shots.mkdir(parents=True, exist_ok=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-hall", daemon=True)
    thread.start()
    try:
        yield Hall(f"http://127.0.0.1:{server.server_port}", app, sid, username, shares, staff_id, shots)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        # The hall's event streams end in their own threads (at the next keep-alive after the browser left):
        # wait for them, so no stream's request context is closed later from this thread by the collector.
        for handler in threading.enumerate():
            if "process_request_thread" in handler.name:
                handler.join(timeout=30)
        server.server_close()
        clock.reset()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _submit_share(hall: Hall, index: int) -> None:
    """A custodian submits a share through the API (a token and a fresh code), as the bidder tool does."""
    user_id, mnemonic = hall.custodians[index]
    with hall.app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        token, code = accounts.create_api_token(user, "share").raw, current_code(user)
        db.session.commit()
        db.session.remove()
    host, port = hall.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(
            "POST",
            f"/api/v1/bidding/sections/{hall.section_id}/shares",
            body=json.dumps({"mnemonic": mnemonic}),
            headers={
                "Authorization": f"Bearer {token}",
                "X-TOTP-Code": code,
                "Content-Type": "application/json",
            },
        )
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_every_part_of_the_hall_is_live_for_visitors_and_bidders(hall: Hall) -> None:
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            visitor = browser.new_context(locale="zh-CN").new_page()
            bidder = browser.new_context(locale="zh-CN").new_page()
            for page in (visitor, bidder):
                page.on("pageerror", lambda e: errors.append(str(e)))
            bidder.goto(f"{hall.url}/auth/login")
            bidder.fill("input[name=username]", hall.bidder)
            bidder.fill("input[name=password]", PASSWORD)
            bidder.click("#login-submit")
            bidder.wait_for_load_state()
            for page in (visitor, bidder):
                page.goto(f"{hall.url}/bidding/sections/{hall.section_id}/hall")
                expect(page.locator("#hall-live-status")).to_have_text("实时", timeout=30_000)
                assert page.locator("#share-count").inner_text() == "0"
                assert page.locator("#record-table").count() == 0
            assert bidder.locator("button:has-text('确认开标记录')").count() == 0
            navigations = "performance.getEntriesByType('navigation').length"
            loads = visitor.evaluate(navigations)

            _submit_share(hall, 0)
            for page in (visitor, bidder):
                expect(page.locator("#share-count")).to_have_text("1", timeout=30_000)
            visitor.screenshot(path=str(hall.shots / "one-share.png"), full_page=True)

            _submit_share(hall, 1)  # the quorum: the envelopes are opened and the record published
            for page in (visitor, bidder):
                page.locator("#record-table thead th").first.wait_for(timeout=30_000)
                headers = page.locator("#record-table thead th").all_inner_texts()
                assert "投标人" in headers and len(headers) == 5
                assert page.locator("#record-table tbody tr").count() == 3
                expect(page.locator("#ceremony-status")).to_have_text("开标完成", timeout=30_000)
                assert "9100000" in page.locator("#record-table").inner_text()
            # the bidder's own forms appear without a reload; the visitor gets none
            bidder.locator("button:has-text('确认开标记录')").wait_for(timeout=10_000)
            bidder.locator("button:has-text('提出异议')").wait_for(timeout=10_000)
            assert visitor.locator("form button").count() == visitor.locator("header form button").count()
            assert visitor.evaluate(navigations) == loads  # no reload happened
            visitor.screenshot(path=str(hall.shots / "completed-visitor.png"), full_page=True)
            bidder.screenshot(path=str(hall.shots / "completed-bidder.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
