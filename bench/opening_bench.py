"""Opening benchmark: decrypt N envelopes the way the ceremony does, against ``age -d`` on the same files.

    python bench/opening_bench.py [--envelopes 200] [--mib 2] [--json out.json]

Both sides start from the same N age files (sealed with the reference ``age`` CLI to one X25519 recipient)
and write their output to disk:

- ours: ``app.bidding.opening.open_documents`` — per file one pass that decrypts (``app.bidding.agedecrypt``),
  recomputes the SHA-256 against the receipt and stores the plaintext encrypted at rest (AES-256-GCM
  chunks, ``app.bidding.atrest``), fsync'd; a few files at a time on threads, as in the ceremony;
- baseline: ``age -d -i identity -o out file`` for each file, in sequence (what an operator would run).

Bar: ours ≥ 1.0 × the baseline's throughput (MiB of ciphertext per second), measured in the same run; and
memory flat: the process's peak RSS while ours runs (``VmHWM`` after resetting it through
``/proc/self/clear_refs``) grows by at most 16 MiB over the RSS before, whatever the envelope size
(bench/run.py draws the curve over 2 and 50 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BAR = 1.0  # issue 21: at least age -d's own rate on the same files
GROWTH_BAR_MIB = 16  # a few chunk buffers per thread, never the envelope


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> int:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0) and return that RSS, KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envelopes", type=int, default=200)
    parser.add_argument("--mib", type=float, default=2.0, help="plaintext size of each envelope")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from flask import Flask

    from app.bidding import agedecrypt, keys, opening

    work = Path(tempfile.mkdtemp(prefix="opening-bench-"))
    blobs = work / "blobs"
    (blobs / "envelopes" / "1").mkdir(parents=True)
    ident_file = work / "identity.txt"
    subprocess.run(["age-keygen", "-o", str(ident_file)], check=True, capture_output=True)
    secret_line = next(line for line in ident_file.read_text().splitlines() if line.startswith("AGE-SECRET"))
    recipient = subprocess.run(
        ["age-keygen", "-y", str(ident_file)], check=True, capture_output=True, text=True
    ).stdout.strip()
    size = int(args.mib * 1024 * 1024)
    plain = work / "plain.bin"
    envelopes = []
    import hashlib

    for i in range(args.envelopes):
        plain.write_bytes(os.urandom(size))
        rel = f"envelopes/1/{i}.age"
        subprocess.run(["age", "-r", recipient, "-o", str(blobs / rel), str(plain)], check=True)
        digest = hashlib.sha256((blobs / rel).read_bytes()).hexdigest()
        envelopes.append(
            SimpleNamespace(
                id=i,
                section_id=1,
                blob_path=rel,
                sha256=digest,
                kind="document",
                name=f"d{i}",
                signature=None,
                signing_key_id=None,
                signing_key=None,
            )
        )
    total = sum((blobs / e.blob_path).stat().st_size for e in envelopes) / 2**20
    os.sync()

    import pyrage

    identity = agedecrypt.Identity(keys.identity_secret_bytes(pyrage.x25519.Identity.from_str(secret_line)))
    from flask_babel import Babel

    app = Flask("opening-bench")
    app.config.update(BLOB_DIR=str(blobs), DATA_KEY="bench-data-key", BIDDING_REQUIRE_SIGNATURE=False)
    Babel(app)

    growths: list[float] = []

    def ours() -> float:
        before = _reset_peak()
        started = time.perf_counter()
        with app.test_request_context():
            results = opening.open_documents(envelopes, identity)  # type: ignore[arg-type]
        growths.append((_status_kib("VmHWM") - before) / 1024)
        for env_id, (status, note, _path, _size) in results.items():
            if status != "ok":
                raise SystemExit(f"envelope {env_id}: {status} {note}")
        took = time.perf_counter() - started
        for p in (blobs / "opened").rglob("*.bin"):
            p.unlink()
        return total / took

    out_dir = work / "age-out"
    out_dir.mkdir()

    def reference() -> float:
        started = time.perf_counter()
        for env in envelopes:
            out = out_dir / f"{env.id}.bin"
            subprocess.run(
                ["age", "-d", "-i", str(ident_file), "-o", str(out), str(blobs / env.blob_path)], check=True
            )
            with open(out, "rb") as fh:
                os.fsync(fh.fileno())  # the same durability as ours
        took = time.perf_counter() - started
        for p in out_dir.iterdir():
            p.unlink()
        return total / took

    ours_rates, age_rates = [], []
    try:
        for run in range(args.runs):
            os.sync()
            if run % 2:
                age_rates.append(reference())
                ours_rates.append(ours())
            else:
                ours_rates.append(ours())
                age_rates.append(reference())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rate, base = max(ours_rates), max(age_rates)
    rows = [
        {
            "figure": f"opening: {args.envelopes} envelopes of {args.mib:g} MiB (decrypt+verify+store)",
            "value": round(rate, 1),
            "unit": "MiB/s",
            "baseline": round(base, 1),
            "ratio": round(rate / base, 3),
            "bar": f"≥ {BAR:.0%} of age -d",
            "pass": rate >= BAR * base,
        },
        {
            "figure": f"opening memory: peak RSS growth while opening {args.envelopes} × {args.mib:g} MiB",
            "value": round(max(growths), 1),
            "unit": "MiB",
            "baseline": "RSS before the ceremony",
            "ratio": None,
            "bar": f"≤ {GROWTH_BAR_MIB} MiB at every size (flat)",
            "pass": max(growths) <= GROWTH_BAR_MIB,
        },
    ]
    print(
        f"{rows[0]['figure']}: {rows[0]['value']} MiB/s vs age -d {rows[0]['baseline']} MiB/s, "
        f"ratio {rows[0]['ratio']} {'pass' if rows[0]['pass'] else 'FAIL'}"
    )
    print(f"{rows[1]['figure']}: {rows[1]['value']} MiB {'pass' if rows[1]['pass'] else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
