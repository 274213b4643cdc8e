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

Several nodes (``scripts/rehearsal.sh``)::

    python bench/surge_bench.py --nodes http://127.0.0.1:5101,http://127.0.0.1:5102 \
        [--bidders 40 --mib 2 --window 10 --chunk-kib 512] [--json out.json]

runs the same surge against nodes that are already running (nothing is started, migrated or dropped here).
This process must share what the nodes share: ``DATABASE_URL`` (migrated; the demo city may be in it),
``BLOB_DIR``, ``SECRET_KEY``/``DATA_KEY``/``PLATFORM_SIGNING_KEY``, and the nodes run with ``DEMO_CLOCK=1``.
It adds one published section with its people (names prefixed ``s<pid>-``) to that database, checks that
every node signs with the same platform key and sees the section, moves the demo clock (one row in the
database, read by every worker of every node at each request) and probes every node for the demo time it
now uses. Bidders go round-robin to the nodes; a resumable upload is created on its node, loses its
connection there half-way through a chunk, then asks the **other** node for the offset, resumes and
finalizes there (chunk offsets must be shared state: the part file under the shared ``BLOB_DIR``). After
the surge every node must refuse a new upload (``deadline_passed``); then the same invariants and opening.
Figures per node (the node that gave the final answer); no baseline.
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
DISK_BAR = 0.80  # goodput against the disk's fsync'd write rate (issue 21)
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


Target = tuple[str, int]  # (host, port) of one node


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
    node: str = ""  # the node that gave the final answer (multi-node mode)
    # resumable uploads that got as far as the dropped connection: the offset the resuming node reported
    # and the range it must lie in (the chunks stored before the drop … plus at most the cut-off half)
    resume_offset: int | None = None
    resume_range: tuple[int, int] | None = None
    offset_conflicts: int = 0  # 409 offset_mismatch answers (the dropped request was still being written)

    @property
    def clear(self) -> bool:
        return self.receipt is not None or (400 <= self.status < 500 and bool(self.code))

    @property
    def resume_ok(self) -> bool | None:
        if self.resume_range is None:
            return None
        return self.resume_offset is not None and (
            self.resume_range[0] <= self.resume_offset <= self.resume_range[1]
        )


def _send_request(
    target: Target,
    method: str,
    path: str,
    headers: dict[str, str],
    body: memoryview | bytes,
    *,
    cut: int | None = None,
) -> tuple[int, dict[str, str], bytes, float]:
    """One request. With ``cut``, send only that many body bytes and drop the connection (status 0)."""
    conn = http.client.HTTPConnection(target[0], target[1], timeout=600)
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


def upload_direct(target: Target, section_id: int, b: Bidder) -> Outcome:
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
        status, _h, data, last = _send_request(target, "PUT", path, headers, b.body)
    except (OSError, http.client.HTTPException) as err:
        return Outcome(b.index, False, 0, None, time.time() - started, time.time(), 0, None, repr(err))
    return _outcome(b, status, data, started, last, len(b.body))


