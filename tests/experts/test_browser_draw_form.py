"""The draw request form in headless Chromium (demo city): staff find the section by typing part of its
name and the specialty in the tree with its count of available experts, instead of typing internal numbers
and codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import DemoServer, demo_server
from tests.system import CHROMIUM, CHROMIUM_ARGS, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory, "draw-form") as server:
        yield server


def test_staff_pick_the_section_and_specialties(live: DemoServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            sign_in(page, live.url, "staff", live.logins["staff"][0], totp_secret=live.totp("staff"))
            page.goto(f"{live.url}/experts/draws")
            options = page.locator("#section_id option")
            total = options.count()
            assert total >= 2
            page.fill("#section-filter", "停车场")
            shown = [t for t, h in zip(options.all_inner_texts(), _hidden(page), strict=True) if not h]
            assert shown and all("停车场" in t for t in shown) and len(shown) < total
            assert "停车场" in page.locator("#section_id option:checked").inner_text()

            rows = page.locator("#specialty-picker li[data-search]")
            assert rows.count() >= 2
            first = rows.first.locator(":scope > .tree-row .badge").inner_text()
            assert first.endswith("名专家") and int(first.split()[0]) > 0
            name = rows.last.locator(":scope > .tree-row .tree-name").inner_text().split()[0]
            page.fill("#specialty-filter", name)
            visible = [rows.nth(i).is_visible() for i in range(rows.count())]
            assert rows.last.is_visible() and not all(visible)
            page.fill("#specialty-filter", "")
            assert all(rows.nth(i).is_visible() for i in range(rows.count()))
            page.screenshot(path=str(live.shots / "draw-form.png"), full_page=True)
        finally:
            browser.close()


def _hidden(page: object) -> list[bool]:
    return page.eval_on_selector_all("#section_id option", "os => os.map(o => o.hidden)")  # type: ignore[attr-defined,no-any-return]
