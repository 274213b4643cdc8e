"""Fixtures of the bidding tests: a published section whose opening key was split among three custodians
(center staff, regulator, tenderer), bidders with registered Ed25519 keys and API tokens."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.accounts.models import Organization, User
from app.bidding import services as bidding
from app.bidding import signing
from app.core.clock import clock
from app.core.permissions import OrgKind, Role
from app.projects import services as projects
from app.projects.models import Section
from tests.factories import make_org, make_user
from tests.projects.conftest import T0, World, cst, draft_section
from tests.projects.conftest import world as world

DEADLINE = cst(2026, 3, 23, 9, 30)


@dataclass
class Bidder:
    org: Organization
    user: User
    key: Ed25519PrivateKey
    key_id: str
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def sign(self, data: bytes, section_id: int, kind: str) -> dict[str, str]:
        digest = hashlib.sha256(data).hexdigest()
        sig = self.key.sign(signing.envelope_statement(digest, section_id, kind))
        return {"X-Bid-Key-Id": self.key_id, "X-Bid-Signature": base64.b64encode(sig).decode()}


@dataclass
class Tender:
    world: World
    section: Section
    custodians: list[User]
    identities: dict[int, pyrage.x25519.Identity]
    bidders: list[Bidder] = field(default_factory=list)

    @property
    def recipient(self) -> pyrage.x25519.Recipient:
        return pyrage.x25519.Recipient.from_str(self.section.opening_recipient or "")

    def seal(self, data: bytes) -> bytes:
        return pyrage.encrypt(data, [self.recipient])

    def summary(self, price: str = "9500000.00", **extra: Any) -> bytes:
        body = {"section_id": self.section.id, "price": price, "duration": 365, "project_manager": "王工"}
        body.update(extra)
        return self.seal(json.dumps(body, ensure_ascii=False).encode())

    def mnemonic(self, custodian: User) -> str:
        from app.bidding.opening import custodian_share

        share = custodian_share(self.section.id, custodian)
        assert share is not None
        return pyrage.decrypt(share.ciphertext, [self.identities[custodian.id]]).decode()


def make_bidder(name: str | None = None) -> Bidder:
    org = make_org(OrgKind.BIDDER, name=name)
    user = make_user(Role.BIDDER, org)
    key = Ed25519PrivateKey.generate()
    row = bidding.register_bidder_key(
        org, base64.b64encode(signing.raw_public(key.public_key())).decode(), actor=user, label="CA锁"
    )
    token = accounts.create_api_token(user, "ggzy-bid").raw
    return Bidder(org, user, key, row.key_id, token)


def publish_tender(world: World, *, bidders: int = 3, **overrides: Any) -> Tender:
    custodians = [world.staff, world.regulator, world.tenderer]
    identities = {}
    for user in custodians:
        identity = pyrage.x25519.Identity.generate()
        identities[user.id] = identity
        bidding.register_custodian_key(user, str(identity.to_public()), actor=user)
    section = draft_section(world, **overrides)
    if bidding.generate_section_key not in projects.PUBLISH_HOOKS:  # other domains' tests may isolate it
        projects.PUBLISH_HOOKS.append(bidding.generate_section_key)
    projects.publish_section(section, actor=world.agent)
    assert section.opening_recipient and section.opening_recipient.startswith("age1")
    tender = Tender(world, section, custodians, identities)
    tender.bidders = [make_bidder() for _ in range(bidders)]
    return tender


@pytest.fixture(autouse=True)
def _own_blob_dir(app: Flask, tmp_path: Any) -> Any:
    """Files do not roll back with the test transaction: every test gets its own BLOB_DIR."""
    previous = app.config["BLOB_DIR"]
    app.config["BLOB_DIR"] = str(tmp_path / "blobs")
    yield
    app.config["BLOB_DIR"] = previous


@pytest.fixture
def tender(app: Flask, world: World) -> Tender:
    with app.test_request_context():
        return publish_tender(world)


def upload(
    client: FlaskClient,
    tender: Tender,
    bidder: Bidder,
    data: bytes,
    *,
    kind: str = "summary",
    name: str = "",
    sign: bool = True,
    section_id: int | None = None,
    **headers: str,
) -> Any:
    sid = section_id or tender.section.id
    hdrs = bidder.headers(**headers)
    if sign:
        hdrs.update(bidder.sign(data, sid, kind))
    query = f"?kind={kind}" + (f"&name={name}" if name else "")
    return client.put(
        f"/api/v1/bidding/sections/{sid}/envelopes{query}",
        data=data,
        headers=hdrs,
        content_type="application/octet-stream",
    )


def after_deadline(delta: dt.timedelta = dt.timedelta(minutes=1)) -> None:
    clock.freeze(DEADLINE + delta)


__all__ = ["DEADLINE", "T0", "Bidder", "Tender", "after_deadline", "make_bidder", "publish_tender", "upload"]
