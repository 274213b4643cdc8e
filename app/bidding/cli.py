"""``flask bidding …``: orphan clean-up and the receipts ↔ files check."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from . import storage

group = AppGroup("bidding", help="Sealed bids: storage maintenance.")


@group.command("cleanup")
@click.option("--grace", default=storage.GRACE_SECONDS, show_default=True, help="Only files older than this.")
@click.option(
    "--dispose-expired",
    is_flag=True,
    help="Also dispose of archives whose retention period has ended (bundle and decrypted bids).",
)
def cleanup_command(grace: int, dispose_expired: bool) -> None:
    """Remove stale temp files and envelope files that no receipt refers to. Files of an archive under
    its retention period (15 years, 政府采购法 Art. 42; docs/rules.md) are never removed; once the period has
    ended, ``--dispose-expired`` removes the bundle and the decrypted bids (the sealed ciphertext stays)."""
    from app.core.db import db
    from app.evaluation import archive

    removed = storage.cleanup(grace_seconds=grace)
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} file(s) removed")
    kept = archive.under_retention()
    click.echo(f"{len(kept)} archive(s) under retention kept")
    if dispose_expired:
        disposed = archive.dispose_expired()
        db.session.commit()
        for ev in disposed:
            click.echo(f"disposed archive of section {ev.section_id} (retained until {ev.retain_until})")
        click.echo(f"{len(disposed)} archive(s) past retention disposed")


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
