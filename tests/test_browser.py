"""A real browser journey in headless Chromium against a live server with its own database.

Trading-center staff sign in with password and TOTP, land on the workbench in Chinese, switch to English,
and the page stays readable on a phone-sized screen. Screenshots are left in the test's temporary folder.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.accounts import totp
from app.core.clock import security_now
from app.core.db import db
from tests.system import CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask
    logins: dict[str, tuple[str, str]]  # user name → (password, TOTP secret in base32, "" when none)
    shots: Path


def _parse_logins(lines: list[str]) -> dict[str, tuple[str, str]]:
    logins = {}
    for line in lines[1:]:
        username, _role, password, secret = (part.strip() for part in line.split("|"))
        logins[username] = (password, secret)
    return logins


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from app.demo import seed

    tmp = tmp_path_factory.mktemp("browser")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            # Its own SQLite file even when DATABASE_URL points the rest of the suite at PostgreSQL.
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        upgrade(revision="heads")
        lines = seed()
        db.session.commit()
        db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, _parse_logins(lines), tmp)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def _secret_bytes(b32: str) -> bytes:
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def test_staff_signs_in_with_totp_and_switches_language(live_server: LiveServer) -> None:
    from playwright.sync_api import sync_playwright

    password, secret = live_server.logins["staff"]
    assert secret, "the demo staff account has two-factor sign-in"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            page.goto(f"{live_server.url}/auth/login")
            assert page.locator("h1").inner_text() == "登录"
            page.fill("input[name=username]", "staff")
            page.fill("input[name=password]", password)
            page.click("#login-submit")
            page.wait_for_url("**/auth/mfa**")
            assert page.locator("h1").inner_text() == "双因素登录"

            page.fill("input[name=code]", totp.code_at(_secret_bytes(secret), security_now()))
            page.click("#mfa-submit")
            page.wait_for_url("**/workbench")
            assert page.locator("#workbench-title").inner_text() == "工作台"
            assert "交易中心工作人员" in page.locator("body").inner_text()
            page.screenshot(path=str(live_server.shots / "workbench-zh.png"), full_page=True)

            page.click("#switch-en")
            page.wait_for_selector("#switch-zh")
            assert page.locator("#workbench-title").inner_text() == "Workbench"
            assert page.locator("html").get_attribute("lang") == "en"
            page.screenshot(path=str(live_server.shots / "workbench-en.png"), full_page=True)

            # On a phone the page reflows instead of scrolling sideways.
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            assert page.locator("#workbench-title").inner_text() == "Workbench"
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"the workbench is {overflow}px wider than a phone screen"
            page.screenshot(path=str(live_server.shots / "workbench-phone.png"), full_page=True)
        finally:
            browser.close()

    for name in ("workbench-zh.png", "workbench-en.png", "workbench-phone.png"):
        assert (live_server.shots / name).stat().st_size > 0
