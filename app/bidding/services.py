"""Key registries and the opening-key ceremony at publication.

- Custodians register a personal age recipient (``custodian_key``); shares are encrypted to it.
- Bidder organizations register signing keys with validity periods and revocation (``bidder_key``).
- :func:`generate_section_key` runs as a ``projects`` publish hook, in the publishing transaction: it makes
  the section's identity, splits it k-of-n and stores only ciphertext shares and the public recipient.
"""

from __future__ import annotations

import base64
import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core import audit
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role
from app.projects.models import Section

from . import keys, signing
from .enums import KeyAlgorithm
from .models import BidderKey, CustodianKey, OpeningKeyShare

CUSTODIAN_ROLES = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.TENDERER})

# -- custodian keys ---------------------------------------------------------------------------------------


def active_custodian_key(user: User | int) -> CustodianKey | None:
    uid = user if isinstance(user, int) else user.id
    return db.session.scalar(
        select(CustodianKey).where(CustodianKey.user_id == uid, CustodianKey.revoked_at.is_(None))
    )


def register_custodian_key(user: User, recipient: str, *, actor: User) -> CustodianKey:
    """Register (or replace) the user's personal age recipient. Shares already issued stay encrypted to
    the recipient they were made for; new sections use the new one."""
    recipient = recipient.strip()
    if Role(user.role) not in CUSTODIAN_ROLES:
        raise DomainError(_("Only center staff, regulators and tenderers hold opening-key shares."))
    if not keys.is_valid_recipient(recipient):
        raise DomainError(
            _("This is not an age X25519 recipient (age1…)."), errors={"age_recipient": [_("Invalid.")]}
        )
    current = active_custodian_key(user)
    if current is not None:
        if current.age_recipient == recipient:
            return current
        current.revoked_at = now()
        db.session.flush()  # the partial unique index allows one active key per user: retire the old first
    row = CustodianKey(user_id=user.id, age_recipient=recipient, created_at=now())
    db.session.add(row)
    db.session.flush()
    audit.record(
        "bidding:custodian_key:register",
        actor=actor,
        object_type="custodian_key",
        object_id=row.id,
        payload={"user_id": user.id, "age_recipient": recipient},
    )
    return row


# -- the opening key, at publication ----------------------------------------------------------------------


def generate_section_key(section: Section, actor: User) -> None:
    """Publish hook (SPEC §3.1): an X25519 identity for the section, split k-of-n among its custodians."""
    if section.opening_recipient:
        return  # a retried publication keeps the first key
    custodians = sorted(section.custodians, key=lambda c: c.position)
    recipients: list[str] = []
    missing: list[str] = []
    for c in custodians:
        ck = active_custodian_key(c.user_id)
        if ck is None:
            missing.append(c.user.display_name)
        else:
            recipients.append(ck.age_recipient)
    if missing:
        raise DomainError(
            _(
                "These key custodians have not registered their personal age recipient yet: %(names)s.",
                names=", ".join(missing),
            ),
            code="custodian_key_missing",
        )
    material = keys.generate_opening_key(recipients, section.custodian_k)
    section.opening_recipient = material.recipient
    for c, share in zip(custodians, material.shares, strict=True):
        db.session.add(
            OpeningKeyShare(
                section_id=section.id,
                custodian_id=c.user_id,
                member_index=share.member_index,
                share_set_id=material.identifier,
                custodian_recipient=share.custodian_recipient,
                ciphertext=share.ciphertext,
                created_at=now(),
            )
        )
    db.session.flush()
    audit.record(
        "bidding:opening_key:generate",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={
            "recipient": material.recipient,
            "threshold": material.threshold,
            "custodians": [c.user_id for c in custodians],
            "custodian_recipients": recipients,
        },
    )


def key_shares_of(user: User) -> list[OpeningKeyShare]:
    return list(
        db.session.scalars(
            select(OpeningKeyShare)
            .where(OpeningKeyShare.custodian_id == user.id)
            .order_by(OpeningKeyShare.id.desc())
        )
    )


def key_share_for(user: User, share_id: int) -> OpeningKeyShare:
    share = db.session.get(OpeningKeyShare, share_id)
    if share is None or share.custodian_id != user.id:
        raise NotFound(_("No such key share."))
    return share


# -- bidder keys ------------------------------------------------------------------------------------------


def register_bidder_key(
    org: Organization,
    public_key: str,
    *,
    actor: User,
    label: str = "",
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
) -> BidderKey:
    if not public_key.strip():
        msg = _("Paste the public key (PEM, or base64 of the 32 raw bytes).")
        raise DomainError(msg, errors={"public_key": [msg]}, code="required")
    try:
        pub = signing.load_public_key(public_key)
    except ValueError:
        # the library's reason is an English sentence about encodings: the bidder needs what to paste
        msg = _("This is not an Ed25519 public key (PEM, or base64 of the 32 raw bytes).")
        raise DomainError(msg, errors={"public_key": [msg]}) from None
    raw = signing.raw_public(pub)
    kid = signing.key_id(raw)
    if db.session.scalar(select(BidderKey).where(BidderKey.key_id == kid)) is not None:
        raise Conflict(_("This key is already registered."), code="key_exists")
    start = valid_from or now()
    if valid_until is not None and valid_until <= start:
        raise DomainError(
            _("The key must be valid for some time."), errors={"valid_until": [_("Too early.")]}
        )
    row = BidderKey(
        org_id=org.id,
        key_id=kid,
        algorithm=KeyAlgorithm.ED25519.value,
        public_key=base64.b64encode(raw).decode(),
        label=label.strip()[:100],
        valid_from=start,
        valid_until=valid_until,
        created_by=actor.id,
        created_at=now(),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "bidding:bidder_key:register",
        actor=actor,
        object_type="bidder_key",
        object_id=row.id,
        payload={"key_id": kid, "algorithm": row.algorithm, "valid_from": start, "valid_until": valid_until},
    )
    return row


def revoke_bidder_key(key: BidderKey, *, actor: User, reason: str) -> BidderKey:
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."), errors={"reason": [_("Required.")]})
    if key.revoked_at is not None:
        return key
    key.revoked_at = now()
    key.revoked_reason = reason
    audit.record(
        "bidding:bidder_key:revoke",
        actor=actor,
        object_type="bidder_key",
        object_id=key.id,
        payload={"key_id": key.key_id, "reason": reason},
    )
    return key


def bidder_keys(org_id: int) -> list[BidderKey]:
    return list(
        db.session.scalars(select(BidderKey).where(BidderKey.org_id == org_id).order_by(BidderKey.id.desc()))
    )


def bidder_key_for(user: User, key_id: int) -> BidderKey:
    key = db.session.get(BidderKey, key_id)
    if key is None or key.org_id != user.org_id:
        raise NotFound(_("No such key."))
    return key


def find_signing_key(org_id: int, key_id: str) -> BidderKey | None:
    return db.session.scalar(select(BidderKey).where(BidderKey.org_id == org_id, BidderKey.key_id == key_id))


def public_key_of(key: BidderKey) -> signing.Ed25519PublicKey:
    if key.algorithm != KeyAlgorithm.ED25519:
        raise DomainError(_("This key algorithm is not supported yet."))
    return signing.load_public_key(key.public_key)
