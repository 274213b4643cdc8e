"""``flask bidding …``: orphan clean-up and the receipts ↔ files check."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from . import storage

group = AppGroup("bidding", help="Sealed bids: storage maintenance.")


@group.command("cleanup")
@click.option("--grace", default=storage.GRACE_SECONDS, show_default=True, help="Only files older than this.")
def cleanup_command(grace: int) -> None:
    """Remove stale temp files and envelope files that no receipt refers to."""
    removed = storage.cleanup(grace_seconds=grace)
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} file(s) removed")


@group.command("check")
def check_command() -> None:
    """Prove every receipt (envelope row) has its file and every stored file has its receipt."""
    report = storage.check()
    click.echo(f"{report.rows} receipts, {report.files} files")
    for path in report.missing_files:
        click.echo(f"MISSING file for receipt: {path}")
    for path in report.size_mismatches:
        click.echo(f"SIZE differs from receipt: {path}")
    for path in report.orphan_files:
        click.echo(f"ORPHAN file without receipt: {path}")
    if not report.ok:
        raise SystemExit(1)
    click.echo("ok")
