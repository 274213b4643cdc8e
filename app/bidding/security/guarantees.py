"""Electronic guarantees (电子保函): the issuer signs the guarantee's data with its Ed25519 key; the platform
verifies the signature against the issuer's configured public key and checks the data against the section.

Document (JSON): ``{"data": {"issuer", "number", "section_code", "applicant", "amount_fen", "valid_from",
"valid_until"}, "signature": "<base64>"}``; the signature covers the canonical JSON of ``data`` (sorted
keys, no
spaces, UTF-8). Issuers: ``BID_GUARANTEE_ISSUERS = {code: {"name", "public_key": <base64 raw key>}}``; with
``BID_GUARANTEE_SIMULATED_ISSUER`` (demo, tests) a simulated insurer whose key derives from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from flask_babel import gettext as _

from app.accounts.models import Organization
from app.core.calendar import local_date
from app.core.errors import DomainError
from app.projects.models import Section

SIMULATED_ISSUER = "sim-insurer"
#: Bid validity the guarantee must cover after the deadline when the section names none (days).
DEFAULT_BID_VALIDITY_DAYS = 90


class GuaranteeRefused(DomainError):
    code = "guarantee_not_verified"


@dataclass(frozen=True)
class GuaranteeData:
    issuer: str
    number: str
    section_code: str
    applicant: str
    amount_fen: int
    valid_from: dt.date
    valid_until: dt.date


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def simulated_issuer_key() -> Ed25519PrivateKey:
    seed = hashlib.sha256(b"sim-insurer:" + str(current_app.config["SECRET_KEY"]).encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def issuers() -> dict[str, dict[str, str]]:
    """Issuer code → name and base64 public key."""
    found = dict(current_app.config.get("BID_GUARANTEE_ISSUERS") or {})
    if current_app.config.get("BID_GUARANTEE_SIMULATED_ISSUER"):
        raw = simulated_issuer_key().public_key().public_bytes_raw()
        found[SIMULATED_ISSUER] = {
            "name": _("Simulated guarantee insurer"),
            "public_key": base64.b64encode(raw).decode(),
        }
    return found


def sign(data: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The document an issuer hands the bidder (used by the simulated issuer, the demo and the tests)."""
    return {"data": data, "signature": base64.b64encode(key.sign(canonical(data))).decode()}


def _refuse(message: str) -> GuaranteeRefused:
    return GuaranteeRefused(message, errors={"guarantee": [message]})


def verify(document: Any, *, section: Section, org: Organization) -> GuaranteeData:
    """The guarantee's data once its issuer's signature verifies and it fits this bidder and section."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise _refuse(_("This is not an electronic guarantee document."))
    data = document["data"]
    issuer = issuers().get(str(data.get("issuer", "")))
    if issuer is None:
        raise _refuse(_("The guarantee's issuer is not one the platform accepts."))
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(issuer["public_key"], validate=True))
        key.verify(base64.b64decode(str(document.get("signature", "")), validate=True), canonical(data))
    except (InvalidSignature, binascii.Error, ValueError) as err:
        raise _refuse(_("The issuer's signature does not verify: the guarantee was refused.")) from err
    try:
        parsed = GuaranteeData(
            issuer=str(data["issuer"]),
            number=str(data["number"])[:64],
            section_code=str(data["section_code"]),
            applicant=str(data["applicant"]),
            amount_fen=int(data["amount_fen"]),
            valid_from=dt.date.fromisoformat(str(data["valid_from"])),
            valid_until=dt.date.fromisoformat(str(data["valid_until"])),
        )
    except (KeyError, ValueError, TypeError) as err:
        raise _refuse(_("The guarantee's data is incomplete.")) from err
    if parsed.section_code != section.code:
        raise _refuse(_("The guarantee is for another section."))
    if parsed.applicant != org.name:
        raise _refuse(_("The guarantee names another applicant."))
    if section.bid_deadline is not None:
        deadline = local_date(section.bid_deadline)
        validity = getattr(section, "bid_validity_days", None) or DEFAULT_BID_VALIDITY_DAYS
        if parsed.valid_from > deadline or parsed.valid_until < deadline + dt.timedelta(days=validity):
            raise _refuse(_("The guarantee must be valid from the bid deadline until the bid validity ends."))
    return parsed
