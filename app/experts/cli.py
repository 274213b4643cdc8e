"""``flask experts ...``: load the specialty classification, import experts, enforce answer deadlines and
verify draws from their record."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.core.db import db
from app.core.errors import DomainError

from . import draws, importer, specialties
from .models import ExpertDraw

group = AppGroup("experts", help="Expert pool and draws.")


@group.command("load-specialties")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load_specialties(path: Path | None) -> None:
    """Load the specialty classification (CSV or XLSX; default: the shipped subset)."""
    try:
        counts = specialties.load(specialties.read_file(path or specialties.DEFAULT_FILE), actor=None)
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(f"{err.message} {err.errors}") from err
    db.session.commit()
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--commit", is_flag=True, help="Write the experts (default: dry run, report only).")
def import_command(path: Path, commit: bool) -> None:
    """Import experts from a CSV or XLSX file (all or nothing; re-import updates by ID number)."""
    report = importer.run(path.name, path.read_bytes(), dry_run=not commit, actor=None)
    for p in report.problems:
        click.echo(f"line {p.line}\t{p.field}\t{p.problem}")
    if report.problems:
        db.session.rollback()
        raise click.ClickException(f"{len(report.problems)} problem(s); nothing imported")
    if commit:
        db.session.commit()
    verb = "imported" if commit else "would import"
    click.echo(
        f"{verb}: {report.created} new, {report.updated} updated, {len(report.new_employers)} new employers"
    )


@group.command("sweep")
def sweep() -> None:
    """Mark unanswered invitations past their deadline and call the backups (run from cron)."""
    n = draws.expire_overdue()
    db.session.commit()
    click.echo(f"{n} invitation(s) expired")


@group.command("verify-draw")
@click.argument("draw_id", required=False, type=int)
@click.option("--all", "all_", is_flag=True, help="Verify every draw.")
@click.option("--verbose", "-v", is_flag=True, help="Show every input, not only mismatches.")
def verify_draw(draw_id: int | None, all_: bool, verbose: bool) -> None:
    """Recompute a draw from its record and the audit log; exit 1 on any mismatch."""
    if draw_id is None and not all_:
        raise click.UsageError("give a draw id or --all")
    ids = list(db.session.scalars(select(ExpertDraw.id).order_by(ExpertDraw.id))) if all_ else [draw_id]
    bad = 0
    for ident in ids:
        draw = db.session.get(ExpertDraw, ident)
        if draw is None:
            raise click.ClickException(f"no draw {ident}")
        report = draws.verify_draw(draw)
        click.echo(f"draw {draw.id}: {'MATCH' if report.ok else 'MISMATCH'}")
        for rnd in report.rounds:
            for check in rnd.checks:
                if verbose or not check.ok:
                    mark = "ok" if check.ok else "MISMATCH"
                    click.echo(f"  round {rnd.number} {check.name}: {mark}")
                    click.echo(f"    recorded   {check.recorded[:200]}")
                    click.echo(f"    recomputed {check.recomputed[:200]}")
        bad += not report.ok
    if bad:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
