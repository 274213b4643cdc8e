"""Demo city keys (``flask demo seed``): every possible custodian gets a personal age identity and every
bidder organization an Ed25519 signing key. The private halves are written to ``instance/demo-keys/``
(mode 0600) so a newcomer can decrypt a share with ``age -d -i`` and sign with ``ggzy-bid``; real users
create theirs on their own machines and register only the public halves."""

from __future__ import annotations

import base64
import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from app.accounts.models import User
from app.core.clock import now
from app.core.db import db
from app.core.permissions import Role
from app.projects.models import Section

from . import services, signing


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def prepare_demo_keys(users: dict[str, User]) -> None:
    folder = Path(current_app.config["INSTANCE_PATH"]) / "demo-keys"
    seen_orgs: set[int] = set()
    for username, user in users.items():
        role = Role(user.role)
        if role in services.CUSTODIAN_ROLES:
            identity = pyrage.x25519.Identity.generate()
            services.register_custodian_key(user, str(identity.to_public()), actor=user)
            _write_private(folder / f"{username}.age-identity.txt", f"{identity}\n".encode())
        elif role is Role.BIDDER and user.org_id not in seen_orgs:
            seen_orgs.add(user.org_id)
            key = Ed25519PrivateKey.generate()
            public = base64.b64encode(signing.raw_public(key.public_key())).decode()
            services.register_bidder_key(user.organization, public, actor=user, label="demo")
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _write_private(folder / f"{username}-signing-key.pem", pem)


def seed_unopened_tender(orgs: dict[str, Any], users: dict[str, User]) -> Section:
    """A tender with only two bidders (issue 15): published 30 days ago, two sealed and signed bids
    received before the deadline, and at the opening the count — taken before anything is decrypted — ends
    it: the section fails unopened (招标投标法 Art. 28, 实施条例 Art. 44) and the tenderer may re-tender it.
    The business clock is moved back for the publication and forward again, as the complaints demo does."""
    from app.core.clock import clock
    from app.projects import services as projects
    from app.projects.demo import _publish_section

    from . import opening, storage, uploads
    from .security import demo as security_demo

    agent, staff, regulator = users["agent"], users["staff"], users["regulator"]
    clock.advance(-dt.timedelta(days=30))
    try:
        catalogue = projects.current_catalogue()
        assert catalogue is not None
        item = next(i for i in catalogue.items if i.code == "GC-01")
        project = projects.register_project(
            projects.ProjectInput(
                name="南通市濠河风景区绿化养护工程",
                catalogue_item_id=item.id,
                funding_source="财政资金",
                approval_ref="通发改审〔2026〕120号",
                budget=Decimal("3600000"),
                owner_org_id=orgs["tenderer"].id,
                region="南通市",
            ),
            actor=agent,
        )
        projects.review_project(project, actor=staff, accept=True)
        section = _publish_section(
            project, item, "养护一标段", actor=agent, custodians=[staff, regulator, agent], room=None, hour=10
        )
        clock.advance(dt.timedelta(days=2))
        for username, price in (("bidder4", "3380000.00"), ("bidder5", "3410000.00")):
            _sealed_bid(section, users[username], price, uploads=uploads, storage=storage)
        security_demo.pay_in_failed_tender(section, users)
    finally:
        clock.advance(dt.timedelta(days=28))
    assert section.bid_deadline is not None and now() > section.bid_deadline
    opening.start_ceremony(section.id, actor=staff)
    security_demo.refund_failed_tender(section, users)
    return section


def _sealed_bid(section: Section, user: User, price: str, *, uploads: Any, storage: Any) -> None:
    """A summary envelope sealed to the section's recipient and signed with the bidder's demo key, received
    through the upload service's own staging and recording (a receipt and its audit leaf)."""
    import json

    folder = Path(current_app.config["INSTANCE_PATH"]) / "demo-keys"
    pem = (folder / f"{user.username}-signing-key.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    body = {"section_id": section.id, "price": price, "duration": 365, "quality": "合格"}
    recipient = pyrage.x25519.Recipient.from_str(section.opening_recipient or "")
    data = pyrage.encrypt(json.dumps(body, ensure_ascii=False).encode(), [recipient])
    part = storage.tmp_dir() / f"demo-{section.id}-{user.org_id}.part"
    part.write_bytes(data)
    staged = uploads.stage_file(part, uploads.max_bytes_of(section))
    from sqlalchemy import select

    from .models import BidderKey

    signer = db.session.scalar(
        select(BidderKey).where(BidderKey.org_id == user.org_id, BidderKey.revoked_at.is_(None))
    )
    assert signer is not None
    signature = key.sign(signing.envelope_statement(staged.sha256, section.id, "summary"))
    relative = storage.new_envelope_path(section.id)
    storage.install(staged.path, relative)
    prep = uploads.Prepared(
        section.id,
        user.org_id,
        user.id,
        uploads.max_bytes_of(section),
        uploads.UploadRequest(section_id=section.id, kind="summary", name="summary"),
    )
    uploads._record(prep, staged, relative, signer.id, base64.b64encode(signature).decode(), actor=user)
