"""Browser journey: an anonymous report filed on the portal page is forwarded by the management office,
assigned and answered by the regulator, and the reporter reads the answer with the tracking code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

from app import create_app
from app.accounts import services as accounts
from app.accounts import totp
from app.core.clock import now
from app.core.db import db
from app.core.permissions import OrgKind, Role
from tests.system import CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask
    secrets: dict[str, bytes]  # user name → TOTP secret
    housing_id: int
    backup_id: int


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from tests.factories import make_org, make_user

    tmp = tmp_path_factory.mktemp("complaints-browser")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/c.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        upgrade(revision="heads")
        office = make_org(OrgKind.MANAGEMENT_OFFICE, name="南通市公共资源交易管理办公室")
        housing = make_org(OrgKind.REGULATOR, name="南通市住房和城乡建设局", industry="housing_construction")
        manager = make_user(Role.MANAGER, office, username="office1")
        regulator = make_user(Role.REGULATOR, housing, username="reg1")
        backup = make_user(Role.REGULATOR, housing, username="reg2")
        secrets = {u.username: accounts.totp_secret(u) for u in (manager, regulator)}
        ids = (housing.id, backup.id)
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="complaints-live", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, secrets, *ids)  # type: ignore[arg-type]
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def _sign_in(page: object, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/auth/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("#login-submit")  # type: ignore[attr-defined]
    page.wait_for_url("**/auth/mfa**")  # type: ignore[attr-defined]
    page.fill("input[name=code]", totp.code_at(server.secrets[username], now()))  # type: ignore[attr-defined]
    page.click("#mfa-submit")  # type: ignore[attr-defined]
    page.wait_for_url("**/workbench")  # type: ignore[attr-defined]


def test_anonymous_report_is_forwarded_assigned_answered_and_read_with_the_code(
    live_server: LiveServer,
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # 1. the reporter, anonymous, on the public page
            reporter = browser.new_context(locale="zh-CN").new_page()
            reporter.goto(f"{live_server.url}/complaints/report")
            reporter.fill("#subject", "开标现场疑似围标")
            reporter.fill("#facts", "三家投标人的联系人是同一人。")
            reporter.click("#report-submit")
            code = reporter.locator("#tracking-code").inner_text().strip()
            number = reporter.locator("#report-number").inner_text().strip()
            assert len(code) >= 24

            # 2. the management office forwards it (转办) to the housing regulator
            office = browser.new_context(locale="zh-CN").new_page()
            _sign_in(office, live_server, "office1")
            office.goto(f"{live_server.url}/complaints/board")
            office.click(f"#incoming a:text('{number}')")
            office.select_option("#to_org", str(live_server.housing_id))
            office.click("#forward-case")
            office.wait_for_url("**/complaints/board")

            # 3. the regulator assigns it (交办, A/B) and records the result
            reg = browser.new_context(locale="zh-CN").new_page()
            _sign_in(reg, live_server, "reg1")
            reg.goto(f"{live_server.url}/complaints/desk")
            reg.click(f"a:text('{number}')")
            reg.select_option("#backup", str(live_server.backup_id))
            reg.click("#assign-case")
            reg.fill("#report-answer", "经查，三家单位存在串通投标行为，已立案查处。")
            reg.click("#answer-report")
            assert "已立案查处" in reg.locator("#case-answer").inner_text()
            assert (
                "anonymous" in reg.locator("#reporter-identity").inner_text()
                or "匿名" in reg.locator("#reporter-identity").inner_text()
            )

            # 4. the reporter reads the answer with the tracking code, without an account
            reporter.goto(f"{live_server.url}/complaints/track")
            reporter.fill("#code", code)
            reporter.click("#track-submit")
            assert "已立案查处" in reporter.locator("#track-answer").inner_text()
        finally:
            browser.close()
