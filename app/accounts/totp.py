"""TOTP (RFC 6238, 30-second steps, 6 digits, SHA-1 for authenticator-app compatibility).

Codes are single use: the last accepted time step is stored and codes at or before it are refused
(ASVS 6.5.1). One step of clock drift either way is accepted.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "GGZY Platform"


def new_secret() -> bytes:
    return secrets.token_bytes(20)


def secret_b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def _totp(secret: bytes) -> TOTP:
    # RFC 6238 authenticator apps use SHA-1 (HMAC-SHA1 is not the weak use of SHA-1).
    return TOTP(secret, DIGITS, SHA1(), STEP_SECONDS, enforce_key_length=False)  # noqa: S303


def code_at(secret: bytes, at: dt.datetime) -> str:
    return _totp(secret).generate(int(at.timestamp())).decode()


def provisioning_uri(secret: bytes, account: str) -> str:
    return _totp(secret).get_provisioning_uri(account, ISSUER)


def matching_step(secret: bytes, code: str, at: dt.datetime, *, last_step: int | None) -> int | None:
    """The time step the code belongs to (within ±1 step of ``at``), or None.

    Steps at or before ``last_step`` are refused: each code works once."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = _totp(secret)
    current = int(at.timestamp()) // STEP_SECONDS
    for step in (current, current - 1, current + 1):
        if last_step is not None and step <= last_step:
            continue
        try:
            totp.verify(code.encode(), step * STEP_SECONDS)
        except InvalidToken:
            continue
        return step
    return None
