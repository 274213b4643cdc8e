"""Crash safety against a real gunicorn: kill -9 in the middle of an upload and after the file is renamed
into place but before the commit. Afterwards no receipt lacks its file, no counted bid lacks its receipt,
and the client's retry succeeds."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyrage
import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

SEED = """
import json, sys, os
sys.path.insert(0, {bench!r})
import upload_bench
from pathlib import Path
from cryptography.hazmat.primitives import serialization
info = upload_bench.seed(Path({instance!r}), dict(os.environ))
pem = info["key"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
print(json.dumps({{"section_id": info["section_id"], "recipient": info["recipient"], "token": info["token"],
                  "key_id": info["key_id"], "pem": pem}}))
"""


def _env(tmp: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        FLASK_APP="app:create_app",
        DATABASE_URL=f"sqlite:///{tmp / 'instance' / 'platform.db'}",
        BLOB_DIR=str(tmp / "blobs"),
        SECRET_KEY="crash-test",
        DATA_KEY="crash-test",
        PLATFORM_SIGNING_KEY=pem.decode(),
    )
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    def __init__(self, env: dict[str, str], target: str) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                "gunicorn",
                "-w",
                "1",
                "-k",
                "sync",
                "--timeout",
                "120",
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "error",
                target,
            ],
            cwd=ROOT,
            env=env,
        )
        for _ in range(150):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                try:
                    conn.request("GET", "/api/v1/health")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker(self) -> int:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        return int(out[0])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def _put(port: int, path: str, body: bytes, headers: dict[str, str], *, send: int | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("PUT", path)
        hdrs = {**headers, "Content-Length": str(len(body)), "Content-Type": "application/octet-stream"}
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(body[: send if send is not None else len(body)])
        if send is not None:
            return conn
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        if send is None:
            conn.close()


def _check(env: dict[str, str]) -> str:
    r = subprocess.run(
        [PY, "-m", "flask", "bidding", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.slow
def test_kill_9_mid_upload_and_before_commit_then_retry(tmp_path: Path) -> None:
    env = _env(tmp_path)
    (tmp_path / "instance").mkdir()
    out = subprocess.run(
        [PY, "-c", SEED.format(bench=str(ROOT / "bench"), instance=str(tmp_path / "instance"))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout.strip().splitlines()[-1])
    from app.bidding import signing

    key = signing.load_private_key(info["pem"].encode())
    body = pyrage.encrypt(os.urandom(8 << 20), [pyrage.x25519.Recipient.from_str(info["recipient"])])
    digest = hashlib.sha256(body).hexdigest()
    sig = base64.b64encode(
        key.sign(signing.envelope_statement(digest, info["section_id"], "document"))
    ).decode()
    headers = {
        "Authorization": f"Bearer {info['token']}",
        "X-Bid-Key-Id": info["key_id"],
        "X-Bid-Signature": sig,
        "Idempotency-Key": "crash-1",
    }
    path = f"/api/v1/bidding/sections/{info['section_id']}/envelopes?kind=document&name=tech.pdf"

    # 1. kill -9 of the worker in the middle of the body
    server = Gunicorn(env, "app:create_app()")
    try:
        conn = _put(server.port, path, body, headers, send=len(body) // 2)
        time.sleep(0.5)
        os.kill(server.worker(), signal.SIGKILL)
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.getresponse().read()
        conn.close()
        assert "0 receipts, 0 files" in _check(env)
    finally:
        server.stop()

    # 2. kill -9 after fsync + rename, before the commit
    server = Gunicorn(env, "app:create_app({'BIDDING_FAILPOINT': 'after_rename'})")
    try:
        with pytest.raises((OSError, http.client.HTTPException)):
            _put(server.port, path, body, headers)
    finally:
        server.stop()
    r = subprocess.run(
        [PY, "-m", "flask", "bidding", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 1 and "ORPHAN" in r.stdout and "0 receipts" in r.stdout  # a file, never a receipt
    subprocess.run(
        [PY, "-m", "flask", "bidding", "cleanup", "--grace", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert "0 receipts, 0 files" in _check(env)

    # 3. the client retries with the same Idempotency-Key and gets its receipt; a second retry, the same one
    server = Gunicorn(env, "app:create_app()")
    try:
        status, first = _put(server.port, path, body, headers)
        assert status == 201, first
        status, again = _put(server.port, path, body, headers)
        assert status == 200 and again == first
    finally:
        server.stop()
    assert "1 receipts, 1 files" in _check(env)
