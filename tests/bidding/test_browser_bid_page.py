"""The bidder's section page as feedback (headless Chromium, live server, clock frozen three weeks before
the deadline): the page says when the company has not obtained the documents and how long is left; after a
seal-and-submit in the browser the receipts panel shows the envelopes without a reload and is not cut off;
submitting again asks first and shows the earlier envelopes as replaced; withdrawing takes a confirmation
page that states the consequences."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.bidding.models import SealedEnvelope
from app.core.clock import clock
from app.core.db import db
from tests.bidding.conftest import publish_tender
from tests.bidding.test_browser_sealing import _world
from tests.factories import PASSWORD
from tests.live import ARTIFACTS
from tests.system import CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Live:
    url: str
    app: Flask
    tmp: Path
    section_id: int
    username: str
    key_pem: bytes
    shots: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("bid-page")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.test_request_context():
        upgrade(revision="heads")
        tender = publish_tender(_world(), bidders=1, opening_items=["duration"])
        db.session.commit()
        bidder = tender.bidders[0]
        section_id, username = tender.section.id, bidder.user.username
        pem = bidder.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    shots = ARTIFACTS / "bid-page"
    shots.mkdir(parents=True, exist_ok=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-bid-page", daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", app, tmp, section_id, username, pem, shots)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        clock.reset()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _statuses(live: Live) -> list[str]:
    with live.app.app_context():
        try:
            rows = db.session.scalars(
                select(SealedEnvelope.status)
                .where(SealedEnvelope.section_id == live.section_id)
                .order_by(SealedEnvelope.id)
            )
            return list(rows)
        finally:
            db.session.remove()


def test_receipts_update_live_resubmission_is_explained_and_withdrawal_is_confirmed(live: Live) -> None:
    from playwright.sync_api import Dialog, sync_playwright

    key_path = live.tmp / "bidder-key.pem"
    key_path.write_bytes(live.key_pem)
    doc_path = live.tmp / "技术标.pdf"
    doc_path.write_bytes(b"%PDF-1.4 technical proposal " * 100)
    dialogs: list[str] = []
    errors: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.on("dialog", accept)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{live.url}/auth/login")
            page.fill("input[name=username]", live.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-submit")
            page.wait_for_load_state()
            page.goto(f"{live.url}/bidding/sections/{live.section_id}")
            page.locator("#browser-seal").wait_for(state="visible")

            # Guidance before anything is sent: documents not obtained, time left, what resubmitting does.
            assert "尚未获取本标段的招标文件" in page.locator("#not-obtained").inner_text()
            assert page.locator("#deadline-left").inner_text().startswith("还剩 ")
            assert "替换" in page.locator("#supersede-note").inner_text()
            assert page.locator("#envelopes-panel").get_attribute("data-state") == "empty"

            def seal_and_submit(price: str) -> None:
                page.fill("#seal-item-price", price)
                page.fill("#seal-item-duration", "300")
                page.set_input_files("#seal-documents", str(doc_path))
                page.set_input_files("#seal-key-file", str(key_path))
                page.click("#seal-submit")
                page.locator("#browser-seal[data-state]").wait_for(timeout=60_000)
                assert page.get_attribute("#browser-seal", "data-state") == "done"

            seal_and_submit("1000000.00")
            # Without a reload: the panel lists both envelopes as counting.
            panel = page.locator("#envelopes-panel")
            assert panel.get_attribute("data-state") == "submitted"
            assert "尚未提交" not in panel.inner_text()
            assert page.locator("#envelopes tr.envelope-active").count() == 2
            assert "开标一览表" in panel.inner_text() and "技术标.pdf" in panel.inner_text()
            # Not cut off: the table fits its card, nothing hidden behind a scroll strip.
            wrap = page.locator("#envelopes .table-wrap")
            assert page.evaluate("e => e.scrollWidth <= e.clientWidth", wrap.element_handle())
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.screenshot(path=str(live.shots / "submitted.png"), full_page=True)
            assert dialogs == []  # nothing on file yet: no question asked

            # Submitting again asks first, and the earlier envelopes are shown as replaced.
            page.reload()
            page.locator("#browser-seal").wait_for(state="visible")
            seal_and_submit("990000.00")
            assert len(dialogs) == 1 and "替换" in dialogs[0]
            assert page.locator("#envelopes tr.envelope-active").count() == 2
            assert page.locator("#envelopes tr.envelope-superseded").count() == 2
            assert "不会被开启" in page.locator("#envelopes tr.envelope-superseded").first.inner_text()
            assert _statuses(live).count("superseded") == 2

            # Withdrawing: a page with the consequences; the button needs the box ticked.
            page.click("#withdraw-link")
            page.wait_for_url("**/withdraw")
            consequences = page.locator("#withdraw-consequences").inner_text()
            assert "不会被开启" in consequences and "还剩 " in consequences
            page.screenshot(path=str(live.shots / "withdraw-confirm.png"), full_page=True)
            page.click("#withdraw-submit")  # the browser refuses: the box is required
            assert page.url.endswith("/withdraw") and _statuses(live).count("active") == 2
            page.check("#withdraw-confirm")
            page.click("#withdraw-submit")
            page.wait_for_url(f"**/bidding/sections/{live.section_id}")
            assert page.locator("#envelopes tr.envelope-withdrawn").count() == 2
            assert page.locator("#envelopes-panel").get_attribute("data-state") == "empty"
            assert page.locator("#withdraw-link").count() == 0
            assert _statuses(live).count("active") == 0
            page.screenshot(path=str(live.shots / "withdrawn.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
