"""Fault injection against a real gunicorn (issue 9 item 3, SPEC §10 "faults"): kill -9 of the worker in the
middle of an opening ceremony, and a PostgreSQL restart under concurrent uploads. Loopback only, bounded in
time. Afterwards nothing acknowledged is lost, the audit log verifies and the app serves without a restart.

Servers and seeding come from ``tests/servers.py`` (shared with ``tests/bidding/test_crash.py`` and
``tests/test_faults.py``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import os
import select as sockets
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, select, text

from app.accounts import totp
from app.bidding import atrest, signing
from app.bidding.opening import AT_REST_PURPOSE
from tests.bidding.conftest import after_deadline, publish_tender, upload
from tests.projects.conftest import World
from tests.projects.conftest import world as world
from tests.servers import (
    Gunicorn,
    PrivatePostgres,
    app_env,
    bidding_check,
    flask,
    postgres_bin,
    put,
    run_python,
    seed,
    signed_headers,
)

DOC_BYTES = 48 << 20  # large enough that the opening is still decrypting when the poll sees the first bytes

ADVANCE_CLOCK = """
import datetime as dt
from app import create_app
from app.core import democlock
from app.core.db import db

app = create_app()
with app.app_context():
    offset = democlock.advance(dt.timedelta(days=42), actor=None)
    db.session.commit()
