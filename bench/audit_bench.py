"""Audit log benchmark: append throughput, whole-log verification time, proof sizes.

    python bench/audit_bench.py [--leaves 100000] [--verify 1000000] [--json out.json]

Runs on temporary SQLite files (or, with DATABASE_URL set, in throw-away PostgreSQL schemas), on a minimal
Flask app holding only the kernel's audit tables, so it measures the log and nothing else.

(a) append: ``audit.record`` in transactions of ``--batch`` leaves; baseline: the same leaf rows inserted
    by the same ORM path without the head lock, the Merkle work and the subtree rows. Per-append cost must
    not grow with the log: the last 10 % must run at ≥ 80 % of the rate of the first 10 %.
(b) verify: ``--verify`` leaves (with their subtrees, head and a signed checkpoint every 100,000) are bulk
    inserted, then ``audit.verify_log`` must finish in under 10 s.
(c) proofs: inclusion proofs served from the database for sample indices hold ≤ ⌈log₂ n⌉ hashes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import insert, text

from app.core import audit, merkle
from app.core.db import configure_engine, db
from app.core.models import AuditCheckpoint, AuditHead, AuditLeaf, AuditNode, SigningKey

TABLES = [t.__table__ for t in (AuditLeaf, AuditNode, AuditHead, AuditCheckpoint, SigningKey)]
VERIFY_TARGET_S = 10.0
CHECKPOINT_EVERY = 100_000


class Bench:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        figure: str,
        value: float,
        unit: str,
        baseline: float | None,
        ok: bool,
        note: str = "",
        *,
        bar: str = "",
    ) -> None:
        ratio = None if not baseline else value / baseline
        self.rows.append(
            {
                "figure": figure,
                "value": value,
                "unit": unit,
                "baseline": baseline,
                "ratio": ratio,
                "bar": bar,
                "pass": ok,
            }
            | ({"note": note} if note else {})
        )

    def table(self) -> str:
        out = ["| figure | value | baseline | ratio | bar | result |", "|---|---|---|---|---|---|"]
        for r in self.rows:
            base = "—" if r["baseline"] is None else f"{r['baseline']:,.2f} {r['unit']}"
            ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
            bar = "—" if r["ratio"] is None else "█" * max(1, min(20, round(r["ratio"] * 10)))
            result = "pass" if r["pass"] else "FAIL"
            out.append(
                f"| {r['figure']} | {r['value']:,.2f} {r['unit']} | {base} | {ratio} | {bar} | {result} |"
            )
        return "\n".join(out)


@contextlib.contextmanager
def bench_app(name: str) -> Iterator[Flask]:
    """A minimal app on a fresh database holding only the audit tables (with the append-only triggers)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    url = os.environ.get("DATABASE_URL")
    schema = None
    engine_options: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f"audit-bench-{name}-") as tmp:
        if url:
            url = url.replace("postgres://", "postgresql+psycopg://", 1).replace(
                "postgresql://", "postgresql+psycopg://", 1
            )
            schema = f"audit_bench_{name}_{secrets.token_hex(3)}"
            engine_options["connect_args"] = {"options": f"-csearch_path={schema}"}
        else:
            url = f"sqlite:///{tmp}/{name}.db"
        app = Flask(f"audit_bench_{name}")
        app.config.update(
            SQLALCHEMY_DATABASE_URI=url,
            SQLALCHEMY_ENGINE_OPTIONS=engine_options,
            PLATFORM_SIGNING_KEY_PEM=pem,
            AUDIT_ORIGIN="bench.example/audit-log",
            AUDIT_CHECKPOINT_EVERY=0,
        )
        db.init_app(app)
        with app.app_context():
            configure_engine(db.engine)
            is_pg = db.engine.dialect.name == "postgresql"
            if schema:
                with db.engine.begin() as conn:
                    conn.execute(text(f"CREATE SCHEMA {schema}"))
            db.metadata.create_all(db.engine, tables=TABLES)
            with db.engine.begin() as conn:
                for stmt in audit.POSTGRES_TRIGGERS if is_pg else audit.SQLITE_TRIGGERS:
                    conn.execute(text(stmt))
                conn.execute(insert(AuditHead).values(id=1, size=0, frontier=[]))
            try:
                yield app
            finally:
                db.session.remove()
                if schema:
                    with db.engine.begin() as conn:
                        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                db.engine.dispose()


