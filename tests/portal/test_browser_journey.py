"""Browser journey (headless Chromium, live server with its own SQLite database seeded by the demo):

a tenderer signs in, drafts a section of an accepted project through the projects pages with a bid deadline
19 days after the documents become available, uploads the tender documents, and the publish wizard refuses
(the rule and its dates are shown, the button is disabled); the tenderer moves the deadline to the earliest
legal day and publishes. Then, without signing in, the public portal shows the announcement in Chinese and
in English, and the Atom feed contains it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.core.clock import CST, now
from app.core.db import db
from tests.system import CHROMIUM, CHROMIUM_ARGS, require, sign_in

pytestmark = pytest.mark.browser

SECTION_NAME = "滨江路改造浏览器标段"
PASSWORD = "journey: a long passphrase 4 portal"


@dataclass(frozen=True)
class Live:
    url: str
    app: Flask
    username: str
    password: str
    totp: bytes
    project_id: int
    dates: dict[str, str]  # datetime-local input values
    shots: Path


def _seed() -> tuple[str, bytes, Any]:
    """A catalogue in force, the parties of one accepted construction project and the custodians' keys
    (through the services; the demo seed belongs to another domain and is not needed here)."""
    from decimal import Decimal

    from app.core.permissions import OrgKind, Role
    from app.projects import services
    from tests.factories import make_org, make_user

    manager = make_user(Role.MANAGER, username="portal-manager")
    version = services.create_catalogue_version(actor=manager, title="2026 交易目录")
    services.open_catalogue_comment(version, actor=manager, days=1)
    version.comment_opens_at = now() - dt.timedelta(days=3)  # the comment period is over
    version.comment_closes_at = now() - dt.timedelta(days=1)
    db.session.flush()
    services.publish_catalogue_version(version, actor=manager)
    staff = make_user(Role.CENTER_STAFF, make_org(OrgKind.TRADING_CENTER), username="portal-staff")
    regulator_org = make_org(OrgKind.REGULATOR)
    regulator = make_user(Role.REGULATOR, regulator_org, username="portal-regulator")
    owner = make_org(OrgKind.TENDERER, name="南通市滨江建设有限公司")
    tenderer = make_user(Role.TENDERER, owner, username="portal-tenderer", password=PASSWORD)
    try:
        from pyrage import x25519

        from app.bidding.services import register_custodian_key

        for user in (staff, regulator, tenderer):
            register_custodian_key(user, str(x25519.Identity.generate().to_public()), actor=user)
    except ImportError:  # no sealed-bids domain: no publish hook needs the keys
        pass
    item = next(i for i in version.items if i.code == "GC-01")
    project = services.register_project(
        services.ProjectInput(
            name="滨江路改造工程",
            catalogue_item_id=item.id,
            funding_source="财政资金",
            approval_ref="通发改〔2026〕88号",
            budget=Decimal("12000000"),
            regulator_org_id=regulator_org.id,
            region="崇川区",
        ),
        actor=tenderer,
    )
    services.review_project(project, actor=staff, accept=True)
    from app.accounts import services as accounts

    return tenderer.username, accounts.totp_secret(tenderer) or b"", project


def _local_input(day: dt.date, hour: int, minute: int = 0) -> str:
    return dt.datetime(day.year, day.month, day.day, hour, minute).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from app.core.calendar import load_calendar
    from app.projects import rules

    tmp = tmp_path_factory.mktemp("portal-browser")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/portal.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        upgrade(revision="heads")
        username, secret, project = _seed()
        gc = project.catalogue_item
        calendar = load_calendar()
        start = now() + dt.timedelta(minutes=30)
        sale_end = rules.earliest_date(start, gc.min_sale_days, gc.sale_day_unit, calendar)
        legal = rules.earliest_date(start, gc.min_bid_days, gc.bid_day_unit, calendar)
        local_start = start.astimezone(CST)
        dates = {
            "from": local_start.strftime("%Y-%m-%dT%H:%M"),
            "until": _local_input(sale_end, 17),
            "short": _local_input(legal - dt.timedelta(days=1), 9, 30),
            "legal": _local_input(legal, 9, 30),
        }
        project_id = project.id
        db.session.commit()
        db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="portal-live-server", daemon=True)
    thread.start()
    try:
        yield Live(
            f"http://127.0.0.1:{server.server_port}",
            app,
            username,
            PASSWORD,
            secret,
            project_id,
            dates,
            tmp,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def test_tenderer_publishes_and_the_public_portal_shows_it(live: Live) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(f"{live.url}/auth/login")
            assert page.locator("header a[href='/portal/']").count() == 1  # the portal, from the sign-in page
            sign_in(page, live.url, live.username, live.password, totp_secret=live.totp)

            # Draft a section whose deadline is one day short of the statutory period.
            page.goto(f"{live.url}/projects/{live.project_id}/sections/new")
            page.fill("#name", SECTION_NAME)
            page.fill("#estimated_value", "10000000")
            page.fill("#ceiling_price", "9800000")
            page.fill("#bid_security", "200000")
            page.fill("#docs_available_from", live.dates["from"])
            page.fill("#docs_available_until", live.dates["until"])
            page.fill("#bid_deadline", live.dates["short"])
            page.check("#online_only")
            page.fill("#notice_text", "一、项目概况：滨江路改造\n二、投标人资格要求\n")
            page.click("#section-form button[type=submit]")
            page.wait_for_url("**/projects/sections/*")
            section_url = page.url
            section_id = int(section_url.rstrip("/").split("/")[-1])

            page.set_input_files(
                "input[type=file]",
                files=[{"name": "tender.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 journey"}],
            )
            page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
            page.wait_for_url(section_url)

            page.goto(f"{live.url}/projects/sections/{section_id}/publish")
            refusal = page.locator("main li", has_text=live.dates["short"][:10]).first.inner_text()
            # The rule, the short period and the earliest legal deadline are named.
            assert "19" in refusal and "20" in refusal and live.dates["legal"][:10] in refusal, refusal
            assert page.locator("#publish").is_disabled()
            page.screenshot(path=str(live.shots / "publish-refused.png"), full_page=True)

            # Fix the deadline; now the wizard lets the tenderer publish.
            page.goto(f"{live.url}/projects/sections/{section_id}/edit")
            page.fill("#bid_deadline", live.dates["legal"])
            page.click("#section-form button[type=submit]")
            page.wait_for_url("**/projects/sections/*")
            page.goto(f"{live.url}/projects/sections/{section_id}/publish")
            assert page.locator("#publish").is_enabled()
            page.click("#publish")
            page.wait_for_url(f"**/projects/sections/{section_id}")

            # The public, without signing in.
            visitor = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            visitor.goto(f"{live.url}/portal/")
            assert visitor.locator("html").get_attribute("lang") == "zh-CN"
            visitor.goto(f"{live.url}/portal/announcements?q=滨江路改造浏览器")
            visitor.click(f"text={SECTION_NAME}")
            visitor.wait_for_url(f"**/portal/sections/{section_id}")
            text = visitor.locator("main").inner_text()
            assert SECTION_NAME in text and "tender.pdf" in text
            visitor.screenshot(path=str(live.shots / "portal-zh.png"), full_page=True)
            visitor.click("#switch-en")
            visitor.wait_for_selector("#switch-zh")
            assert visitor.locator("html").get_attribute("lang") == "en"
            text = visitor.locator("main").inner_text()
            assert "Tender documents" in text and SECTION_NAME in text
            visitor.screenshot(path=str(live.shots / "portal-en.png"), full_page=True)

            feed = visitor.request.get(f"{live.url}/portal/feed.atom")
            assert feed.ok and feed.headers["content-type"].startswith("application/atom+xml")
            assert SECTION_NAME in feed.text()
            assert f"section/{section_id}</id>" in feed.text()
        finally:
            browser.close()