print(offset.total_seconds())
"""


# -- shared checks ----------------------------------------------------------------------------------------


def _request(
    port: int, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, body); a hang beyond the timeout raises."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def _json_call(port: int, method: str, path: str, token: str, payload: Any = None, **headers: str) -> Any:
    status, _type, raw = _request(
        port,
        method,
        path,
        body=json.dumps(payload).encode() if payload is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )
    return status, json.loads(raw or b"null")


def _is_error_shape(doc: Any, status: int) -> bool:
    return (
        isinstance(doc, dict)
        and set(doc) == {"code", "status", "message", "errors"}
        and doc["status"] == status
        and bool(doc["code"])
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def _platform_key(env: dict[str, str]) -> Any:
    return signing.load_private_key(env["PLATFORM_SIGNING_KEY"].encode()).public_key()


def _assert_receipts_kept(engine: Engine, env: dict[str, str], receipts: list[dict[str, Any]]) -> None:
    """Every receipt verifies offline, and its envelope row, its file (same SHA-256 and size) and its audit
    leaf (same hash) are all still there."""
    blobs = Path(env["BLOB_DIR"])
    platform = _platform_key(env)
    with engine.connect() as conn:
        for signed in receipts:
            assert signing.verify_receipt(signed, platform) == []
            body = signed["receipt"]
            row = conn.execute(
                text("SELECT sha256, size, blob_path FROM sealed_envelope WHERE id = :id"),
                {"id": body["envelope_id"]},
            ).one_or_none()
            assert row is not None, f"receipt {body['envelope_id']} has no envelope row"
            assert (row.sha256, row.size) == (body["sha256"], body["size"])
            stored = blobs / row.blob_path
            assert stored.stat().st_size == body["size"] and _file_sha256(stored) == body["sha256"]
            leaf = conn.execute(
                text("SELECT leaf_hash FROM audit_leaf WHERE idx = :idx"),
                {"idx": body["audit"]["leaf_index"]},
            ).scalar_one()
            assert bytes(leaf).hex() == body["audit"]["leaf_hash"]


def _assert_audit_verifies(env: dict[str, str]) -> None:
    result = flask(env, "audit", "verify")
    assert result.returncode == 0 and result.stdout.startswith("OK"), result.stdout + result.stderr


# -- kill -9 of the worker mid-opening --------------------------------------------------------------------


class Authenticator:
    """A custodian's TOTP app, on real time (the server checks codes against real time, whatever its demo
    clock says). Codes are single use, so each call takes a later step than the last (the server accepts the
    previous, current and next 30 s step)."""

    def __init__(self, secret_b64: str) -> None:
        self.secret = base64.b64decode(secret_b64)
        self.last = 0

    def code(self) -> str:
        while True:
            moment = time.time()
            current = int(moment) // totp.STEP_SECONDS
            left = totp.STEP_SECONDS - moment % totp.STEP_SECONDS
            step = max(current - 1 if left >= 15 else current, self.last + 1)
            if step <= current + 1:
                self.last = step
                return totp.code_at(self.secret, dt.datetime.fromtimestamp(step * totp.STEP_SECONDS, dt.UTC))
            time.sleep(left + 0.1)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # an interrupted document's file is removed
        return 0


def _opened_plaintext(path: Path, data_key: bytes) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for piece in atrest.decrypt_chunks(fh, data_key, AT_REST_PURPOSE):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


@pytest.mark.slow
def test_kill_9_mid_opening_then_the_ceremony_is_retried_to_success(tmp_path: Path) -> None:
    env = {**app_env(tmp_path), "DEMO_CLOCK": "1"}
    info = seed(tmp_path, env, bidders=3, custodians=True)
    sid = info["section_id"]
    recipient = pyrage.x25519.Recipient.from_str(info["recipient"])
    engine = create_engine(env["DATABASE_URL"])
    opened_dir = tmp_path / "blobs" / "opened" / str(sid)

    server = Gunicorn(env, "app:create_app()")
    try:
        # -- three bidders seal a summary and a large document each, and get their receipts
        receipts: list[dict[str, Any]] = []
        documents: dict[str, str] = {}  # envelope sha256 → plaintext sha256
        for n, bidder in enumerate(info["bidders"]):
            summary = {"section_id": sid, "price": f"{9_500_000 + n}.00", "duration": 300 + n}
            plain = os.urandom(DOC_BYTES)
            for kind, name, body in (
                ("summary", "", pyrage.encrypt(json.dumps(summary).encode(), [recipient])),
                ("document", f"tech-{n}.pdf", pyrage.encrypt(plain, [recipient])),
            ):
                query = f"?kind={kind}" + (f"&name={name}" if name else "")
                headers = {**signed_headers(bidder, sid, body, kind), "Idempotency-Key": f"{kind}-{n}"}
                status, signed = put(
                    server.port, f"/api/v1/bidding/sections/{sid}/envelopes{query}", body, headers
                )
                assert status == 201, signed
                receipts.append(signed)
                if kind == "document":
                    documents[signed["receipt"]["sha256"]] = hashlib.sha256(plain).hexdigest()
            del plain

        # -- past the bid deadline (the demo clock lives in the database: every worker agrees)
        out = run_python(env, ADVANCE_CLOCK)
        assert out.returncode == 0, out.stderr[-2000:]
        custodians = info["custodians"]  # role → API token, TOTP secret, decrypted share
        codes = {role: Authenticator(c["totp_secret"]) for role, c in custodians.items()}
        base = f"/api/v1/bidding/sections/{sid}"

        def start_ceremony() -> int:
            status, doc = _json_call(
                server.port,
                "POST",
                f"{base}/ceremony",
                custodians["center_staff"]["token"],
                **{"X-TOTP-Code": codes["center_staff"].code()},
            )
            assert status == 201, doc
            return int(doc["ceremony_id"])

        def share_request(role: str) -> tuple[str, dict[str, str], bytes]:
            headers = {
                "Authorization": f"Bearer {custodians[role]['token']}",
                "X-TOTP-Code": codes[role].code(),
                "Content-Type": "application/json",
            }
            return f"{base}/shares", headers, json.dumps({"mnemonic": custodians[role]["mnemonic"]}).encode()

        first_ceremony = start_ceremony()
        path, headers, body = share_request("regulator")
        status, _type, raw = _request(server.port, "POST", path, body=body, headers=headers)
        assert status == 200 and json.loads(raw)["status"] == "collecting", raw

        # -- the k-th share: the key is rebuilt, the record published, the documents decrypted … kill -9
        victim = server.worker()
        path, headers, body = share_request("tenderer")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        conn.request("POST", path, body=body, headers=headers)
        assert conn.sock is not None
        deadline = time.monotonic() + 60
        killed = False
        while time.monotonic() < deadline:
            started = [p for p in opened_dir.glob("*.bin") if _size(p) > 0] if opened_dir.exists() else []
            if started:
                os.kill(victim, signal.SIGKILL)
                killed = True
                break
            if sockets.select([conn.sock], [], [], 0.002)[0]:
                pytest.fail(
                    "the opening answered before any document was being decrypted: documents too small"
                )
        assert killed, "no document decryption started within 60 s"
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.getresponse().read()
        conn.close()
        at_kill = {p.name: p.stat().st_size for p in opened_dir.glob("*.bin")}
        # the kill hit phase 2: at least one at-rest document was still being written
        assert at_kill and min(at_kill.values()) < DOC_BYTES, at_kill

        server.wait_ready()  # the master has replaced the worker; gunicorn itself was not restarted
        assert victim not in server.workers()

        # -- after the crash: nothing acknowledged is lost, nothing half-written is counted
        with engine.connect() as db:
            ceremony = db.execute(
                text("SELECT status, completed_at, record_sha256 FROM opening_ceremony WHERE id = :id"),
                {"id": first_ceremony},
            ).one()
            assert (ceremony.status, ceremony.completed_at, ceremony.record_sha256) == (
                "decrypting",
                None,
                None,
            )
            section = db.execute(text("SELECT status FROM section WHERE id = :id"), {"id": sid}).scalar_one()
            assert section == "opening"
            # the summaries were read and the record published before the documents (phase 1 committed)
            entries = db.execute(
                text("SELECT count(*) FROM opening_record_entry WHERE ceremony_id = :id"),
                {"id": first_ceremony},
            ).scalar_one()
            assert entries == 3
            counted = db.execute(
                text(
                    "SELECT count(*) FROM sealed_envelope "
                    "WHERE section_id = :s AND plaintext_path IS NOT NULL"
                ),
                {"s": sid},
            ).scalar_one()
            assert counted == 0  # no half-written (or even whole) document is counted before the outcome
        _assert_receipts_kept(engine, env, receipts)
        _assert_audit_verifies(env)
        check = flask(env, "bidding", "check")
        assert f"{len(receipts)} receipts" in check.stdout, check.stdout
        problems = [
            line for line in check.stdout.splitlines() if line.startswith(("MISSING", "SIZE", "ORPHAN"))
        ]
        # only the interrupted at-rest files are without a row: no receipt lacks its file
        assert problems == [
            f"ORPHAN file without receipt: opened/{sid}/{name}" for name in sorted(at_kill)
        ], check.stdout

        # -- the ceremony is retried: staff postpone the interrupted one, start again, custodians resubmit
        status, doc = _json_call(
            server.port,
            "POST",
            f"{base}/ceremony/postpone",
            custodians["center_staff"]["token"],
            {"reason": "开标服务进程崩溃"},
        )
        assert status == 200 and doc["status"] == "postponed", doc
        second_ceremony = start_ceremony()
        for role, expected in (("regulator", "collecting"), ("tenderer", "completed")):
            path, headers, body = share_request(role)
            status, _type, raw = _request(server.port, "POST", path, body=body, headers=headers)
            assert status == 200 and json.loads(raw)["status"] == expected, raw

        status, _type, raw = _request(server.port, "GET", f"{base}/record")
        assert status == 200, raw
        record = json.loads(raw)
        assert record["valid_bids"] == 3 and record["section_status"] == "opened"
        assert record["record"]["ceremony_id"] == second_ceremony
        assert {e["sha256"] for entry in record["record"]["entries"] for e in entry["envelopes"]} == {
            r["receipt"]["sha256"] for r in receipts
        }
    finally:
        server.stop()

    # -- every receipted envelope was opened; every document decrypts to what the bidder sealed
    data_key = hashlib.sha256(b"bidding-at-rest\x00" + env["DATA_KEY"].encode()).digest()
    with engine.connect() as db:
        rows = db.execute(
            text(
                "SELECT kind, sha256, decrypt_status, plaintext_path, plaintext_size FROM sealed_envelope "
                "WHERE section_id = :s AND status = 'active'"
            ),
            {"s": sid},
        ).all()
        assert len(rows) == len(receipts) and all(r.decrypt_status == "ok" for r in rows)
        for row in rows:
            if row.kind == "document":
                assert row.plaintext_size == DOC_BYTES
                assert Path(row.plaintext_path).name not in at_kill  # a file of the retry, not of the crash
                assert _opened_plaintext(Path(env["BLOB_DIR"]) / row.plaintext_path, data_key) == (
                    documents[row.sha256],
                    DOC_BYTES,
                )
        old = db.execute(
            text("SELECT status, postponed_reason FROM opening_ceremony WHERE id = :id"),
            {"id": first_ceremony},
        ).one()
        assert (old.status, old.postponed_reason) == ("postponed", "开标服务进程崩溃")
        # the shares held for the interrupted ceremony are erased with it
        assert (
            db.execute(
                text("SELECT count(*) FROM submitted_share WHERE share_enc IS NOT NULL"),
            ).scalar_one()
            == 0
        )
    _assert_receipts_kept(engine, env, receipts)
    engine.dispose()
    _assert_audit_verifies(env)
    # the crash's orphans go with the ordinary clean-up; then every file has its row
    cleaned = flask(env, "bidding", "cleanup", "--grace", "0")
    assert cleaned.returncode == 0 and f"{len(at_kill)} file(s) removed" in cleaned.stdout, cleaned.stdout
    assert f"{len(receipts)} receipts, {len(receipts) + len(documents)} files" in bidding_check(env)


def test_an_opener_that_outlives_its_postponed_ceremony_counts_nothing(
    app: Flask,
    client: FlaskClient,
    world: World,
    db_session: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other side of postponing a ``decrypting`` ceremony: if its opener was not dead after all, its
    outcome is discarded (no document counted, its at-rest files removed), and a new ceremony opens."""
    from app.bidding import opening
    from app.bidding.models import OpeningCeremony, SealedEnvelope
    from app.core.db import db

    monkeypatch.setitem(app.config, "BLOB_DIR", str(tmp_path / "blobs"))
    with app.test_request_context():
        tender = publish_tender(world)
    sid = tender.section.id
    for n, bidder in enumerate(tender.bidders):
        assert upload(client, tender, bidder, tender.summary(f"{9_000_000 + n}.00")).status_code == 201
        sealed = tender.seal(os.urandom(256 * 1024))
        assert upload(client, tender, bidder, sealed, kind="document", name="tech.pdf").status_code == 201
    after_deadline()
    decrypt = opening.open_documents

    def postponed_meanwhile(envelopes: list[SealedEnvelope], identity: Any) -> Any:
        results = decrypt(envelopes, identity)
        opening.postpone(sid, actor=tender.world.staff, reason="开标进程无响应")  # staff gave it up for lost
        db.session.commit()
        return results

    monkeypatch.setattr(opening, "open_documents", postponed_meanwhile)
    opened = tmp_path / "blobs" / "opened" / str(sid)
    with app.test_request_context():
        first = opening.start_ceremony(sid, actor=tender.world.staff).id
        for custodian in tender.custodians[:2]:
            _, quorum = opening.submit_share(sid, tender.mnemonic(custodian), actor=custodian)
        assert quorum
        result = opening.run_opening(first, actor=custodian)
    assert result is not None and result.status == "postponed" and result.completed_at is None
    assert tender.section.status == "opening"
    docs = db.session.scalars(select(SealedEnvelope).where(SealedEnvelope.section_id == sid)).all()
    assert [d.plaintext_path for d in docs] == [None] * 6
    assert not any(opened.glob("*.bin"))

    monkeypatch.setattr(opening, "open_documents", decrypt)
    with app.test_request_context():
        second = opening.start_ceremony(sid, actor=tender.world.staff).id
        for custodian in tender.custodians[1:]:
            opening.submit_share(sid, tender.mnemonic(custodian), actor=custodian)
        result = opening.run_opening(second, actor=custodian)
    assert result is not None and (result.status, result.valid_bids) == ("completed", 3)
    assert db.session.get(OpeningCeremony, first).status == "postponed"
    assert len(list(opened.glob("*.bin"))) == 3


