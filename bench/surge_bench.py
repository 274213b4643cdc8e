"""Deadline surge: many bidders upload large sealed envelopes in the last minute; the deadline passes
mid-surge.

    python bench/surge_bench.py [--bidders 200] [--mib 20] [--small] [--resumable 0.2] [--window 20]
        [--json out.json]

Set-up (not timed): a throwaway PostgreSQL database (``DATABASE_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``; created here, dropped afterwards), Redis (``REDIS_URL`` or
``redis://127.0.0.1:6379/15``), a published section whose opening key is split among three custodians, N
bidder organizations each with a registered Ed25519 key and an API token (through the services), a small
sealed summary per bidder, and N *distinct* sealed document envelopes (each its own age file key and
plaintext).

The surge: gunicorn (2 workers, gthread) with the demo clock (``DEMO_CLOCK=1``) moved so that the bid deadline
falls at ``--late`` before the end of a ``--window``-second arrival window. Every bidder starts at a random
moment of the window; a fraction ``--resumable`` uses the resumable API (create → PATCH 4 MiB chunks with
checksums → a connection deliberately dropped half-way through a chunk → ask the offset → resume → finalize).
Each upload must end with a receipt or a clear error (JSON with a ``code``).

Invariants afterwards: every receipt verifies, has its stored file (size and SHA-256) and its audit leaf;
``storage.check()`` finds no row without a file and no file without a row; no receipt at or after the deadline
and no receipt for an upload whose last byte left the client after the deadline; the ceremony (two custodian
shares, through the services) decrypts every receipted envelope.

Baseline in the same run: the bare write-to-disk WSGI app of ``upload_bench`` on the same gunicorn settings,
the same bodies and the same arrival schedule. Loopback only; the whole run aborts after ``--abort`` seconds.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import upload_bench  # noqa: E402

CHUNK = 4 * 1024 * 1024
SEND_PIECE = 256 * 1024
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"

_children: list[subprocess.Popen[bytes]] = []


# -- servers -----------------------------------------------------------------------------------------------


class Server:
    """gunicorn, 2 gthread workers, on a free loopback port."""

    def __init__(self, target: str, env: dict[str, str], threads: int, log: Path) -> None:
        self.port = upload_bench._free_port()
        self.log = open(log, "ab")  # noqa: SIM115  # closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--backlog",
                "2048",
                "--timeout",
                "600",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--access-logfile",
                "/dev/null",
                target,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        _children.append(self.proc)
        # both workers import the app on their first request: warm them with a few parallel requests
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                ok = [self._get("/api/v1/health") for _ in range(6)]
                if all(s < 500 for s in ok):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn {target} did not start")

    def _get(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# -- clients -----------------------------------------------------------------------------------------------


@dataclass
class Bidder:
    index: int
    org_id: int
    token: str
    key_id: str
    key: Any
    body: bytes
    sha256: str
    resumable: bool
    start: float = 0.0


@dataclass
class Outcome:
    index: int
    resumable: bool
    status: int  # HTTP status of the final answer, 0 = no answer
    code: str | None  # the error code of a refusal (a "clear error"), None for a receipt
    latency: float
    last_byte: float  # wall clock when the client finished sending (before the answer)
    sent: int
    receipt: dict[str, Any] | None
    error: str | None = None

    @property
    def clear(self) -> bool:
        return self.receipt is not None or (400 <= self.status < 500 and bool(self.code))


def _send_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: memoryview | bytes,
    *,
    cut: int | None = None,
) -> tuple[int, dict[str, str], bytes, float]:
    """One request. With ``cut``, send only that many body bytes and drop the connection (status 0)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(k, v)
        conn.endheaders()
        view = memoryview(body)
        end = len(view) if cut is None else cut
        send_error: Exception | None = None
        try:
            for at in range(0, end, SEND_PIECE):
                conn.send(view[at : min(at + SEND_PIECE, end)])
        except (BrokenPipeError, ConnectionResetError) as err:  # the server answered early (a refusal)
            send_error = err
        last = time.time()
        if cut is not None:
            assert conn.sock is not None
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.sock.close()  # RST: a dropped connection, not a clean end of the body
            return 0, {}, b"", last
        try:
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            if send_error is not None:
                raise send_error from None
            raise
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, last
    finally:
        conn.close()


