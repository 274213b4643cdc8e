"""C2SP signed notes, verifier keys and tlog-cosignature/v1 witness cosignatures. Pure functions, no Flask.

Specifications (c2sp.org): ``signed-note`` (the note format, key IDs, vkeys), ``tlog-checkpoint`` (the note
text of a tree head) and ``tlog-cosignature`` (the timestamped Ed25519 cosignature, signature type 0x04).

A signed note is its text (ending in a newline), a blank line, then one or more signature lines
``— <key name> <base64(4-byte key ID ‖ signature)>``. A cosignature/v1 line signs, with the cosigner's
Ed25519 key, the message ``"cosignature/v1\\ntime <unix seconds>\\n" + note text``; its signature bytes are
the 8-byte big-endian timestamp followed by the 64-byte Ed25519 signature, and its key ID is
``SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]``. Because it is an ordinary note signature, a cosigned
checkpoint is the checkpoint with the cosignature lines appended, which the Go ``sumdb/note`` package and
the witness ecosystem read as they are.

The witness tools import :func:`cosignature_line` and :func:`verify_cosignature_line` from here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "COSIGNATURE_V1_HEADER",
    "SIG_PREFIX",
    "TYPE_COSIGNATURE_V1",
    "TYPE_ED25519",
    "InvalidNoteError",
    "Signature",
    "Verifier",
    "append_signatures",
    "cosignature_line",
    "cosigned_message",
    "cosigner_verifier",
    "key_id",
    "note_text",
    "parse_signature_line",
    "parse_vkey",
    "split_note",
    "verified_signers",
    "verify_cosignature_line",
]

SIG_PREFIX = "— "  # U+2014 EM DASH, then a space
TYPE_ED25519 = 0x01
"""Signature type of plain Ed25519 note signatures (the platform's checkpoint signature)."""
TYPE_COSIGNATURE_V1 = 0x04
"""Signature type of timestamped Ed25519 checkpoint cosignatures (c2sp.org/tlog-cosignature)."""
COSIGNATURE_V1_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
_SIG_SIZE = {TYPE_ED25519: 64, TYPE_COSIGNATURE_V1: 8 + 64}


class InvalidNoteError(ValueError):
    """A malformed note, signature line or verifier key, or a signature that does not verify."""


def _valid_name(name: str) -> bool:
    """signed-note: key names are non-empty and contain no Unicode spaces and no ``+``."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """``SHA-256(key name ‖ 0x0A ‖ signature type ‖ public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidNoteError("not standard base64") from None


@dataclass(frozen=True)
class Verifier:
    """A note verifier key: name, signature type and the raw 32-byte Ed25519 public key."""

    name: str
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise InvalidNoteError(f"not a valid key name: {self.name!r}")
        if self.sig_type not in _SIG_SIZE:
            raise InvalidNoteError(f"unsupported signature type 0x{self.sig_type:02x}")
        if len(self.public_key) != 32:
            raise InvalidNoteError("an Ed25519 public key is 32 bytes")

    @classmethod
    def cosigner(cls, name: str, key: Ed25519PublicKey | bytes) -> Verifier:
        raw = key if isinstance(key, bytes) else key.public_bytes_raw()
        return cls(name, TYPE_COSIGNATURE_V1, raw)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_key)

    @property
    def vkey(self) -> str:
        """``<name>+<hex key ID>+<base64(signature type ‖ public key)>``."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


def parse_vkey(text: str) -> Verifier:
    """A verifier key, checked: three ``+``-separated parts, the key ID matching name, type and key."""
    parts = text.strip().split("+", 2)  # the name has no "+"; the base64 key material may
    if len(parts) != 3:
        raise InvalidNoteError("a verifier key is <name>+<hex key ID>+<base64 key>")
    name, hex_id, material_b64 = parts
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise InvalidNoteError("the key ID of a verifier key is 8 lowercase hex digits")
    material = _b64decode(material_b64)
    if not material:
        raise InvalidNoteError("empty key material")
    verifier = Verifier(name, material[0], material[1:])
    if verifier.key_id.hex() != hex_id:
        raise InvalidNoteError("the verifier key's ID does not match its name and key")
    return verifier


def cosigner_verifier(vkey: str) -> Verifier:
    """A witness's cosignature/v1 verifier from its vkey. A vkey of type 0x04 is taken as it is; a plain
    Ed25519 vkey (type 0x01) of the same key is converted (same name and key, key ID recomputed with 0x04),
    as transparency-dev/formats' ``NewVerifierForCosignatureV1`` does, since witnesses often publish those."""
    verifier = parse_vkey(vkey)
    if verifier.sig_type == TYPE_ED25519:
        return Verifier(verifier.name, TYPE_COSIGNATURE_V1, verifier.public_key)
    if verifier.sig_type != TYPE_COSIGNATURE_V1:
        raise InvalidNoteError("not an Ed25519 witness verifier key (signature type 0x04 or 0x01)")
    return verifier


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key ID and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        """The line, without its final newline."""
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}"