# -- PostgreSQL restart during uploads --------------------------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: this test runs its own cluster"
        )
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        pytest.skip(
            "running as root without a 'postgres' user to own the private cluster (initdb refuses root)"
        )
    server = PrivatePostgres(bindir)
    try:
        yield server
    finally:
        server.destroy()


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_database_lost_with_the_transaction_open_keeps_the_response(
    private_postgres: PrivatePostgres,
) -> None:
    """The request's transaction is open when PostgreSQL goes away: the session's ROLLBACK at the end of
    the request cannot reach the server. That must not replace the response already made (gunicorn would
    answer its bare HTML 500 instead of the receipt or the JSON error); the next request reconnects."""
    from flask import jsonify

    from app.core.db import Database

    store = Database()
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = private_postgres.url.replace(
        "postgresql://", "postgresql+psycopg://"
    )
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    store.init_app(app)

    @app.get("/")
    def view() -> Any:
        assert store.session.execute(text("SELECT 1")).scalar() == 1  # the transaction is open …
        private_postgres.stop("immediate")  # … when the database goes away
        return jsonify(ok=True)

    resp = app.test_client().get("/")
    assert resp.status_code == 200 and resp.get_json() == {"ok": True}
    private_postgres.start()
    with app.app_context():
        assert store.session.execute(text("SELECT 2")).scalar() == 2  # the next request reconnects
    with app.app_context():
        store.engine.dispose()


