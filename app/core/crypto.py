"""Platform cryptography helpers: the data key for encryption at rest and the Ed25519 signing key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app


def _fernet(purpose: str) -> Fernet:
    # One derived key per purpose so a value encrypted for one column cannot be replayed into another.
    raw = hashlib.sha256(f"{purpose}\x00{current_app.config['DATA_KEY']}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt_at_rest(data: bytes, *, purpose: str) -> bytes:
    return _fernet(purpose).encrypt(data)


def decrypt_at_rest(token: bytes, *, purpose: str) -> bytes:
    return _fernet(purpose).decrypt(token)


def signing_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(current_app.config["PLATFORM_SIGNING_KEY_PEM"], password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError("platform signing key must be Ed25519")
    return key


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def public_key_raw_b64() -> str:
    raw = public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()
