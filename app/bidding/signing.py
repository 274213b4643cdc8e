"""What bidders sign and what the platform signs: the envelope statement and the receipt.

Pure functions (no Flask), shared by the server and the bidder CLI (``ggzy-bid``), so both sides build
the same bytes.

The bidder signs, with its organization's registered key, the envelope statement (SPEC §3.2:
``SHA-256(envelope) ‖ section id ‖ envelope kind``), spelled as ASCII text so that any tool can rebuild
it::

    ggzy-envelope-v1\\n<sha256 hex, lower case>\\n<section id>\\n<kind>\\n

The platform signs receipts with its Ed25519 key: the signature covers the canonical JSON of the receipt
body (keys sorted, no whitespace, UTF-8). A receipt also carries the audit leaf hash, its index and an
RFC 6962 inclusion proof to the tree head of that size, so the bidder can check offline that its envelope
was logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STATEMENT_PREFIX = "ggzy-envelope-v1"
RECEIPT_TYPE = "ggzy-envelope-receipt-v1"
CONFIRMATION_PREFIX = "ggzy-opening-record-v1"


def envelope_statement(sha256_hex: str, section_id: int | str, kind: str) -> bytes:
    return f"{STATEMENT_PREFIX}\n{sha256_hex.lower()}\n{section_id}\n{kind}\n".encode("ascii")


def record_statement(record_sha256_hex: str, section_id: int | str) -> bytes:
    """What a bidder signs to confirm an opening record."""
    return f"{CONFIRMATION_PREFIX}\n{record_sha256_hex.lower()}\n{section_id}\n".encode("ascii")


def key_id(raw_public: bytes) -> str:
    """A registered key's id: the first 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(text: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, OpenSSH-less raw base64 (32 bytes) or hex."""
    data = text.encode() if isinstance(text, str) else text
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    try:
        raw = bytes.fromhex(data.decode()) if len(data) == 64 else base64.b64decode(data, validate=True)
    except ValueError as err:
        raise ValueError("not an Ed25519 public key (PEM, base64 or hex of 32 bytes)") from err
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def verify(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_receipt(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    signature = key.sign(canonical(body))
    return {
        "receipt": body,
        "signature": base64.b64encode(signature).decode(),
        "platform_key": base64.b64encode(raw_public(key.public_key())).decode(),
    }


def verify_receipt(signed: dict[str, Any], platform_key: Ed25519PublicKey) -> list[str]:
    """Problems with a signed receipt (empty when it verifies): signature and audit inclusion proof."""
    from app.core import merkle  # pure module, no Flask

    problems: list[str] = []
    body = signed.get("receipt")
    if not isinstance(body, dict) or body.get("type") != RECEIPT_TYPE:
        return ["not an envelope receipt"]
    try:
        signature = base64.b64decode(signed.get("signature", ""), validate=True)
    except ValueError:
        return ["the signature is not base64"]
    if not verify(platform_key, signature, canonical(body)):
        problems.append("the platform signature does not verify (receipt altered or another platform key)")
    audit = body.get("audit") or {}
    try:
        ok = merkle.verify_inclusion(
            bytes.fromhex(audit["leaf_hash"]),
            int(audit["leaf_index"]),
            int(audit["tree_size"]),
            [bytes.fromhex(h) for h in audit["inclusion_proof"]],
            bytes.fromhex(audit["root"]),
        )
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        problems.append("the audit inclusion proof does not verify")
    return problems
