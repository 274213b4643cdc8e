"""``ggzy-audit witness`` against a real gunicorn on a throwaway SQLite database: it pins the key and the
checkpoints the cadence signs for a small log, accepts growth, and refuses a rollback (an older copy of the
database restored), a fork (another log of the same size, then a longer one that does not extend the pinned
tree) and a changed signing key, keeping the evidence. `flask audit verify --witness-state` then fails on
the restored database."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core import audit
from app.core.audit_cli import main
from tests.servers import PY, ROOT, Gunicorn, app_env, flask

APPEND = r"""
import sys
from app import create_app
from app.core import audit
from app.core.db import db

app = create_app()
with app.app_context():
    for i in range(int(sys.argv[1])):
        audit.record("test:witness:" + sys.argv[2], payload={"i": i})
    db.session.commit()
    print(audit.tree_size())
"""


class Platform:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "instance").mkdir()
        # Interval 0: every commit that appends is signed (the interval itself is tested with a moved clock)
        self.env = {**app_env(tmp), "AUDIT_CHECKPOINT_INTERVAL": "0"}
        migrated = flask(self.env, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        self.db = tmp / "instance" / "platform.db"
        self.server: Gunicorn | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    def start(self) -> None:
        self.server = Gunicorn(self.env, "app:create_app()")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def append(self, n: int, tag: str) -> int:
        out = subprocess.run(
            [PY, "-c", APPEND, str(n), tag],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.strip().splitlines()[-1])

    def backup(self, name: str) -> Path:
        target = self.tmp / name
        src, dst = sqlite3.connect(self.db), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return target

    def restore(self, copy: Path) -> None:
        """An operator rolling the database back (the server restarted on the older copy)."""
        self.stop()
        for path in self.db.parent.glob("platform.db*"):
            path.unlink()
        src, dst = sqlite3.connect(copy), sqlite3.connect(self.db)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        self.start()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path)
    try:
        p.start()
        yield p
    finally:
        p.stop()


def run_witness(state: Path, url: str, *extra: str) -> int:
    return main(["witness", "--state", str(state), *extra, url])


def evidence(state: Path, kind: str) -> list[Path]:
    return sorted((state / "evidence").glob(f"*-{kind}*"))


def test_witness_pins_accepts_growth_and_refuses_rollback_and_fork(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "witness"
    assert run_witness(state, platform.url) == 0
    assert "nothing to pin" in capsys.readouterr().out  # a migrated database, no leaf yet
    assert (state / "key").read_text().startswith("ggzy.example.gov.cn/audit-log+")

    assert platform.append(3, "a") == 3  # the cadence signs the small log at its first commit
    assert run_witness(state, platform.url) == 0
    assert "pinned the tree of size 3" in capsys.readouterr().out
    three = platform.backup("three.db")

    assert platform.append(2, "b") == 5
    assert run_witness(state, platform.url) == 0
    assert "grew from 3 to 5 consistently" in capsys.readouterr().out
    assert run_witness(state, platform.url, "--once") == 0
    assert "unchanged at size 5" in capsys.readouterr().out
    pinned = (state / "checkpoint").read_text()
    assert audit.parse_checkpoint_note(pinned)[1] == 5

    # Rollback: the database restored from the copy of size 3.
    platform.restore(three)
    assert run_witness(state, platform.url) == 1
    assert "ROLLBACK: the latest checkpoint has 3 leaves, 5 were pinned" in capsys.readouterr().err
    [folder] = evidence(state, "rollback")
    assert (folder / "pinned.note").read_text() == pinned
    assert audit.parse_checkpoint_note((folder / "offered.note").read_text())[1] == 3
    assert (state / "checkpoint").read_text() == pinned  # nothing replaced

    # The platform's own verify fails against the witness's pin.
    verify = flask(platform.env, "audit", "verify", "--witness-state", str(state))
    assert verify.returncode == 1
    assert "covers 5 leaves, only 3 are stored (log truncated)" in verify.stderr

    # Fork: another history of the same size, then a longer one that does not extend the pinned tree.
    assert platform.append(2, "c") == 5
    assert run_witness(state, platform.url) == 1
    assert "FORK: two different trees of size 5 were signed" in capsys.readouterr().err
    assert platform.append(1, "d") == 6
    assert run_witness(state, platform.url) == 1
    assert "does not extend the pinned tree of size 5" in capsys.readouterr().err
    assert len(evidence(state, "fork")) == 2
    assert all(
        (f / "offered.note").is_file() and (f / "pinned.note").is_file() for f in evidence(state, "fork")
    )
    assert (state / "checkpoint").read_text() == pinned

    # An honest witness that started on the restored log accepts it: only history seen matters.
    fresh = tmp_path / "fresh"
    assert run_witness(fresh, platform.url) == 0
    assert "pinned the tree of size 6" in capsys.readouterr().out


def test_witness_refuses_a_changed_key_unless_given(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "witness"
    platform.append(2, "a")
    assert run_witness(state, platform.url) == 0
    old_key = (state / "key").read_text().strip()

    new = Ed25519PrivateKey.generate()
    pem = new.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    retired = flask(platform.env, "audit", "retire-key")
    assert retired.returncode == 0, retired.stderr
    platform.stop()
    platform.env["PLATFORM_SIGNING_KEY"] = pem
    platform.start()
    assert run_witness(state, platform.url) == 1
    err = capsys.readouterr().err
    assert "not with the trusted key" in err and "--key" in err
    assert (state / "key").read_text().strip() == old_key
    new_key = audit.verifier_key("ggzy.example.gov.cn/audit-log", new.public_key())
    assert len(evidence(state, "key-changed")) == 1

    platform.append(1, "b")  # signed with the new key
    assert run_witness(state, platform.url, "--key", new_key) == 0
    assert "grew from 2 to 4 consistently" in capsys.readouterr().out
    assert (state / "key").read_text().strip() == new_key
    assert run_witness(state, platform.url) == 0
