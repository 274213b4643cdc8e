"""Signed checkpoint notes (C2SP tlog-checkpoint on C2SP signed-note): parse, verify, key names.

Standard library and ``cryptography`` only, so the offline verifier (``ggzy-audit``) can use it on a machine
that has neither Flask nor a database. :mod:`app.core.audit` signs notes with the platform key and re-exports
these functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_SIG_PREFIX = "— "  # U+2014 EM DASH, then a space: the signed-note signature line
_ED25519_ALG = b"\x01"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def note_key_id(name: str, key: Ed25519PublicKey) -> bytes:
    """The signed-note key hash: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519_ALG + _raw_public(key)).digest()[:4]


def verifier_key(origin: str, key: Ed25519PublicKey) -> str:
    raw = base64.b64encode(_ED25519_ALG + _raw_public(key)).decode()
    return f"{origin}+{note_key_id(origin, key).hex()}+{raw}"


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return _raw_public(key)


def to_public_key(key: Ed25519PublicKey | bytes | str) -> Ed25519PublicKey:
    """A public key from raw bytes, base64, PEM or a note verifier key."""
    return _to_public_key(key)


def _note_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def _split_note(note: str) -> tuple[str, list[str]]:
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note: no blank line before the signatures")
    return body + "\n", [line for line in sigs.split("\n") if line]


def parse_checkpoint_note(note: str) -> tuple[str, int, bytes]:
    """(origin, tree size, root hash) of a checkpoint note. Does not check signatures."""
    body, _ = _split_note(note)
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise ValueError("not a tlog checkpoint")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ValueError("checkpoint root is not 32 bytes")
    return lines[0], int(lines[1]), root


def _to_public_key(key: Ed25519PublicKey | bytes | str) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, str):
        text = key.strip()
        if text.startswith("-----BEGIN"):
            loaded = serialization.load_pem_public_key(text.encode())
            if not isinstance(loaded, Ed25519PublicKey):
                raise ValueError("not an Ed25519 public key")
            return loaded
        parts = text.split("+", 2)
        if len(parts) == 3 and len(parts[1]) == 8 and all(c in "0123456789abcdef" for c in parts[1]):
            text = parts[2]  # a note verifier key: <name>+<hex key id>+<base64(0x01 ‖ key)>
        key = base64.b64decode(text)
    if len(key) == 33 and key[:1] == _ED25519_ALG:
        key = key[1:]
    return Ed25519PublicKey.from_public_bytes(bytes(key))


def verify_checkpoint_note(
    note: str, public_key: Ed25519PublicKey | bytes | str | list[Ed25519PublicKey]
) -> bool:
    """Does ``note`` carry a valid signature, under the name on its origin line, by ``public_key`` (or by
    any of a list of keys, e.g. :func:`platform_public_keys`)?"""
    try:
        keys = public_key if isinstance(public_key, list) else [_to_public_key(public_key)]
        body, sig_lines = _split_note(note)
    except ValueError:
        return False
    origin = body.split("\n", 1)[0]
    by_id = {note_key_id(origin, key): key for key in keys}
    for line in sig_lines:
        if not line.startswith(_SIG_PREFIX):
            continue
        name, _, sig_b64 = line[len(_SIG_PREFIX) :].rpartition(" ")
        try:
            blob = base64.b64decode(sig_b64, validate=True)
        except binascii.Error:
            continue
        key = by_id.get(blob[:4]) if name == origin and len(blob) == 68 else None
        if key is None:
            continue  # another signer (a witness cosignature) or another key: ignored, as signed-note says
        try:
            key.verify(blob[4:], body.encode())
        except InvalidSignature:
            return False  # a known key's signature that fails rejects the whole note (signed-note)
        return True
    return False