def _outcome(b: Bidder, status: int, data: bytes, started: float, last: float, sent: int) -> Outcome:
    try:
        doc = json.loads(data or b"null")
    except ValueError:
        doc = None
    took = time.time() - started
    if status in (200, 201) and isinstance(doc, dict) and "signature" in doc:
        return Outcome(b.index, b.resumable, status, None, took, last, sent, doc)
    code = doc.get("code") if isinstance(doc, dict) else None
    return Outcome(b.index, b.resumable, status, code, took, last, sent, None, error=str(data[:200]))


def upload_direct(port: int, section_id: int, b: Bidder) -> Outcome:
    started = time.time()
    sig = base64.b64encode(b.key.sign(_statement(b.sha256, section_id))).decode()
    headers = {
        "Authorization": f"Bearer {b.token}",
        "Content-Type": "application/octet-stream",
        "X-Bid-Key-Id": b.key_id,
        "X-Bid-Signature": sig,
        "Idempotency-Key": f"surge-{b.index}",
    }
    path = f"/api/v1/bidding/sections/{section_id}/envelopes?kind=document&name=tech.pdf"
    try:
        status, _h, data, last = _send_request(port, "PUT", path, headers, b.body)
    except (OSError, http.client.HTTPException) as err:
        return Outcome(b.index, False, 0, None, time.time() - started, time.time(), 0, None, repr(err))
    return _outcome(b, status, data, started, last, len(b.body))


