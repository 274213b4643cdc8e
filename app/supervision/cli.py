"""``flask supervision …``: run the alert rules, check that the log extends a pinned checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

group = AppGroup("supervision", help="Supervision: alerts and audit-log consistency.")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)


@group.command("alerts")
@click.option(
    "--section", "section_id", type=int, default=None, help="One section (default: all in progress)."
)
def alerts_command(section_id: int | None) -> None:
    """Run every alert rule on the sections in progress and store new findings."""
    from app.core.db import db
    from app.projects.models import Section

    from . import alerts

    sections = [db.session.get(Section, section_id)] if section_id else alerts.sections_to_check()
    total = 0
    for section in sections:
        if section is None:
            raise click.BadParameter(f"no section {section_id}", param_hint="--section")
        raised = alerts.run_alert_rules(section)
        total += len(raised)
        for alert in raised:
            click.echo(f"section {section.id}: {alert.rule} ({alert.legal_basis}) {alert.summary}")
    db.session.commit()
    click.echo(f"{total} new alert(s) on {len(sections)} section(s)")


def check_consistency(old_note: str) -> tuple[bool, str]:
    """Does today's log extend the tree in ``old_note`` (a checkpoint signed by this platform)?"""
    from app.core import audit, merkle

    if not audit.verify_checkpoint_note(old_note, audit.platform_public_keys()):
        return False, "the old checkpoint's signature does not verify with any registered platform key"
    _, old_size, old_root = audit.parse_checkpoint_note(old_note)
    size = audit.tree_size()
    if size < old_size:
        return False, f"the log has {size} leaves, fewer than the {old_size} of the old checkpoint"
    new_root = audit.root_hash()
    if old_size == 0:
        ok = old_root == merkle.EMPTY_ROOT
    else:
        try:
            proof = audit.consistency_proof(old_size, size)
        except (LookupError, merkle.InvalidProofError) as err:
            return False, f"no consistency proof: {err}"
        ok = merkle.verify_consistency(old_size, size, old_root, new_root, proof)
    if not ok:
        return (
            False,
            f"the log of size {size} does not extend the checkpoint of size {old_size} (history rewritten)",
        )
    return (
        True,
        f"OK: the log of size {size} (root {new_root.hex()}) extends the checkpoint of size {old_size}",
    )


@group.command("check-consistency")
@click.argument("old_note_file", type=click.Path(exists=True, dir_okay=False))
def check_consistency_command(old_note_file: str) -> None:
    """Check that the current log extends the checkpoint in OLD_NOTE_FILE (e.g. yesterday's)."""
    ok, message = check_consistency(Path(old_note_file).read_text(encoding="utf-8"))
    click.echo(message, err=not ok)
    if not ok:
        sys.exit(1)
