"""A strict, streaming parser of the age v1 file header (https://age-encryption.org/v1).

The server never holds an opening key before the ceremony, so it cannot decrypt an envelope; what it can
check at upload time is the *shape* of the file, and it refuses anything else with a clear message
(电子招标投标办法: 应当拒收并提示):

- the first line is exactly ``age-encryption.org/v1`` — anything else is plaintext or another format;
- armored (PEM-style ``-----BEGIN AGE ENCRYPTED FILE-----``) files are **refused**, with a message telling
  the bidder to seal without ``-a/--armor``: the binary form is what every sealing route here produces,
  it is a third smaller, and accepting two encodings would give one envelope two SHA-256 digests (the
  digest is what the bidder signs and what the receipt names);
- exactly one stanza, of type ``X25519``, with one 43-character unpadded base64 argument (a 32-byte
  ephemeral share) and a 32-byte body (the wrapped file key); a passphrase (``scrypt``) stanza, a second
  recipient, or any other stanza type is refused (only ``*-grease`` stanzas, which address nobody and which
  rage/pyrage add at random, are skipped);
- the header ends with ``--- <43-char base64 MAC>``, within :data:`MAX_HEADER_BYTES`;
- the payload is a 16-byte nonce and a STREAM of 64 KiB chunks, each with a 16-byte tag: a payload whose
  length no such STREAM can have is a truncated file.

What "addressed to this section's recipient" can mean on the server, honestly: an age X25519 stanza does
**not** name its recipient (by design, for privacy) and the header MAC is keyed with the file key, which
only the identity can unwrap. So the server verifies (1) that the file is a well-formed age file for
exactly one X25519 recipient and nothing else, and (2) that the bidder's Ed25519 signature binds
``SHA-256(envelope) ‖ section id ‖ kind``, i.e. the bidder asserts, non-repudiably, that this file is its
envelope for this section (whose recipient the section page publishes). The proof that the file really
was encrypted to the section's recipient comes at the opening, when the rebuilt identity decrypts it; a
file that does not decrypt then is the bidder's fault (视为撤销, SPEC §3.4), and the signed receipt and
the signature show which file the bidder sent.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

MAGIC = b"age-encryption.org/v1"
ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
MAX_HEADER_BYTES = 16 * 1024
NONCE_SIZE = 16
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENCRYPTED_CHUNK = CHUNK_SIZE + TAG_SIZE

_B64_CHARS = re.compile(rb"^[A-Za-z0-9+/]*$")
_ARG = re.compile(rb"^[\x21-\x7e]+$")


class AgeFormatError(ValueError):
    """The bytes are not an age v1 file we accept. ``code`` names the reason for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Stanza:
    type: str
    args: tuple[str, ...]
    body: bytes


@dataclass
class AgeHeader:
    stanzas: list[Stanza]
    mac: bytes
    header_size: int
    """Bytes from the start of the file up to and including the newline after the MAC line."""


def _b64_strict(data: bytes, what: str) -> bytes:
    """age's base64: standard alphabet, no padding, canonical (no stray bits)."""
    if not _B64_CHARS.match(data) or len(data) % 4 == 1:
        raise AgeFormatError("malformed", f"{what} is not unpadded base64")
    try:
        raw = base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise AgeFormatError("malformed", f"{what} is not valid base64") from err
    if base64.b64encode(raw).rstrip(b"=") != data:
        raise AgeFormatError("malformed", f"{what} is not canonical base64")
    return raw