def upload_resumable(
    first: Target,
    second: Target,
    section_id: int,
    b: Bidder,
    chunk_size: int = CHUNK,
    drop_pause: float = 0.2,
) -> Outcome:
    """create → chunks → the connection dropped half-way through the middle chunk (all on ``first``) → GET
    the offset → resume → finalize (on ``second``: the other node in multi-node mode, else the same)."""
    started = time.time()
    auth = {"Authorization": f"Bearer {b.token}"}
    sig = base64.b64encode(b.key.sign(_statement(b.sha256, section_id))).decode()
    sent, conflicts = 0, 0
    resume: tuple[int, int] | None = None
    resumed_at: int | None = None

    def done(out: Outcome) -> Outcome:
        out.resume_range, out.resume_offset, out.offset_conflicts = resume, resumed_at, conflicts
        return out

    target = first
    try:
        meta = json.dumps({"kind": "document", "name": "tech.pdf", "length": len(b.body)}).encode()
        status, hdrs, data, last = _send_request(
            target,
            "POST",
            f"/api/v1/bidding/sections/{section_id}/uploads",
            {**auth, "Content-Type": "application/json"},
            meta,
        )
        if status != 201:
            return done(_outcome(b, status, data, started, last, 0))
        uid = json.loads(data)["id"]
        offset, dropped = 0, False
        drop_at = (len(b.body) // 2) // chunk_size * chunk_size
        while offset < len(b.body):
            chunk = memoryview(b.body)[offset : offset + chunk_size]
            if not dropped and offset >= drop_at:
                dropped = True
                cut = len(chunk) // 2
                _send_request(
                    target,
                    "PATCH",
                    f"/api/v1/bidding/uploads/{uid}",
                    {**auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                    chunk,
                    cut=cut,
                )
                sent += cut
                time.sleep(drop_pause)  # 0: resume while the first node may still be writing the cut chunk
                target = second  # from here on the other node: it must see what the first one stored
                resume = (offset, offset + cut)
                status, hdrs, data, last = _send_request(
                    target, "GET", f"/api/v1/bidding/uploads/{uid}", auth, b""
                )
                if status != 200:
                    return done(_outcome(b, status, data, started, last, sent))
                offset = resumed_at = int(hdrs["upload-offset"])
                continue
            checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
            status, hdrs, data, last = _send_request(
                target,
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
                conflicts += 1
                status, hdrs, data, last = _send_request(
                    target, "GET", f"/api/v1/bidding/uploads/{uid}", auth, b""
                )
            if status not in (200, 204):
                return done(_outcome(b, status, data, started, last, sent))
            offset = int(hdrs["upload-offset"])
        last = time.time()
        status, _h, data, _l = _send_request(
            target,
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
        return done(_outcome(b, status, data, started, last, sent))
    except (OSError, http.client.HTTPException, KeyError, ValueError) as err:
        return done(
            Outcome(b.index, True, 0, None, time.time() - started, time.time(), sent, None, repr(err))
        )


def bare_put(target: Target, b: Bidder) -> Outcome:
    started = time.time()
    try:
        status, _h, _data, last = _send_request(
            target, "PUT", "/", {"Content-Type": "application/octet-stream"}, b.body
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

            prefix = info.get("prefix", "")  # multi-node mode: the shared database has other people in it
            first = db.session.scalar(db.select(User).where(User.username == f"{prefix}bidder"))
            creds.append((first.org_id, info["token"], info["key_id"], info["key"]))
            for i in range(1, n):
                org = accounts.create_organization(f"{prefix}投标人{i:03d}", OrgKind.BIDDER, actor=None)
                user = accounts.create_user(
                    username=f"{prefix}bidder{i:03d}",
                    display_name=f"{prefix}bidder{i:03d}",
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


# -- several nodes -----------------------------------------------------------------------------------------


@dataclass
class Node:
    label: str  # A, B, …
    url: str
    target: Target


def parse_nodes(spec: str) -> list[Node]:
    from urllib.parse import urlsplit

    nodes = []
    for i, url in enumerate(u.strip().rstrip("/") for u in spec.split(",") if u.strip()):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.path:
            raise SystemExit(f"--nodes: {url!r} is not a base URL like http://127.0.0.1:5101")
        nodes.append(Node(chr(ord("A") + i), url, (parts.hostname, parts.port or 80)))
    if not nodes:
        raise SystemExit("--nodes: no node given")
    return nodes


def seed_shared(instance: Path, prefix: str) -> dict[str, Any]:
    """Multi-node mode: the nodes' database is migrated already (the demo city may be in it). Add one
    published section, its custodians and one bidder, every name prefixed, in the demo time the nodes use
    (the database's demo clock offset), so that the run can be repeated against the same nodes."""

    from app import create_app
    from app.accounts import services as accounts
    from app.core import democlock
    from app.core.clock import clock, now
    from app.core.permissions import OrgKind, Role
    from app.projects import services as projects
    from app.projects.seeding import publish_catalogue_at

    app = create_app({"INSTANCE_PATH": str(instance)})
    with app.test_request_context():

        def org(kind: OrgKind, name: str, **kw: Any) -> Any:
            return accounts.create_organization(f"{prefix}{name}", kind, actor=None, **kw)

        def user(role: Role, o: Any, name: str) -> Any:
            return accounts.create_user(
                username=f"{prefix}{name}",
                display_name=f"{prefix}{name}",
                organization=o,
                role=role,
                password=f"Surge-{prefix}{name}-never-used",
                actor=None,
            )

        clock.reset()
        offset = democlock.current_offset()
        clock.set_offset(offset)  # the demo time the nodes use now
        catalogue = projects.current_catalogue()
        item = next((i for i in catalogue.items if i.code == "GC-01"), None) if catalogue else None
        if item is None:  # an empty database: publish the default catalogue (as upload_bench does)
            manager = user(Role.MANAGER, org(OrgKind.MANAGEMENT_OFFICE, "office"), "manager")
            version = publish_catalogue_at(manager, now(), title="surge bench")
            clock.reset()
            clock.set_offset(offset)
            item = next(i for i in version.items if i.code == "GC-01")
        info = upload_bench.publish_bench_section(app, org, user, item, label=f"{prefix}surge")
        return {**info, "prefix": prefix}


def check_nodes(nodes: list[Node], info: dict[str, Any]) -> None:
    """Every node is up, signs receipts with this process's platform key and sees the new section (the
    same secrets and the same database)."""
    from app.core import crypto

    with info["app"].app_context():
        ours = crypto.public_key_raw_b64()
    for node in nodes:
        status, _h, data, _l = _send_request(node.target, "GET", "/api/v1/health", {}, b"")
        if status != 200:
            raise SystemExit(f"node {node.label} {node.url}: /api/v1/health answered {status}")
        status, _h, data, _l = _send_request(node.target, "GET", "/api/v1/bidding/platform-key", {}, b"")
        if status != 200 or json.loads(data).get("public_key") != ours:
            raise SystemExit(
                f"node {node.label} {node.url} signs with another platform key than this process: "
                "PLATFORM_SIGNING_KEY must be the same everywhere"
            )
        path = f"/api/v1/bidding/sections/{info['section_id']}"
        status, _h, data, _l = _send_request(node.target, "GET", path, {}, b"")
        if status != 200 or json.loads(data).get("opening_recipient") != info["recipient"]:
            raise SystemExit(
                f"node {node.label} {node.url} does not see section {info['section_id']} "
                f"({status}): is it on the same DATABASE_URL?"
            )


def clock_probe(node: Node, info: dict[str, Any], b: Bidder) -> tuple[float | None, float, str]:
    """The demo time a node uses now: create a resumable upload there (its ``created_at`` is the node's
    ``now()``), read it from the database, discard it. Returns (node time − real time, ± uncertainty,
    answer)."""
    from app.bidding.models import EnvelopeUpload
    from app.core.db import db

    auth = {"Authorization": f"Bearer {b.token}"}
    meta = json.dumps({"kind": "document", "name": "clock-probe", "length": 1024}).encode()
    before = time.time()
    status, _h, data, _l = _send_request(
        node.target,
        "POST",
        f"/api/v1/bidding/sections/{info['section_id']}/uploads",
        {**auth, "Content-Type": "application/json"},
        meta,
    )
    after = time.time()
    try:
        doc = json.loads(data)
    except ValueError:
        doc = {}
    if status != 201:
        code = doc.get("code") if isinstance(doc, dict) else None
        return None, 0.0, f"{status} {code or data[:100].decode(errors='replace')}"
    uid = doc["id"]
    with info["app"].app_context():
        row = db.session.get(EnvelopeUpload, uid)
        assert row is not None
        created = row.created_at
        db.session.rollback()
    _send_request(node.target, "DELETE", f"/api/v1/bidding/uploads/{uid}", auth, b"")
    return created.timestamp() - (before + after) / 2, (after - before) / 2, str(status)


def _tally(answers: list[str]) -> str:
    counts: dict[str, int] = {}
    for a in answers:
        counts[a] = counts.get(a, 0) + 1
    return ", ".join(f"{n}× {a}" for a, n in counts.items())


def run_nodes(args: argparse.Namespace) -> int:
    """The surge across nodes that are already running (scripts/rehearsal.sh)."""
    import datetime as dt

    nodes = parse_nodes(args.nodes)
    missing = [v for v in ("DATABASE_URL", "BLOB_DIR") if not os.environ.get(v)]
    if missing:
        raise SystemExit(f"--nodes needs the nodes' {' and '.join(missing)} in the environment")
    os.environ["DEMO_CLOCK"] = "1"  # this process moves the demo clock; the nodes must run with it too
    work = Path(tempfile.mkdtemp(prefix="surge-nodes-"))

    def abort() -> None:  # the nodes and the database are not ours: leave them to the caller
        print(f"surge bench: aborted after {args.abort:.0f} s", file=sys.stderr, flush=True)
        shutil.rmtree(work, ignore_errors=True)
        os._exit(3)

    watchdog = threading.Timer(args.abort, abort)
    watchdog.daemon = True
    watchdog.start()
    rng = random.Random(args.seed)
    chunk = args.chunk_kib * 1024
    by_label = {n.label: n for n in nodes}
    try:
        t = time.perf_counter()
        info = seed_shared(work / "instance", f"s{os.getpid()}-")
        from app.core import democlock
        from app.core.clock import clock
        from app.core.db import db
        from app.projects.models import Section

        info["section_cls"] = Section
        app = info["app"]
        check_nodes(nodes, info)
        bidders = make_bidders(info, args.bidders, args.mib, args.resumable, rng)
        total_mib = sum(len(b.body) for b in bidders) / 2**20
        print(
            f"set-up: section {info['section_id']} on the shared database, {len(bidders)} bidders, "
            f"{total_mib:.0f} MiB of distinct envelopes, {sum(b.resumable for b in bidders)} resumable, "
            f"{len(nodes)} nodes {', '.join(f'{n.label}={n.url}' for n in nodes)} "
            f"({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
        assign: dict[int, tuple[Node, Node]] = {}
        for b in bidders:
            b.start = rng.uniform(0, args.window)
            first = nodes[b.index % len(nodes)]
            assign[b.index] = (first, nodes[(b.index + 1) % len(nodes)] if b.resumable else first)

        # move the demo clock once, in the database: the deadline falls at --late before the window's end
        lead = 3.0  # time for the clock probes
        deadline_real = time.time() + lead + args.window * (1 - args.late)
        with app.test_request_context():
            section = db.session.get(Section, info["section_id"])
            assert section is not None and section.bid_deadline is not None
            deadline = section.bid_deadline
            clock.reset()
            before = democlock.current_offset().total_seconds()
            wanted = deadline.timestamp() - deadline_real
            democlock.advance(dt.timedelta(seconds=wanted - before), actor=None)
            db.session.commit()
        print(
            f"demo clock moved from {before:+.0f} s to {wanted:+.1f} s: the deadline passes "
            f"{args.window * (1 - args.late) + lead:.1f} s from now, {args.window * args.late:.1f} s before "
            "the arrival window ends",
            flush=True,
        )
        probes: dict[str, list[tuple[float | None, float, str]]] = {}
        for node in nodes:  # a few each: both workers of every node
            probes[node.label] = [clock_probe(node, info, bidders[0]) for _ in range(4)]
        clock_ok = True
        clock_off: dict[str, float] = {}
        for label, seen in probes.items():
            values = [s for s, _u, _a in seen if s is not None]
            worst = max((abs(s - wanted) - u for s, u, _a in seen if s is not None), default=float("inf"))
            good = len(values) == len(seen) and worst <= 1.0
            clock_off[label] = round(max((abs(v - wanted) for v in values), default=float("inf")), 3)
            clock_ok &= good
            print(
                f"   node {label} clock: demo offset seen {min(values, default=float('nan')):+.2f} … "
                f"{max(values, default=float('nan')):+.2f} s in {len(values)}/{len(seen)} probes "
                f"({'ok' if good else 'WRONG: ' + str([a for _s, _u, a in seen])})",
                flush=True,
            )
        if time.time() > deadline_real - args.window * (1 - args.late):
            print("   (the probes took longer than the lead: the first bidders start late)", flush=True)

        t0 = deadline_real - args.window * (1 - args.late)

        def run(b: Bidder) -> Outcome:
            first, second = assign[b.index]
            out = (
                upload_resumable(first.target, second.target, info["section_id"], b, chunk, args.drop_pause)
                if b.resumable
                else upload_direct(first.target, info["section_id"], b)
            )
            out.node = second.label  # the node that gave the final answer
            return out

        app_out, a0, a1 = surge(bidders, t0, run)
        print(f"surge done in {a1 - a0:.1f} s; probing the nodes after the deadline", flush=True)
        after: dict[str, list[str]] = {}
        for node in nodes:
            after[node.label] = [clock_probe(node, info, bidders[0])[2] for _ in range(4)]
            print(
                f"   node {node.label}: a new upload after the deadline -> {_tally(after[node.label])}",
                flush=True,
            )
        refused_after = all(a == "409 deadline_passed" for answers in after.values() for a in answers)
        print("checking invariants and opening", flush=True)
        inv = check_invariants(info, app_out, deadline_real, bidders)
    finally:
        watchdog.cancel()
        if "info" in locals():
            from app.core.db import db as _db

            with info["app"].app_context():
                _db.engine.dispose()
        shutil.rmtree(work, ignore_errors=True)

    size = f"{len(nodes)} nodes, {args.bidders}×{args.mib} MiB"
    span = a1 - a0
    print(f"per node (the node that gave the final answer), surge span {span:.1f} s:")
    per_node: list[dict[str, Any]] = []
    for node in nodes:
        outs = [o for o in app_out if o.node == node.label]
        acc = [o for o in outs if o.receipt is not None]
        lat = [o.latency for o in acc]
        mib = sum(len(bidders[o.index].body) for o in acc) / 2**20
        figures = {
            "node": node.label,
            "url": node.url,
            "answered": len(outs),
            "accepted": len(acc),
            "refused": sum(o.receipt is None and o.clear for o in outs),
            "codes": _codes(outs),
            "unclear": sum(not o.clear for o in outs),
            "p50": r3(pct(lat, 50)),
            "p95": r3(pct(lat, 95)),
            "p99": r3(pct(lat, 99)),
            "mib_s": round(mib / span, 1),
        }
        per_node.append(figures)
        print(
            f"   node {node.label} {node.url}: {figures['answered']} answered, "
            f"{figures['accepted']} receipts, {figures['refused']} refused {figures['codes']}, "
            f"{figures['unclear']} unclear; latency p50 "
            f"{figures['p50']} s, p95 {figures['p95']} s, p99 {figures['p99']} s; {figures['mib_s']} MiB/s"
        )
    accepted = [o for o in app_out if o.receipt is not None]
    lat = [o.latency for o in accepted]
    mib_all = sum(len(bidders[o.index].body) for o in accepted) / 2**20
    print(
        f"   all nodes: {len(accepted)} receipts, "
        f"{sum(o.receipt is None and o.clear for o in app_out)} refused {_codes(app_out)}, "
        f"{sum(not o.clear for o in app_out)} unclear; latency p50 {pct(lat, 50):.3f} s, "
        f"p95 {pct(lat, 95):.3f} s, p99 {pct(lat, 99):.3f} s; {mib_all / span:.1f} MiB/s"
    )
    resumed = [o for o in app_out if o.resumable]
    crossed = [o for o in resumed if o.resume_range is not None]
    wrong = [o for o in crossed if not o.resume_ok]
    routes: dict[str, int] = {}
    for o in resumed:
        first, second = assign[o.index]
        key = f"{first.label}→{second.label}"
        routes[key] = routes.get(key, 0) + 1
    print(
        f"   resumable: {len(resumed)} {routes}, {sum(o.receipt is not None for o in resumed)} receipts; "
        f"{len(crossed)} dropped on one node and asked the other for the offset: {len(crossed) - len(wrong)} "
        f"got the offset the first node had stored, {sum(o.offset_conflicts for o in crossed)} 409 "
        "offset_mismatch on resuming"
    )
    for o in wrong[:10]:
        low, high = o.resume_range or (0, 0)
        print(
            f"   WRONG offset: bidder {o.index} {assign[o.index][0].label}→{assign[o.index][1].label}: the "
            f"resuming node said {o.resume_offset}, the first node had stored {low}…{high}"
        )
    for o in [o for o in app_out if not o.clear][:10]:
        print(f"   unclear: bidder {o.index} on {o.node} status {o.status} {o.error}")
    if os.environ.get("SURGE_DEBUG"):
        for o in app_out:
            print(
                f"  bidder {o.index} {assign[o.index][0].label}→{o.node} resumable={o.resumable} "
                f"{o.status} {o.code} {o.latency:.2f}s "
                f"last-byte {o.last_byte - deadline_real:+.2f}s vs deadline {o.error}"
            )
    print(json.dumps(inv, ensure_ascii=False))

    prefix = f"surge {size}"
    rows = [*answer_rows(prefix, app_out, args.bidders)]
    rows.append(
        _row(
            prefix,
            "resumed on the other node from the offset the first node stored",
            f"{len(crossed) - len(wrong)}/{len(crossed)}",
            "",
            len(crossed),
            None,
            "all (chunk offsets are shared state), at least one",
            not wrong and (bool(crossed) or args.resumable == 0),
        )
    )
    rows.append(
        _row(
            prefix,
            "every node uses the moved demo clock",
            "; ".join(f"{label} {off:.2f}" for label, off in clock_off.items()),
            "s off at most",
            None,
            None,
            "each probe within 1 s of the offset in the database",
            clock_ok,
        )
    )
    for f in per_node:
        for p in ("p50", "p95", "p99"):
            rows.append(
                _row(prefix, f"node {f['node']} {p} latency (receipted)", f[p], "s", None, None, "", None)
            )
        rows.append(
            _row(
                prefix,
                f"node {f['node']} receipts / refused / unclear",
                f"{f['accepted']} / {f['refused']} {f['codes']} / {f['unclear']}",
                "",
                f["answered"],
                None,
                "",
                None,
            )
        )
        rows.append(
            _row(
                prefix,
                f"node {f['node']} throughput (receipted MiB / surge span)",
                f["mib_s"],
                "MiB/s",
                None,
                None,
                "",
                None,
            )
        )
    rows.append(
        _row(
            prefix,
            "every node refuses a new upload after the deadline",
            "; ".join(f"{k}: {_tally(v)}" for k, v in after.items()),
            "",
            None,
            None,
            "409 deadline_passed on every probe",
            refused_after,
        )
    )
    rows += invariant_rows(prefix, inv)
    return _report(rows, args.json, checks_only=True)  # the figures per node are printed above


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
    parser.add_argument("--chunk-kib", type=int, default=CHUNK // 1024, help="resumable chunk size, KiB")
    parser.add_argument(
        "--drop-pause", type=float, default=0.2, help="seconds between the dropped connection and the resume"
    )
    parser.add_argument(
        "--nodes",
        default=None,
        help="comma-separated base URLs of running nodes (e.g. http://127.0.0.1:5101,http://127.0.0.1:5102): "
        "surge across them instead of starting gunicorn here; needs the nodes' DATABASE_URL, BLOB_DIR and "
        "secrets in the environment",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.small:
        args.bidders, args.mib = 100, 10
    if args.chunk_kib <= 0 or args.bidders < 1 or args.mib < 1:
        parser.error("--bidders, --mib and --chunk-kib must be positive")
    if args.nodes:
        return run_nodes(args)
    return run_single(args)


def run_single(args: argparse.Namespace) -> int:
    """One gunicorn started here against a throwaway database, with the bare WSGI baseline."""
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
        base_out, b0, b1 = surge(bidders, time.time() + 1.0, lambda b: bare_put(("127.0.0.1", bare.port), b))
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

            step = offset - democlock.current_offset().total_seconds()  # the seed placed demo time already
            democlock.advance(dt.timedelta(seconds=step), actor=None)
            db.session.commit()
        t0 = deadline_real - args.window * (1 - args.late)
        target = ("127.0.0.1", server.port)
        app_out, a0, a1 = surge(
            bidders,
            t0,
            lambda b: (
                upload_resumable(
                    target, target, info["section_id"], b, args.chunk_kib * 1024, args.drop_pause
                )
                if b.resumable
                else upload_direct(target, info["section_id"], b)
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
        # The physical limit: the disk's own fsync'd write rate for as many MiB as the surge offered.
        offered = max(1, round(sum(len(b.body) for b in bidders) / 2**20))
        disk_rate = dd_rate(work, offered)
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
        return _row(f"surge {size}", figure, value, unit, baseline, ratio, bar, ok)

    rows = [
        *answer_rows(f"surge {size}", app_out, args.bidders),
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
        # Goodput against the disk (issue 21: ≥ 80 %). The arrival window paces the offered load, so this
        # reaches the disk's rate only when the window is short enough for the surge to saturate it.
        row(
            "goodput vs the disk (dd conv=fsync, same MiB)",
            round(rate_app, 1),
            "MiB/s",
            round(disk_rate, 1),
            r3(rate_app / disk_rate),
            f"≥ {DISK_BAR:.0%} of dd (one node of 2 workers; two nodes: --nodes)",
            rate_app >= DISK_BAR * disk_rate,
        ),
        *invariant_rows(f"surge {size}", inv),
    ]
    return _report(rows, args.json)


def dd_rate(directory: Path, mib: int) -> float:
    """``dd if=/dev/zero bs=1M count=<mib> conv=fsync`` into ``directory``: MiB/s."""
    target = directory / "dd.bin"
    os.sync()
    started = time.perf_counter()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}", "conv=fsync", "status=none"],
        check=True,
    )
    took = time.perf_counter() - started
    target.unlink()
    return mib / took


def r3(x: float) -> float:
    return round(x, 3)


def _row(
    prefix: str, figure: str, value: Any, unit: str, baseline: Any, ratio: Any, bar: str, ok: bool | None
) -> dict[str, Any]:
    return {
        "figure": f"{prefix}: {figure}",
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "bar": bar,
        "pass": ok,
    }


def _codes(outcomes: list[Outcome]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for o in outcomes:
        if o.receipt is None and o.clear:
            codes[str(o.code)] = codes.get(str(o.code), 0) + 1
    return codes


def answer_rows(prefix: str, outcomes: list[Outcome], bidders: int) -> list[dict[str, Any]]:
    """Every upload ends with a receipt or a clear error; every resumable one too."""
    accepted = [o for o in outcomes if o.receipt is not None]
    refused = [o for o in outcomes if o.receipt is None and o.clear]
    unclear = [o for o in outcomes if not o.clear]
    resumed = [o for o in outcomes if o.resumable]
    return [
        _row(
            prefix,
            "every upload ends with a receipt or a clear error",
            f"{len(accepted)} receipts, {len(refused)} refused {_codes(outcomes)}, {len(unclear)} unclear",
            "",
            bidders,
            r3((len(accepted) + len(refused)) / bidders),
            "0 unclear",
            not unclear,
        ),
        _row(
            prefix,
            "resumable uploads with a dropped connection",
            f"{sum(o.receipt is not None for o in resumed)}/{len(resumed)} receipts",
            "",
            len(resumed),
            None,
            "each resumed to a receipt or a clear refusal",
            all(o.clear for o in resumed),
        ),
    ]


def invariant_rows(prefix: str, inv: dict[str, Any]) -> list[dict[str, Any]]:
    broken_receipts = (
        inv["receipts_without_file"]
        + inv["receipts_with_wrong_file"]
        + inv["receipts_without_leaf"]
        + inv["bad_receipt_signatures"]
    )
    return [
        _row(
            prefix,
            "receipts without stored file / audit leaf / valid signature",
            broken_receipts,
            "",
            0,
            None,
            "0",
            broken_receipts == 0,
        ),
        _row(
            prefix,
            "stored files or rows without a receipt",
            inv["orphan_files"] + inv["rows_without_receipt"] + inv["missing_files"] + inv["temp_files_left"],
            "",
            0,
            None,
            "0 (storage check ok)",
            inv["check_ok"]
            and inv["orphan_files"] + inv["rows_without_receipt"] + inv["temp_files_left"] == 0,
        ),
        _row(
            prefix,
            "accepted after the deadline",
            inv["accepted_after_deadline"],
            "",
            0,
            None,
            "0",
            inv["accepted_after_deadline"] == 0,
        ),
        _row(
            prefix,
            "opening decrypts every receipted envelope",
            f"{inv['decrypted_ok']}/{inv['opened_envelopes']} in {inv['opening_seconds']} s",
            "",
            inv["opened_envelopes"],
            r3(inv["decrypted_ok"] / max(1, inv["opened_envelopes"])),
            "all (ceremony completed)",
            inv["decrypted_ok"] == inv["opened_envelopes"] and inv["ceremony_status"] == "completed",
        ),
    ]


def _report(rows: list[dict[str, Any]], out: Path | None, *, checks_only: bool = False) -> int:
    """Print the rows (``checks_only``: those with a verdict), write them as JSON; 1 if any failed."""
    for r in rows:
        if checks_only and r["pass"] is None:
            continue
        verdict = {True: "pass", False: "FAIL", None: ""}[r["pass"]]
        print(
            f"{r['figure']}: {r['value']} {r['unit']} "
            f"(baseline {r['baseline']}, ratio {r['ratio']}) {verdict}"
        )
    if out:
        out.write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    return 0 if all(r["pass"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
