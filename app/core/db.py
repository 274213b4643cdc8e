"""Database base class, naming convention and engine set-up for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Engine, MetaData, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both engines.

    PostgreSQL keeps ``timestamptz``; SQLite stores naive UTC text, so values are normalised to UTC on the
    way in and marked UTC on the way out. Naive datetimes are refused: they are always a bug here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Database(SQLAlchemy):
    """Flask-SQLAlchemy, with an end of request that survives losing the database."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        """When the database went away with the request's transaction open (a restart, a failover), the
        ROLLBACK of the session's close cannot reach it, and the server has rolled the transaction back
        anyway. Raised from here, after the response was made, the error would replace that response
        (a receipt, or the JSON error) with the WSGI server's bare HTML 500, and leave the session
        registered. The connection is already invalidated: forget the session."""
        try:
            super()._teardown_session(exc)
        except DBAPIError as err:
            if not err.connection_invalidated:
                raise
            self.session.registry.clear()


db = Database(model_class=Base)


def private_sqlite_files(database: str | None) -> None:
    """The SQLite file holds every account, session and receipt: create it 0600 before SQLite does (it
    would follow the umask, usually 0644), and tighten an existing one and its WAL files, which SQLite
    creates with the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)


def configure_engine(engine: Engine) -> None:
    """Per-connection settings. SQLite: WAL, synchronous=FULL, foreign keys, and BEGIN IMMEDIATE.

    BEGIN IMMEDIATE takes the write lock when a transaction starts, so two writers never read the same
    state and then race to write it (the audit frontier, deadlines); PostgreSQL gets the same guarantee
    from row locks.
    """
    if engine.dialect.name != "sqlite":
        return
    private_sqlite_files(engine.url.database)

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
