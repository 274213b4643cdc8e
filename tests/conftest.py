"""Test fixtures: one migrated database per run (SQLite file, or PostgreSQL when DATABASE_URL is set),
each test inside a transaction rolled back at the end (savepoints absorb the code's own commits)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from app.core.clock import clock, security_clock
from app.core.db import db

pytest_plugins = ["tests.factories"]

SECURITY_T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def _fresh_postgres_database(url: str, suffix: str = "") -> tuple[str, Any]:
    """Create an empty database for this run (named after the configured one plus the process id) so
    concurrent runs never share a schema; returns its URL and a function that drops it afterwards."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_t{os.getpid()}{suffix}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


@contextmanager
def isolated_app(instance: Path, suffix: str) -> Iterator[Flask]:
    """An app on a database of its own (PostgreSQL when ``DATABASE_URL`` is set, else SQLite), migrated, for
    tests whose threads commit for real: what they commit never reaches the shared test database."""
    config: dict[str, Any] = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "BLOB_DIR": str(instance / "blobs"),
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOGIN_RATE_LIMIT": "1000 per minute",
    }
    drop = None
    if os.environ.get("DATABASE_URL"):
        from app.config import load_config

        configured = load_config(str(instance))["SQLALCHEMY_DATABASE_URI"]
        config["SQLALCHEMY_DATABASE_URI"], drop = _fresh_postgres_database(configured, suffix)
    else:
        name = suffix.strip("_") or "platform"
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / name}.db"
    application = create_app(config)
    from flask_migrate import upgrade

    with application.app_context():
        upgrade()
        db.session.remove()
    try:
        yield application
    finally:
        clock.reset()
        with application.app_context():
            db.engine.dispose()
        if drop is not None:
            drop()


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The run's app on its migrated database, shared by every test (each in a transaction: db_session)."""
    with isolated_app(tmp_path_factory.mktemp("instance"), "") as application:
        application.test_client_class = IsolatedClient
        yield application


class IsolatedClient(FlaskClient):
    """Each test keeps one app context pushed (for its database transaction), and Flask reuses a pushed
    app context for requests. Clearing ``g`` before each request keeps request state (the loaded user,
    the CSRF token) from leaking between requests, as it would not in production. What the test set up
    is committed first (to the test's savepoint), as it would be before a real request arrives."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            db.session.commit()
            g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def db_session(app: Flask) -> Iterator[scoped_session]:  # type: ignore[type-arg]
    """Run the test inside one outer transaction; every commit of the code becomes a savepoint. The security
    clock (sessions, two-factor codes) stands still at a fixed instant unless the test moves it: no test
    depends on the wall clock, and none waits for the next authenticator code."""
    security_clock.freeze(SECURITY_T0)
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        session = scoped_session(factory, scopefunc=lambda: 0)
        db.session = session  # type: ignore[assignment]
        try:
            yield session
        finally:
            session.remove()
            db.session = original
            if outer.is_active:
                outer.rollback()
            connection.close()
            clock.reset()
            security_clock.reset()


@pytest.fixture
def client(app: Flask, db_session: scoped_session) -> FlaskClient:  # type: ignore[type-arg]
    return app.test_client()


@pytest.fixture
def is_postgres(app: Flask) -> bool:
    return str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql")


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
