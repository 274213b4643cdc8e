"""Browser sealing (SPEC §3.2, third way) in headless Chromium against a live server with its own database.

A bidder signs in, fills the summary on the section page, attaches a 5 MiB document, loads its Ed25519 key
(the PEM ``openssl genpkey`` writes) and seals and submits. The test watches every request body that leaves
the browser: the uploads are age files, nothing of the plaintext leaves, one chunk's answer is dropped on the
way back (the page resumes from the server's offset), the receipts shown verify offline, and the stored
envelopes decrypt with the reference ``age`` tool under the identity rebuilt from two custodians' shares.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.accounts.models import User
from app.bidding import agefile, keys, signing, storage
from app.bidding.models import SealedEnvelope
from app.bidding.opening import custodian_share
from app.core import crypto
from app.core.clock import clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.projects import services as projects
from tests.bidding.conftest import publish_tender
from tests.factories import PASSWORD, make_org, make_user
from tests.projects.conftest import T0, World, publish_catalogue
from tests.system import AGE, CHROMIUM, CHROMIUM_ARGS, require

pytestmark = pytest.mark.browser

PRICE = "8765432.10"
MANAGER = "项目经理张工"
MIB = 1024 * 1024
DOC_SIZE = 5 * MIB


@dataclass(frozen=True)
class Live:
    url: str
    app: Flask
    tmp: Path
    section_id: int
    recipient: str
    custodians: dict[int, pyrage.x25519.Identity]  # user id → personal identity (k of them)
    username: str
    key: Ed25519PrivateKey


def _world() -> World:
    """What the ``world`` fixture of tests/projects builds, on the live server's own database."""
    manager = make_user(Role.MANAGER)
    catalogue = publish_catalogue(manager, at=T0 - dt.timedelta(days=1))
    center, owner = make_org(OrgKind.TRADING_CENTER), make_org(OrgKind.TENDERER)
    agency, regulator_org = make_org(OrgKind.AGENCY), make_org(OrgKind.REGULATOR)
    staff = make_user(Role.CENTER_STAFF, center)
    regulator = make_user(Role.REGULATOR, regulator_org)
    tenderer, agent = make_user(Role.TENDERER, owner), make_user(Role.TENDERER, agency)
    clock.freeze(T0)
    room = projects.create_room(actor=staff, name="开标室")
    item = next(i for i in catalogue.items if i.code == "GC-01")
    project = projects.register_project(
        projects.ProjectInput(
            name="南通市某道路改造工程",
            catalogue_item_id=item.id,
            funding_source="财政资金",
            approval_ref="通发改〔2026〕1号",
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
    require(CHROMIUM, AGE)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("browser-sealing")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.test_request_context():
        upgrade(revision="heads")
        world = _world()
        tender = publish_tender(world, bidders=1, opening_items=["duration", "project_manager"])
        db.session.commit()
        section = tender.section
        k = section.custodian_k
        custodians = {u.id: tender.identities[u.id] for u in tender.custodians[:k]}
        setup = (section.id, section.opening_recipient or "", custodians)
        bidder = tender.bidders[0]
        username, key = bidder.user.username, bidder.key
    # The clock stays frozen at T0 (three weeks before the deadline) for the live server thread too.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-sealing", daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", app, tmp, *setup, username, key)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        clock.reset()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _age_decrypt(identity: str, path: Path, tmp: Path) -> bytes:
    key = tmp / "section-identity.txt"
    key.write_text(identity + "\n")
    key.chmod(0o600)
    return subprocess.run(
        [str(AGE), "-d", "-i", str(key), str(path)], check=True, capture_output=True, timeout=60
    ).stdout


def test_bidder_seals_and_submits_in_the_browser(live: Live) -> None:
    from playwright.sync_api import Request, Route, sync_playwright

    document = os.urandom(DOC_SIZE)
    doc_path = live.tmp / "technical-proposal.pdf"
    doc_path.write_bytes(document)
    key_path = live.tmp / "bidder-key.pem"  # what `openssl genpkey -algorithm ed25519` writes
    key_path.write_bytes(
        live.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    section_id = live.section_id

    sent: list[tuple[str, str, dict[str, str], bytes]] = []  # method, url, headers, body
    console: list[str] = []
    dropped: list[str] = []

    def on_request(req: Request) -> None:
        sent.append((req.method, req.url, req.headers, req.post_data_buffer or b""))

    def drop_one_answer(route: Route) -> None:
        """The third chunk reaches the server, but its answer is lost: the page must resume."""
        req = route.request
        if req.method == "PATCH" and not dropped and req.headers.get("upload-offset") == str(2 * MIB):
            route.fetch()  # the server stores the chunk …
            dropped.append(req.url)
            route.abort("connectionreset")  # … and the browser never hears back
            return
        route.continue_()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(locale="zh-CN")
            page.on("request", on_request)
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.route("**/api/v1/bidding/uploads/**", drop_one_answer)

            page.goto(f"{live.url}/auth/login")
            page.fill("input[name=username]", live.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-submit")
            page.wait_for_load_state()
            page.goto(f"{live.url}/bidding/sections/{section_id}")
            form = page.locator("#browser-seal")
            form.wait_for(state="visible")  # seal.js (an ES module importing the vendored bundle) ran
            assert form.get_attribute("data-recipient") == live.recipient

            page.fill("#seal-item-price", PRICE)
            page.fill("#seal-item-duration", "365")
            page.fill("#seal-item-project_manager", MANAGER)
            page.set_input_files("#seal-documents", str(doc_path))
            page.set_input_files("#seal-key-file", str(key_path))
            page.click("#seal-submit")
            page.locator("#browser-seal[data-state]").wait_for(timeout=120_000)  # no eval: CSP
            status = page.locator("#seal-status").inner_text()
            assert form.get_attribute("data-state") == "done", status
            assert status == form.get_attribute("data-msg-done")  # translated by the template
            assert page.evaluate("document.getElementById('seal-progress').value") == page.evaluate(
                "document.getElementById('seal-progress').max"
            )
            shown = [json.loads(t) for t in page.locator("pre.receipt-json").all_text_contents()]
            page.screenshot(path=str(live.tmp / "sealed.png"), full_page=True)
        finally:
            browser.close()

    assert dropped, "the dropped-answer case did not happen"
    errors = [c for c in console if c.startswith(("error", "pageerror")) and "ERR_CONNECTION_RESET" not in c]
    assert not errors, errors  # no CSP violation, no script error (the reset is the injected drop)

    # -- what left the browser ---------------------------------------------------------------------------
    samples = [document[i : i + 32] for i in range(0, DOC_SIZE, DOC_SIZE // 64)]
    summary_markers = [PRICE.encode(), MANAGER.encode(), json.dumps(MANAGER).encode()]
    chunks: dict[str, dict[int, bytes]] = {}
    for method, url, headers, body in sent:
        for marker in samples + summary_markers:
            assert marker not in body, f"plaintext left the browser in {method} {url}"
        if "/api/" not in url or not body:
            continue
        if method == "PATCH":
            chunks.setdefault(url, {})[int(headers["upload-offset"])] = body
        else:  # creating an upload: metadata only
            assert method == "POST" and url.endswith(f"/sections/{section_id}/uploads"), url
            assert set(json.loads(body)) == {"kind", "name", "length"}
    assert len(chunks) == 2  # the summary and the document
    uploaded = {}
    for parts in chunks.values():
        data = b"".join(parts[o] for o in sorted(parts))
        assert data.startswith(b"age-encryption.org/v1\n")
        header = agefile.check_bytes(data)  # the server's strict check, again
        assert [s.type for s in header.stanzas] == ["X25519"]
        uploaded[hashlib.sha256(data).hexdigest()] = data
    doc_size = max(len(d) for d in uploaded.values())
    assert doc_size > DOC_SIZE
    # The 5 MiB document went in 1 MiB chunks, and the chunk whose answer was lost was NOT sent again: the
    # page asked the server for its offset and went on from there.
    offsets = [h["upload-offset"] for m, u, h, _b in sent if m == "PATCH" and u == dropped[0]]
    assert offsets == [str(o) for o in range(0, doc_size, MIB)]
    assert any(m == "GET" and u == dropped[0] for m, u, _h, _b in sent)

    # -- the receipts shown verify offline; the stored files decrypt with `age -d` -----------------------
    with live.app.test_request_context():
        platform_key = signing.load_public_key(crypto.public_key_raw_b64())
        assert len(shown) == 2
        for signed in shown:
            assert signing.verify_receipt(signed, platform_key) == []
            assert signed["receipt"]["sha256"] in uploaded
        # The section identity, rebuilt as the ceremony does from k custodians' decrypted shares.
        mnemonics = []
        for user_id, personal in live.custodians.items():
            share = custodian_share(section_id, db.session.get(User, user_id))
            assert share is not None
            mnemonics.append(pyrage.decrypt(share.ciphertext, [personal]).decode())
        identity = str(keys.rebuild_identity(mnemonics, live.recipient))
        envelopes = list(
            db.session.scalars(select(SealedEnvelope).where(SealedEnvelope.section_id == section_id))
        )
        assert sorted(e.kind for e in envelopes) == ["document", "summary"]
        for env in envelopes:
            path = storage.blob_root() / env.blob_path
            assert path.read_bytes() == uploaded[env.sha256]
            assert env.signing_key_id is not None and env.signature
            plain = _age_decrypt(identity, path, live.tmp)
            if env.kind == "document":
                assert env.name == "technical-proposal.pdf"
                assert plain == document
            else:
                summary: dict[str, Any] = json.load(io.BytesIO(plain))
                assert summary == {
                    "section_id": section_id,
                    "price": PRICE,
                    "duration": "365",
                    "project_manager": MANAGER,
                }


def test_an_unregistered_key_is_refused_before_anything_is_sent(live: Live) -> None:
    """A pasted raw base64 seed is understood, but a key the organization has not registered stops the page
    before it seals or sends anything."""
    from playwright.sync_api import Request, sync_playwright

    stranger = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    api_calls: list[str] = []

    def on_request(req: Request) -> None:
        if "/api/" in req.url:
            api_calls.append(f"{req.method} {req.url}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{live.url}/auth/login")
            page.fill("input[name=username]", live.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-submit")
            page.wait_for_load_state()
            page.goto(f"{live.url}/bidding/sections/{live.section_id}")
            page.locator("#browser-seal").wait_for(state="visible")
            page.on("request", on_request)
            page.fill("#seal-item-price", PRICE)
            page.fill("#seal-item-duration", "365")
            page.fill("#seal-item-project_manager", MANAGER)
            page.fill("#seal-key-text", base64.b64encode(stranger).decode())
            page.click("#seal-submit")
            page.locator("#browser-seal[data-state]").wait_for(timeout=30_000)
            form = page.locator("#browser-seal")
            assert form.get_attribute("data-state") == "failed"
            assert page.locator("#seal-status").inner_text() == form.get_attribute("data-msg-unregistered")
        finally:
            browser.close()
    assert api_calls == []
