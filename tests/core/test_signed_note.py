"""C2SP signed notes and tlog-cosignature/v1 (app.core.signed_note) against published vectors and against
cosignatures built here from the specification text with `cryptography` alone (not with the app's helpers)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core import signed_note
from app.core.signed_note import InvalidNoteError, Verifier

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "signed-note" / "vectors.json").read_text(
        encoding="utf-8"
    )
)
GO = VECTORS["golang_mod_sumdb_note"]

CHECKPOINT_TEXT = "ggzy.example.gov.cn/audit-log\n42\n" + base64.b64encode(bytes(range(32))).decode() + "\n"
WITNESS_NAME = "witness.example.gov.cn/regulator"
TIMESTAMP = 1_765_000_000


def spec_cosignature(name: str, key: Ed25519PrivateKey, text: str, timestamp: int) -> str:
    """tlog-cosignature, section by section: key ID with type 0x04, the signed message, the
    timestamped_signature (u64 big-endian timestamp, then the 64-byte signature), the note signature line."""
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\x0a" + b"\x04" + public).digest()[:4]
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + text.encode()
    blob = key_id + timestamp.to_bytes(8, "big") + key.sign(message)
    return "\u2014 " + name + " " + base64.b64encode(blob).decode()


# -- published vectors ---------------------------------------------------------------------------------------


def test_the_c2sp_signed_note_example_verifies_with_its_vkey() -> None:
    example = VECTORS["c2sp_signed_note_example"]
    verifier = signed_note.parse_vkey(example["vkey"])
    assert (verifier.name, verifier.sig_type, verifier.vkey) == ("example.com/foo", 1, example["vkey"])
    assert signed_note.verified_signers(example["note"], [verifier]) == {example["vkey"]: 0}
    tampered = example["note"].replace("example message", "example massage")
    with pytest.raises(InvalidNoteError):
        signed_note.verified_signers(tampered, [verifier])


def test_the_c2sp_poem_parses_with_its_blank_line_in_the_text() -> None:
    text, sigs = signed_note.split_note(VECTORS["c2sp_signed_note_poem"]["note"])
    assert text.endswith("ed è subito sera.\n") and "\n\n" in text  # separated at the *last* blank line
    assert [s.name for s in sigs] == ["quasimodo.example/salvatore"] and len(sigs[0].signature) == 64


def test_the_c2sp_cosigned_checkpoint_example_has_the_specified_layout() -> None:
    example = VECTORS["c2sp_tlog_cosignature_example"]
    text, (log_sig, witness_sig) = signed_note.split_note(example["note"])
    assert text.split("\n")[:2] == ["example.com/behind-the-sofa", "20852163"]
    assert log_sig.name == "example.com/behind-the-sofa" and len(log_sig.signature) == 64
    assert witness_sig.name == "witness.example.com/w1" and len(witness_sig.signature) == 8 + 64
    timestamp = int.from_bytes(witness_sig.signature[:8], "big")
    # The spec's "Ed25519 signed message" example is for this very cosignature's timestamp and checkpoint.
    assert example["signed_message"] == f"cosignature/v1\ntime {timestamp}\n{text}"
    assert signed_note.cosigned_message(text, timestamp) == example["signed_message"].encode()


def test_the_go_sumdb_note_vectors() -> None:
    peter, enoch = signed_note.parse_vkey(GO["peter_vkey"]), signed_note.parse_vkey(GO["enoch_vkey"])
    assert (peter.name, peter.key_id.hex(), enoch.key_id.hex()) == ("PeterNeumann", "c74f20a3", "af0cfe78")
    for bad in GO["bad_vkeys"]:
        with pytest.raises(InvalidNoteError):
            signed_note.parse_vkey(bad)
    note = GO["text"] + "\n" + GO["peter_signature_line"] + "\n" + GO["enoch_signature_line"] + "\n"
    assert signed_note.verified_signers(note, [peter, enoch]) == {peter.vkey: 0, enoch.vkey: 0}
    assert signed_note.verified_signers(note, [enoch]) == {enoch.vkey: 0}  # Peter's line: an unknown key
    # The signer key is PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ seed): Ed25519 is deterministic, so signing the
    # text again gives the published line exactly.
    seed = base64.b64decode(GO["signer_key"].split("+", 4)[4])[1:]
    line = signed_note.Signature(
        "PeterNeumann", peter.key_id, Ed25519PrivateKey.from_private_bytes(seed).sign(GO["text"].encode())
    ).line
    assert line == GO["peter_signature_line"]
    # A known key whose signature fails rejects the whole note (signed-note: "clients SHOULD reject").
    with pytest.raises(InvalidNoteError):
        signed_note.verified_signers(note.replace("problem is.", "problem is!"), [peter, enoch])


def test_a_malformed_mangled_vkey_is_refused() -> None:
    vkey = GO["peter_vkey"]
    for i in range(len(vkey)):
        mangled = vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :]
        with pytest.raises(InvalidNoteError):
            signed_note.parse_vkey(mangled)


# -- cosignature/v1 built from the spec text -----------------------------------------------------------------


def test_an_independently_built_cosignature_verifies_and_a_one_byte_change_does_not() -> None:
    key = Ed25519PrivateKey.generate()
    line = spec_cosignature(WITNESS_NAME, key, CHECKPOINT_TEXT, TIMESTAMP)
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(WITNESS_NAME.encode() + b"\n\x04" + public).digest()[:4]
    material = base64.b64encode(b"\x04" + public).decode()
    vkey = f"{WITNESS_NAME}+{key_id.hex()}+{material}"
    assert Verifier.cosigner(WITNESS_NAME, key.public_key()).vkey == vkey

    assert signed_note.verify_cosignature_line(line, CHECKPOINT_TEXT, vkey) == TIMESTAMP
    # Ed25519 is deterministic: the app's helper makes the very same line.
    assert signed_note.cosignature_line(WITNESS_NAME, key, CHECKPOINT_TEXT, TIMESTAMP) == line
    # Over a whole signed note, the text is what counts.
    note = CHECKPOINT_TEXT + f"\n— ggzy.example.gov.cn/audit-log {base64.b64encode(bytes(68)).decode()}\n"
    assert signed_note.verify_cosignature_line(line, note, vkey) == TIMESTAMP

    # One byte changed anywhere in the checkpoint text, or in the signature blob, is refused.
    for i in range(len(CHECKPOINT_TEXT) - 1):
        changed = CHECKPOINT_TEXT[:i] + chr(ord(CHECKPOINT_TEXT[i]) ^ 1) + CHECKPOINT_TEXT[i + 1 :]
        with pytest.raises(InvalidNoteError):
            signed_note.verify_cosignature_line(line, changed, vkey)
    blob = bytearray(base64.b64decode(line.split(" ")[-1]))
    for i in range(len(blob)):
        blob[i] ^= 0x01
        forged = f"— {WITNESS_NAME} {base64.b64encode(bytes(blob)).decode()}"
        blob[i] ^= 0x01
        with pytest.raises(InvalidNoteError):
            signed_note.verify_cosignature_line(forged, CHECKPOINT_TEXT, vkey)


def test_a_plain_ed25519_vkey_of_the_witness_is_converted_as_transparency_dev_does() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(WITNESS_NAME.encode() + b"\n\x01" + public).digest()[:4]
    plain_vkey = f"{WITNESS_NAME}+{key_id.hex()}+" + base64.b64encode(b"\x01" + public).decode()
    line = spec_cosignature(WITNESS_NAME, key, CHECKPOINT_TEXT, TIMESTAMP)
    assert signed_note.verify_cosignature_line(line, CHECKPOINT_TEXT, plain_vkey) == TIMESTAMP
    assert signed_note.cosigner_verifier(plain_vkey) == Verifier.cosigner(WITNESS_NAME, public)


def test_the_name_key_and_type_must_match() -> None:
    key = Ed25519PrivateKey.generate()
    line = spec_cosignature(WITNESS_NAME, key, CHECKPOINT_TEXT, TIMESTAMP)
    other_name = Verifier.cosigner("witness.example.gov.cn/other", key.public_key())
    other_key = Verifier.cosigner(WITNESS_NAME, Ed25519PrivateKey.generate().public_key())
    plain = Verifier(WITNESS_NAME, signed_note.TYPE_ED25519, key.public_key().public_bytes_raw())
    for verifier in (other_name, other_key, plain):
        with pytest.raises(InvalidNoteError):
            signed_note.verify_cosignature_line(line, CHECKPOINT_TEXT, verifier)
    # A plain Ed25519 signature (type 0x01) over the text is not a cosignature.
    plain_line = signed_note.Signature(WITNESS_NAME, plain.key_id, key.sign(CHECKPOINT_TEXT.encode())).line
    with pytest.raises(InvalidNoteError):
        signed_note.verify_cosignature_line(
            plain_line, CHECKPOINT_TEXT, Verifier.cosigner(WITNESS_NAME, key.public_key())
        )


def test_appending_cosignatures_keeps_a_valid_signed_note() -> None:
    log_key, w1, w2 = (Ed25519PrivateKey.generate() for _ in range(3))
    log = Verifier("ggzy.example.gov.cn/audit-log", 1, log_key.public_key().public_bytes_raw())
    log_line = signed_note.Signature(log.name, log.key_id, log_key.sign(CHECKPOINT_TEXT.encode())).line
    note = CHECKPOINT_TEXT + "\n" + log_line + "\n"
    lines = [spec_cosignature("w1.example", w1, CHECKPOINT_TEXT, TIMESTAMP)]
    lines.append(spec_cosignature("w2.example", w2, CHECKPOINT_TEXT, TIMESTAMP + 1))
    cosigned = signed_note.append_signatures(note, lines)
    assert cosigned == note + lines[0] + "\n" + lines[1] + "\n"
    assert signed_note.append_signatures(cosigned, lines[:1]) == cosigned  # each line once
    v1, v2 = (
        Verifier.cosigner("w1.example", w1.public_key()),
        Verifier.cosigner("w2.example", w2.public_key()),
    )
    assert signed_note.verified_signers(cosigned, [log, v1, v2]) == {
        log.vkey: 0,
        v1.vkey: TIMESTAMP,
        v2.vkey: TIMESTAMP + 1,
    }


@pytest.mark.parametrize(
    "note",
    [
        "no signatures\n",
        "text\n\n",  # a blank line but no signature
        "text\n\n— name AAAAAAA=",  # no final newline
        "text\n\n— name\n",  # no signature
        "text\n\n— a+b AAAAAAA=\n",  # a plus in the key name
        "text\n\n- name AAAAAAA=\n",  # a hyphen, not an em dash
        "te\tx\n\n— name AAAAAAA=\n",  # a control character
        "text\n\n— name AAAA\n",  # shorter than a key ID and one byte
        "text\n\n— name not*base64\n",
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(InvalidNoteError):
        signed_note.split_note(note)


def test_timestamps_are_bounded() -> None:
    with pytest.raises(InvalidNoteError):
        signed_note.cosigned_message(CHECKPOINT_TEXT, 2**63)
    assert signed_note.cosigned_message(CHECKPOINT_TEXT, 0).startswith(b"cosignature/v1\ntime 0\n")
