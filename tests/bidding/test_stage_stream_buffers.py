"""uploads.stage_stream reuses a few buffers between the reading thread and two helpers (hash, write): under
irregular read sizes and slow helpers the file holds exactly the body and the digest is its SHA-256; a body
cut short or a reader that fails leaves neither a temp file nor a helper thread behind."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pyrage
import pytest
from flask import Flask

from app.bidding import storage, uploads

HELPERS = {"envelope-hash", "envelope-write"}


def _age(size: int) -> bytes:
    identity = pyrage.x25519.Identity.generate()
    return bytes(pyrage.encrypt(os.urandom(size), [identity.to_public()]))


def _reader(data: bytes, rng: random.Random) -> Callable[[memoryview], int]:
    pos = 0

    def readinto(view: memoryview) -> int:
        nonlocal pos
        n = min(len(view), rng.choice([1, 7, 4096, 65536, 300_000, 1 << 20]), len(data) - pos)
        view[:n] = data[pos : pos + n]
        pos += n
        return n

    return readinto


def _temp_files() -> list[str]:
    tmp = storage.blob_root() / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def _helpers_alive() -> set[str]:
    return {t.name for t in threading.enumerate()} & HELPERS


@pytest.mark.parametrize("seed", range(6))
def test_the_file_and_digest_are_exactly_the_body(
    app: Flask, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    data = _age(rng.choice([10, 3 << 20, 9 << 20]) + rng.randrange(5000))
    fill, writeback = uploads._fill, uploads._start_writeback

    def jittery_fill(readinto: Any, buf: bytearray) -> int:
        if rng.random() < 0.3:
            time.sleep(0.002)  # the helpers get ahead of the reader now and then
        return fill(readinto, buf)

    def slow_writeback(*args: Any) -> None:
        time.sleep(0.01)  # the writer falls behind the hasher
        writeback(*args)

    monkeypatch.setattr(uploads, "_fill", jittery_fill)
    monkeypatch.setattr(uploads, "WRITEBACK_EVERY", 2 * uploads.PIECE)
    monkeypatch.setattr(uploads, "_start_writeback", slow_writeback)
    with app.test_request_context("/"):
        staged = uploads.stage_stream(_reader(data, rng), 1 << 30, content_length=len(data))
        staged.wait_durable()
    assert (staged.size, staged.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert staged.path.read_bytes() == data
    staged.path.unlink()


def test_a_body_cut_short_leaves_nothing_behind(app: Flask) -> None:
    data = _age(3 << 20)
    with app.test_request_context("/"):
        before = _temp_files()
        with pytest.raises(uploads.UploadRefused) as refused:
            uploads.stage_stream(_reader(data[:-100], random.Random(1)), 1 << 30, content_length=len(data))
        assert refused.value.code == "incomplete"
        assert _temp_files() == before
    assert not _helpers_alive()


def test_a_reader_that_fails_midway_leaves_nothing_behind(app: Flask) -> None:
    data = _age(5 << 20)
    read = _reader(data, random.Random(2))
    calls = 0

    def failing(view: memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 9:
            raise ConnectionResetError("the client went away")
        return read(view)

    with app.test_request_context("/"):
        before = _temp_files()
        with pytest.raises(ConnectionResetError):
            uploads.stage_stream(failing, 1 << 30, content_length=len(data))
        assert _temp_files() == before
    assert not _helpers_alive()
