"""The demo city's contract and procurement intentions in headless Chromium: a visitor reads the published
contract and the intentions on the portal; the purchaser reads its contract page, published on time, with
its amendment; the regulator sees the section's contract in the list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import DemoServer, demo_server
from tests.system import CHROMIUM, CHROMIUM_ARGS, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory, "contracts") as server:
        yield server


def test_the_portal_and_the_purchaser_show_the_demo_contract(live: DemoServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(f"{live.url}/portal/")
            page.get_by_role("link", name="合同公告").first.click()
            table = page.locator("#public-contracts").inner_text()
            assert "南通市实验小学课桌椅采购合同" in table and "追加同型号学生课桌椅30套" in table
            assert "逾期公告" not in table
            page.get_by_role("link", name="采购意向").first.click()
            intentions = page.locator("#public-intentions").inner_text()
            assert "学生课桌椅600套" in intentions and "年" in intentions and "月" in intentions
            page.screenshot(path=str(live.shots / "portal-intentions.png"), full_page=True)

            sign_in(page, live.url, "tenderer", live.logins["tenderer"][0], totp_secret=live.totp("tenderer"))
            page.goto(f"{live.url}/contracts/")
            page.locator("#nav-trading > summary").click()  # contracts are in the trading menu
            page.get_by_role("link", name="合同管理").first.wait_for()
            rows = page.locator("#contracts").inner_text()
            assert "南通市实验小学课桌椅采购合同" in rows and "按时公告" in rows
            page.locator("#contracts a").first.click()
            assert "按时公告" in page.locator("#publication-state").inner_text()
            assert "追加同型号学生课桌椅30套" in page.locator("#amendments").inner_text()
            assert page.locator("#amendment-form").count() == 1  # the purchaser may record another
            page.screenshot(path=str(live.shots / "contract-page.png"), full_page=True)
        finally:
            browser.close()
