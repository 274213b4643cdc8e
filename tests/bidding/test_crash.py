"""Crash safety against a real gunicorn: kill -9 in the middle of an upload and after the file is renamed
into place but before the commit. Afterwards no receipt lacks its file, no counted bid lacks its receipt,
and the client's retry succeeds."""

from __future__ import annotations

import http.client
import os
import signal
import time
from pathlib import Path

import pyrage
import pytest

from tests.servers import Gunicorn, app_env, bidding_check, flask, put, seed, signed_headers


@pytest.mark.slow
def test_kill_9_mid_upload_and_before_commit_then_retry(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    info = seed(tmp_path, env)
    body = pyrage.encrypt(os.urandom(8 << 20), [pyrage.x25519.Recipient.from_str(info["recipient"])])
    headers = {**signed_headers(info, info["section_id"], body, "document"), "Idempotency-Key": "crash-1"}
    path = f"/api/v1/bidding/sections/{info['section_id']}/envelopes?kind=document&name=tech.pdf"

    # 1. kill -9 of the worker in the middle of the body
    server = Gunicorn(env, "app:create_app()")
    try:
        conn = put(server.port, path, body, headers, send=len(body) // 2)
        time.sleep(0.5)
        os.kill(server.worker(), signal.SIGKILL)
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.getresponse().read()
        conn.close()
        assert "0 receipts, 0 files" in bidding_check(env)
    finally:
        server.stop()

    # 2. kill -9 after fsync + rename, before the commit
    server = Gunicorn(env, "app:create_app({'BIDDING_FAILPOINT': 'after_rename'})")
    try:
        with pytest.raises((OSError, http.client.HTTPException)):
            put(server.port, path, body, headers)
    finally:
        server.stop()
    r = flask(env, "bidding", "check")
    assert r.returncode == 1 and "ORPHAN" in r.stdout and "0 receipts" in r.stdout  # a file, never a receipt
    assert flask(env, "bidding", "cleanup", "--grace", "0").returncode == 0
    assert "0 receipts, 0 files" in bidding_check(env)

    # 3. the client retries with the same Idempotency-Key and gets its receipt; a second retry, the same one
    server = Gunicorn(env, "app:create_app()")
    try:
        status, first = put(server.port, path, body, headers)
        assert status == 201, first
        status, again = put(server.port, path, body, headers)
        assert status == 200 and again == first
    finally:
        server.stop()
    assert "1 receipts, 1 files" in bidding_check(env)
