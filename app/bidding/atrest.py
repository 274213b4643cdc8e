"""Decrypted bid documents at rest: a chunked AES-256-GCM format under the platform data key.

After the opening the documents are kept for the evaluation panel, encrypted under the platform data key
(SPEC §3.4). Fernet (``app.core.crypto.encrypt_at_rest``) holds a whole value in memory and base64s it, so
files of any size use this streaming format instead (the STREAM construction of Hoang–Reyhanitabar–
Rogaway–Vizár, as age itself uses):

    magic "GGZYAR1\\n" (8) ‖ salt (32) ‖ nonce prefix (7) ‖ chunks

Each chunk is ``AESGCM(key).encrypt(prefix ‖ counter (4, big endian) ‖ last flag (1), plaintext ≤ 1 MiB,
aad=magic)``; the per-file key is ``HKDF-SHA256(data key, salt, info=purpose)``. Truncation, reordering
and chunk swapping between files fail authentication. Memory: one chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"GGZYAR1\n"
CHUNK = 1024 * 1024
TAG = 16


class AtRestError(ValueError):
    pass


def _key(data_key: bytes, salt: bytes, purpose: str) -> AESGCM:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=purpose.encode()).derive(data_key)
    return AESGCM(raw)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= 2**32:
        raise AtRestError("file too large for one key")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class Writer:
    """Encrypt a stream: ``write`` any sizes, then ``close``. Holds at most one chunk."""

    def __init__(self, out: BinaryIO, data_key: bytes, purpose: str) -> None:
        salt = os.urandom(32)
        self._prefix = os.urandom(7)
        self._aead = _key(data_key, salt, purpose)
        self._out = out
        self._buf = bytearray()
        self._counter = 0
        out.write(MAGIC + salt + self._prefix)

    def write(self, data: bytes | memoryview) -> int:
        self._buf += data
        while len(self._buf) > CHUNK:
            self._emit(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]
        return len(data)

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, MAGIC))
        self._counter += 1

    def close(self) -> None:
        self._emit(bytes(self._buf), last=True)
        self._buf = bytearray()


def decrypt_chunks(src: BinaryIO, data_key: bytes, purpose: str) -> Iterator[bytes]:
    """Plaintext chunks of a file written by :class:`Writer`; raises :class:`AtRestError` if altered."""
    head = src.read(len(MAGIC) + 32 + 7)
    if len(head) != len(MAGIC) + 39 or not head.startswith(MAGIC):
        raise AtRestError("not an at-rest file")
    salt, prefix = head[len(MAGIC) : len(MAGIC) + 32], head[len(MAGIC) + 32 :]
    aead = _key(data_key, salt, purpose)
    counter = 0
    block = src.read(CHUNK + TAG)
    while True:
        nxt = src.read(CHUNK + TAG) if len(block) == CHUNK + TAG else b""
        last = not nxt
        try:
            yield aead.decrypt(_nonce(prefix, counter, last), block, MAGIC)
        except Exception as err:  # cryptography raises InvalidTag
            raise AtRestError("the at-rest file is corrupt or truncated") from err
        if last:
            return
        counter += 1
        block = nxt