class Uploader(threading.Thread):
    """One bidder replacing its document again and again. Each version is retried with the same
    Idempotency-Key until it gets its receipt; every answer must be a receipt or a JSON error."""

    def __init__(self, port: int, section_id: int, recipient: str, bidder: dict[str, str], name: str) -> None:
        super().__init__(daemon=True)
        self.port, self.section_id, self.bidder, self.name = port, section_id, bidder, name
        self.recipient = pyrage.x25519.Recipient.from_str(recipient)
        self.phase = "before"  # set by the test: before, outage, after
        self.stop = threading.Event()
        self.receipts: list[tuple[str, dict[str, Any]]] = []  # (phase when the request was sent, receipt)
        self.errors: list[tuple[str, int, Any]] = []  # (phase when sent, status, JSON body)
        self.problems: list[str] = []

    def run(self) -> None:
        version = 0
        while not self.stop.is_set() and not self.problems:
            version += 1
            body = pyrage.encrypt(
                f"{self.name} v{version} ".encode() + os.urandom(16 * 1024), [self.recipient]
            )
            headers = {
                **signed_headers(self.bidder, self.section_id, body, "document"),
                "Idempotency-Key": f"{self.name}-v{version}",
            }
            self.upload_until_receipted(body, headers)

    def upload_until_receipted(self, body: bytes, headers: dict[str, str]) -> None:
        path = f"/api/v1/bidding/sections/{self.section_id}/envelopes?kind=document&name=tech.pdf"
        give_up = time.monotonic() + 90
        while time.monotonic() < give_up:
            phase = self.phase
            try:
                status, kind, raw = _request(
                    self.port,
                    "PUT",
                    path,
                    body=body,
                    headers={**headers, "Content-Type": "application/octet-stream"},
                )
            except (OSError, http.client.HTTPException) as err:
                self.problems.append(f"no answer ({phase}): {err!r}")
                return
            doc = json.loads(raw) if kind.startswith("application/json") else raw[:200]
            if status in (200, 201) and isinstance(doc, dict) and "receipt" in doc:
                self.receipts.append((phase, doc))
                return
            if status >= 500 and _is_error_shape(doc, status):
                self.errors.append((phase, status, doc))
                time.sleep(0.1)
                continue
            self.problems.append(f"unclear answer ({phase}): {status} {doc!r}")
            return
        self.problems.append("no receipt within 90 s of retries")

    def receipted(self, phase: str) -> int:
        return sum(1 for p, _r in self.receipts if p == phase)


