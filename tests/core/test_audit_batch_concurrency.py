"""audit.batch() under concurrency and savepoints: the head row stays locked from the batch's first leaf to
the commit (a second writer waits, then appends after every leaf of the batch), and a savepoint rolled back
inside a batch refuses the batch instead of writing leaves chained on a head that is gone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from app.core import audit
from app.core.db import db
from tests.conftest import isolated_app


@pytest.fixture
def own_app(tmp_path: Path, is_postgres: bool) -> Iterator[Flask]:
    """Its threads commit for real: on a database of its own, so no leaf reaches the shared test log."""
    if not is_postgres:
        pytest.skip("SQLite has no row locks (writers serialize on BEGIN IMMEDIATE): a PostgreSQL test")
    with isolated_app(tmp_path, "_batch") as application:
        yield application


def test_a_second_writer_waits_for_the_whole_batch(own_app: Flask) -> None:
    app = own_app
    first_recorded, may_finish = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def batch_writer() -> None:
        with app.app_context():
            seen["start"] = audit.tree_size()
            with audit.batch():
                audit.record("test:batch:one")
                first_recorded.set()
                may_finish.wait()
                audit.record("test:batch:two")
            db.session.commit()
            db.session.remove()

    def other_writer() -> None:
        first_recorded.wait()
        with app.app_context():
            seen["pid"] = db.session.scalar(text("SELECT pg_backend_pid()"))
            seen["idx"] = audit.record("test:other:one").idx
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=batch_writer), threading.Thread(target=other_writer)]
    for t in threads:
        t.start()
    # Until the other writer either appended (the lock was not held) or waits on a lock: no time limit.
    with app.app_context():
        waiting = False
        while threads[1].is_alive() and not waiting:
            pid = seen.get("pid")
            if pid is not None:
                waiting = bool(
                    db.session.scalar(
                        text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": pid},
                    )
                )
                db.session.rollback()
            time.sleep(0.01)
        db.session.remove()
    may_finish.set()
    for t in threads:
        t.join()
    assert waiting, "the second writer appended while the batch held its first leaf"
    assert seen["idx"] == seen["start"] + 2
    with app.app_context():
        assert audit.verify_log().ok
        db.session.remove()


def test_a_savepoint_rolled_back_inside_a_batch_refuses_it(db_session: Any) -> None:
    start = audit.tree_size()
    with pytest.raises(RuntimeError, match="savepoint"), audit.batch():
        audit.record("test:batch:one")
        savepoint = db_session.begin_nested()
        audit.record("test:batch:two")
        savepoint.rollback()
        audit.record("test:batch:three")
    db_session.rollback()
    assert audit.tree_size() == start
    assert audit.record("test:after:one").idx == start
    db_session.commit()
    assert audit.verify_log().ok
