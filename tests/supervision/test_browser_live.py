"""Browser journey: a regulator keeps the live dashboard open while, in another browser context, trading-
center staff do something auditable through the app; the regulator's page shows it without a reload."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app import create_app
from app.accounts import totp
from app.core.clock import security_now
from app.core.db import db
from tests.system import CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, tuple[str, str]]]]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("supervision-browser")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "SUPERVISION_SSE_TEST_SECONDS": 30,  # a real live stream, not the short one of the unit tests
            # Keep-alives every second: a stream whose browser has gone notices within a second and ends,
            # so no stream thread of this server outlives the module (it shares ``db`` with later tests).
            "SUPERVISION_SSE_KEEPALIVE": 1,
        }
    )
    # Its own two accounts rather than the demo seed, so the journey needs nothing of the other domains.
    from app.accounts import services as accounts
    from app.core.permissions import OrgKind, Role
    from tests.factories import PASSWORD, make_org, make_user

    logins = {}
    with app.app_context():
        upgrade(revision="heads")
        for username, role, kind in (
            ("regulator", Role.REGULATOR, OrgKind.REGULATOR),
            ("staff", Role.CENTER_STAFF, OrgKind.TRADING_CENTER),
        ):
            user = make_user(role, make_org(kind), username=username)
            db.session.flush()
            secret = accounts.totp_secret(user)
            assert secret is not None
            logins[username] = (PASSWORD, base64.b32encode(secret).decode().rstrip("="))
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", logins
    finally:
        time.sleep(2.5)  # the browser is closed: its streams fail their next keep-alive and end
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def _sign_in(page: Any, base: str, username: str, logins: dict[str, tuple[str, str]]) -> None:
    password, secret = logins[username]
    page.goto(f"{base}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_url("**/auth/mfa**")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("input[name=code]", totp.code_at(key, security_now()))
    page.click("#mfa-submit")
    page.wait_for_url("**/workbench")


def test_regulator_sees_staff_action_live(live_server: tuple[str, dict[str, tuple[str, str]]]) -> None:
    from playwright.sync_api import sync_playwright

    base, logins = live_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            regulator = browser.new_context(locale="en-US").new_page()
            _sign_in(regulator, base, "regulator", logins)
            regulator.goto(f"{base}/supervision/")
            regulator.wait_for_selector("#live-status.ok", timeout=10000)  # the stream is connected
            loaded_url = regulator.url
            created = '#live-events tr:has(td[data-action="projects:room:create"])'
            assert regulator.locator(created).count() == 0

            staff = browser.new_context(locale="en-US").new_page()
            _sign_in(staff, base, "staff", logins)
            staff.goto(f"{base}/projects/rooms")
            staff.fill("input[name=name]", "第九开标室")
            staff.fill("input[name=location]", "三楼")
            staff.click("form.grid button[type=submit]")
            staff.wait_for_url("**/projects/rooms")

            row = regulator.locator(created)
            row.wait_for(timeout=10000)
            text = row.inner_text()  # in words (the default Chinese), never the codes
            assert "创建场地" in text and "交易中心工作人员" in text, text
            assert "projects:room:create" not in text and "center_staff" not in text
            assert regulator.url == loaded_url  # no reload, no navigation
        finally:
            browser.close()
