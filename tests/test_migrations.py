"""Migrations build the schema the models describe, on the engine under test (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect, text

from app.core.db import db


def test_upgrade_head_matches_the_models(app: Flask) -> None:
    """The session fixture ran ``upgrade`` on an empty database; no difference may remain."""
    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migration_revision_is_recorded(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert len(versions) >= 1


def test_audit_tables_have_immutability_triggers(app: Flask, is_postgres: bool) -> None:
    with app.app_context(), db.engine.connect() as conn:
        if is_postgres:
            rows = (
                conn.execute(
                    text(
                        "SELECT tgname FROM pg_trigger"
                        " WHERE tgrelid = 'audit_leaf'::regclass AND NOT tgisinternal"
                    )
                )
                .scalars()
                .all()
            )
        else:
            rows = (
                conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_leaf'")
                )
                .scalars()
                .all()
            )
    assert len(rows) >= 2, rows


def test_sqlite_runs_with_wal_full_sync_and_foreign_keys(app: Flask, is_postgres: bool) -> None:
    if is_postgres:
        with app.app_context(), db.engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
        return
    with app.app_context(), db.engine.connect() as conn:
        pragmas: dict[str, Any] = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys")
        }
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


def test_every_table_has_a_primary_key(app: Flask) -> None:
    with app.app_context():
        inspector = inspect(db.engine)
        for table in inspector.get_table_names():
            assert inspector.get_pk_constraint(table)["constrained_columns"], table


def test_draw_exclusion_rows_become_the_canonical_text_their_digest_was_made_of(tmp_path: Any) -> None:
    """n2 carries the old one-row-per-exclusion table into the round's text; the digest committed to the
    audit log before the migration must verify against the migrated text."""
    import hashlib
    import sqlite3

    from flask_migrate import upgrade

    from app import create_app
    from app.experts import draws

    url = f"sqlite:///{tmp_path / 'm.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp_path)})
    rows = [(7, "over_age"), (3, "employer_bidder,on_leave"), (12, "not_active")]
    with app.app_context():
        upgrade(revision="m1_merge_heads")
        # Plain sqlite3: foreign keys are off by default, so no draw, section or expert is needed.
        with sqlite3.connect(tmp_path / "m.db") as raw:
            raw.execute(
                "INSERT INTO expert_draw_round (id, draw_id, number, status, wanted, pool, pool_digest, "
                "exclusions_digest, frozen_at, server_random_enc, commitment, algorithm) VALUES "
                "(1, 1, 1, 'committed', '[]', '{}', 'x', ?, '2026-01-01', x'00', 'c', 'rfc3797-sha256')",
                (hashlib.sha256(draws.exclusions_canonical(rows).encode()).hexdigest(),),
            )
            raw.executemany("INSERT INTO expert_draw_exclusion VALUES (1, ?, ?)", rows)
        upgrade()
        with db.engine.connect() as conn:
            stored, digest = conn.execute(
                text("SELECT exclusions, exclusions_digest FROM expert_draw_round WHERE id = 1")
            ).one()
        assert stored == '[[3,"employer_bidder,on_leave"],[7,"over_age"],[12,"not_active"]]'
        assert hashlib.sha256(stored.encode()).hexdigest() == digest
        assert "expert_draw_exclusion" not in inspect(db.engine).get_table_names()
