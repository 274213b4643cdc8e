"""Streaming decryption of age v1 X25519 files with pyca/cryptography, for the opening.

pyrage decrypts at about a third of the speed of the reference ``age -d`` (its Python-facing reader and
writer cost more than the cipher), so the ceremony decrypts with this module instead: the same construction
as the age specification (https://age-encryption.org/v1), checked against ``age`` and pyrage in the tests.

- file key: ``X25519(identity, share)`` → HKDF-SHA256(salt = share ‖ recipient,
  info = "age-encryption.org/v1/X25519") → ChaCha20-Poly1305 (zero nonce) opens the stanza body;
- header MAC: HMAC-SHA256 under HKDF(file key, info = "header") over the header up to ``---``;
- payload: HKDF(file key, salt = 16-byte nonce, info = "payload") keys ChaCha20-Poly1305 over 64 KiB chunks
  with the nonce ``counter (11 bytes, big endian) ‖ last-chunk flag``.

Memory: three chunks, allocated once per file (each chunk decrypts into a reused buffer). The SHA-256 of
the whole file is computed over the same buffers, so the stored envelope is checked against its receipt in
the same pass.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import agefile

X25519_INFO = b"age-encryption.org/v1/X25519"
READ = agefile.ENCRYPTED_CHUNK * 16


class DecryptFailed(ValueError):
    """Not addressed to this identity, or corrupt: the bidder's fault unless the digest differs."""


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


class Identity:
    """An X25519 identity from the 32 secret bytes (see ``keys.identity_secret_bytes``)."""

    def __init__(self, secret: bytes) -> None:
        self._key = X25519PrivateKey.from_private_bytes(secret)
        from cryptography.hazmat.primitives import serialization

        self._public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def unwrap(self, header: agefile.AgeHeader, header_bytes: bytes) -> bytes:
        """The file key, after checking the header MAC."""
        import base64

        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

        for stanza in header.stanzas:
            if stanza.type != "X25519":
                continue
            share = base64.b64decode(stanza.args[0] + "=")
            body = base64.b64decode(stanza.body + b"=")
            try:
                shared = self._key.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:
                continue  # a low-order share
            wrap = _hkdf(shared, share + self._public, X25519_INFO)
            try:
                file_key = ChaCha20Poly1305(wrap).decrypt(bytes(12), body, None)
            except InvalidTag:
                continue
            mac_key = _hkdf(file_key, b"", b"header")
            mac_input = header_bytes[: header_bytes.rindex(b"\n--- ") + 4]
            if not hmac.compare_digest(hmac.new(mac_key, mac_input, hashlib.sha256).digest(), header.mac):
                raise DecryptFailed("the header MAC does not verify")
            return file_key
        raise DecryptFailed("the file is not addressed to this identity")


def decrypt_file(
    path: str | os.PathLike[str], write: Callable[[memoryview], object], identity: Identity
) -> str:
    """Decrypt the file at ``path`` into ``write``; returns the SHA-256 (hex) of the file, computed over the
    same bytes in the same pass. ``write`` gets a view of a buffer that the next chunk overwrites: it must
    copy or consume the bytes before it returns. Raises :class:`DecryptFailed`; the plaintext written so far
    must then be discarded."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as src:
        _decrypt(src, write, identity, digest)
        while rest := src.read(READ):  # bytes after the last chunk make it fail above; keep the digest honest
            digest.update(rest)
    return digest.hexdigest()


def _read_full(src: Any, buf: bytearray) -> int:
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _decrypt(src: BinaryIO, write: Callable[[memoryview], object], identity: Identity, digest: Any) -> None:
    head = src.read(agefile.MAX_HEADER_BYTES)
    try:
        header = agefile.parse_header(head)
    except agefile.AgeFormatError as err:
        raise DecryptFailed(err.message) from None
    file_key = identity.unwrap(header, head[: header.header_size])
    src.seek(header.header_size)
    nonce = src.read(agefile.NONCE_SIZE)
    if len(nonce) != agefile.NONCE_SIZE:
        raise DecryptFailed("the payload is truncated")
    digest.update(head[: header.header_size])
    digest.update(nonce)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    size = agefile.ENCRYPTED_CHUNK
    cur, nxt = bytearray(size), bytearray(size)
    plain = memoryview(bytearray(size - agefile.TAG_SIZE))  # reused: no allocation per chunk
    n = _read_full(src, cur)
    counter = 0
    while True:
        m = _read_full(src, nxt) if n == size else 0
        last = m == 0
        if n < agefile.TAG_SIZE:
            raise DecryptFailed("the payload is truncated")
        digest.update(memoryview(cur)[:n])
        flag = b"\x01" if last else b"\x00"
        out = plain[: n - agefile.TAG_SIZE]
        try:
            aead.decrypt_into(counter.to_bytes(11, "big") + flag, memoryview(cur)[:n], None, out)
        except InvalidTag:
            raise DecryptFailed("a payload chunk does not authenticate") from None
        if last and not out and counter > 0:
            raise DecryptFailed("an empty last chunk")
        write(out)
        if last:
            return
        counter += 1
        cur, nxt, n = nxt, cur, m
