"""The "how to verify" page in headless Chromium (live server, own SQLite database): reached from the footer,
in Chinese by default and in English, it shows the latest signed checkpoint (size, root, Beijing time) and
names the tools; every link on it answers 200."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from app import create_app
from app.core.clock import clock
from app.core.db import db
from tests.projects.conftest import cst
from tests.system import CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser

SIGNED_AT = cst(2026, 3, 2, 10, 15) + dt.timedelta(seconds=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from app.core import audit

    tmp = tmp_path_factory.mktemp("verify-browser")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/verify.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        upgrade(revision="heads")
        clock.freeze(SIGNED_AT)
        try:
            for n in range(3):
                audit.record("test:verify_page", payload={"n": n})
            cp = audit.checkpoint(reason="on_demand")
            facts = {"size": cp.tree_size, "root": base64.b64encode(cp.root_hash).decode()}
            db.session.commit()
        finally:
            clock.reset()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="verify-live-server", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, **facts}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def _links_answer(page: Any, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        url = href if href.startswith("http") else base + href
        with urllib.request.urlopen(url) as resp:  # noqa: S310 (loopback)
            assert resp.status == 200, url
    return list(hrefs)


def test_the_page_explains_what_anyone_can_check_in_chinese_and_english(live: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            page.goto(f"{live['url']}/portal/")
            page.click("#footer-verify")
            page.wait_for_url("**/portal/verify")
            text = page.inner_text("main")
            assert "如何验证" in page.inner_text("h1")
            for words in (
                "平台公钥",
                "最新签名检查点",
                "一致性证明",
                "ggzy-audit witness --state ~/ggzy-witness http",
                "ggzy-bid",
            ):
                assert words in text, words
            assert page.inner_text("#checkpoint-size") == str(live["size"])
            assert page.inner_text("#checkpoint-root") == live["root"]
            assert page.inner_text("#checkpoint-time").startswith("2026-03-02 10:15:30")  # Beijing time
            hrefs = _links_answer(page, live["url"])
            assert "/api/v1/audit/keys" in hrefs and "/api/v1/audit/checkpoints/latest" in hrefs
            assert any(h.startswith("/api/v1/audit/proofs/consistency") for h in hrefs)

            page.click("#switch-en")
            page.wait_for_url("**/portal/verify")
            assert page.inner_text("h1") == "How to verify"
            text = page.inner_text("main")
            for words in ("The platform's public keys", "The latest signed checkpoint", "receipt verify"):
                assert words in text, words
            assert "docs/verify-a-draw.md" in text
            assert page.inner_text("#checkpoint-time").startswith("2026-03-02 10:15:30")
            _links_answer(page, live["url"])
        finally:
            browser.close()


def test_a_printed_record_is_checked_by_typing_its_values_in(live: dict[str, Any]) -> None:
    """Issue 17: the values printed on a PDF, typed into the page reached from "how to verify"."""
    import hashlib

    from playwright.sync_api import sync_playwright

    from app.core import printing

    sha = hashlib.sha256(b"printed record").hexdigest()
    printing.register("test_record", lambda: "测试记录", {7: sha}.get)
    with live["app"].test_request_context():
        sig = printing.sign("test_record", 7, sha)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_context(locale="zh-CN").new_page()
                page.goto(f"{live['url']}/portal/verify")
                page.click("#link-verify-record")
                page.wait_for_url("**/portal/verify/record")
                assert "核验打印件" in page.inner_text("h1")
                page.select_option("#vr-kind", label="测试记录")
                page.fill("#vr-id", "7")
                page.fill("#vr-sha256", sha.upper())
                page.fill("#vr-sig", sig)
                page.click("#verify-record-form button[type=submit]")
                page.wait_for_selector("#verdict")
                assert "真实有效" in page.inner_text("#verdict") and "测试记录" in page.inner_text("#verdict")
                page.fill("#vr-sha256", "0" * 64)
                page.click("#verify-record-form button[type=submit]")
                page.wait_for_selector("#verdict-rejected")
                text = page.inner_text("#verdict")
                assert "未能确认" in text and "签名" in text and "真实有效" not in text
            finally:
                browser.close()
    finally:
        printing.KINDS.pop("test_record", None)
