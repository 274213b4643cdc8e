"""``flask audit …`` commands (verify the database, sign checkpoints, export proofs). The offline verifier
``ggzy-audit`` lives in :mod:`app.core.audit_offline` (no Flask, no database); its entry points are
re-exported here for older callers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.core.audit_offline import check_witnesses, main, verify_offline  # noqa: F401  (re-exported)

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


if __name__ == "__main__":
    sys.exit(main())
