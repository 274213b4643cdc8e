"""Keyboard only (headless Chromium, demo city): a bidder signs in, opens the top menu, finds the tender it
still has to bid on and reaches the sealing form's fields and submit button; a member of the public files an
anonymous report and reads the tracking code. Tab, Shift+Tab, Enter, Space and typing only: no click, no
``fill``, no ``focus()`` — what a person without a mouse can do. The skip link is the first stop of Tab on
every page and jumps past the top menu."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from app.accounts import totp
from app.core.clock import security_now
from tests import axe
from tests.live import DemoServer, demo_server
from tests.system import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

# Enough stops for the longest page walked here (top menu, workbench cards, the sealing form).
MAX_TABS = 150

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  return {tag: el.tagName, id: el.id, href: el.getAttribute('href') || '',
          text: (el.innerText || el.value || '').trim(), visible: el.checkVisibility()};
}"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    axe.require_axe()
    with demo_server(tmp_path_factory, "keyboard") as server:
        yield server


def _tab_to(page: Any, selector: str, *, back: bool = False) -> dict[str, Any]:
    """Press Tab (Shift+Tab with ``back``) until the focused element matches ``selector``; what it is."""
    seen = []
    for _i in range(MAX_TABS):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            focused: dict[str, Any] = page.evaluate(FOCUSED)
            assert focused["visible"], f"{selector} has the focus but cannot be seen"
            return focused
        seen.append(page.evaluate(FOCUSED))
    raise AssertionError(f"Tab never reached {selector} on {page.url}; stops: {seen}")


def _skip_to_main(page: Any) -> None:
    """The first Tab stop of a page is the skip link, shown when focused; Enter moves focus into <main>."""
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused and focused["id"] == "skip-link", focused
    assert focused["visible"] and "跳到正文" in focused["text"], focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.closest('main') !== null")


def _sign_in_by_keyboard(page: Any, live: DemoServer, username: str) -> None:
    page.goto(f"{live.url}/auth/login")
    # The user-name field has the focus when the page opens (autofocus).
    assert page.evaluate("document.activeElement.name") == "username"
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(live.logins[username][0])
    page.keyboard.press("Enter")
    secret = live.totp(username)
    if secret is not None:
        page.wait_for_url("**/auth/mfa**")
        assert page.evaluate("document.activeElement.name") == "code"
        page.keyboard.type(totp.code_at(secret, security_now()))
        page.keyboard.press("Enter")
    page.wait_for_url("**/workbench")


def test_bidder_reaches_the_bid_form_by_keyboard(live: DemoServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # Without the Content-Security-Policy only so that axe-core can come in (tests/axe.py).
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN", bypass_csp=True)
            _sign_in_by_keyboard(page, live, "bidder1")
            # The section the workbench says still waits for this bidder's envelopes.
            task = page.locator("#tasks li.task-bid a").first.get_attribute("href")
            assert task and re.fullmatch(r"/bidding/sections/\d+", task), task

            # Top menu: the "trading" group opens with Enter on its name, its entries follow in Tab order.
            _tab_to(page, "#nav-trading > summary")
            page.keyboard.press("Enter")
            assert page.evaluate("document.getElementById('nav-trading').open")
            _tab_to(page, "#nav-trading a[href='/bidding/tenders']")
            page.keyboard.press("Enter")
            page.wait_for_url("**/bidding/tenders")
            assert page.locator("h1").inner_text() == "可投标项目"

            # The list: past the menu with the skip link, then Tab to the tender's "open" link.
            _skip_to_main(page)
            link = _tab_to(page, f"main a[href='{task}']")
            assert link["text"] == "进入"
            page.keyboard.press("Enter")
            page.wait_for_url(f"**{task}")

            # The sealing form: the price is typed, the files and the key are reachable, then the button.
            _skip_to_main(page)
            _tab_to(page, "#seal-item-price")
            page.keyboard.type("1280000.00")
            assert page.locator("#seal-item-price").input_value() == "1280000.00"
            _tab_to(page, "#seal-documents")
            _tab_to(page, "#seal-key-file")
            _tab_to(page, "#seal-key-text")
            button = _tab_to(page, "#seal-submit")
            assert button["text"] == "加密并提交"
            assert page.get_by_text("在本浏览器中加密").first.is_visible()
            assert not axe.violations(page)
            page.screenshot(path=str(live.shots / "bidder-keyboard.png"), full_page=True)
        finally:
            browser.close()


def test_member_of_the_public_files_a_report_by_keyboard(live: DemoServer) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # Without the Content-Security-Policy only so that axe-core can come in (tests/axe.py).
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN", bypass_csp=True)
            page.goto(f"{live.url}/complaints/report")
            # Sent empty first: the page says what is missing, by field, to a screen reader too.
            _tab_to(page, "#report-submit")
            page.keyboard.press("Enter")
            page.wait_for_selector("#form-error")
            assert page.locator("#form-error").inner_text() == "举报内容不完整。"
            assert page.locator("#subject").get_attribute("aria-invalid") == "true"
            described = page.locator("#subject").get_attribute("aria-describedby")
            assert described and page.locator(f"#{described}").inner_text() == "必填。"
            assert not axe.violations(page)
            _skip_to_main(page)
            _tab_to(page, "#subject")
            page.keyboard.type("开标现场有人代为签到")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") == "facts"
            page.keyboard.type("某标段开标时，同一人替三家投标人签到，请核查。")
            # Anonymous is the default; Space toggles the box off and on again.
            box = _tab_to(page, "#anonymous")
            assert box["tag"] == "INPUT"
            page.keyboard.press("Space")
            assert not page.locator("#anonymous").is_checked()
            page.keyboard.press("Space")
            assert page.locator("#anonymous").is_checked()
            button = _tab_to(page, "#report-submit")
            assert button["text"] == "提交举报"
            page.keyboard.press("Enter")
            page.wait_for_selector("#tracking-code")

            assert page.locator("h1").inner_text() == "举报已收到"
            assert "您的查询码" in page.locator("main").inner_text()
            code = page.locator("#tracking-code").inner_text().strip()
            assert len(code) >= 8 and page.locator("#tracking-code").is_visible(), code
            assert not axe.violations(page)
            # The next step is reachable too: the follow-up link, by keyboard.
            follow = _tab_to(page, "#track-link")
            assert follow["text"] == "查询举报"
            page.screenshot(path=str(live.shots / "report-keyboard.png"), full_page=True)
        finally:
            browser.close()
