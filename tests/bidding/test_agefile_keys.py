"""The age header parser and the opening-key ceremony, without the web layer."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pyrage
import pytest

from app.bidding import agefile, keys
from tests.system import AGE


def _age_cli(tmp_path: Path, *args: str, data: bytes = b"bid") -> bytes:
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    out = tmp_path / "out.age"
    subprocess.run([str(AGE), *args, "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def test_age_cli_file_parses(tmp_path: Path) -> None:
    ident = pyrage.x25519.Identity.generate()
    data = _age_cli(tmp_path, "-r", str(ident.to_public()), data=b"x" * 200_000)
    header = agefile.check_bytes(data)
    assert [s.type for s in header.stanzas] == ["X25519"]
    assert data[: header.header_size].endswith(b"\n")


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda r, t: b"%PDF-1.7 plaintext", "not_age"),
        (lambda r, t: pyrage.encrypt(b"x", [r], armored=True), "armored"),
        (lambda r, t: pyrage.passphrase.encrypt(b"x", "pw"), "passphrase"),
        (
            lambda r, t: _age_cli(t, "-r", str(r), "-r", str(pyrage.x25519.Identity.generate().to_public())),
            "recipients",
        ),
        (lambda r, t: pyrage.encrypt(b"x", [r])[:30], "truncated"),
        (lambda r, t: b"", "empty"),
    ],
)
def test_refusals_name_their_reason(tmp_path: Path, make: object, code: str) -> None:
    recipient = pyrage.x25519.Identity.generate().to_public()
    data = make(recipient, tmp_path)  # type: ignore[operator]
    with pytest.raises(agefile.AgeFormatError) as info:
        agefile.check_bytes(data)
    assert info.value.code == code


def test_streaming_checker_refuses_plaintext_after_the_first_bytes() -> None:
    checker = agefile.StreamingAgeChecker()
    with pytest.raises(agefile.AgeFormatError):
        checker.feed(b"PK\x03\x04 a zip file")


def test_payload_lengths() -> None:
    assert agefile.payload_length_ok(16 + 16)  # empty plaintext
    assert not agefile.payload_length_ok(16 + 10)
    assert agefile.payload_length_ok(16 + 65536 + 16)
    assert not agefile.payload_length_ok(16 + 65552 + 16)  # an empty last chunk after a full one
    assert not agefile.payload_length_ok(16 + 65552 + 5)


def test_bech32_roundtrip_and_identity_rebuild() -> None:
    ident = pyrage.x25519.Identity.generate()
    raw = keys.identity_secret_bytes(ident)
    assert str(keys.identity_from_secret(raw)) == str(ident)
    assert keys.is_valid_recipient(str(ident.to_public()))
    assert not keys.is_valid_recipient("age1notarecipient")


def test_k_of_n_split_any_k_rebuild_fewer_do_not() -> None:
    custodians = [pyrage.x25519.Identity.generate() for _ in range(4)]
    material = keys.generate_opening_key([str(c.to_public()) for c in custodians], 3)
    words = [pyrage.decrypt(s.ciphertext, [custodians[s.member_index]]).decode() for s in material.shares]
    for combo in itertools.combinations(words, 3):
        assert str(keys.rebuild_identity(list(combo), material.recipient).to_public()) == material.recipient
    with pytest.raises(keys.ShareError) as info:
        keys.rebuild_identity(words[:2], material.recipient)
    assert words[0].split()[0] not in str(info.value)  # no share words in error messages
    other = keys.generate_opening_key([str(c.to_public()) for c in custodians[:2]], 2)
    with pytest.raises(keys.ShareError):
        keys.rebuild_identity(
            [pyrage.decrypt(other.shares[0].ciphertext, [custodians[0]]).decode(), words[1], words[2]],
            material.recipient,
        )
    # a share can only be opened by its own custodian
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(material.shares[0].ciphertext, [custodians[1]])


def test_threshold_rules() -> None:
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    with pytest.raises(ValueError, match="at least 2"):
        keys.generate_opening_key([recipient, recipient], 1)
    with pytest.raises(ValueError, match="fewer custodians"):
        keys.generate_opening_key([recipient], 2)
