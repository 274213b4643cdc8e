"""Recompute a published expert draw from its public record (docs/verify-a-draw.md).

Standard library only: this file can be copied out of the repository and run on its own::

    python draw_verify.py https://ggzy.example.gov.cn/experts/public/draws/12.json
    python draw_verify.py draw-12.json

It is also ``ggzy-audit draw URL-OR-FILE``. It checks, per round: that the pool names this draw, the pool
digest, the exclusions digest (and that no excluded expert is in the pool), the commitment, the seed, the
RFC 3797 selection and the selection digest. Exit status 0 when every check matches, 1 on any mismatch or
an unreadable record, 2 when the record is still sealed (the inputs are published once the result is
determined) and nothing could be recomputed.

Every rule here is restated in docs/verify-a-draw.md; the platform draws with ``app.experts.draws`` and
``app.experts.selection``, and its tests run this verifier against them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORD_KIND = "ggzy-expert-draw"
MAX_POOL = 0xFFFF


def canonical(obj: Any) -> bytes:
    """Canonical JSON: keys sorted, no whitespace, non-ASCII escaped as \\uXXXX, UTF-8 (= ASCII) bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compute_seed(server_random_hex: str, witness_entropy: str, pool_digest: str, section_id: int) -> str:
    """SHA-256(server_random[32] ‖ SHA-256(UTF-8 witness entropy)[32] ‖ pool_digest[32] ‖ section id as an
    unsigned 64-bit big-endian integer[8]), hex."""
    data = (
        bytes.fromhex(server_random_hex)
        + hashlib.sha256(witness_entropy.encode("utf-8")).digest()
        + bytes.fromhex(pool_digest)
        + int(section_id).to_bytes(8, "big")
    )
    return hashlib.sha256(data).hexdigest()


def rfc3797_positions(key: bytes, size: int, hash_name: str) -> list[int]:
    """RFC 3797 §5 with ``hash_name``: for i = 0, 1, …: H(i as 2 bytes big-endian ‖ key ‖ the same 2
    bytes), read as an unsigned big-endian integer, modulo the number of entries left; the entry at that
    position among those left is picked (and removed)."""
    if size > MAX_POOL:
        raise ValueError("RFC 3797 selection handles at most 65,535 entries")
    remaining = list(range(size))
    out = []
    for i in range(size):
        bracket = i.to_bytes(2, "big")
        digest = hashlib.new(hash_name, bracket + key + bracket).digest()
        out.append(remaining.pop(int.from_bytes(digest, "big") % len(remaining)))
    return out


def select_panel(
    pool: dict[str, Any], wanted: list[dict[str, Any]], seed: str, hash_name: str
) -> dict[str, Any]:
    """One round's selection: specialties in code order; key string ``"<seed hex>/<code>/"``; picks in
    RFC 3797 order until seats + backups are accepted; a pick whose expert or employer is already accepted
    in this round is skipped (it stays picked)."""
    lists: dict[str, list[list[Any]]] = pool["specialties"]
    taken: set[Any] = set()
    employers: set[Any] = set()
    out: dict[str, Any] = {}
    for slot in sorted(wanted, key=lambda w: str(w["specialty"])):
        code = str(slot["specialty"])
        seats, count = int(slot["seats"]), int(slot["seats"]) + int(slot["backups"])
        items = lists.get(code, [])
        key = f"{seed}/{code}/".encode()
        accepted: list[Any] = []
        skipped: list[Any] = []
        for position in rfc3797_positions(key, len(items), hash_name):
            if len(accepted) >= count:
                break
            expert, employer = items[position]
            if expert in taken or employer in employers:
                skipped.append(expert)
                continue
            taken.add(expert)
            employers.add(employer)
            accepted.append(expert)
        out[code] = {"seats": accepted[:seats], "backups": accepted[seats:], "skipped": skipped}
    return out


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not applicable (said why in detail)
    detail: str = ""


@dataclass
class RoundResult:
    number: int
    sealed: bool
    checks: list[Check] = field(default_factory=list)


def _check(name: str, recorded: Any, recomputed: Any) -> Check:
    if recorded == recomputed:
        return Check(
            name, True, str(recomputed) if isinstance(recomputed, str) and len(recomputed) <= 64 else ""
        )
    return Check(name, False, f"recorded {recorded!r}, recomputed {recomputed!r}"[:400])


