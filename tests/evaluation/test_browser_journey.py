"""Browser journey in headless Chromium against a live server with its own SQLite database: five experts
sign in and score in parallel browser contexts, the leader draws up and closes the report, the tenderer
publishes the candidates and the public portal shows them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.accounts import services as accounts
from app.core.clock import clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.projects import services as projects
from tests.conftest import IsolatedClient
from tests.evaluation.conftest import open_trade
from tests.factories import PASSWORD, make_org, make_user
from tests.projects.conftest import T0, World, publish_catalogue
from tests.system import CHROMIUM, CHROMIUM_ARGS, require, sign_in

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Live:
    url: str
    section_id: int
    experts: list[str]  # user names in seat order (the first is the leader)
    tenderer: str
    tenderer_totp: bytes
    bidders: list[str]
    shots: Path


def _world() -> World:
    manager = make_user(Role.MANAGER)
    catalogue = publish_catalogue(manager, at=T0 - dt.timedelta(days=1))
    center, owner, agency = (
        make_org(OrgKind.TRADING_CENTER),
        make_org(OrgKind.TENDERER),
        make_org(OrgKind.AGENCY),
    )
    regulator_org = make_org(OrgKind.REGULATOR)
    staff = make_user(Role.CENTER_STAFF, center)
    regulator = make_user(Role.REGULATOR, regulator_org)
    tenderer, agent = make_user(Role.TENDERER, owner), make_user(Role.TENDERER, agency)
    clock.freeze(T0)
    room = projects.create_room(actor=staff, name="开标室-浏览器")
    item = next(i for i in catalogue.items if i.code == "GC-01")
    project = projects.register_project(
        projects.ProjectInput(
            name="南通市某道路改造工程",
            catalogue_item_id=item.id,
            funding_source="财政资金",
            approval_ref="通发改〔2026〕9号",
            budget=Decimal("12000000"),
            regulator_org_id=regulator_org.id,
            owner_org_id=owner.id,
        ),
        actor=agent,
    )
    projects.review_project(project, actor=staff, accept=True)
    return World(
        catalogue,
        center,
        owner,
        agency,
        regulator_org,
        manager,
        staff,
        regulator,
        tenderer,
        agent,
        room,
        project,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("evaluation-browser")
    app: Flask = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/e.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOGIN_RATE_LIMIT": "1000 per minute",
        }
    )
    with app.app_context():
        upgrade(revision="heads")
        world = _world()
        db.session.commit()
        app.test_client_class = IsolatedClient  # the setup keeps one app context pushed, as the suite does
        trade = open_trade(app, app.test_client(), world, ["9500000", "9400000", "9300000"])
        db.session.commit()
        info = Live(
            url="",
            section_id=trade.section.id,
            experts=[u.username for u in trade.panel_users()],
            tenderer=world.agent.username,
            tenderer_totp=accounts.totp_secret(world.agent) or b"",
            bidders=[b.org.name for b in trade.tender.bidders],
            shots=tmp,
        )
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", *list(info.__dict__.values())[1:])
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        clock.reset()
        with app.app_context():
            db.engine.dispose()


def _login(page: Any, url: str, username: str, totp_secret: bytes | None = None) -> None:
    sign_in(page, url, username, PASSWORD, totp_secret=totp_secret)


def test_five_experts_score_the_leader_reports_and_the_portal_shows_the_candidates(live: Live) -> None:
    from playwright.sync_api import sync_playwright

    workspace = f"{live.url}/evaluation/sections/{live.section_id}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            contexts = [browser.new_context(locale="en") for _ in live.experts]
            pages = [c.new_page() for c in contexts]
            for page, username in zip(pages, live.experts, strict=True):
                _login(page, live.url, username)
                page.goto(workspace)
                assert live.bidders[0] in page.locator("#sign-in").inner_text()
            for page in pages:  # all five sign in before anyone can score
                page.click("#sign-in-button")
                page.wait_for_load_state()
            for page in pages:
                page.goto(workspace)
                page.wait_for_selector("#submit-scores")
            for page in pages:  # the five submit independently; each form keeps its own session
                page.click("#submit-scores")
                page.wait_for_load_state()
            leader = pages[0]
            leader.goto(workspace)
            leader.click("#draw-up")
            leader.wait_for_selector("#sign-report")
            for page in pages:
                page.goto(workspace)
                page.click("#sign-report")
                page.wait_for_load_state()
            leader.goto(workspace)
            leader.click("#close-report")
            leader.wait_for_load_state()
            assert leader.locator("#report").is_visible()
            leader.screenshot(path=str(live.shots / "expert-report.png"), full_page=True)

            tenderer = browser.new_context(locale="en").new_page()
            _login(tenderer, live.url, live.tenderer, live.tenderer_totp)
            tenderer.goto(f"{live.url}/evaluation/manage/{live.section_id}")
            for rank in range(1, tenderer.locator("fieldset").count() + 1):  # 发改委令第10号 Art. 6
                tenderer.fill(f"#pm_certificate_{rank}", f"一级建造师 苏1320000{rank}")
                tenderer.fill(f"#qualifications_{rank}", "市政公用工程施工总承包二级")
                if not tenderer.input_value(f"#project_manager_{rank}"):
                    tenderer.fill(f"#project_manager_{rank}", f"项目经理{rank}")
            tenderer.click("#publish-candidates")
            tenderer.wait_for_selector("#candidates")
            assert (
                tenderer.locator("#ev-status").inner_text() == "候选人公示"
            )  # the label of the "publicity" status

            public = browser.new_context(locale="zh-CN").new_page()
            public.goto(f"{live.url}/evaluation/public")
            results = public.locator("#public-results").inner_text()
            assert live.bidders[2] in results  # the lowest price ranks first
            public.click("#public-results a >> nth=0")
            rows = public.locator("#candidates tbody tr")
            assert rows.count() == 3
            assert live.bidders[2] in rows.nth(0).inner_text()
            public.screenshot(path=str(live.shots / "public-candidates.png"), full_page=True)
        finally:
            browser.close()
