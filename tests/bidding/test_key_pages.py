"""The pages behind keys made in the browser (issue 17): what they offer, to whom, and that no field that
holds a secret (passphrase, key file, pasted private key) has a name, so no form can ever submit it."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from flask.testing import FlaskClient

from app.bidding import opening
from app.core.clock import security_clock, security_now
from tests.bidding.conftest import Tender, after_deadline, upload
from tests.factories import csrf_token, current_code, login

SECRET_FIELDS = {
    "keygen-pass",
    "keygen-pass2",
    "seal-key-file",
    "seal-key-passphrase",
    "seal-key-text",
}


class Fields(HTMLParser):
    """Every input/textarea/form of a page, by id (or by class for the per-share inputs)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.fields: list[dict[str, str | None]] = []
        self.forms: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "textarea"):
            self.fields.append(dict(attrs))
        elif tag == "form":
            self.forms.append(dict(attrs))

    def by_id(self, ident: str) -> dict[str, str | None]:
        return next(f for f in self.fields if f.get("id") == ident)

    def by_class(self, cls: str) -> list[dict[str, str | None]]:
        return [f for f in self.fields if cls in (f.get("class") or "").split()]


def test_the_custodian_page_makes_keys_and_opens_shares_in_the_browser(
    client: FlaskClient, tender: Tender
) -> None:
    custodian = tender.world.tenderer
    login(client, custodian)
    html = client.get("/bidding/custodian").get_data(as_text=True)
    page = Fields(html)
    assert 'id="keygen"' in html and 'data-kind="custodian"' in html and "/static/js/keygen.js" in html
    assert "/static/js/custodian-share.js" in html
    for ident in ("keygen-pass", "keygen-pass2"):
        assert page.by_id(ident).get("name") is None
    assert page.by_id("age_recipient")["name"] == "age_recipient"  # only the public half is posted
    # One in-browser form per share: it fetches this custodian's own encrypted share and posts only words.
    share = opening.custodian_share(tender.section.id, custodian)
    assert share is not None
    browser_forms = [f for f in page.forms if "share-browser" in (f.get("class") or "")]
    assert [f["data-share"] for f in browser_forms] == [f"/bidding/custodian/shares/{share.id}.age"]
    assert browser_forms[0]["action"] == f"/bidding/sections/{tender.section.id}/share"
    for cls in ("share-identity", "share-passphrase"):
        assert [f.get("name") for f in page.by_class(cls)] == [None]
    assert client.get(browser_forms[0]["data-share"] or "").data == share.ciphertext
    other = opening.custodian_share(tender.section.id, tender.world.staff)
    assert other is not None
    assert client.get(f"/bidding/custodian/shares/{other.id}.age").status_code == 404
    # The sign-in's code still counts: no detour announced. Later the page says to confirm first.
    assert 'id="step-up-note"' not in html
    security_clock.freeze(security_now() + dt.timedelta(minutes=10))
    html = client.get("/bidding/custodian").get_data(as_text=True)
    assert 'id="step-up-note"' in html
    assert "登记密钥和提交分片需要新的6位验证码。" in html
    assert "/auth/step-up?next=/bidding/custodian" in html


def _submitted(tender: Tender) -> int:
    return sum(1 for c in opening.share_status(tender.section)["custodians"] if c["submitted"])


def test_words_decrypted_in_the_browser_go_through_the_step_up_and_count(
    client: FlaskClient, tender: Tender
) -> None:
    """What custodian-share.js posts (the share's words and the CSRF token) is the ordinary share form: it
    needs a fresh code, and then counts; the hall links the custodian to it while shares are collected."""
    for bidder, price in zip(tender.bidders, ["9000000", "9100000", "9200000"], strict=True):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
    custodian = tender.world.tenderer
    login(client, custodian)
    hall = f"/bidding/sections/{tender.section.id}/hall"
    assert 'id="custodian-link"' not in client.get(hall).get_data(as_text=True)  # nothing to collect yet
    after_deadline()
    opening.start_ceremony(tender.section.id, actor=tender.world.staff)
    assert 'id="custodian-link"' in client.get(hall).get_data(as_text=True)
    anonymous = client.application.test_client()
    assert 'id="custodian-link"' not in anonymous.get(hall).get_data(as_text=True)

    words = tender.mnemonic(custodian)
    token = csrf_token(client, "/bidding/custodian")
    security_clock.freeze(security_now() + dt.timedelta(minutes=10))  # the sign-in's step-up lapsed
    url = f"/bidding/sections/{tender.section.id}/share"
    resp = client.post(url, data={"mnemonic": words, "csrf_token": token})
    assert resp.status_code == 302 and "/auth/step-up" in resp.location
    assert _submitted(tender) == 0
    client.post(
        "/auth/step-up?next=/bidding/custodian",
        data={"code": current_code(custodian), "csrf_token": csrf_token(client, "/auth/step-up")},
    )
    resp = client.post(url, data={"mnemonic": words, "csrf_token": token})
    assert resp.status_code == 302 and resp.location.endswith(hall)
    assert _submitted(tender) == 1


def test_bidder_pages_never_name_a_secret_field(client: FlaskClient, tender: Tender) -> None:
    bidder = tender.bidders[0]
    login(client, bidder.user)
    html = client.get("/bidding/keys").get_data(as_text=True)
    page = Fields(html)
    assert 'data-kind="bidder"' in html and "/static/js/keygen.js" in html
    assert page.by_id("public_key")["name"] == "public_key"
    html = client.get(f"/bidding/sections/{tender.section.id}").get_data(as_text=True)
    page = Fields(html)
    assert "/static/js/seal.js" in html
    found = {f.get("id") for f in page.fields} & SECRET_FIELDS
    assert found == {"seal-key-file", "seal-key-passphrase", "seal-key-text"}
    for ident in found:
        assert page.by_id(ident or "").get("name") is None
    assert "口令错误，或这不是您的密钥文件。" in html  # the page's messages are translated


def test_a_refused_key_comes_back_as_typed_with_the_reason_in_the_readers_language(
    client: FlaskClient, tender: Tender
) -> None:
    """A typo in a pasted key must not cost the bidder what it pasted: the page comes back with the label
    and the text as typed and the field's message in Chinese (the library's reason is an English sentence);
    an empty key is asked for, not called a wrong one. Nothing is registered either way."""
    from app.bidding import services

    bidder = tender.bidders[0]
    login(client, bidder.user)
    before = len(services.bidder_keys(bidder.user.org_id))
    token = csrf_token(client, "/bidding/keys")
    typo = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAnot-a-key\n-----END PUBLIC KEY-----"
    typed = {"csrf_token": token, "label": "投标专用钥匙", "public_key": typo}
    resp = client.post("/bidding/keys", data=typed)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    page = Fields(html)
    assert page.by_id("label")["value"] == "投标专用钥匙"
    assert "MCowBQYDK2VwAyEAnot-a-key" in html and page.by_id("public_key")["aria-invalid"] == "true"
    assert html.count("这不是 Ed25519 公钥") >= 2  # said at the top and at the field
    assert "Unable to load" not in html and "cryptography.io" not in html  # the library's own reason
    empty = client.post("/bidding/keys", data={"csrf_token": token, "label": "x", "public_key": "  "})
    shown = empty.get_data(as_text=True)
    assert empty.status_code == 422 and "请粘贴公钥" in shown and "32 bytes" not in shown
    assert len(services.bidder_keys(bidder.user.org_id)) == before
