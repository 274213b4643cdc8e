"""The workbench as a task list (headless Chromium, demo city): a bidder sees the bid it still has to submit
with the time left in words and follows it to the bid page; a regulator sees the draw to witness and its
cases with working days left, also on the case page; the tender page counts down to the deadline."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.live import DemoServer, demo_server
from tests.system import CHROMIUM, CHROMIUM_ARGS, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    with demo_server(tmp_path_factory, "workbench-tasks") as server:
        yield server


def test_bidder_and_regulator_see_what_needs_them_with_time_left(live: DemoServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            sign_in(page, live.url, "bidder1", live.logins["bidder1"][0], totp_secret=live.totp("bidder1"))
            bid = page.locator("#tasks li.task-bid").first
            assert "加密递交投标文件" in bid.inner_text()
            assert re.search(r"还剩 \d+ 天( \d+ 小时)?", bid.locator(".countdown").inner_text())
            assert "北京时间" in bid.inner_text()
            page.screenshot(path=str(live.shots / "bidder-workbench.png"), full_page=True)
            bid.locator("a").click()
            page.wait_for_url("**/bidding/sections/*")
            assert page.locator("#deadline-left").inner_text().startswith("还剩 ")
            section_id = page.url.rstrip("/").split("/")[-1]
            page.goto(f"{live.url}/projects/tenders/{section_id}")
            assert "还剩 " in page.locator("#deadline").inner_text()
            page.close()

            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            password = live.logins["regulator"][0]
            sign_in(page, live.url, "regulator", password, totp_secret=live.totp("regulator"))
            tasks = page.locator("#tasks")
            assert tasks.locator("li.task-draw").count() >= 1
            cases = tasks.locator("li.task-case")
            assert cases.count() >= 1
            words = [cases.nth(i).locator(".task-left").inner_text() for i in range(cases.count())]
            assert all(re.search(r"(剩余|已逾期) \d+ 个工作日|今日到期", w) for w in words), words
            text = tasks.inner_text()
            assert not re.search(r"[a-z]{3,}", text), text  # words, no codes
            page.screenshot(path=str(live.shots / "regulator-workbench.png"), full_page=True)
            case = next(i for i, w in enumerate(words) if w.startswith("剩余"))
            expected = words[case].split("（")[0].strip()
            cases.nth(case).locator("a").click()
            page.wait_for_url("**/complaints/cases/*")
            assert page.locator("#case-working-days").inner_text() == expected
        finally:
            browser.close()
