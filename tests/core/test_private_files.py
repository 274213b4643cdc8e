"""Every file the platform creates is the service account's alone (issue 14: ``instance/platform.db`` was
created 0644): started under the common umask 022, ``flask db upgrade``, the seeding, a real gunicorn and an
envelope uploaded through the API leave only 0600 files and 0700 folders — the SQLite database and its WAL,
the generated secret key, data key and platform signing key, the blobs — and a database file left 0644 by
an older release is tightened at start-up."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pyrage

from tests import servers


def _umask_022() -> None:
    os.umask(0o022)


def _loose(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


def test_files_the_platform_creates_are_private(tmp_path: Path) -> None:
    env = servers.app_env(tmp_path)
    for generated in ("SECRET_KEY", "DATA_KEY", "PLATFORM_SIGNING_KEY"):
        env.pop(generated)  # let the platform generate them into the instance folder
    instance = tmp_path / "instance"
    env["INSTANCE_PATH"] = str(instance)
    env.pop("FILE_UMASK", None)
    old = os.umask(0o022)  # the subprocesses start from the usual umask
    try:
        migrated = servers.flask(env, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        assert stat.S_IMODE((instance / "platform.db").stat().st_mode) == 0o600
        info = servers.seed(tmp_path, env)
        server = servers.Gunicorn(env, "app:create_app()", worker_class="gthread", preexec_fn=_umask_022)
        try:
            body = pyrage.encrypt(os.urandom(64 << 10), [pyrage.x25519.Recipient.from_str(info["recipient"])])
            path = f"/api/v1/bidding/sections/{info['section_id']}/envelopes?kind=document&name=tech.pdf"
            status, receipt = servers.put(
                server.port, path, body, servers.signed_headers(info, info["section_id"], body, "document")
            )
            assert status == 201, receipt
        finally:
            server.stop()
    finally:
        os.umask(old)
    for name in ("platform.db", "secret_key", "data_key", "platform_signing_key.pem"):
        assert (instance / name).exists(), name
    blobs = tmp_path / "blobs"
    assert any(p.is_file() for p in blobs.rglob("*"))  # the envelope is stored
    assert _loose(instance) == []
    assert _loose(blobs) == []


def test_a_database_file_left_world_readable_is_tightened(tmp_path: Path) -> None:
    env = servers.app_env(tmp_path)
    instance = tmp_path / "instance"
    instance.mkdir()
    db_file = instance / "platform.db"
    old = os.umask(0o022)
    try:
        db_file.touch()
        db_file.chmod(0o644)
        migrated = servers.flask(env, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr[-2000:]
    finally:
        os.umask(old)
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
