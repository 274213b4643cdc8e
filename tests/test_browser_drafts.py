"""A form refused before it was read (an expired page or session: the CSRF check) loses nothing: opened
again in the same tab, it is filled in with what was typed. A form that went through is never refilled,
and no secret (the form's token, passwords, one-time codes, key shares) is kept in the browser."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.core.db import db
from app.core.permissions import OrgKind
from tests.factories import make_org
from tests.live import live_app, serving
from tests.system import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

FACTS = "评标专家在开标前与投标人私下接触，\n有聊天记录为证。"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = live_app(tmp_path_factory, "drafts")
    with app.app_context():
        make_org(OrgKind.MANAGEMENT_OFFICE)  # who receives reports
        db.session.commit()
        db.session.remove()
    with serving(app, "drafts") as url:
        yield url


def test_a_refused_form_is_filled_in_again_and_a_sent_one_is_not(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{url}/complaints/report")
            page.fill("#subject", "评标专家收受好处")
            page.fill("#facts", FACTS)
            page.fill("#reporter_name", "王先生")
            # the page outlived its form token (as after a sign-out in another tab, or a restart)
            page.eval_on_selector("input[name=csrf_token]", "el => { el.value = 'expired'; }")
            page.click("#report-submit")
            assert page.locator("h1").inner_text() == "400"
            assert "无法校验该表单" in page.locator("main").inner_text()
            kept = json.loads(page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))"))
            drafts = [json.loads(v)["fields"] for k, v in kept.items() if k.startswith("form-draft:/")]
            assert drafts == [[["subject", "评标专家收受好处", None], ["facts", FACTS, None],
                               ["anonymous", "1", True], ["reporter_name", "王先生", None]]]  # fmt: skip

            page.click("#form-refused a")
            restored = page.locator("#draft-restored").inner_text()
            assert restored == "您在表单被拒收前填写的内容已重新填入，请检查后重新提交。"
            assert page.input_value("#subject") == "评标专家收受好处"
            assert page.input_value("#facts") == FACTS
            assert page.input_value("#reporter_name") == "王先生"
            assert page.evaluate("sessionStorage.length") == 0  # restored once, then forgotten

            page.click("#report-submit")  # a fresh token: accepted
            assert page.locator("#tracking-code").count() == 1
            page.goto(f"{url}/complaints/report")
            assert page.input_value("#facts") == "" and page.locator("#draft-restored").count() == 0
            # what was sent does not linger in the tab: a minute later the next page forgets it
            page.evaluate(
                """() => { for (const k of Object.keys(sessionStorage)) {
                  const d = JSON.parse(sessionStorage.getItem(k)); d.at -= 61000;
                  sessionStorage.setItem(k, JSON.stringify(d)); } }"""
            )
            assert page.evaluate("sessionStorage.length") == 1
            page.reload()
            assert page.evaluate("sessionStorage.length") == 0
        finally:
            browser.close()


def test_a_password_is_never_kept(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{url}/auth/login")
            page.fill("#username", "zhangsan")
            page.fill("#password", "correct horse battery staple")
            page.eval_on_selector("input[name=csrf_token]", "el => { el.value = 'expired'; }")
            page.click("form button[type=submit]")
            kept = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
            assert "zhangsan" in kept and "correct horse" not in kept and "password" not in kept
            page.click("#form-refused a")
            page.wait_for_selector("#draft-restored")
            assert page.input_value("#username") == "zhangsan" and page.input_value("#password") == ""
        finally:
            browser.close()
