"""A live server on the demo city for browser tests: its own SQLite database seeded by ``flask demo seed``,
a werkzeug server on a loopback port, and a folder for screenshots under ``test-artifacts/`` (ignored by
git) so that a person can look at them after the run."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.core.db import db
from tests.system import CHROMIUM, require

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@dataclass(frozen=True)
class DemoServer:
    url: str
    app: Flask
    logins: dict[str, tuple[str, str]]  # user name → (password, TOTP secret in base32, "" when none)
    shots: Path

    def totp(self, username: str) -> bytes | None:
        secret = self.logins[username][1]
        return base64.b32decode(secret + "=" * (-len(secret) % 8)) if secret else None


def live_app(tmp_path_factory: pytest.TempPathFactory, name: str, **config: Any) -> Flask:
    """An application for a live server: its own folder and SQLite file (even when DATABASE_URL points the
    rest of the suite at PostgreSQL), no Redis, migrated to the head."""
    require(CHROMIUM)
    from flask_migrate import upgrade

    tmp = tmp_path_factory.mktemp(name)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/live.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            **config,
        }
    )
    with app.app_context():
        upgrade(revision="heads")
    return app


@contextmanager
def serving(app: Flask, name: str) -> Iterator[str]:
    """``app`` on a loopback port (a werkzeug server in a thread): its URL, then a clean stop."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"{name}-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        # Pages with event streams (the opening hall, the watch pages) end them in their own threads at the
        # next keep-alive after the browser left: wait for them, so no stream's request context is closed
        # later from the test's thread by the garbage collector (it would pop that thread's app context).
        for handler in threading.enumerate():
            if "process_request_thread" in handler.name:
                handler.join(timeout=30)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@contextmanager
def demo_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[DemoServer]:
    from app.demo import seed

    app = live_app(tmp_path_factory, name)
    with app.app_context():
        lines = seed()
        db.session.commit()
        db.session.remove()
    logins = {}
    for line in lines[1:]:
        username, _role, password, secret = (part.strip() for part in line.split("|"))
        logins[username] = (password, secret)
    shots = ARTIFACTS / name
    shots.mkdir(parents=True, exist_ok=True)
    with serving(app, name) as url:
        yield DemoServer(url, app, logins, shots)


def in_app(server: DemoServer, work: Any) -> Any:
    """Run ``work()`` inside the live server's application (to read what the pages should show)."""
    with server.app.test_request_context():
        try:
            return work()
        finally:
            db.session.remove()
