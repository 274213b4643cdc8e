"""RFC 3797 "Publicly Verifiable Nominations Committee Random Selection", with SHA-256 in place of MD5.

The procedure (RFC 3797 §4–§5): the key string is built from the random sources (integers of each source
sorted ascending, each followed by ".", each source ended by "/"). For pick i = 0, 1, …, hash
``i₁₆ ‖ key ‖ i₁₆`` (i as 2 bytes big-endian before and after the key), read the digest as an unsigned
big-endian integer, take it modulo the number of entries not picked yet, and walk the list of remaining
entries to that position. With ``hash_name="md5"`` this is exactly the RFC's procedure and reproduces its
worked example; the platform draws with ``"sha256"`` (MD5 is not allowed for cryptographic use).

Pure functions, no database: the same code draws and verifies.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

MAX_POOL = 0xFFFF  # the 2-byte index bounds the number of picks (RFC 3797 §5)


def key_string(sources: Iterable[Iterable[int] | str]) -> bytes:
    """Build the RFC 3797 key string. Integer sources are sorted; a string source is used as is."""
    parts = []
    for source in sources:
        if isinstance(source, str):
            parts.append(f"{source}/")
        else:
            parts.append("".join(f"{n}." for n in sorted(int(n) for n in source)) + "/")
    return "".join(parts).encode()


@dataclass(frozen=True)
class Pick:
    index: int  # i, the 2-byte counter
    digest: str  # hex, upper case as printed in the RFC
    modulus: int  # entries remaining before this pick
    position: int  # 0-based position in the original list


def picks(key: bytes, size: int, *, hash_name: str = "sha256") -> Iterator[Pick]:
    """Yield picks until the list of ``size`` entries is exhausted (or the counter runs out)."""
    if size > MAX_POOL:
        raise ValueError("RFC 3797 selection handles at most 65,535 entries")
    remaining = list(range(size))
    for i in range(min(size, MAX_POOL)):
        bracket = i.to_bytes(2, "big")
        digest = hashlib.new(hash_name, bracket + key + bracket).digest()
        k = int.from_bytes(digest, "big") % len(remaining)
        position = remaining.pop(k)
        yield Pick(index=i, digest=digest.hex().upper(), modulus=len(remaining) + 1, position=position)


def select(key: bytes, items: Sequence[T], count: int, *, hash_name: str = "sha256") -> list[T]:
    """The first ``count`` picks of ``items`` (RFC 3797 with the given hash)."""
    out: list[T] = []
    for pick in picks(key, len(items), hash_name=hash_name):
        if len(out) >= count:
            break
        out.append(items[pick.position])
    return out


def select_filtered(
    key: bytes, items: Sequence[T], count: int, accept: Callable[[T], bool], *, hash_name: str = "sha256"
) -> tuple[list[T], list[T]]:
    """Picks in RFC 3797 order, skipping those ``accept`` refuses (they stay picked, so the sequence of
    later picks does not depend on the refusal). Returns (accepted, skipped)."""
    accepted: list[T] = []
    skipped: list[T] = []
    for pick in picks(key, len(items), hash_name=hash_name):
        if len(accepted) >= count:
            break
        item = items[pick.position]
        if accept(item):
            accepted.append(item)
        else:
            skipped.append(item)
    return accepted, skipped


def entropy_bits(pool: int, chosen: int) -> float:
    """log₂ C(pool, chosen): how much randomness the sources must carry (RFC 3797 §3)."""
    if chosen <= 0 or pool <= 0 or chosen > pool:
        return 0.0
    return math.log2(math.comb(pool, chosen))