def parse_header(data: bytes) -> AgeHeader:
    """Parse a complete header at the start of ``data`` (which may continue with payload bytes)."""
    if data.startswith(ARMOR_BEGIN) or data.lstrip().startswith(ARMOR_BEGIN):
        raise AgeFormatError(
            "armored",
            "Armored (PEM) age files are not accepted: seal the binary form (without -a/--armor).",
        )
    if not data.startswith(MAGIC + b"\n"):
        if len(data) <= len(MAGIC) and MAGIC.startswith(data):
            raise AgeFormatError("truncated", "The age header is truncated.")
        raise AgeFormatError(
            "not_age",
            "This is not an age-encrypted file (plaintext or another format): "
            "seal it with age to the section's recipient first.",
        )
    pos = len(MAGIC) + 1
    stanzas: list[Stanza] = []

    def next_line() -> bytes:
        nonlocal pos
        end = data.find(b"\n", pos)
        if end < 0:
            if len(data) >= MAX_HEADER_BYTES:
                raise AgeFormatError("malformed", "The age header is too long.")
            raise AgeFormatError("truncated", "The age header is truncated.")
        line = data[pos:end]
        pos = end + 1
        return line

    while True:
        line = next_line()
        if line.startswith(b"--- "):
            mac = _b64_strict(line[4:], "the header MAC")
            if len(mac) != 32:
                raise AgeFormatError("malformed", "The header MAC has the wrong length.")
            break
        if not line.startswith(b"-> "):
            raise AgeFormatError("malformed", "The age header has a malformed line.")
        parts = line[3:].split(b" ")
        if not parts or not all(_ARG.match(p) for p in parts):
            raise AgeFormatError("malformed", "A stanza line of the age header is malformed.")
        body = b""
        while True:
            body_line = next_line()
            if len(body_line) > 64:
                raise AgeFormatError("malformed", "A stanza body line is longer than 64 columns.")
            body += body_line
            if len(body_line) < 64:
                break
        stanzas.append(Stanza(parts[0].decode("ascii"), tuple(p.decode("ascii") for p in parts[1:]), body))
        if len(stanzas) > 32:
            raise AgeFormatError("malformed", "The age header has too many stanzas.")

    for stanza in stanzas:
        if stanza.type == "scrypt":
            raise AgeFormatError(
                "passphrase",
                "The file is sealed with a passphrase: seal it to the section's recipient (age -r …).",
            )
    # rage (and so pyrage) adds random "grease" stanzas (``-> <word>-grease …``) that every recipient must
    # skip, to keep implementations tolerant of unknown stanzas; they address nobody, so they are allowed.
    stanzas = [s for s in stanzas if not s.type.endswith("-grease")]
    if len(stanzas) != 1:
        raise AgeFormatError(
            "recipients",
            "The file must be sealed to exactly one recipient, the section's opening recipient "
            f"(it has {len(stanzas)}).",
        )
    stanza = stanzas[0]
    if stanza.type != "X25519":
        raise AgeFormatError(
            "not_x25519", f"The file is sealed to a {stanza.type} recipient, not the section's X25519 one."
        )
    if len(stanza.args) != 1 or len(_b64_strict(stanza.args[0].encode(), "the X25519 share")) != 32:
        raise AgeFormatError("malformed", "The X25519 stanza is malformed.")
    if len(_b64_strict(stanza.body, "the X25519 stanza body")) != 32:
        raise AgeFormatError("malformed", "The X25519 stanza body is malformed.")
    return AgeHeader(
        stanzas=stanzas,
        mac=mac,
        header_size=pos,
    )


def payload_length_ok(length: int) -> bool:
    """Whether ``length`` bytes after the header can be a nonce plus a complete age STREAM."""
    body = length - NONCE_SIZE
    if body < TAG_SIZE:
        return False
    rest = body % ENCRYPTED_CHUNK
    return rest == 0 or rest >= TAG_SIZE + 1 or (rest == TAG_SIZE and body == TAG_SIZE)


@dataclass
class StreamingAgeChecker:
    """Feed the file in chunks (any sizes); call :meth:`finish` at the end.

    Holds at most :data:`MAX_HEADER_BYTES` in memory: the header is parsed as soon as it is complete and
    the refusal for plaintext comes after the first few bytes, so an upload can be cut short early.
    """

    header: AgeHeader | None = None
    size: int = 0
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.header is not None:
            return
        self._buf += chunk[: max(0, MAX_HEADER_BYTES - len(self._buf))]
        data = bytes(self._buf)
        probe = min(len(data), len(MAGIC) + 1)
        if probe and not (MAGIC + b"\n").startswith(data[:probe]):
            parse_header(data)  # raises the precise reason (plaintext, armored)
        if b"\n--- " in data:
            end = data.find(b"\n", data.find(b"\n--- ") + 1)
            if end >= 0:
                self.header = parse_header(data[: end + 1])
                self._buf = bytearray()
                return
        if len(data) >= MAX_HEADER_BYTES:
            raise AgeFormatError("malformed", "The age header is too long.")

    def finish(self) -> AgeHeader:
        if self.header is None:
            if self.size == 0:
                raise AgeFormatError("empty", "The upload is empty.")
            parse_header(bytes(self._buf))  # raises
            raise AgeFormatError("truncated", "The age header is truncated.")
        if not payload_length_ok(self.size - self.header.header_size):
            raise AgeFormatError(
                "truncated", "The age file is truncated (its encrypted payload is incomplete)."
            )
        return self.header


def check_bytes(data: bytes) -> AgeHeader:
    checker = StreamingAgeChecker()
    checker.feed(data)
    return checker.finish()
