"""Keys made in the browser (issue 17), in headless Chromium against a live server with its own database.

A custodian (center staff) creates an age identity on the custodian page: the downloaded file is a standard
age file encrypted with the passphrase (opened here with pyrage's passphrase module, the rage
implementation of age), and only the public recipient reaches the server. The section is published (its
opening key is split with a share for that recipient). A bidder creates an Ed25519 signing key on the keys
page the same way, registers the public key, then seals and submits on the section page by loading the key
file and its passphrase. After the deadline the custodian loads the key file, enters the passphrase and the
page decrypts and submits the share in one step; with a second custodian's share the opening completes and
the record holds the browser bidder's price. No request that leaves the browser carries a passphrase, a
private key or an identity.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.accounts.models import User, UserSession
from app.bidding import opening, signing
from app.bidding import services as bidding
from app.bidding.enums import CeremonyStatus
from app.bidding.models import BidderKey, SealedEnvelope
from app.core.clock import clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.projects import services as projects
from app.projects.models import Section
from tests.bidding.conftest import DEADLINE, make_bidder, upload
from tests.bidding.test_browser_sealing import _world
from tests.factories import PASSWORD, current_code, make_org, make_user
from tests.projects.conftest import draft_section
from tests.system import AGE, CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser

CUSTODIAN_PASS = "守护人口令 correct horse"
BIDDER_PASS = "投标人口令 battery staple"
PRICE = "7654321.00"


@dataclass(frozen=True)
class Live:
    url: str
    app: Flask
    tmp: Path
    staff_id: int
    staff_name: str
    regulator_id: int
    tenderer_id: int
    bidder_name: str
    others: list[Any]  # two bidders with server-side keys and API tokens
    section_id: int  # a draft, published once the browser custodian has registered a key
    agent_id: int
    identities: dict[int, pyrage.x25519.Identity]  # the two custodians whose keys are made server-side


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require(CHROMIUM, AGE)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("browser-keys")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/k.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.test_request_context():
        upgrade(revision="heads")
        world = _world()  # freezes the clock at T0, three weeks before the deadline
        identities = {}
        for user in (world.regulator, world.tenderer):  # these two custodians use the age tool
            identity = pyrage.x25519.Identity.generate()
            identities[user.id] = identity
            bidding.register_custodian_key(user, str(identity.to_public()), actor=user)
        bidder = make_user(Role.BIDDER, make_org(OrgKind.BIDDER, name="浏览器投标人有限公司"))
        others = [make_bidder() for _ in range(2)]
        section = draft_section(world)
        db.session.commit()
        ids = (world.staff.id, world.staff.username, world.regulator.id, world.tenderer.id, bidder.username)
        draft = (section.id, world.agent.id)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-keys", daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", app, tmp, *ids, others, *draft, identities)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        clock.reset()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _code(live: Live, user_id: int) -> str:
    with live.app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return current_code(user)


def _sign_in(page: Any, live: Live, username: str, user_id: int | None = None) -> None:
    page.goto(f"{live.url}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    if user_id is not None:  # staff sign in with a second factor
        page.wait_for_url("**/auth/mfa**")
        page.fill("input[name=code]", _code(live, user_id))
        page.click("#mfa-submit")
        page.wait_for_load_state()


def _age_with_passphrase(args: list[str], passphrase: str, out: Path) -> bytes:
    """Runs the reference ``age`` tool, which reads a passphrase only from a terminal: on a pseudo-terminal,
    answering its prompt. Returns what it wrote to ``out``."""
    import os
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: age, with the pseudo-terminal as its terminal
        os.execv(str(AGE), ["age", "-d", "-o", str(out), *args])  # noqa: S606 - a fixed binary, no shell
    said, answered, end = b"", False, time.monotonic() + 120
    try:
        while time.monotonic() < end:
            ready, _w, _x = select.select([fd], [], [], 0.5)
            if fd not in ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal: it is done
                break
            if not chunk:
                break
            said += chunk
            if not answered and b"passphrase" in said.lower():
                os.write(fd, passphrase.encode() + b"\r")
                answered = True
    finally:
        _pid, status = os.waitpid(pid, 0)
        os.close(fd)
    assert answered and os.waitstatus_to_exitcode(status) == 0, said
    return out.read_bytes()


def _step_up_expires(live: Live, user_id: int) -> None:
    """As if the few minutes a second factor counts for had passed."""
    with live.app.app_context():
        for row in db.session.scalars(select(UserSession).where(UserSession.user_id == user_id)):
            row.stepped_up_at = None
        db.session.commit()


def _create_key(page: Any, passphrase: str, path: Path) -> None:
    """The key widget: a too-short passphrase is refused, then the key is made and its file downloaded."""
    box = page.locator("#keygen")
    box.wait_for(state="visible")  # keygen.js (an ES module importing the vendored bundle) ran
    page.fill("#keygen-pass", "short")
    page.fill("#keygen-pass2", "short")
    page.click("#keygen-create")
    assert page.locator("#keygen-status").inner_text() == "口令至少需要10个字符。"
    page.fill("#keygen-pass", passphrase)
    page.fill("#keygen-pass2", passphrase)
    page.click("#keygen-create")
    page.locator("#keygen[data-state]").wait_for(timeout=120_000)
    assert box.get_attribute("data-state") == "ready", page.locator("#keygen-status").inner_text()
    assert page.input_value("#keygen-pass") == ""  # the passphrase is not left in the page
    with page.expect_download() as info:
        page.click("#keygen-download")
    info.value.save_as(str(path))


def _no_secret_left(sent: list[tuple[str, bytes]], secrets: list[bytes]) -> None:
    for url, body in sent:
        for secret in secrets:
            assert secret not in body, f"a secret left the browser in {url}"


def test_keys_made_in_the_browser_seal_a_bid_and_open_it(live: Live) -> None:
    from playwright.sync_api import Request, Response, sync_playwright

    sent: list[tuple[str, bytes]] = []
    console: list[str] = []
    failed: list[str] = []

    def on_response(resp: Response) -> None:
        if resp.status >= 400:
            failed.append(resp.url)

    def on_request(req: Request) -> None:
        sent.append((f"{req.method} {req.url}", req.post_data_buffer or b""))

    custodian_file = live.tmp / "custodian-identity.age"
    bidder_file = live.tmp / "bidder-signing-key.age"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            staff = browser.new_context(locale="zh-CN", accept_downloads=True).new_page()
            staff.on("request", on_request)
            staff.on("response", on_response)
            staff.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            staff.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            # -- 1. the custodian makes an identity in the browser and registers its recipient ---------
            _sign_in(staff, live, live.staff_name, live.staff_id)
            staff.goto(f"{live.url}/bidding/custodian")
            assert staff.locator("#step-up-note").count() == 0  # the sign-in code counts for a while
            _step_up_expires(live, live.staff_id)
            staff.reload()
            assert "需要新的6位验证码" in staff.locator("#step-up-note").inner_text()
            staff.click("#step-up-note a")
            staff.wait_for_url("**/auth/step-up**")
            staff.fill("input[name=code]", _code(live, live.staff_id))
            staff.click("button[type=submit].primary")
            staff.wait_for_url("**/bidding/custodian")
            assert staff.locator("#step-up-note").count() == 0
            _create_key(staff, CUSTODIAN_PASS, custodian_file)
            recipient = staff.locator("#keygen-public").inner_text()
            assert recipient.startswith("age1")
            assert staff.input_value("#age_recipient") == ""  # not before the backup is confirmed
            staff.click("#register-recipient")
            assert staff.locator("#keygen-status").inner_text() == "请先下载密钥文件并确认已保存。"
            staff.check("#keygen-saved")
            assert staff.input_value("#age_recipient") == recipient
            staff.click("#register-recipient")
            staff.wait_for_load_state()
            assert "您的 age 公钥已登记。" in staff.locator("body").inner_text()
            assert staff.locator("#registered-recipient").inner_text() == recipient

            # The file is an age file that the reference implementation opens with the passphrase; inside
            # is age-keygen's identity format for exactly the registered recipient.
            data = custodian_file.read_bytes()
            assert data.startswith(b"age-encryption.org/v1\n-> scrypt ")
            with pytest.raises(pyrage.DecryptError):
                pyrage.passphrase.decrypt(data, "not the passphrase")
            text = pyrage.passphrase.decrypt(data, CUSTODIAN_PASS).decode()
            assert f"# public key: {recipient}\n" in text
            secret_line = next(line for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
            identity = pyrage.x25519.Identity.from_str(secret_line)
            assert str(identity.to_public()) == recipient
            # … and so does the reference age tool, asking for the passphrase on its terminal.
            opened = _age_with_passphrase([str(custodian_file)], CUSTODIAN_PASS, live.tmp / "id.txt")
            assert opened == text.encode()

            # -- 2. the section is published: its opening key is split, one share for this recipient ---
            with live.app.test_request_context():
                section = db.session.get(Section, live.section_id)
                agent = db.session.get(User, live.agent_id)
                assert section is not None and agent is not None
                if bidding.generate_section_key not in projects.PUBLISH_HOOKS:
                    projects.PUBLISH_HOOKS.append(bidding.generate_section_key)
                projects.publish_section(section, actor=agent)
                db.session.commit()
                section_id, section_recipient = section.id, section.opening_recipient or ""
                share = opening.custodian_share(section_id, db.session.get(User, live.staff_id))
                assert share is not None and share.ciphertext.startswith(b"age-encryption.org/v1\n")
                words = pyrage.decrypt(share.ciphertext, [identity])  # the share is for the browser's key
            # The command-line way stays: age takes the protected key file itself as its identity file.
            (live.tmp / "share.age").write_bytes(share.ciphertext)
            args = ["-i", str(custodian_file), str(live.tmp / "share.age")]
            assert _age_with_passphrase(args, CUSTODIAN_PASS, live.tmp / "share.txt") == words

            # -- 3. the bidder makes a signing key, registers it, seals and submits with it ------------
            bidder = browser.new_context(locale="zh-CN", accept_downloads=True).new_page()
            bidder.on("request", on_request)
            bidder.on("response", on_response)
            bidder.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            bidder.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            _sign_in(bidder, live, live.bidder_name)
            bidder.goto(f"{live.url}/bidding/keys")
            _create_key(bidder, BIDDER_PASS, bidder_file)
            bidder.check("#keygen-saved")
            public_pem = bidder.input_value("#public_key")
            assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
            bidder.fill("#label", "浏览器密钥")
            bidder.click("#register-key")
            bidder.wait_for_load_state()
            assert "密钥已登记。" in bidder.locator("body").inner_text()
            pem = pyrage.passphrase.decrypt(bidder_file.read_bytes(), BIDDER_PASS)
            assert _age_with_passphrase([str(bidder_file)], BIDDER_PASS, live.tmp / "key.pem") == pem
            private = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(private, Ed25519PrivateKey)
            key_id = signing.key_id(signing.raw_public(private.public_key()))
            assert key_id in bidder.locator("table").inner_text()

            bidder.goto(f"{live.url}/bidding/sections/{section_id}")
            form = bidder.locator("#browser-seal")
            form.wait_for(state="visible")
            for name in ("seal-key-file", "seal-key-passphrase", "seal-key-text"):
                assert bidder.get_attribute(f"#{name}", "name") is None
            bidder.fill("#seal-item-price", PRICE)
            bidder.fill("#seal-item-duration", "365")
            bidder.fill("#seal-item-project_manager", "项目经理李工")
            bidder.set_input_files("#seal-key-file", str(bidder_file))
            bidder.fill("#seal-key-passphrase", "wrong passphrase!")
            bidder.click("#seal-submit")
            bidder.locator("#browser-seal[data-state]").wait_for(timeout=120_000)
            assert form.get_attribute("data-state") == "failed"
            assert bidder.locator("#seal-status").inner_text() == "口令错误，或这不是您的密钥文件。"
            assert bidder.input_value("#seal-key-passphrase") == ""  # cleared after every attempt
            bidder.fill("#seal-key-passphrase", BIDDER_PASS)
            bidder.click("#seal-submit")
            bidder.locator("#browser-seal[data-state=done], #browser-seal[data-state=failed]").wait_for(
                timeout=120_000
            )
            assert form.get_attribute("data-state") == "done", bidder.locator("#seal-status").inner_text()

            # -- 4. two more bidders (ggzy-bid on their own machines); the deadline passes --------------
            client = live.app.test_client()  # outside any app context: each call is its own request
            for other in live.others:
                body = {"section_id": section_id, "price": "9000000.00", "duration": 300}
                sealed = pyrage.encrypt(
                    json.dumps(body).encode(), [pyrage.x25519.Recipient.from_str(section_recipient)]
                )
                resp = upload(client, None, other, sealed, section_id=section_id)  # type: ignore[arg-type]
                assert resp.status_code == 201, resp.get_json()
            clock.freeze(DEADLINE + dt.timedelta(minutes=1))
            with live.app.test_request_context():
                ceremony = opening.start_ceremony(section_id, actor=db.session.get(User, live.staff_id))
                db.session.commit()
                assert ceremony.status == CeremonyStatus.COLLECTING

            # -- 5. the custodian decrypts and submits the share in the browser, in one step ------------
            staff.goto(f"{live.url}/bidding/sections/{section_id}/hall")
            staff.click("#custodian-link")
            staff.wait_for_url("**/bidding/custodian")
            share_form = staff.locator("form.share-browser").first
            share_form.wait_for(state="visible")
            staff.set_input_files("form.share-browser input.share-identity", str(custodian_file))
            staff.fill("form.share-browser input.share-passphrase", "not my passphrase")
            share_form.locator("button[type=submit]").click()
            staff.locator("form.share-browser[data-state=failed]").wait_for(timeout=120_000)
            assert share_form.locator(".share-status").inner_text() == "口令错误，或这不是您的密钥文件。"
            staff.fill("form.share-browser input.share-passphrase", CUSTODIAN_PASS)
            with staff.expect_navigation(url=f"**/bidding/sections/{section_id}/hall", timeout=120_000):
                share_form.locator("button[type=submit]").click()
            assert "您的分片已提交。" in staff.locator("body").inner_text()
            assert staff.locator("#share-count").inner_text() == "1"
        finally:
            browser.close()

    # No CSP violation, no script error; a missing resource is checked by address (the favicon may be absent).
    errors = [
        c for c in console if c.startswith(("error", "pageerror")) and "Failed to load resource" not in c
    ]
    assert not errors, errors
    assert [u for u in failed if not u.endswith("/favicon.ico")] == []

    # -- what left the browsers: no passphrase, no identity, no private key; the share went as words ------
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    import base64

    _no_secret_left(
        sent,
        [
            CUSTODIAN_PASS.encode(),
            BIDDER_PASS.encode(),
            secret_line.encode(),
            secret_line.lower().encode(),
            pem.strip().splitlines()[1],
            base64.b64encode(seed),
            seed,
        ],
    )
    posts = [(u, b) for u, b in sent if u.startswith("POST ") and u.endswith(f"/sections/{section_id}/share")]
    assert len(posts) == 1 and b"mnemonic=" in posts[0][1]

    # -- the opening completes with a second custodian's share; the record has the browser bid ----------
    with live.app.test_request_context():
        regulator = db.session.get(User, live.regulator_id)
        assert regulator is not None
        share = opening.custodian_share(section_id, regulator)
        assert share is not None
        words = pyrage.decrypt(share.ciphertext, [live.identities[regulator.id]]).decode()
        ceremony, quorum = opening.submit_share(section_id, words, actor=regulator)
        db.session.commit()
        assert quorum
        done = opening.run_opening(ceremony.id, actor=regulator)
        db.session.commit()
        assert done is not None and done.status == CeremonyStatus.COMPLETED
        section = db.session.get(Section, section_id)
        assert section is not None
        record = opening.record_document(section, done)
        assert PRICE in json.dumps(record, ensure_ascii=False, default=str)
        env = db.session.scalars(
            select(SealedEnvelope).where(
                SealedEnvelope.section_id == section_id, SealedEnvelope.kind == "summary"
            )
        ).all()
        keys = {k.id: k.key_id for k in db.session.scalars(select(BidderKey))}
        assert key_id in {keys.get(e.signing_key_id or 0) for e in env}
