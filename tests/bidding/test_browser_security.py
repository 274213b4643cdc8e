"""The bidder's bid security page in headless Chromium (live server, clock frozen before the deadline):
the bidder asks for its sub-account and sees its number; the bank's signed callback arrives; the page then
says the bid is secured — in Chinese words, never a code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

from app import create_app
from app.bidding.security import bank, services
from app.core.clock import clock
from app.core.db import db
from app.projects.models import Section
from tests.bidding.conftest import publish_tender
from tests.bidding.test_browser_sealing import _world
from tests.factories import PASSWORD
from tests.system import CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Live:
    url: str
    app: Flask
    section_id: int
    username: str
    org_id: int


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("security-page")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/s.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.test_request_context():
        upgrade(revision="heads")
        tender = publish_tender(_world(), bidders=1)
        db.session.commit()
        bidder = tender.bidders[0]
        section_id, username, org_id = tender.section.id, bidder.user.username, bidder.org.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-security", daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", app, section_id, username, org_id)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        clock.reset()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _bank_pays(live: Live) -> None:
    with live.app.test_request_context():
        try:
            section = db.session.get(Section, live.section_id)
            assert section is not None
            sec = services.security_of(section, live.org_id)
            assert sec is not None
            _line, body, headers = bank.SimulatedBank().receive(
                account_no=sec.account_no, amount_fen=sec.required_fen, payer_account="1", payer_name="投标人"
            )
            db.session.commit()
            bank.deliver(body, headers)
            db.session.commit()
        finally:
            db.session.remove()


def test_the_bidder_gets_a_sub_account_and_sees_its_payment(live: Live) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(f"{live.url}/auth/login")
            page.fill("input[name=username]", live.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-submit")
            page.wait_for_load_state()
            page.goto(f"{live.url}/bidding/sections/{live.section_id}")
            page.get_by_text("投标保证金：我的子账号和电子保函").click()
            page.wait_for_load_state()
            assert "200,000.00" in page.content()
            page.get_by_role("button", name="生成我的子账号").click()
            page.wait_for_load_state()
            text = (
                page.locator("main").inner_text() if page.locator("main").count() else page.inner_text("body")
            )
            assert "子账号" in text and "待缴纳" in text and "awaiting" not in text
            _bank_pays(live)
            page.reload()
            text = page.inner_text("body")
            assert "已缴纳" in text and "secured" not in text
            assert "开标前除贵单位外" in text
        finally:
            browser.close()
