"""Platform cryptography helpers: the data key for encryption at rest and the Ed25519 signing key."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute

from app.core.db import db


def data_keys() -> list[str]:
    """The current data key, then the retired ones newest first: what decrypts and verifies. Only the first
    encrypts and creates (docs/operations.md, "Rotating the data key")."""
    return [current_app.config["DATA_KEY"], *current_app.config.get("DATA_KEYS_RETIRED", ())]


def derive(label: str, data_key: str) -> bytes:
    """The 32-byte key for one use (``label``) of a data key."""
    return hashlib.sha256(f"{label}\x00{data_key}".encode()).digest()


def derived_keys(label: str) -> list[bytes]:
    return [derive(label, key) for key in data_keys()]


def data_key_fingerprint(data_key: str | None = None) -> str:
    """Names a data key in logs and audit leaves without revealing it."""
    return derive("data-key-fingerprint", data_key or data_keys()[0]).hex()[:16]


class DataKeyError(ValueError):
    """A value encrypted under a data key that is neither ``DATA_KEY`` nor in ``DATA_KEYS_RETIRED``."""


def _fernets(purpose: str) -> list[Fernet]:
    # One derived key per purpose so a value encrypted for one column cannot be replayed into another.
    return [Fernet(base64.urlsafe_b64encode(key)) for key in derived_keys(purpose)]


def encrypt_at_rest(data: bytes, *, purpose: str) -> bytes:
    return _fernets(purpose)[0].encrypt(data)


def decrypt_at_rest(token: bytes, *, purpose: str) -> bytes:
    try:
        return MultiFernet(_fernets(purpose)).decrypt(token)
    except InvalidToken as err:
        raise DataKeyError(
            f"{purpose}: not decryptable under DATA_KEY or DATA_KEYS_RETIRED (a retired key missing?)"
        ) from err


def reencrypt_at_rest(token: bytes, *, purpose: str) -> bytes | None:
    """``token`` under the current key, or None if it already is (so a rotation run twice changes nothing)."""
    fernets = _fernets(purpose)
    try:
        fernets[0].decrypt(token)
    except InvalidToken:
        decrypt_at_rest(token, purpose=purpose)  # DataKeyError if no key opens it
        return MultiFernet(fernets).rotate(token)
    return None


def batches(stmt: Select[tuple[Any]], pk: InstrumentedAttribute[int], size: int) -> Iterator[list[Any]]:
    """The rows of ``stmt`` in ``pk`` order, ``size`` at a time, committing after each batch: a rotation does
    not hold a large table in one transaction, and every row stays readable under the retired keys."""
    last: int | None = None
    while True:
        page = stmt if last is None else stmt.where(pk > last)
        rows = list(db.session.scalars(page.order_by(pk).limit(size)))
        if not rows:
            return
        last = getattr(rows[-1], pk.key)
        yield rows
        db.session.commit()


def reencrypt_column(
    column: InstrumentedAttribute[Any], purpose: str | Callable[[Any], str], *, batch: int
) -> int:
    """Re-encrypt a Fernet column under the current data key; returns how many values changed."""
    model, changed = column.class_, 0
    for rows in batches(select(model).where(column.is_not(None)), model.id, batch):
        for row in rows:
            token = reencrypt_at_rest(
                getattr(row, column.key), purpose=purpose if isinstance(purpose, str) else purpose(row)
            )
            if token is not None:
                setattr(row, column.key, token)
                changed += 1
    return changed


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
