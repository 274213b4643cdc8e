"""The live stream: every committed audit leaf becomes an SSE event (id = leaf index), nothing from a
rolled-back transaction; a reconnect with Last-Event-ID replays exactly the missed leaves; across processes
the events travel through Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.core import audit
from app.core.db import db
from app.supervision import live
from tests.factories import login
from tests.supervision.conftest import Scene


def _ids(body: str) -> list[int]:
    return [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]


def test_replay_after_reconnect_returns_exactly_the_missed_events(scene: Scene, client: Any) -> None:
    section = scene.section("opening")
    seen = audit.record("bidding:ceremony:start", object_type="section", object_id=section.id, payload={})
    db.session.commit()
    missed = [
        audit.record(
            "bidding:share:submit", object_type="section", object_id=section.id, payload={"n": i}
        ).idx
        for i in range(3)
    ]
    db.session.commit()

    login(client, scene.regulator)
    resp = client.get("/supervision/stream", headers={"Last-Event-ID": str(seen.idx)})
    assert resp.status_code == 200
    assert resp.mimetype == "text/event-stream"
    body = resp.get_data(as_text=True)
    # The sign-in itself wrote leaves after ours; the section filter keeps exactly the missed ones.
    filtered = client.get(f"/supervision/stream?project={scene.project.id}&last_id={seen.idx}")
    assert _ids(filtered.get_data(as_text=True)) == missed
    assert _ids(body)[:3] == missed
    assert "event: bye" in body  # the stream ends by itself (bounded in tests, 5 minutes in production)


def test_stream_filters_by_event_type_and_industry(scene: Scene, client: Any) -> None:
    section = scene.section("opening")
    start = audit.record("x:before:start", payload={}).idx
    audit.record("bidding:ceremony:start", object_type="section", object_id=section.id, payload={})
    audit.record("projects:section:transition", object_type="section", object_id=section.id, payload={})
    db.session.commit()
    login(client, scene.regulator)
    body = client.get(f"/supervision/stream?last_id={start}&type=bidding:").get_data(as_text=True)
    assert '"action":"bidding:ceremony:start"' in body and "projects:section:transition" not in body
    other = client.get(f"/supervision/stream?last_id={start}&industry=water").get_data(as_text=True)
    assert _ids(other) == []


def test_live_event_hides_payload_and_identities(scene: Scene) -> None:
    section = scene.section("published")
    leaf = audit.record(
        "bidding:envelope:receive",
        actor=scene.tenderer,
        object_type="sealed_envelope",
        object_id=7,
        payload={"section_id": section.id, "bidder_commitment": "c0ffee", "sha256": "ab" * 32},
    )
    data = audit.live_event(leaf, {"section_id": section.id, "bidder_commitment": "c0ffee"})
    assert set(data) == {
        "idx",
        "action",
        "object_type",
        "object_id",
        "actor_role",
        "time",
        "section_id",
        "sealed",
    }
    assert data["section_id"] == str(section.id)
    assert "c0ffee" not in str(data)


def test_committed_leaf_reaches_a_live_subscriber_and_rolled_back_one_does_not(
    app: Flask, scene: Scene
) -> None:
    db.session.commit()
    out: list[str] = []
    ready = threading.Event()
    committed = threading.Event()  # leave the app context (and its session teardown) only after our commit

    def subscriber() -> None:
        with app.test_request_context():
            _listen()
            committed.wait(5)

    def _listen() -> None:
        gen = live.stream(live.StreamFilter(), last_event_id=None, seconds=4, poll=0.2, release_db=False)
        for chunk in gen:
            ready.set()
            out.append(chunk)
            if "live:test:commit" in chunk:
                gen.close()
                return

    worker = threading.Thread(target=subscriber, daemon=True)
    worker.start()
    ready.wait(3)
    time.sleep(0.6)  # past the first poll: the subscription is registered (Redis SUBSCRIBE is async)
    audit.record("live:test:rollback", payload={})
    db.session.rollback()
    leaf = audit.record("live:test:commit", payload={})
    idx = leaf.idx
    db.session.commit()
    committed.set()
    worker.join(6)
    text = "".join(out)
    assert f"id: {idx}\n" in text
    assert "live:test:rollback" not in text


def test_streams_are_capped_per_address_and_in_all(
    scene: Scene, client: Any, app: Flask, monkeypatch: Any
) -> None:
    """Issue 14: anonymous streams were unlimited. Over STREAMS_PER_IP open streams of one address: 429;
    over STREAMS_TOTAL in all: 503; both say when to retry (app/core/streams.py)."""
    from app.core import streams

    section = scene.section("published")
    db.session.commit()
    monkeypatch.setattr(streams, "_stores", {})  # this test's own counts
    monkeypatch.setitem(app.config, "STREAMS_PER_IP", 2)
    monkeypatch.setitem(app.config, "STREAMS_TOTAL", 3)
    held = [streams.leases().admit("127.0.0.1", 60, 2, 3) for _ in range(2)]  # two streams of this address
    assert all(isinstance(lease, streams.Lease) for lease in held)
    over_address = client.get(f"/bidding/sections/{section.id}/events")
    assert over_address.status_code == 429 and over_address.headers["Retry-After"] == "30"
    assert "2" in over_address.get_data(as_text=True)
    held[0].release()  # this address is under its cap again; two streams from elsewhere fill the platform
    others = [streams.leases().admit("198.51.100.7", 60, 2, 3) for _ in range(2)]
    assert all(isinstance(lease, streams.Lease) for lease in others)
    full = client.get(f"/bidding/sections/{section.id}/events")
    assert full.status_code == 503 and full.headers["Retry-After"] == "30"
    others[0].release()
    served = client.get(f"/bidding/sections/{section.id}/events", buffered=False)
    assert served.status_code == 200
    served.close()
    others[1].release()
    held[1].release()


def test_a_plain_get_in_tests_returns_promptly(scene: Scene, client: Any) -> None:
    login(client, scene.manager)  # the management office watches, read-only
    started = time.monotonic()
    resp = client.get("/supervision/stream")
    resp.get_data()
    assert resp.status_code == 200 and time.monotonic() - started < 3


SCRIPT = textwrap.dedent(
    """
    import sys
    import time
    from flask_migrate import upgrade
    from app import create_app
    from app.core import audit
    from app.core.db import db

    app = create_app({"TESTING": True, "INSTANCE_PATH": sys.argv[1], "BLOB_DIR": sys.argv[1] + "/blobs",
                      "SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[1] + "/w.db",
                      "REDIS_URL": sys.argv[2], "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade(revision="heads")
        print("ready", flush=True)
        sys.stdin.readline()
        # Pub/sub delivers only to subscribers already registered: commit a few events over some seconds
        # so a subscriber whose SUBSCRIBE is still in flight on a loaded machine still sees one.
        for _ in range(10):
            leaf = audit.record("crossworker:test:event", payload={})
            db.session.commit()
            print(leaf.idx, flush=True)
            time.sleep(0.5)
    """
)


def test_event_committed_in_another_process_arrives_through_redis(app: Flask, tmp_path: Path) -> None:
    url = app.config.get("REDIS_URL")
    if not url:
        pytest.skip(
            "REDIS_URL is not set for this run: the cross-worker path needs Redis (in-process path tested)"
        )
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path), url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": ""},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        out: list[str] = []
        ready = threading.Event()

        def subscriber() -> None:
            with app.test_request_context():
                for chunk in live.stream(
                    live.StreamFilter(), last_event_id=None, seconds=10, poll=0.2, release_db=False
                ):
                    ready.set()
                    out.append(chunk)
                    if "crossworker:test:event" in chunk:
                        return

        worker = threading.Thread(target=subscriber, daemon=True)
        worker.start()
        ready.wait(5)
        time.sleep(0.6)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        sent = [int(proc.stdout.readline().strip()) for _ in range(10)]
        worker.join(10)
        assert any(f"id: {idx}\n" in c and "crossworker:test:event" in c for c in out for idx in sent)
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdin.close()
        proc.stdout.close()
