"""The opening's two streaming formats, at the sizes where chunking can go wrong.

``agedecrypt`` must open exactly what the reference ``age`` CLI seals (and refuse what it would refuse), and
return the SHA-256 of the file; ``atrest`` must give back exactly what was written, whatever the pieces, and
refuse a file whose chunks were cut or moved. Both now work in reused buffers, so the pieces handed on are
views that the next chunk overwrites: the tests feed and check them that way.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

import pyrage
import pytest

from app.bidding import agedecrypt, agefile, atrest, keys
from tests.system import AGE

AGE_CHUNK = agefile.ENCRYPTED_CHUNK - agefile.TAG_SIZE  # 64 KiB of plaintext
AGE_SIZES = [0, 1, AGE_CHUNK - 1, AGE_CHUNK, AGE_CHUNK + 1, 3 * AGE_CHUNK, 16 * AGE_CHUNK + 5]


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[agedecrypt.Identity, str, Path]:
    ident = pyrage.x25519.Identity.generate()
    path = tmp_path_factory.mktemp("age") / "id.txt"
    path.write_text(str(ident) + "\n")
    return agedecrypt.Identity(keys.identity_secret_bytes(ident)), str(ident.to_public()), path


def _seal(tmp_path: Path, recipient: str, plain: bytes) -> Path:
    src, out = tmp_path / "plain.bin", tmp_path / "sealed.age"
    src.write_bytes(plain)
    subprocess.run([str(AGE), "-r", recipient, "-o", str(out), str(src)], check=True)
    return out


@pytest.mark.parametrize("size", AGE_SIZES)
def test_agedecrypt_opens_what_the_age_cli_seals(
    tmp_path: Path, identity: tuple[agedecrypt.Identity, str, Path], size: int
) -> None:
    ident, recipient, _ = identity
    plain = os.urandom(size)
    sealed = _seal(tmp_path, recipient, plain)
    pieces: list[bytes] = []
    digest = agedecrypt.decrypt_file(sealed, lambda view: pieces.append(bytes(view)), ident)
    assert b"".join(pieces) == plain
    assert all(0 < len(p) <= AGE_CHUNK for p in pieces) or size == 0
    assert digest == hashlib.sha256(sealed.read_bytes()).hexdigest()


def test_agedecrypt_refuses_a_changed_a_truncated_and_a_foreign_file(
    tmp_path: Path, identity: tuple[agedecrypt.Identity, str, Path]
) -> None:
    ident, recipient, _ = identity
    sealed = _seal(tmp_path, recipient, os.urandom(3 * AGE_CHUNK + 7))
    whole = sealed.read_bytes()

    changed = bytearray(whole)
    changed[-AGE_CHUNK] ^= 1  # a byte inside the payload
    truncated = whole[: len(whole) - agefile.ENCRYPTED_CHUNK]  # the last chunk cut off
    other = pyrage.x25519.Identity.generate()
    (tmp_path / "foreign").mkdir()
    foreign = _seal(tmp_path / "foreign", str(other.to_public()), b"for someone else")
    for bad in (bytes(changed), truncated):
        sealed.write_bytes(bad)
        with pytest.raises(agedecrypt.DecryptFailed):
            agedecrypt.decrypt_file(sealed, lambda _view: None, ident)
    with pytest.raises(agedecrypt.DecryptFailed):
        agedecrypt.decrypt_file(foreign, lambda _view: None, ident)


def _write_at_rest(plain: bytes, piece: int, key: bytes) -> bytes:
    """Through a reused buffer, as the opening feeds it."""
    out = io.BytesIO()
    writer = atrest.Writer(out, key, "test")
    reused = bytearray(piece)
    for start in range(0, len(plain), piece):
        part = plain[start : start + piece]
        reused[: len(part)] = part
        writer.write(memoryview(reused)[: len(part)])
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "piece"),
    [
        (0, 1),
        (1, 1),
        (atrest.CHUNK - 1, AGE_CHUNK),
        (atrest.CHUNK, AGE_CHUNK),
        (atrest.CHUNK + 1, 4096),
        (2 * atrest.CHUNK, atrest.CHUNK),
        (2 * atrest.CHUNK + 3, 3 * atrest.CHUNK),
    ],
)
def test_at_rest_gives_back_what_was_written_in_whole_chunks(size: int, piece: int) -> None:
    key, plain = os.urandom(32), os.urandom(size)
    stored = _write_at_rest(plain, piece, key)
    chunks = max(1, -(-size // atrest.CHUNK))  # full chunks, the last one never empty unless all is
    header = len(atrest.MAGIC) + 32 + 7
    assert len(stored) == header + size + chunks * atrest.TAG
    assert b"".join(atrest.decrypt_chunks(io.BytesIO(stored), key, "test")) == plain


def test_at_rest_refuses_cut_moved_or_foreign_chunks() -> None:
    key, plain = os.urandom(32), os.urandom(3 * atrest.CHUNK)
    stored = _write_at_rest(plain, AGE_CHUNK, key)
    header, sealed = len(atrest.MAGIC) + 39, atrest.CHUNK + atrest.TAG
    cut = stored[: header + 2 * sealed]
    moved = stored[:header] + stored[header + sealed : header + 2 * sealed] + stored[header : header + sealed]
    moved += stored[header + 2 * sealed :]
    for bad, keys_ in ((cut, key), (moved, key), (stored, os.urandom(32))):
        with pytest.raises(atrest.AtRestError):
            b"".join(atrest.decrypt_chunks(io.BytesIO(bad), keys_, "test"))