def parse_signature_line(line: str) -> Signature:
    """``— <name> <base64(key ID ‖ signature)>`` (a final newline is allowed)."""
    if line.endswith("\n"):
        line = line[:-1]
    if not line.startswith(SIG_PREFIX) or "\n" in line:
        raise InvalidNoteError("a signature line starts with an em dash and a space")
    name, sep, sig_b64 = line[len(SIG_PREFIX) :].partition(" ")
    if not sep or not _valid_name(name) or " " in sig_b64:
        raise InvalidNoteError("a signature line is '— <key name> <base64 signature>'")
    blob = _b64decode(sig_b64)
    if len(blob) < 5:
        raise InvalidNoteError("a signature is a 4-byte key ID and at least one byte")
    return Signature(name, blob[:4], blob[4:])


def split_note(note: str) -> tuple[str, list[Signature]]:
    """(text, signatures) of a signed note, checked as signed-note requires: no control characters but
    newlines, the text ends in a newline and is separated from the signature lines by the last blank line,
    and there is at least one signature line."""
    if any(c < " " and c != "\n" for c in note):
        raise InvalidNoteError("a signed note contains no control characters other than newline")
    if not note.endswith("\n"):
        raise InvalidNoteError("a signed note ends with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise InvalidNoteError("not a signed note: no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    if not block:
        raise InvalidNoteError("a signed note has at least one signature")
    return text, [parse_signature_line(line) for line in block[:-1].split("\n")]


def note_text(note: str) -> str:
    """The signed text of a note; a bare text (no signature block) is returned as it is."""
    if "\n\n" in note:
        return split_note(note)[0]
    if not note.endswith("\n"):
        raise InvalidNoteError("a note text ends with a newline")
    return note


def append_signatures(note: str, lines: list[str]) -> str:
    """The signed note with the given signature lines added (each once; order is not significant)."""
    text, existing = split_note(note)
    have = [s.line for s in existing]
    for line in lines:
        sig = parse_signature_line(line)
        if sig.line not in have:
            have.append(sig.line)
    return text + "\n" + "".join(f"{line}\n" for line in have)


def cosigned_message(text: str, timestamp: int) -> bytes:
    """The message a cosignature/v1 signs: header line, time line, then the whole note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InvalidNoteError("a cosignature timestamp is between 0 and 2^63 - 1")
    return f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{text}".encode()


def cosignature_line(name: str, private_key: Ed25519PrivateKey, note: str, timestamp: int) -> str:
    """A cosignature/v1 signature line (without a final newline) by ``name`` over ``note`` (a signed note
    or its bare text) at ``timestamp`` (POSIX seconds)."""
    text = note_text(note)
    verifier = Verifier.cosigner(name, private_key.public_key())
    signature = private_key.sign(cosigned_message(text, timestamp))
    return Signature(name, verifier.key_id, timestamp.to_bytes(8, "big") + signature).line


def _verify(sig: Signature, text: str, verifier: Verifier) -> int:
    """The timestamp of a verified signature (0 for plain Ed25519); InvalidNoteError otherwise."""
    if sig.name != verifier.name or sig.key_id != verifier.key_id:
        raise InvalidNoteError(f"the signature is not by {verifier.name}+{verifier.key_id.hex()}")
    if len(sig.signature) != _SIG_SIZE[verifier.sig_type]:
        raise InvalidNoteError("wrong signature length for its type")
    timestamp, raw, message = 0, sig.signature, text.encode()
    if verifier.sig_type == TYPE_COSIGNATURE_V1:
        timestamp, raw = int.from_bytes(raw[:8], "big"), raw[8:]
        message = cosigned_message(text, timestamp)
    try:
        verifier.ed25519().verify(raw, message)
    except InvalidSignature:
        raise InvalidNoteError(f"the signature by {verifier.name} does not verify") from None
    return timestamp


def verify_cosignature_line(line: str, note: str, verifier: Verifier | str) -> int:
    """Check one cosignature/v1 line over ``note`` (a signed note or its bare text) against the cosigner's
    verifier (a :class:`Verifier`, or a vkey string read by :func:`cosigner_verifier`). Returns the
    cosignature's timestamp; raises :class:`InvalidNoteError` if the line is malformed, by another key, or
    does not verify."""
    v = cosigner_verifier(verifier) if isinstance(verifier, str) else verifier
    if v.sig_type != TYPE_COSIGNATURE_V1:
        raise InvalidNoteError("not a cosignature/v1 verifier key (signature type 0x04)")
    return _verify(parse_signature_line(line), note_text(note), v)


def verified_signers(note: str, verifiers: list[Verifier]) -> dict[str, int]:
    """Check a signed note against known verifiers, as signed-note prescribes: lines from unknown keys
    (name and key ID not both matching) are ignored; a line from a known key that fails to verify rejects
    the whole note (InvalidNoteError). Returns ``{vkey: timestamp}`` of the known keys that signed (the
    timestamp is 0 for plain Ed25519 signatures); the caller decides how many it needs."""
    text, sigs = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    out: dict[str, int] = {}
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is not None:
            out[verifier.vkey] = _verify(sig, text, verifier)
    return out
