"""The announcements search form in headless Chromium (demo city): typing a keyword and pressing Search
filters the list although the other fields of the form are sent empty; an unusable value is explained in
Chinese next to its field, never by its field code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import DemoServer, demo_server
from tests.system import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory, "portal-search") as server:
        yield server


def test_typing_a_keyword_filters_the_announcements(live: DemoServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(f"{live.url}/portal/announcements")
            rows = page.locator("main table tbody tr")
            before = rows.count()
            assert before >= 3
            assert "实验小学" in page.locator("main table").inner_text()

            page.fill("#q", "停车场")
            page.click("#search-submit")
            page.wait_for_url("**/portal/announcements?q=*")
            assert "category=" in page.url  # the form sent its empty fields too
            table = page.locator("main table").inner_text()
            assert "停车场" in table and "实验小学" not in table
            assert 0 < rows.count() < before
            assert page.locator("#search-errors").count() == 0
            assert "停车场" in page.locator("#search-summary").inner_text()
            assert page.input_value("#q") == "停车场"
            page.screenshot(path=str(live.shots / "search-keyword.png"), full_page=True)

            # A filter the search cannot use: explained next to the field, the keyword still applies.
            page.goto(f"{live.url}/portal/announcements?q=停车场&category=nonsense&status=&from=&to=")
            assert page.locator("#category-error").inner_text() == "请从列表中选择类别。"
            assert page.locator("#category").get_attribute("aria-invalid") == "true"
            main = page.locator("main").inner_text()
            assert "停车场" in main and "实验小学" not in main
            for code in ("category", "status", "已忽略"):
                assert code not in main, code
            page.screenshot(path=str(live.shots / "search-unusable-filter.png"), full_page=True)
        finally:
            browser.close()
