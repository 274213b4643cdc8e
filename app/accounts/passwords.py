"""Password hashing (Argon2id, ASVS 5.0 Appendix C parameters) and password rules (ASVS 6.2).

Rules: at least 8 characters, at least 64 allowed (we allow 128), no composition rules, no rotation,
and the 30,000 most common passwords (zxcvbn's frequency list, shipped with the package) refused.
"""

from __future__ import annotations

import os
import unicodedata
from functools import lru_cache

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from flask_babel import lazy_gettext as _l

MIN_LENGTH = 8
MAX_LENGTH = 128
# ASVS 5.0 Appendix C: argon2id with t=2, m ≥ 19 MiB, p=1.
ARGON2_ITERATIONS = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_LANES = 1


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _normalise(password: str) -> bytes:
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def password_problems(password: str, *, username: str | None = None) -> list[str]:
    """Return the reasons a new password is refused (empty when acceptable)."""
    problems: list[str] = []
    length = len(password)
    if length < MIN_LENGTH:
        problems.append(str(_l("Use at least %(n)d characters.", n=MIN_LENGTH)))
    if length > MAX_LENGTH:
        problems.append(str(_l("Use at most %(n)d characters.", n=MAX_LENGTH)))
    lowered = password.lower()
    if lowered in _common_passwords():
        problems.append(str(_l("This password is among the most common passwords; choose another.")))
    if username and lowered == username.lower():
        problems.append(str(_l("The password must not be your user name.")))
    return problems


def hash_password(password: str) -> str:
    kdf = Argon2id(
        salt=os.urandom(16),
        length=32,
        iterations=ARGON2_ITERATIONS,
        lanes=ARGON2_LANES,
        memory_cost=ARGON2_MEMORY_KIB,
    )
    return kdf.derive_phc_encoded(_normalise(password))


def verify_password(password: str, encoded: str) -> bool:
    try:
        Argon2id.verify_phc_encoded(_normalise(password), encoded)
    except (InvalidKey, ValueError):
        return False
    return True


# A fixed hash verified when the user does not exist, so timing does not reveal which names exist.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$ib4q3DPYfeFfJ2Tvj8wt5A$CxPsO0d2Myq4qERCRF84wVPh3L0YhludfIJOrGi6/0U"
)


def burn_time() -> None:
    verify_password("not-a-user", _DUMMY_HASH)
