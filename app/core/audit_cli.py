"""``flask audit …`` commands, and ``ggzy-audit``: an offline verifier that needs no database.

A regulator who pinned a checkpoint note and holds the platform's public key can check a proof exported by
``flask audit prove`` (or the proof API) on any machine::

    ggzy-audit --checkpoint cp.txt --key 'ggzy.example.gov.cn/audit-log+1a2b3c4d+AQ…' --proof proof.json

With ``--witness <vkey>`` (repeatable) the checkpoint must also carry a valid C2SP tlog-cosignature/v1 line
by each of those witnesses (the note as served by the platform carries them after its own signature).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.core import merkle

audit_group = AppGroup("audit", help="Audit log: verify, sign checkpoints, export proofs.")


def init_cli(app: Flask) -> None:
    app.cli.add_command(audit_group)


def _hex(items: list[bytes]) -> list[str]:
    return [h.hex() for h in items]


@audit_group.command("verify")
@click.option("--batch", default=10000, show_default=True, help="Rows fetched per round trip.")
@click.option(
    "--witness-state",
    "witness_states",
    multiple=True,
    type=click.Path(file_okay=False),
    help="A `ggzy-audit witness` state directory whose pinned checkpoint the log must extend "
    "(default: AUDIT_WITNESS_STATE). Repeatable.",
)
def verify_command(batch: int, witness_states: tuple[str, ...]) -> None:
    """Recompute every leaf, subtree and root; check the head, every signed checkpoint and the checkpoints
    pinned by witnesses; fail when leaves stayed uncovered longer than the cadence allows."""
    from app.core import audit

    states = list(witness_states) or [s for s in [current_app.config.get("AUDIT_WITNESS_STATE")] if s]
    pinned: list[tuple[str, str]] = []
    for state in states:
        note_path = Path(state) / "checkpoint"
        if not note_path.is_file():
            raise click.ClickException(f"{state}: no pinned checkpoint (has the witness run?)")
        pinned.append((f"pinned by the witness in {state}", note_path.read_text(encoding="utf-8")))
    result = audit.verify_log(batch=batch, pinned=pinned)
    if result.ok:
        click.echo(
            f"OK: {result.size} leaves, {result.checkpoints} checkpoint sizes, root {result.root.hex()}"
        )
        return
    for problem in result.problems:
        click.echo(problem, err=True)
    click.echo(f"FAILED: {len(result.problems)} problem(s) in a log of {result.size} leaves", err=True)
    sys.exit(1)


@audit_group.command("checkpoint")
@click.option("--reason", default="on_demand", show_default=True)
@click.option(
    "--if-due",
    is_flag=True,
    help="Only when the cadence asks for one (the log grew and AUDIT_CHECKPOINT_INTERVAL passed): for cron.",
)
def checkpoint_command(reason: str, if_due: bool) -> None:
    """Sign the current tree head and print the checkpoint note (a size already signed is not signed
    again: its checkpoint is printed)."""
    from app.core import audit
    from app.core.db import db

    cp = audit.checkpoint_if_due(reason=reason) if if_due else audit.checkpoint(reason=reason)
    db.session.commit()
    if cp is not None:
        click.echo(cp.note, nl=False)


@audit_group.command("retire-key")
def retire_key_command() -> None:
    """Before rotating PLATFORM_SIGNING_KEY: record the key in use as retired, so what it signed keeps
    verifying. Then put the new key in place on every node and restart."""
    from app.core import audit
    from app.core.db import db

    row = audit.retire_signing_key()
    db.session.commit()
    key = audit.verifier_key(current_app.config["AUDIT_ORIGIN"], audit.platform_public_key())
    click.echo(f"retired {key}")
    click.echo(f"(signing_key row {row.id}); now configure the new PLATFORM_SIGNING_KEY on every node")


@audit_group.command("prove")
@click.argument("index", type=int)
@click.option("--size", type=int, default=None, help="Tree size (default: the current size).")
def prove_command(index: int, size: int | None) -> None:
    """Print the inclusion proof of leaf INDEX as JSON (the input of ggzy-audit)."""
    from app.core import audit
    from app.core.db import db
    from app.core.models import AuditLeaf

    size = audit.tree_size() if size is None else size
    leaf = db.session.get(AuditLeaf, index)
    if leaf is None or index >= size:
        raise click.BadParameter(f"no leaf {index} in a tree of size {size}", param_hint="INDEX")
    out = {
        "kind": "inclusion",
        "index": index,
        "tree_size": size,
        "leaf": audit.leaf_bytes_of(leaf).decode(),
        "leaf_hash": bytes(leaf.leaf_hash).hex(),
        "root_hash": audit.root_hash(size).hex(),
        "proof": _hex(audit.inclusion_proof(index, size)),
    }
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))


@audit_group.command("consistency")
@click.argument("old", type=int)
@click.argument("new", type=int)
def consistency_command(old: int, new: int) -> None:
    """Print the consistency proof between tree sizes OLD and NEW as JSON."""
    from app.core import audit

    out = {
        "kind": "consistency",
        "old_size": old,
        "new_size": new,
        "old_root": audit.root_hash(old).hex(),
        "new_root": audit.root_hash(new).hex(),
        "proof": _hex(audit.consistency_proof(old, new)),
    }
    click.echo(json.dumps(out, indent=2))


# ---------------------------------------------------------------------------------------------------------
# Offline verification (console script ``ggzy-audit``): merkle + cryptography only, no Flask app, no database
# ---------------------------------------------------------------------------------------------------------


def _read_text(value: str) -> str:
    path = Path(value)
    return path.read_text(encoding="utf-8") if path.exists() else value


def _checked_checkpoint(note: str, key: str) -> tuple[int, bytes]:
    from app.core.audit import parse_checkpoint_note, verify_checkpoint_note

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
