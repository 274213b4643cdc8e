"""Fault injection (issue 9 item 3): Redis down and a full blob disk. Loopback only, bounded in time.

The kill -9 crash tests live in ``tests/bidding/test_crash.py`` and ``tests/test_faults_crash.py``; the
servers (a gunicorn on a temp SQLite database, the seeded section with a bidder and its key) come from
``tests/servers.py``."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bidding import storage
from app.bidding.models import SealedEnvelope
from app.core import events
from app.core.db import db
from tests.bidding.conftest import publish_tender, upload
from tests.projects.conftest import World
from tests.projects.conftest import world as world
from tests.servers import Gunicorn, app_env, bidding_check, free_port, put, seed, service_env

# -- Redis down -------------------------------------------------------------------------------------------


class PrivateRedis:
    """A throwaway redis-server on a free loopback port (never the system Redis)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=service_env(),
        )
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        for _ in range(50):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.1)
        else:
            self.kill()
            raise RuntimeError("redis-server did not start")
        client.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the Redis-down fault test needs a private Redis to kill")
    server = PrivateRedis(tmp_path)
    try:
        yield server
    finally:
        server.kill()


def _request(port: int, method: str, path: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, **kw)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _login_attempt(port: int) -> int:
    """A wrong password through the real login page (its own cookie session and CSRF token)."""
    status, headers, body = _request(port, "GET", "/auth/login")
    assert status == 200
    cookie = headers["set-cookie"].split(";", 1)[0]
    match = re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', body)
    assert match, "no CSRF token on the login page"
    form = f"username=nobody&password=wrong-password-1&csrf_token={match.group(1).decode()}"
    status, _h, _b = _request(
        port,
        "POST",
        "/auth/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    return status


def test_redis_down_app_keeps_serving_and_falls_back(
    app: Flask, db_session: Any, private_redis: PrivateRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # -- a real gunicorn whose rate limits and events use the private Redis
    env = {**app_env(tmp_path), "REDIS_URL": private_redis.url, "LOGIN_RATE_LIMIT": "3 per minute"}
    env.pop("RATELIMIT_STORAGE_URI", None)
    info = seed(tmp_path, env)
    server = Gunicorn(env, "app:create_app()")
    try:
        assert _login_attempt(server.port) == 401  # a wrong password, counted by the limiter in Redis
        import redis

        assert redis.Redis.from_url(private_redis.url).dbsize() > 0  # its counters live there

        # -- in this process: a Redis event bus that works, then loses Redis
        monkeypatch.setitem(app.config, "REDIS_URL", private_redis.url)
        bus = events.bus()
        assert isinstance(bus, events.RedisBus)
        bus.publish(events.Event("faults:warm", {"n": 0}))  # the publisher connects

        private_redis.kill()

        # pages and the API keep answering, promptly
        section = info["section_id"]
        for path in (
            "/portal/",
            f"/portal/sections/{section}",
            "/api/v1/health",
            f"/api/v1/bidding/sections/{section}",
        ):
            started = time.monotonic()
            status, _h, _b = _request(server.port, "GET", path)
            assert status == 200, path
            assert time.monotonic() - started < 5, path

        # login rate limiting falls back to in-memory counters: still limited, never a 5xx
        statuses = [_login_attempt(server.port) for _ in range(5)]
        assert all(s < 500 for s in statuses), statuses
        assert 429 in statuses, statuses
        assert statuses[0] == 401

        # a bid upload still gets its receipt (its audit events go out in-process)
        body = pyrage.encrypt(os.urandom(256 * 1024), [pyrage.x25519.Recipient.from_str(info["recipient"])])
        from app.bidding import signing

        key = signing.load_private_key(info["pem"].encode())
        digest = hashlib.sha256(body).hexdigest()
        sig = base64.b64encode(key.sign(signing.envelope_statement(digest, info["section_id"], "document")))
        headers = {
            "Authorization": f"Bearer {info['token']}",
            "X-Bid-Key-Id": info["key_id"],
            "X-Bid-Signature": sig.decode(),
            "Idempotency-Key": "redis-down-1",
        }
        path = f"/api/v1/bidding/sections/{info['section_id']}/envelopes?kind=document&name=tech.pdf"
        status, receipt = put(server.port, path, body, headers)
        assert status == 201, receipt
        assert receipt["receipt"]["sha256"] == digest
    finally:
        server.stop()
    assert "1 receipts, 1 files" in bidding_check(env)

    # -- events: a committed change still reaches a live subscriber of this process, through the fallback
    received: list[events.Event] = []
    subscribed = threading.Event()

    def listen() -> None:
        gen = bus.subscribe(["faults:live"], timeout=0.2)
        subscribed.set()
        for ev in gen:
            if ev is not None:
                received.append(ev)
                break
        gen.close()

    worker = threading.Thread(target=listen, daemon=True)
    worker.start()
    subscribed.wait(5)
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        events.publish(db.session, "faults:live", {"ok": True}, event_id="7")
        db.session.commit()  # Redis is down: the commit succeeds and the event goes out in-process
        time.sleep(0.1)
    worker.join(5)
    assert [(e.data, e.id) for e in received] == [({"ok": True}, "7")]


# -- blob disk full ---------------------------------------------------------------------------------------


@pytest.fixture
def small_blob_disk(app: Flask, tmp_path: Path) -> Iterator[Path]:
    """BLOB_DIR on an 8 MiB tmpfs (needs root and permission to mount)."""
    root = tmp_path / "blobs"
    root.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(root)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs for the blob disk: {result.stderr.strip() or 'not permitted'}"
        )
    previous = app.config["BLOB_DIR"]
    app.config["BLOB_DIR"] = str(root)
    try:
        yield root
    finally:
        app.config["BLOB_DIR"] = previous
        subprocess.run(["umount", "-l", str(root)], check=False, capture_output=True)


def _parts(root: Path) -> list[Path]:
    tmp = root / storage.TMP
    return [p for p in tmp.iterdir() if p.stat().st_size > 0] if tmp.exists() else []


def _assert_error_shape(resp: Any) -> None:
    assert resp.status_code == 507, resp.get_data(as_text=True)[:300]
    doc = resp.get_json()
    assert doc["code"] == "insufficient_storage" and doc["status"] == 507
    assert doc["message"] and doc["errors"] == {}


def test_blob_disk_full_clear_error_nothing_stored_then_retry(
    app: Flask, client: FlaskClient, world: World, small_blob_disk: Path
) -> None:
    with app.test_request_context():
        tender = publish_tender(world, bidders=1)
    bidder = tender.bidders[0]
    sid = tender.section.id
    filler = small_blob_disk / "filler"
    filler.write_bytes(b"\1" * (6 << 20))
    data = tender.seal(os.urandom(3 << 20))

    def rows() -> list[SealedEnvelope]:
        return list(db.session.scalars(select(SealedEnvelope).where(SealedEnvelope.section_id == sid)))

    # a direct upload that does not fit: 507 with the error shape, no row, no temp file, no envelope file
    resp = upload(client, tender, bidder, data, kind="document", name="tech.pdf", **{"Idempotency-Key": "k1"})
    _assert_error_shape(resp)
    assert rows() == []
    assert _parts(small_blob_disk) == []
    assert not any((small_blob_disk / storage.ENVELOPES).rglob("*.age"))

    # the resumable path: the chunk that does not fit is cut off again, the offset stays where it was
    auth = bidder.headers()
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/uploads",
        json={"kind": "document", "name": "annex.pdf", "length": len(data)},
        headers=auth,
    )
    assert resp.status_code == 201
    uid = resp.get_json()["id"]
    resp = client.patch(
        f"/api/v1/bidding/uploads/{uid}",
        data=data,
        headers={**auth, "Upload-Offset": "0"},
        content_type="application/offset+octet-stream",
    )
    _assert_error_shape(resp)
    assert client.get(f"/api/v1/bidding/uploads/{uid}", headers=auth).headers["Upload-Offset"] == "0"

    # an envelope bigger than the whole disk: the same clear error
    huge = tender.seal(os.urandom(9 << 20))
    resp = upload(client, tender, bidder, huge, kind="document", name="big.pdf")
    _assert_error_shape(resp)
    assert rows() == [] and _parts(small_blob_disk) == []

    # space is freed: the same requests succeed
    filler.unlink()
    resp = upload(client, tender, bidder, data, kind="document", name="tech.pdf", **{"Idempotency-Key": "k1"})
    assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["receipt"]["sha256"] == hashlib.sha256(data).hexdigest()
    resp = client.patch(
        f"/api/v1/bidding/uploads/{uid}",
        data=data,
        headers={**auth, "Upload-Offset": "0"},
        content_type="application/offset+octet-stream",
    )
    assert resp.status_code == 204 and resp.headers["Upload-Offset"] == str(len(data))
    resp = client.post(
        f"/api/v1/bidding/uploads/{uid}/finalize", headers={**auth, **bidder.sign(data, sid, "document")}
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    assert len(rows()) == 2
    with app.test_request_context():
        report = storage.check()
    assert report.ok and report.rows == 2 and report.files == 2