def _wait_for(uploaders: list[Uploader], phase: str, count: int, timeout: float = 60) -> None:
    """Until every uploader has ``count`` receipts for requests sent in ``phase``; fails on a problem."""
    deadline = time.monotonic() + timeout
    while not all(u.receipted(phase) >= count for u in uploaders):
        assert [p for u in uploaders for p in u.problems] == []
        assert time.monotonic() < deadline, f"timed out waiting for receipts ({phase})"
        time.sleep(0.05)


@pytest.mark.slow
def test_postgres_restart_during_uploads(tmp_path: Path, private_postgres: PrivatePostgres) -> None:
    env = app_env(tmp_path, database_url=private_postgres.url)
    info = seed(tmp_path, env, bidders=5)  # migrations run against the private cluster (flask db upgrade)
    sid = info["section_id"]
    server = Gunicorn(env, "app:create_app()", workers=2, worker_class="gthread")
    uploaders = [
        Uploader(server.port, sid, info["recipient"], bidder, f"bidder{n}")
        for n, bidder in enumerate(info["bidders"][:4])
    ]
    probe = Uploader(server.port, sid, info["recipient"], info["bidders"][4], "probe")
    try:
        workers = set(server.workers())
        assert len(workers) == 2
        for uploader in uploaders:
            uploader.start()
        _wait_for(uploaders, "before", 2)

        # -- PostgreSQL goes down hard (no checkpoint, crash recovery on start) while uploads keep coming
        for uploader in (*uploaders, probe):
            uploader.phase = "outage"
        private_postgres.stop("immediate")
        # a request that certainly meets the outage: a clear JSON error, promptly
        body = pyrage.encrypt(
            b"probe " + os.urandom(1024), [pyrage.x25519.Recipient.from_str(info["recipient"])]
        )
        headers = {**signed_headers(probe.bidder, sid, body, "document"), "Idempotency-Key": "probe-v1"}
        status, kind, raw = _request(
            server.port,
            "PUT",
            f"/api/v1/bidding/sections/{sid}/envelopes?kind=document&name=tech.pdf",
            body=body,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert status == 503 and kind.startswith("application/json"), (status, raw[:300])  # retry later
        assert _is_error_shape(json.loads(raw), status)
        assert _request(server.port, "GET", "/api/v1/health")[0] == 200  # the process still answers
        time.sleep(1)  # the uploaders meet the outage too
        private_postgres.start()
        for uploader in (*uploaders, probe):
            uploader.phase = "after"

        # -- the app recovers by itself: the probe's retry gets its receipt, pages and the API answer 200
        probe.upload_until_receipted(body, headers)
        assert probe.problems == [] and probe.receipted("after") == 1
        for path in (
            "/api/v1/health",
            "/portal/",
            f"/portal/sections/{sid}",
            f"/api/v1/bidding/sections/{sid}",
        ):
            for _ in range(4):  # several requests, so that both workers answer some
                assert _request(server.port, "GET", path)[0] == 200, path
        _wait_for(uploaders, "after", 2)
    finally:
        for uploader in uploaders:
            uploader.stop.set()
        for uploader in uploaders:
            uploader.join(timeout=60)
        server_workers = set(server.workers())
        server.stop()
    assert not any(u.is_alive() for u in uploaders), "an upload hung"
    assert [p for u in uploaders for p in u.problems] == []
    assert server_workers == workers  # no worker died or was replaced: gunicorn kept serving throughout
    # no request sent once PostgreSQL was back failed (a stale pooled connection would give a 500 here)
    assert [e for u in (*uploaders, probe) for e in u.errors if e[0] == "after"] == []

    # -- nothing acknowledged is lost: every receipt, from before, during and after the outage
    receipts = [r for u in (*uploaders, probe) for _phase, r in u.receipts]
    engine = create_engine(private_postgres.url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        _assert_receipts_kept(engine, env, receipts)
        with engine.connect() as db:
            for uploader in (
                *uploaders,
                probe,
            ):  # each bidder's last receipted version is the one that counts
                active = db.execute(
                    text(
                        "SELECT sha256 FROM sealed_envelope WHERE section_id = :s AND org_id = :o "
                        "AND status = 'active'"
                    ),
                    {"s": sid, "o": uploader.receipts[-1][1]["receipt"]["bidder_org_id"]},
                ).scalar_one()
                assert active == uploader.receipts[-1][1]["receipt"]["sha256"]
    finally:
        engine.dispose()
    envelope_ids = {r["receipt"]["envelope_id"] for r in receipts}
    assert len(envelope_ids) == len(receipts)  # one envelope per receipted version, retries included
    # every row has its receipt (a row without one would be counted here) and its file
    check = flask(env, "bidding", "check")
    assert f"{len(receipts)} receipts" in check.stdout, check.stdout
    assert not any(line.startswith(("MISSING", "SIZE")) for line in check.stdout.splitlines()), check.stdout
    # A file without a row is only what a request that failed can leave: its COMMIT was lost on the way,
    # so whether it committed was unknown (a retry then gets a new row). The ordinary clean-up removes it.
    orphans = [line for line in check.stdout.splitlines() if line.startswith("ORPHAN")]
    assert len(orphans) <= sum(len(u.errors) for u in (*uploaders, probe))
    assert flask(env, "bidding", "cleanup", "--grace", "0").returncode == 0
    assert f"{len(receipts)} receipts, {len(receipts)} files" in bidding_check(env)
    _assert_audit_verifies(env)
