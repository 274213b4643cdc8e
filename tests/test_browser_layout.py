"""Layout checked in headless Chromium on the demo city, with screenshots under test-artifacts/layout/:
every role's top menu fits one line at 1280 px (every item's box inside the window, nothing behind a scroll
strip) and its drop-down entries show when opened; the public portal at 390 px never scrolls sideways and
the announcements list shows each tender's status and deadline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import DemoServer, demo_server
from tests.system import CHROMIUM, CHROMIUM_ARGS, sign_in

pytestmark = pytest.mark.browser

ROLES = ["admin", "staff", "manager", "regulator", "tenderer", "bidder1", "expert"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory, "layout") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


# English with other accounts of the busiest roles: a second sign-in of the same account within one
# authenticator step would reuse its code.
@pytest.mark.parametrize(
    ("username", "lang"), [(role, "zh") for role in ROLES] + [("regulator2", "en"), ("staff2", "en")]
)
def test_top_menu_fits_1280(live: DemoServer, browser: Any, username: str, lang: str) -> None:
    width = 1280
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
    try:
        page = context.new_page()
        sign_in(page, live.url, username, live.logins[username][0], totp_secret=live.totp(username))
        if lang == "en":
            page.click("#switch-en")
            page.wait_for_selector("#switch-zh")
        username = f"{username}-{lang}"
        page.screenshot(path=str(live.shots / f"menu-{username}-1280.png"))
        nav = page.locator("header .topnav")
        assert page.evaluate("n => n.scrollWidth <= n.clientWidth", nav.element_handle())
        tops = page.locator("header .topnav .navtop")
        boxes = [tops.nth(i).bounding_box() for i in range(tops.count())]
        labels = tops.all_inner_texts()
        assert len(boxes) >= 3, labels
        for label, box in zip(labels, boxes, strict=True):
            assert box is not None and box["width"] > 0, label
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (label, box)
        assert max(b["y"] for b in boxes) - min(b["y"] for b in boxes) < 2, f"the menu wraps: {labels}"
        right = page.locator("header .topright").bounding_box()
        assert right is not None and right["x"] + right["width"] <= width
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        # Every group opens and shows all its entries inside the window.
        groups = page.locator("header details.navgroup")
        for i in range(groups.count()):
            group = groups.nth(i)
            group.locator("summary").click()
            links = group.locator(".navmenu a")
            assert links.count() >= 2
            for j in range(links.count()):
                assert links.nth(j).is_visible()
                box = links.nth(j).bounding_box()
                assert box is not None and box["x"] + box["width"] <= width
            page.screenshot(path=str(live.shots / f"menu-{username}-group-{i}.png"))
        if groups.count():  # a click elsewhere closes the open group
            page.locator("main").click(position={"x": 5, "y": 5})
            assert page.locator("header details.navgroup[open]").count() == 0
    finally:
        context.close()


def _section_id(live: DemoServer) -> int:
    from sqlalchemy import select

    from app.core.db import db
    from app.projects.models import Section
    from tests.live import in_app

    first = select(Section.id).where(Section.status == "published").order_by(Section.id)
    return int(in_app(live, lambda: db.session.scalar(first)))


def test_portal_at_390_never_scrolls_sideways(live: DemoServer, browser: Any) -> None:
    width = 390
    context = browser.new_context(viewport={"width": width, "height": 844}, locale="zh-CN", is_mobile=True)
    try:
        page = context.new_page()
        sid = _section_id(live)
        pages = {
            "home": "/portal/",
            "announcements": "/portal/announcements",
            "tender": f"/portal/sections/{sid}",
            "openings": "/portal/results/openings",
            "failed": "/portal/results/failed",
            "catalogue": "/portal/catalogue",
            "search": "/portal/announcements?q=工程&category=&status=&from=&to=",
        }
        widths = {}
        for name, path in pages.items():
            page.goto(f"{live.url}{path}")
            widths[name] = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(live.shots / f"portal-{name}-390.png"), full_page=True)
        assert all(w <= width for w in widths.values()), widths

        # The announcements list shows each tender's status and deadline on the phone screen.
        page.goto(f"{live.url}/portal/announcements")
        rows = page.locator("main table tbody tr")
        assert rows.count() >= 3
        for i in range(rows.count()):
            for cell in ("td.col-status", "td.col-deadline"):
                loc = rows.nth(i).locator(cell)
                assert loc.is_visible(), (i, cell)
                box = loc.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (i, cell, box)
            deadline = rows.nth(i).locator("td.col-deadline")
            assert deadline.get_attribute("data-label") == "投标截止时间"  # shown before the date
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", deadline.inner_text().strip())
    finally:
        context.close()
