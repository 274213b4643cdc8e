"""``ggzy-audit``: the offline verifier. Standard library and ``cryptography`` only: no Flask, no database.

A regulator who pinned a checkpoint note and holds the platform's public key can check a proof exported by
``flask audit prove`` (or the proof API) on any machine::

    ggzy-audit --checkpoint cp.txt --key 'ggzy.example.gov.cn/audit-log+1a2b3c4d+AQ…' --proof proof.json

With ``--witness <vkey>`` (repeatable) the checkpoint must also carry a valid C2SP tlog-cosignature/v1 line
by each of those witnesses (the note as served by the platform carries them after its own signature).
``ggzy-audit draw URL-OR-FILE`` recomputes a published expert draw (docs/verify-a-draw.md) and
``ggzy-audit witness …`` pins checkpoints outside the platform (app.core.witness).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from app.core import merkle

# ---------------------------------------------------------------------------------------------------------
# Offline verification (console script ``ggzy-audit``): merkle + cryptography only, no Flask app, no database
# ---------------------------------------------------------------------------------------------------------


def _read_text(value: str) -> str:
    path = Path(value)
    return path.read_text(encoding="utf-8") if path.exists() else value


def _checked_checkpoint(note: str, key: str) -> tuple[int, bytes]:
    from app.core.checkpoint_note import parse_checkpoint_note, verify_checkpoint_note

    if not verify_checkpoint_note(note, key):
        raise ValueError("the checkpoint signature does not verify with this key")
    _, size, root = parse_checkpoint_note(note)
    return size, root


def check_witnesses(note: str, vkeys: list[str]) -> str:
    """Every witness verifier key (C2SP vkey of type 0x04; a type 0x01 one is converted) must have a valid
    tlog-cosignature/v1 line on the checkpoint note; a line by one of them that does not verify rejects the
    note (signed-note). Returns a summary or raises ValueError."""
    from app.core import signed_note

    verifiers = [signed_note.cosigner_verifier(v) for v in vkeys]
    signed = signed_note.verified_signers(note, verifiers)
    missing = [v.name for v in verifiers if v.vkey not in signed]
    if missing:
        raise ValueError(f"no cosignature by witness {', '.join(missing)}")
    stamps = ", ".join(
        f"{v.name} at {dt.datetime.fromtimestamp(signed[v.vkey], dt.UTC):%Y-%m-%dT%H:%M:%SZ}"
        for v in verifiers
    )
    return f"cosigned by {stamps}"


def verify_offline(
    proof: dict[str, Any],
    note: str,
    key: str,
    old_note: str | None = None,
    witnesses: list[str] | None = None,
) -> str:
    """Check ``proof`` against a signed checkpoint (and its cosignatures by ``witnesses``, vkeys); return a
    one-line summary or raise ValueError."""
    size, root = _checked_checkpoint(note, key)
    if witnesses:
        cosigned = check_witnesses(note, witnesses)
        return f"{_verify_proof(proof, size, root, key, old_note)}; {cosigned}"
    return _verify_proof(proof, size, root, key, old_note)


def _verify_proof(proof: dict[str, Any], size: int, root: bytes, key: str, old_note: str | None) -> str:
    nodes = [bytes.fromhex(h) for h in proof["proof"]]
    if proof.get("kind", "inclusion") == "inclusion":
        if int(proof["tree_size"]) != size:
            raise ValueError(f"the proof is for size {proof['tree_size']}, the checkpoint for {size}")
        leaf_hash = bytes.fromhex(proof["leaf_hash"])
        if "leaf" in proof and merkle.leaf_hash(proof["leaf"].encode()) != leaf_hash:
            raise ValueError("the leaf text does not hash to leaf_hash")
        if not merkle.verify_inclusion(leaf_hash, int(proof["index"]), size, nodes, root):
            raise ValueError("the inclusion proof does not verify")
        summary = f"leaf {proof['index']} is in the signed tree of size {size}"
        if "leaf" in proof:
            digest = json.loads(proof["leaf"]).get("payload_sha256")
            summary += f" (payload sha256 {digest})"
        return summary
    if old_note is None:
        raise ValueError("a consistency proof needs the older checkpoint too (--old-checkpoint)")
    old_size, old_root = _checked_checkpoint(old_note, key)
    if (int(proof["old_size"]), int(proof["new_size"])) != (old_size, size):
        raise ValueError("the proof's sizes do not match the two checkpoints")
    if old_size == 0:
        # RFC 9162 has no consistency proof from the empty tree: every tree extends the empty tree.
        if old_root != merkle.EMPTY_ROOT or nodes:
            raise ValueError("a checkpoint of size 0 must have the empty root and an empty proof")
    elif not merkle.verify_consistency(old_size, size, old_root, root, nodes):
        raise ValueError("the consistency proof does not verify: the log was rewritten")
    return f"the signed tree of size {size} extends the one of size {old_size}"


# --- ggzy-audit draw: recompute a published expert draw (docs/verify-a-draw.md) -------------------------


def _draw_subcommand(argv: list[str] | None) -> int | None:
    """``ggzy-audit draw URL-OR-FILE``; None when the arguments are not this subcommand."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "draw":
        return None
    from app.core import draw_verify  # standard library only

    return draw_verify.main(args[1:])


# ---------------------------------------------------------------------------------------------------------


# --- ggzy-audit witness (issue 16): pin checkpoints outside the platform; see app.core.witness -------------


def _subcommand(argv: list[str]) -> int | None:
    if argv[:1] == ["witness"]:
        from app.core.witness import witness_main

        return witness_main(argv[1:])
    return None


# --- end of ggzy-audit witness ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    draw_status = _draw_subcommand(argv)
    if draw_status is not None:
        return draw_status
    argv = sys.argv[1:] if argv is None else argv
    if (status := _subcommand(argv)) is not None:
        return status
    parser = argparse.ArgumentParser(prog="ggzy-audit", description="Verify an audit log proof offline.")
    parser.add_argument("--checkpoint", required=True, help="signed checkpoint note (file or text)")
    parser.add_argument("--key", required=True, help="verifier key name+id+key, base64 key, or PEM (file)")
    parser.add_argument("--proof", required=True, help="proof JSON from `flask audit prove|consistency`")
    parser.add_argument("--old-checkpoint", help="for consistency proofs: the older checkpoint note")
    parser.add_argument("--payload", help="optional file whose SHA-256 must equal the leaf's payload digest")
    parser.add_argument(
        "--witness",
        action="append",
        default=[],
        help="witness vkey (C2SP, type 0x04) whose cosignature the checkpoint must carry; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        proof = json.loads(_read_text(args.proof))
        old_note = _read_text(args.old_checkpoint) if args.old_checkpoint else None
        note, witnesses = _read_text(args.checkpoint), [_read_text(w) for w in args.witness]
        summary = verify_offline(proof, note, _read_text(args.key), old_note, witnesses)
        if args.payload:
            digest = hashlib.sha256(Path(args.payload).read_bytes()).hexdigest()
            if digest != json.loads(proof["leaf"])["payload_sha256"]:
                raise ValueError("the payload file does not match the leaf's payload digest")
    except (ValueError, KeyError, OSError, TypeError) as exc:  # binascii.Error is a ValueError
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
