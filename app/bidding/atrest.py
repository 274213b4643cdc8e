"""Decrypted bid documents at rest: a chunked AES-256-GCM format under the platform data key.

After the opening the documents are kept for the evaluation panel, encrypted under the platform data key
(SPEC §3.4). Fernet (``app.core.crypto.encrypt_at_rest``) holds a whole value in memory and base64s it, so
files of any size use this streaming format instead (the STREAM construction of Hoang–Reyhanitabar–
Rogaway–Vizár, as age itself uses):

    magic "GGZYAR1\\n" (8) ‖ salt (32) ‖ nonce prefix (7) ‖ chunks

Each chunk is ``AESGCM(key).encrypt(prefix ‖ counter (4, big endian) ‖ last flag (1), plaintext ≤ 1 MiB,
aad=magic)``; the per-file key is ``HKDF-SHA256(data key, salt, info=purpose)``. Truncation, reordering
and chunk swapping between files fail authentication. Memory: one chunk. The format names no key: after a
data key rotation readers try the current and the retired keys on the first chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
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
    """Encrypt a stream: ``write`` any sizes, then ``close``. Holds one chunk of plaintext and one of
    ciphertext, allocated once: the pieces are copied into the first and sealed into the second."""

    def __init__(self, out: BinaryIO, data_key: bytes, purpose: str) -> None:
        salt = os.urandom(32)
        self._prefix = os.urandom(7)
        self._aead = _key(data_key, salt, purpose)
        self._out = out
        self._buf = memoryview(bytearray(CHUNK))
        self._sealed = memoryview(bytearray(CHUNK + TAG))
        self._filled = 0
        self._counter = 0
        out.write(MAGIC + salt + self._prefix)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Copies ``data`` (the caller may reuse its buffer). A full chunk is sealed only when more bytes
        follow it, so the last chunk is never empty unless the whole stream is."""
        view, size = memoryview(data).cast("B"), len(data)
        while view:
            if self._filled == CHUNK:
                self._emit(last=False)
            take = min(CHUNK - self._filled, len(view))
            self._buf[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
        return size

    def _emit(self, *, last: bool) -> None:
        n = self._filled
        sealed = self._sealed[: n + TAG]
        self._aead.encrypt_into(_nonce(self._prefix, self._counter, last), self._buf[:n], MAGIC, sealed)
        self._out.write(sealed)
        self._counter += 1
        self._filled = 0

    def close(self) -> None:
        self._emit(last=True)


def _header(src: BinaryIO) -> tuple[bytes, bytes]:
    head = src.read(len(MAGIC) + 32 + 7)
    if len(head) != len(MAGIC) + 39 or not head.startswith(MAGIC):
        raise AtRestError("not an at-rest file")
    return head[len(MAGIC) : len(MAGIC) + 32], head[len(MAGIC) + 32 :]


def _sealed_chunks(src: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """The encrypted chunks, each with its last flag."""
    block = src.read(CHUNK + TAG)
    while True:
        nxt = src.read(CHUNK + TAG) if len(block) == CHUNK + TAG else b""
        yield block, not nxt
        if not nxt:
            return
        block = nxt


def _open_first(aeads: list[AESGCM], prefix: bytes, block: bytes, last: bool) -> tuple[int, bytes] | None:
    for i, aead in enumerate(aeads):
        try:
            return i, aead.decrypt(_nonce(prefix, 0, last), block, MAGIC)
        except InvalidTag:
            continue
    return None


def key_index(src: BinaryIO, data_keys: Sequence[bytes], purpose: str) -> int | None:
    """Which of ``data_keys`` the file is under (reads the header and the first chunk); None if none."""
    salt, prefix = _header(src)
    block, last = next(_sealed_chunks(src))
    opened = _open_first([_key(k, salt, purpose) for k in data_keys], prefix, block, last)
    return None if opened is None else opened[0]


def decrypt_chunks(src: BinaryIO, data_keys: bytes | Sequence[bytes], purpose: str) -> Iterator[bytes]:
    """Plaintext chunks of a file written by :class:`Writer`; raises :class:`AtRestError` if altered.

    The file names no key: with several (the current data key and retired ones) the first that
    authenticates the first chunk is the file's key."""
    keys = [data_keys] if isinstance(data_keys, bytes) else list(data_keys)
    salt, prefix = _header(src)
    chunks = _sealed_chunks(src)
    block, last = next(chunks)
    opened = _open_first([_key(k, salt, purpose) for k in keys], prefix, block, last)
    if opened is None:
        raise AtRestError("the at-rest file is corrupt, truncated or under none of the data keys")
    index, plain = opened
    yield plain
    aead, counter = _key(keys[index], salt, purpose), 1
    for block, last in chunks:
        try:
            yield aead.decrypt(_nonce(prefix, counter, last), block, MAGIC)
        except InvalidTag as err:
            raise AtRestError("the at-rest file is corrupt or truncated") from err
        counter += 1