def payload(i: int) -> dict[str, Any]:
    return {"section": f"S-{i // 50}", "bidder": i % 37, "note": "开标记录", "amount": f"{i * 3}.00"}


def bench_append(b: Bench, n: int, batch: int) -> None:
    tenth = max(1, n // 10)

    def rates(stamps: list[float]) -> tuple[float, float, float]:
        total = n / (stamps[-1] - stamps[0])
        first = tenth / (stamps[tenth] - stamps[0])
        last = tenth / (stamps[n] - stamps[n - tenth])
        return total, first, last

    with bench_app("append") as app, app.app_context():
        stamps = [time.perf_counter()]
        for i in range(n):
            audit.record(
                "bench:bid:received", object_type="bid", object_id=i, payload=payload(i), source_ip="10.0.0.1"
            )
            if (i + 1) % batch == 0 or i + 1 == n:
                db.session.commit()
            stamps.append(time.perf_counter())
        total, first, last = rates(stamps)
        deciles = [round(tenth / (stamps[(k + 1) * tenth] - stamps[k * tenth])) for k in range(10)]
        print(f"  leaves/s per tenth of the run: {deciles}", file=sys.stderr)
        assert audit.tree_size() == n

    with bench_app("baseline") as app, app.app_context():
        stamps = [time.perf_counter()]
        for i in range(n):
            text_payload = audit.canonical_json(payload(i))
            db.session.add(
                AuditLeaf(
                    idx=i,
                    created_at=dt.datetime.now(dt.UTC),
                    action="bench:bid:received",
                    object_type="bid",
                    object_id=str(i),
                    source_ip="10.0.0.1",
                    payload=text_payload,
                    payload_sha256=hashlib.sha256(text_payload.encode()).hexdigest(),
                    leaf_hash=bytes(32),
                )
            )
            db.session.flush()
            if (i + 1) % batch == 0 or i + 1 == n:
                db.session.commit()
            stamps.append(time.perf_counter())
        base_total, _, _ = rates(stamps)

    b.add(
        f"append rate, {n:,} leaves via audit.record",
        total,
        "leaves/s",
        base_total,
        total > 0,
        bar="baseline: plain ORM insert of the same rows",
    )
    b.add(
        "append rate, last 10 % vs first 10 %",
        last,
        "leaves/s",
        first,
        last >= 0.8 * first,
        "flat = O(1)",
        bar="≥ 0.80 (append O(1))",
    )


def bulk_load(n: int) -> float:
    """Insert n valid leaves with their subtrees, head and checkpoints, bypassing record(); seconds taken."""
    t0 = time.perf_counter()
    frontier: merkle.Frontier = []
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    leaves: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    conn = db.session.connection()

    def flush() -> None:
        if leaves:
            conn.execute(insert(AuditLeaf), leaves)
            leaves.clear()
        if nodes:
            conn.execute(insert(AuditNode), nodes)
            nodes.clear()

    for i in range(n):
        created = start + dt.timedelta(microseconds=37 * i)
        text_payload = audit.canonical_json(payload(i))
        digest = hashlib.sha256(text_payload.encode()).hexdigest()
        row = {
            "idx": i,
            "created_at": created,
            "actor_id": i % 11 or None,
            "actor_role": "bidder" if i % 11 else None,
            "org_id": i % 13 or None,
            "action": "bench:bid:received",
            "object_type": "bid",
            "object_id": str(i),
            "source_ip": "10.0.0.1",
            "payload": text_payload,
            "payload_sha256": digest,
        }
        row["leaf_hash"] = lh = merkle.leaf_hash(
            audit.leaf_bytes(**{k: v for k, v in row.items() if k not in ("idx", "payload")})
        )
        leaves.append(row)
        for level, index, h in merkle.append_leaf(frontier, i, lh):
            nodes.append({"level": level, "index": index, "hash": h})
        if len(leaves) >= 20_000:
            flush()
        if (i + 1) % CHECKPOINT_EVERY == 0 or i + 1 == n:
            flush()
            db.session.execute(
                AuditHead.__table__.update().values(size=i + 1, frontier=[h.hex() for _, h in frontier])
            )
            audit.checkpoint(reason="bench")
    db.session.commit()
    return time.perf_counter() - t0


def _rss_mib(field: str) -> float:
    """VmRSS / VmHWM of this process in MiB (0 where /proc is missing)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench_verify_and_proofs(b: Bench, n: int) -> None:
    with bench_app("verify") as app, app.app_context():
        load_s = bulk_load(n)
        print(f"  loaded {n:,} leaves in {load_s:.1f} s", file=sys.stderr)
        with contextlib.suppress(OSError):  # resets VmHWM (Linux): the peak below is the verification's
            Path("/proc/self/clear_refs").write_text("5")
        rss_before = _rss_mib("VmRSS")
        t0, c0 = time.perf_counter(), time.process_time()
        result = audit.verify_log()
        verify_s, verify_cpu = time.perf_counter() - t0, time.process_time() - c0
        rss_peak = _rss_mib("VmHWM")
        # The target scales with the log: 10 s per million leaves (issue 21: 10,000,000 in ≤ 10 × the
        # 1,000,000 time; bench/run.py judges the growth over the curve).
        target = VERIFY_TARGET_S * max(1.0, n / 1_000_000)
        ok = result.ok and result.size == n
        if not result.ok:
            print("\n".join(result.problems[:10]), file=sys.stderr)
        b.add(
            f"verify_log, {n:,} leaves",
            verify_s,
            "s",
            target,
            ok and verify_s < target,
            bar=f"< {target:.0f} s",
        )
        # CPU time of this process: the same figure with other load on the machine factored out.
        b.add(
            f"verify_log CPU time, {n:,} leaves",
            verify_cpu,
            "s",
            target,
            ok and verify_cpu < target,
            bar=f"< {target:.0f} s",
        )
        b.add(
            f"verify_log memory growth, {n:,} leaves",
            rss_peak - rss_before,
            "MiB",
            None,
            rss_peak - rss_before <= 64,
            f"peak {rss_peak:.0f} MiB",
            bar="flat: ≤ 64 MiB over the process at any size",
        )

        bound = math.ceil(math.log2(n)) if n > 1 else 0
        root = audit.root_hash()
        samples = sorted({0, 1, n // 3, n // 2, n - 2, n - 1, *(secrets.randbelow(n) for _ in range(20))})
        worst = 0
        t0 = time.perf_counter()
        all_ok = True
        for index in samples:
            proof = audit.inclusion_proof(index)
            worst = max(worst, len(proof))
            leaf_hash = db.session.get(AuditLeaf, index).leaf_hash  # type: ignore[union-attr]
            all_ok &= merkle.verify_inclusion(leaf_hash, index, n, proof, root)
        per_proof_ms = (time.perf_counter() - t0) / len(samples) * 1000
        b.add(
            f"inclusion proof length, worst of {len(samples)}",
            worst,
            "hashes",
            bound,
            all_ok and worst <= bound,
            bar="≤ ⌈log₂ n⌉",
        )
        b.add("inclusion proof served + verified", per_proof_ms, "ms", None, all_ok)
        t0 = time.perf_counter()
        cons = audit.consistency_proof(n // 3, n)
        cons_ok = merkle.verify_consistency(n // 3, n, audit.root_hash(n // 3), root, cons)
        b.add(
            "consistency proof n/3 → n",
            len(cons),
            "hashes",
            bound + 1,
            cons_ok and len(cons) <= bound + 1,
            f"{(time.perf_counter() - t0) * 1000:.1f} ms",
            bar="≤ ⌈log₂ n⌉ + 1",
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leaves", type=int, default=100_000, help="leaves appended through audit.record")
    parser.add_argument("--batch", type=int, default=1000, help="leaves per committed transaction")
    parser.add_argument("--verify", type=int, default=1_000_000, help="leaves in the verify benchmark")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()

    b = Bench()
    if args.leaves:
        print(f"(a) appending {args.leaves:,} leaves …", file=sys.stderr)
        bench_append(b, args.leaves, args.batch)
    if args.verify:
        print(f"(b, c) verifying {args.verify:,} leaves …", file=sys.stderr)
        bench_verify_and_proofs(b, args.verify)
    engine = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    print(f"\nAudit log benchmark ({engine}, Python {sys.version.split()[0]})\n")
    print(b.table())
    if args.json:
        # The rows of bench/run.py's report, one list; the engine goes into each figure's name.
        rows = [
            r
            | {
                "figure": f"{r['figure']} ({engine})",
                "value": round(r["value"], 2),
                "baseline": "" if r["baseline"] is None else round(r["baseline"], 2),
            }
            for r in b.rows
        ]
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0 if all(r["pass"] for r in b.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