def upload_resumable(port: int, section_id: int, b: Bidder) -> Outcome:
    """create → chunks → the connection dropped half-way through the middle chunk → GET the offset →
    resume → finalize."""
    started = time.time()
    auth = {"Authorization": f"Bearer {b.token}"}
    sig = base64.b64encode(b.key.sign(_statement(b.sha256, section_id))).decode()
    sent = 0
    try:
        meta = json.dumps({"kind": "document", "name": "tech.pdf", "length": len(b.body)}).encode()
        status, hdrs, data, last = _send_request(
            port,
            "POST",
            f"/api/v1/bidding/sections/{section_id}/uploads",
            {**auth, "Content-Type": "application/json"},
            meta,
        )
        if status != 201:
            return _outcome(b, status, data, started, last, 0)
        uid = json.loads(data)["id"]
        offset, dropped = 0, False
        drop_at = (len(b.body) // 2) // CHUNK * CHUNK
        while offset < len(b.body):
            chunk = memoryview(b.body)[offset : offset + CHUNK]
            if not dropped and offset >= drop_at:
                dropped = True
                _send_request(
                    port,
                    "PATCH",
                    f"/api/v1/bidding/uploads/{uid}",
                    {**auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                    chunk,
                    cut=len(chunk) // 2,
                )
                sent += len(chunk) // 2
                time.sleep(0.2)
                status, hdrs, data, last = _send_request(
                    port, "GET", f"/api/v1/bidding/uploads/{uid}", auth, b""
                )
                if status != 200:
                    return _outcome(b, status, data, started, last, sent)
                offset = int(hdrs["upload-offset"])
                continue
            checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
            status, hdrs, data, last = _send_request(
                port,
                "PATCH",
                f"/api/v1/bidding/uploads/{uid}",
                {
                    **auth,
                    "Upload-Offset": str(offset),
                    "Upload-Checksum": f"sha256 {checksum}",
                    "Content-Type": "application/offset+octet-stream",
                },
                chunk,
            )
            sent += len(chunk)
            if status == 409:  # offset mismatch after the drop: ask again
                status, hdrs, data, last = _send_request(
                    port, "GET", f"/api/v1/bidding/uploads/{uid}", auth, b""
                )
            if status not in (200, 204):
                return _outcome(b, status, data, started, last, sent)
            offset = int(hdrs["upload-offset"])
        last = time.time()
        status, _h, data, _l = _send_request(
            port,
            "POST",
            f"/api/v1/bidding/uploads/{uid}/finalize",
            {
                **auth,
                "X-Bid-Key-Id": b.key_id,
                "X-Bid-Signature": sig,
                "Idempotency-Key": f"surge-{b.index}",
                "X-Content-SHA256": b.sha256,
                "Content-Type": "application/json",
            },
            b"{}",
        )
        return _outcome(b, status, data, started, last, sent)
    except (OSError, http.client.HTTPException, KeyError, ValueError) as err:
        return Outcome(b.index, True, 0, None, time.time() - started, time.time(), sent, None, repr(err))


def bare_put(port: int, b: Bidder) -> Outcome:
    started = time.time()
    try:
        status, _h, _data, last = _send_request(
            port, "PUT", "/", {"Content-Type": "application/octet-stream"}, b.body
        )
    except (OSError, http.client.HTTPException) as err:
        return Outcome(b.index, False, 0, None, time.time() - started, time.time(), 0, None, repr(err))
    ok = status == 201
    return Outcome(
        b.index,
        False,
        status,
        None if ok else "x",
        time.time() - started,
        last,
        len(b.body),
        {} if ok else None,
    )


def _statement(sha: str, section_id: int) -> bytes:
    from app.bidding import signing

    return signing.envelope_statement(sha, section_id, "document")


def surge(bidders: list[Bidder], t0: float, run: Any) -> tuple[list[Outcome], float, float]:
    """Start each bidder at ``t0 + bidder.start``; returns the outcomes, first start and last end."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def one(b: Bidder) -> None:
        delay = t0 + b.start - time.time()
        if delay > 0:
            time.sleep(delay)
        out = run(b)
        with lock:
            outcomes.append(out)

    threads = [threading.Thread(target=one, args=(b,), daemon=True) for b in bidders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.time()
    return sorted(outcomes, key=lambda o: o.index), t0, end


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


# -- set-up ------------------------------------------------------------------------------------------------


def create_database(base_url: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    name = f"surge_bench_{os.getpid()}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def make_bidders(
    info: dict[str, Any], n: int, mib: int, resumable: float, rng: random.Random
) -> list[Bidder]:
    """N-1 more bidder organizations (the seed made one) through the services, a sealed summary each
    (uploaded through the real endpoint before the surge), and N distinct sealed 20 MiB documents."""
    import pyrage
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from app.accounts import passwords
    from app.accounts import services as accounts
    from app.bidding import services as bidding
    from app.bidding import signing
    from app.core.db import db
    from app.core.permissions import OrgKind, Role

    app = info["app"]
    section_id = info["section_id"]
    recipient = pyrage.x25519.Recipient.from_str(info["recipient"])
    fixed_hash = passwords.hash_password("surge-bench-never-used")
    original = passwords.hash_password
    passwords.hash_password = lambda _pw: fixed_hash  # type: ignore[assignment]  # API tokens only: no logins
    creds: list[tuple[int, str, str, Any]] = []
    try:
        with app.test_request_context():
            from app.accounts.models import User

            first = db.session.scalar(db.select(User).where(User.username == "bidder"))
            creds.append((first.org_id, info["token"], info["key_id"], info["key"]))
            for i in range(1, n):
                org = accounts.create_organization(f"投标人{i:03d}", OrgKind.BIDDER, actor=None)
                user = accounts.create_user(
                    username=f"bidder{i:03d}",
                    display_name=f"bidder{i:03d}",
                    organization=org,
                    role=Role.BIDDER,
                    password=f"Surge-bench-{i:03d}-never-used",
                    actor=None,
                )
                key = Ed25519PrivateKey.generate()
                row = bidding.register_bidder_key(
                    org, base64.b64encode(signing.raw_public(key.public_key())).decode(), actor=user
                )
                creds.append((org.id, accounts.create_api_token(user, "surge").raw, row.key_id, key))
            db.session.commit()
    finally:
        passwords.hash_password = original  # type: ignore[assignment]

    client = app.test_client()
    for i, (_org, token, key_id, key) in enumerate(creds):
        summary = pyrage.encrypt(
            json.dumps(
                {"section_id": section_id, "price": f"{9_000_000 + i * 1000}.00", "duration": 300 + i}
            ).encode(),
            [recipient],
        )
        sig = key.sign(signing.envelope_statement(hashlib.sha256(summary).hexdigest(), section_id, "summary"))
        resp = client.put(
            f"/api/v1/bidding/sections/{section_id}/envelopes?kind=summary",
            data=summary,
            content_type="application/octet-stream",
            headers={
                "Authorization": f"Bearer {token}",
                "X-Bid-Key-Id": key_id,
                "X-Bid-Signature": base64.b64encode(sig).decode(),
            },
        )
        if resp.status_code != 201:
            raise SystemExit(f"summary upload failed: {resp.status_code} {resp.get_data(as_text=True)[:300]}")

    size = mib * 1024 * 1024
    zeros = bytes(size - 64)
    bidders = []
    for i, (org_id, token, key_id, key) in enumerate(creds):
        plain = f"bidder {i} {org_id} ".encode().ljust(64, b"#") + zeros  # distinct plaintexts
        body = pyrage.encrypt(plain, [recipient])  # and a fresh file key each: distinct ciphertexts
        bidders.append(
            Bidder(
                i,
                org_id,
                token,
                key_id,
                key,
                body,
                hashlib.sha256(body).hexdigest(),
                rng.random() < resumable,
            )
        )
    return bidders


# -- invariants --------------------------------------------------------------------------------------------


def check_invariants(
    info: dict[str, Any], outcomes: list[Outcome], deadline_real: float, bidders: list[Bidder]
) -> dict[str, Any]:
    from sqlalchemy import select

    from app.bidding import opening, signing, storage
    from app.bidding.models import SealedEnvelope
    from app.core import crypto
    from app.core.clock import now
    from app.core.db import db
    from app.core.models import AuditLeaf

    app = info["app"]
    section_id = info["section_id"]
    result: dict[str, Any] = {}
    receipts = [o for o in outcomes if o.receipt is not None]
    with app.test_request_context():
        db.session.rollback()
        platform = crypto.signing_key().public_key()
        bad_receipts, missing_file, bad_file, missing_leaf = 0, 0, 0, 0
        for o in receipts:
            assert o.receipt is not None
            if signing.verify_receipt(o.receipt, platform):
                bad_receipts += 1
            r = o.receipt["receipt"]
            env = db.session.get(SealedEnvelope, r["envelope_id"])
            path = storage.blob_root() / env.blob_path if env is not None else None
            if env is None or path is None or not path.exists():
                missing_file += 1
                continue
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                while piece := fh.read(1 << 20):
                    digest.update(piece)
            if digest.hexdigest() != r["sha256"] or r["sha256"] != bidders[o.index].sha256:
                bad_file += 1
            leaf = db.session.scalar(select(AuditLeaf).where(AuditLeaf.idx == r["audit"]["leaf_index"]))
            if leaf is None or bytes(leaf.leaf_hash).hex() != r["audit"]["leaf_hash"]:
                missing_leaf += 1
        docs = list(
            db.session.scalars(
                select(SealedEnvelope).where(
                    SealedEnvelope.section_id == section_id, SealedEnvelope.kind == "document"
                )
            )
        )
        receipted_ids = {o.receipt["receipt"]["envelope_id"] for o in receipts if o.receipt}
        rows_without_receipt = [e.id for e in docs if e.id not in receipted_ids]
        report = storage.check()
        section_deadline = db.session.get(info["section_cls"], section_id).bid_deadline
        late_rows = [e.id for e in docs if e.received_at >= section_deadline]
        late_receipts = [o.index for o in receipts if o.last_byte > deadline_real + 0.05]
        tmp_left = [
            p.name for p in (storage.blob_root() / "tmp").glob("*.part") if not p.name.startswith("up-")
        ]
        result.update(
            receipts=len(receipts),
            bad_receipt_signatures=bad_receipts,
            receipts_without_file=missing_file,
            receipts_with_wrong_file=bad_file,
            receipts_without_leaf=missing_leaf,
            rows_without_receipt=len(rows_without_receipt),
            check_ok=report.ok,
            check_rows=report.rows,
            check_files=report.files,
            orphan_files=len(report.orphan_files),
            missing_files=len(report.missing_files),
            accepted_after_deadline=len(late_rows) + len(late_receipts),
            temp_files_left=len(tmp_left),
        )

        # the opening: two custodian shares through the services
        import pyrage

        from app.accounts.models import User

        assert now() >= section_deadline
        staff = db.session.get(User, info["staff_id"])
        started = time.perf_counter()
        ceremony = opening.start_ceremony(section_id, actor=staff)
        db.session.commit()
        cid = ceremony.id
        opened = None
        for user_id, ident in list(info["custodians"].items()):
            custodian = db.session.get(User, user_id)
            share = opening.custodian_share(section_id, custodian)
            mnemonic = pyrage.decrypt(share.ciphertext, [ident]).decode()
            _c, quorum = opening.submit_share(section_id, mnemonic, actor=custodian)
            db.session.commit()
            if quorum:
                opened = opening.run_opening(cid, actor=custodian)
                break
        took = time.perf_counter() - started
        db.session.rollback()
        active = list(
            db.session.scalars(
                select(SealedEnvelope).where(
                    SealedEnvelope.section_id == section_id, SealedEnvelope.status == "active"
                )
            )
        )
        receipted = [e for e in active if e.kind == "summary" or e.id in receipted_ids]
        ok = [e for e in receipted if e.decrypt_status == "ok"]
        result.update(
            ceremony_status=opened.status if opened is not None else None,
            opening_seconds=round(took, 1),
            opened_envelopes=len(receipted),
            decrypted_ok=len(ok),
            decrypt_failures=sorted({str(e.decrypt_status) for e in receipted if e.decrypt_status != "ok"}),
            valid_bids=opened.valid_bids if opened is not None else None,
            check_after_opening_ok=storage.check().ok,
        )
    return result


# -- main --------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bidders", type=int, default=200)
    parser.add_argument("--mib", type=int, default=20)
    parser.add_argument("--small", action="store_true", help="100 bidders × 10 MiB (a 2-core machine)")
    parser.add_argument(
        "--resumable", type=float, default=0.2, help="share of bidders using resumable uploads"
    )
    parser.add_argument("--window", type=float, default=20.0, help="arrival window, seconds")
    parser.add_argument("--late", type=float, default=0.15, help="share of the window after the deadline")
    parser.add_argument("--threads", type=int, default=32, help="gthread threads per worker")
    parser.add_argument("--abort", type=float, default=600.0, help="abort the whole run after this many s")
    parser.add_argument("--seed", type=int, default=20260323)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.small:
        args.bidders, args.mib = 100, 10

    work = Path(tempfile.mkdtemp(prefix="surge-bench-"))
    drop_db: Any = None

    def abort() -> None:
        print(f"surge bench: aborted after {args.abort:.0f} s", file=sys.stderr, flush=True)
        for p in _children:
            if p.poll() is None:
                p.kill()
        if drop_db is not None:
            with contextlib.suppress(Exception):  # best effort on the way out
                drop_db()
        shutil.rmtree(work, ignore_errors=True)
        os._exit(3)

    watchdog = threading.Timer(args.abort, abort)
    watchdog.daemon = True
    watchdog.start()
    rng = random.Random(args.seed)
    try:
        db_url, drop_db = create_database(os.environ.get("DATABASE_URL") or DEFAULT_PG)
        instance = work / "instance"
        instance.mkdir()
        (work / "bare").mkdir()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = (
            Ed25519PrivateKey.generate()
            .private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            .decode()
        )
        env = {
            **os.environ,
            "FLASK_APP": "app:create_app",
            "DATABASE_URL": db_url,
            "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15",
            "BLOB_DIR": str(work / "blobs"),
            "BARE_DIR": str(work / "bare"),
            "SECRET_KEY": "surge-secret",
            "DATA_KEY": "surge-data-key",
            "PLATFORM_SIGNING_KEY": pem,
            "DEMO_CLOCK": "1",
            "LOG_LEVEL": "warning",
        }
        t = time.perf_counter()
        info = upload_bench.seed(instance, env)
        from app.projects.models import Section

        info["section_cls"] = Section
        bidders = make_bidders(info, args.bidders, args.mib, args.resumable, rng)
        total_mib = sum(len(b.body) for b in bidders) / 2**20
        print(
            f"set-up: {len(bidders)} bidders, {total_mib:.0f} MiB of distinct envelopes, "
            f"{sum(b.resumable for b in bidders)} resumable ({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
        for b in bidders:
            b.start = rng.uniform(0, args.window)

        # the baseline first (same bodies, same schedule), then the app
        bare = Server("bench.upload_bench:bare_app", env, args.threads, work / "bare.log")
        base_out, b0, b1 = surge(bidders, time.time() + 1.0, lambda b: bare_put(bare.port, b))
        bare.stop()
        shutil.rmtree(work / "bare")
        (work / "bare").mkdir()
        os.sync()

        server = Server("app:create_app()", env, args.threads, work / "app.log")
        from app.core import democlock
        from app.core.clock import clock
        from app.core.db import db

        app = info["app"]
        lead = 1.0
        deadline_real = time.time() + lead + args.window * (1 - args.late)
        with app.test_request_context():
            deadline = db.session.get(Section, info["section_id"]).bid_deadline
            clock.reset()
            offset = deadline.timestamp() - deadline_real
            import datetime as dt

            democlock.advance(dt.timedelta(seconds=offset), actor=None)
            db.session.commit()
        t0 = deadline_real - args.window * (1 - args.late)
        port = server.port
        app_out, a0, a1 = surge(
            bidders,
            t0,
            lambda b: (
                upload_resumable(port, info["section_id"], b)
                if b.resumable
                else upload_direct(port, info["section_id"], b)
            ),
        )
        server.stop()
        print(f"surge done in {a1 - a0:.1f} s; checking invariants and opening", flush=True)
        log = (work / "app.log").read_text(errors="replace")
        server_errors = log.count("Traceback")
        kinds: dict[str, int] = {}
        for line in log.splitlines():
            m = re.match(r"^([\w.]+(?:Error|Exception|Detected|Reset)\w*)\b", line)
            if m:
                kinds[m.group(1)] = kinds.get(m.group(1), 0) + 1
        print(f"server log: {server_errors} tracebacks {kinds}", flush=True)
        if server_errors and os.environ.get("SURGE_LOG"):
            Path(os.environ["SURGE_LOG"]).write_text(log)
        inv = check_invariants(info, app_out, deadline_real, bidders)
    finally:
        watchdog.cancel()
        for p in _children:
            if p.poll() is None:
                p.kill()
        if "info" in locals():
            from app.core.db import db as _db

            with info["app"].app_context():
                _db.engine.dispose()
        if drop_db is not None:
            drop_db()
        shutil.rmtree(work, ignore_errors=True)

    accepted = [o for o in app_out if o.receipt is not None]
    refused = [o for o in app_out if o.receipt is None and o.clear]
    unclear = [o for o in app_out if not o.clear]
    codes: dict[str, int] = {}
    for o in refused:
        codes[str(o.code)] = codes.get(str(o.code), 0) + 1
    lat = [o.latency for o in accepted]
    base_lat = [o.latency for o in base_out if o.receipt is not None]
    mib_app = sum(len(bidders[o.index].body) for o in accepted) / 2**20
    rate_app = mib_app / (a1 - a0)
    mib_bare = sum(len(bidders[o.index].body) for o in base_out if o.receipt is not None) / 2**20
    rate_bare = mib_bare / (b1 - b0)
    resumed = [o for o in app_out if o.resumable]
    size = f"{args.bidders}×{args.mib} MiB"
    print(
        f"accepted {len(accepted)}, refused {len(refused)} {codes}, unclear {len(unclear)}; "
        f"resumable {len(resumed)} ({sum(o.receipt is not None for o in resumed)} receipts)"
    )
    if os.environ.get("SURGE_DEBUG"):
        for o in app_out:
            print(
                f"  bidder {o.index} resumable={o.resumable} {o.status} {o.code} {o.latency:.2f}s "
                f"last-byte {o.last_byte - deadline_real:+.2f}s vs deadline {o.error}"
            )
    for o in unclear[:10]:
        print(f"  unclear: bidder {o.index} status {o.status} {o.error}")
    print(json.dumps(inv, ensure_ascii=False))

    def row(
        figure: str, value: Any, unit: str, baseline: Any, ratio: Any, bar: str, ok: bool | None
    ) -> dict[str, Any]:
        return {
            "figure": f"surge {size}: {figure}",
            "value": value,
            "unit": unit,
            "baseline": baseline,
            "ratio": ratio,
            "bar": bar,
            "pass": ok,
        }

    def r3(x: float) -> float:
        return round(x, 3)

    rows = [
        row(
            "every upload ends with a receipt or a clear error",
            f"{len(accepted)} receipts, {len(refused)} refused {codes}, {len(unclear)} unclear",
            "",
            args.bidders,
            r3((len(accepted) + len(refused)) / args.bidders),
            "0 unclear",
            not unclear,
        ),
        row(
            "resumable uploads with a dropped connection",
            f"{sum(o.receipt is not None for o in resumed)}/{len(resumed)} receipts",
            "",
            len(resumed),
            None,
            "each resumed to a receipt or a clear refusal",
            all(o.clear for o in resumed),
        ),
        row(
            "p50 latency (receipted)",
            r3(pct(lat, 50)),
            "s",
            r3(pct(base_lat, 50)),
            r3(pct(lat, 50) / pct(base_lat, 50)),
            "bare WSGI write-to-disk, same schedule",
            None,
        ),
        row(
            "p95 latency (receipted)",
            r3(pct(lat, 95)),
            "s",
            r3(pct(base_lat, 95)),
            r3(pct(lat, 95) / pct(base_lat, 95)),
            "bare WSGI write-to-disk, same schedule",
            None,
        ),
        row(
            "p99 latency (receipted)",
            r3(pct(lat, 99)),
            "s",
            r3(pct(base_lat, 99)),
            r3(pct(lat, 99) / pct(base_lat, 99)),
            "bare WSGI write-to-disk, same schedule",
            None,
        ),
        row(
            "throughput (receipted MiB / surge span)",
            round(rate_app, 1),
            "MiB/s",
            round(rate_bare, 1),
            r3(rate_app / rate_bare),
            "bare WSGI write-to-disk, same schedule (all bodies)",
            None,
        ),
        row(
            "receipts without stored file / audit leaf / valid signature",
            inv["receipts_without_file"]
            + inv["receipts_with_wrong_file"]
            + inv["receipts_without_leaf"]
            + inv["bad_receipt_signatures"],
            "",
            0,
            None,
            "0",
            inv["receipts_without_file"]
            + inv["receipts_with_wrong_file"]
            + inv["receipts_without_leaf"]
            + inv["bad_receipt_signatures"]
            == 0,
        ),
        row(
            "stored files or rows without a receipt",
            inv["orphan_files"] + inv["rows_without_receipt"] + inv["missing_files"] + inv["temp_files_left"],
            "",
            0,
            None,
            "0 (storage check ok)",
            inv["check_ok"]
            and inv["orphan_files"] + inv["rows_without_receipt"] + inv["temp_files_left"] == 0,
        ),
        row(
            "accepted after the deadline",
            inv["accepted_after_deadline"],
            "",
            0,
            None,
            "0",
            inv["accepted_after_deadline"] == 0,
        ),
        row(
            "opening decrypts every receipted envelope",
            f"{inv['decrypted_ok']}/{inv['opened_envelopes']} in {inv['opening_seconds']} s",
            "",
            inv["opened_envelopes"],
            r3(inv["decrypted_ok"] / max(1, inv["opened_envelopes"])),
            "all (ceremony completed)",
            inv["decrypted_ok"] == inv["opened_envelopes"] and inv["ceremony_status"] == "completed",
        ),
    ]
    for r in rows:
        verdict = {True: "pass", False: "FAIL", None: ""}[r["pass"]]
        print(
            f"{r['figure']}: {r['value']} {r['unit']} "
            f"(baseline {r['baseline']}, ratio {r['ratio']}) {verdict}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    return 0 if all(r["pass"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
