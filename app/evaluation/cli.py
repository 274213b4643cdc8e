"""``flask evaluation …``: verify an archive bundle offline, rebuild nothing."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

group = AppGroup("evaluation", help="Evaluation, award and archive bundles.")


@group.command("verify-archive")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", default=None, help="Pin the platform Ed25519 public key (base64 of the raw key).")
def verify_archive(path: str, key: str | None) -> None:
    """Verify an archive bundle: manifest hashes and signature, audit inclusion proofs, checkpoint."""
    from .verify import verify_archive as run

    result = run(path, key=key)
    for problem in result.problems:
        click.echo(f"FAIL {problem}")
    click.echo(f"{'OK' if result.ok else 'FAILED'}: {result.files} files, {result.leaves} audit leaves")
    if not result.ok:
        sys.exit(1)


@group.command("demo-panel")
@click.argument("section_id", type=int)
@click.option("--no-confirm", is_flag=True, help="Leave the invitations unanswered.")
def demo_panel(section_id: int, no_confirm: bool) -> None:
    """Demo: create sign-in accounts for the experts drawn onto a section and confirm their seats."""
    from app.core.db import db
    from app.projects.models import Section

    from .demo import link_panel_accounts

    section = db.session.get(Section, section_id)
    if section is None:
        raise click.ClickException("no such section")
    lines = link_panel_accounts(section, confirm=not no_confirm)
    db.session.commit()
    click.echo("\n".join(lines) or "every drawn expert already has an account")