def verify_round(record: dict[str, Any], rnd: dict[str, Any]) -> RoundResult:
    number = int(rnd["number"])
    if "seed" not in rnd or "pool" not in rnd:
        return RoundResult(number, sealed=True)
    out = RoundResult(number, sealed=False)
    checks = out.checks
    fmt = int(rnd.get("format", 1))
    algorithm = str(rnd["algorithm"])
    if not algorithm.startswith("rfc3797-"):
        raise ValueError(f"unknown algorithm {algorithm!r}")
    hash_name = algorithm.removeprefix("rfc3797-")
    pool = rnd["pool"]
    names = {"draw": record["draw_id"], "round": number, "section": record["section_id"]}
    checks.append(_check("pool names this draw, round and section", names, {k: pool.get(k) for k in names}))
    if fmt >= 2:
        checks.append(_check("pool digest", rnd["pool_digest"], sha256_hex(canonical(pool))))
        checks.append(
            _check("exclusions digest", rnd["exclusions_digest"], sha256_hex(canonical(rnd["exclusions"])))
        )
    else:
        why = "format 1: the digest binds the private identifiers; the regulator's verify page checks it"
        checks.append(Check("pool digest", None, why))
        checks.append(Check("exclusions digest", None, why))
    in_pool = {item[0] for items in pool["specialties"].values() for item in items}
    excluded = {row[0] for row in rnd["exclusions"]}
    both = sorted(in_pool & excluded)
    checks.append(Check("no excluded expert in the pool", not both, f"{len(both)} in both" if both else ""))
    checks.append(
        _check(
            "commitment = SHA-256(server_random)",
            rnd["commitment"],
            sha256_hex(bytes.fromhex(rnd["server_random"])),
        )
    )
    seed = compute_seed(
        rnd["server_random"], rnd["witness_entropy"], rnd["pool_digest"], int(record["section_id"])
    )
    checks.append(_check("seed", rnd["seed"], seed))
    selection = select_panel(pool, rnd["wanted"], seed, hash_name)
    checks.append(
        _check("selection (RFC 3797)", canonical(rnd["selection"]).decode(), canonical(selection).decode())
    )
    checks.append(_check("selection digest", rnd["selection_digest"], sha256_hex(canonical(selection))))
    steps = rnd.get("audit_leaves") or {}
    order = [steps.get(k) for k in ("freeze", "commit", "witness", "reveal")]
    if all(isinstance(i, int) for i in order):
        ok = order == sorted(int(i) for i in order if i is not None) and len(set(order)) == 4
        checks.append(
            Check("audit log order freeze < commit < witness < reveal", ok, "" if ok else str(order))
        )
    return out


def verify_record(record: dict[str, Any]) -> list[RoundResult]:
    if record.get("record") != RECORD_KIND:
        raise ValueError(f"not an expert draw record (record = {record.get('record')!r})")
    if not record.get("rounds"):
        raise ValueError("the record has no rounds")
    return [verify_round(record, rnd) for rnd in record["rounds"]]


def load(source: str, *, timeout: float = 30.0) -> dict[str, Any]:
    """A record from a URL (http/https; an HTML page's address gets ``.json`` appended) or a file (the
    record, or an archive bundle's draw_record.json)."""
    if source.startswith(("http://", "https://")):
        url = source
        if not url.rstrip("/").endswith(".json"):
            url = url.rstrip("/") + ".json"
        req = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            data = resp.read()
    else:
        data = Path(source).read_bytes()
    record = json.loads(data.decode("utf-8"))
    if isinstance(record, dict) and isinstance(record.get("public_record"), dict):
        record = record["public_record"]  # draw_record.json of a section's archive bundle
    if not isinstance(record, dict):
        raise ValueError("the record is not a JSON object")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: ggzy-audit draw VERIFY-URL-OR-FILE", file=sys.stderr)
        print("Recompute a published expert draw (docs/verify-a-draw.md).", file=sys.stderr)
        return 1 if args and args[0] not in ("-h", "--help") else 0
    try:
        record = load(args[0])
        results = verify_record(record)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        print(f"FAILED: cannot read the record: {exc}", file=sys.stderr)
        return 1
    print(f"draw {record['draw_id']}, section {record['section_id']}")
    failed = 0
    checked = 0
    for res in results:
        if res.sealed:
            print(f"round {res.number}: SEALED (the inputs are published once the result is determined)")
            continue
        for check in res.checks:
            mark = {True: "OK  ", False: "FAIL", None: "SKIP"}[check.ok]
            detail = f"  {check.detail}" if check.detail else ""
            print(f"round {res.number}: {mark} {check.name}{detail}")
            checked += check.ok is not None
            failed += check.ok is False
    if failed:
        print(f"FAILED: {failed} check(s) do not match", file=sys.stderr)
        return 1
    if not checked:
        print("NOT VERIFIED: the record is still sealed")
        return 2
    print(f"OK: {checked} checks match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
