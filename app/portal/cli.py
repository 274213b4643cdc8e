"""``flask portal …``: jobs of the portal domain."""

from __future__ import annotations

import datetime as dt

import click
from flask import Flask
from flask.cli import AppGroup

from app.core.db import db
from app.core.web import public_url_context

from . import bulk

group = AppGroup("portal", help="Public portal and open data.")


@group.command("ocds-bulk")
@click.option(
    "--day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Default: today (Beijing)."
)
def ocds_bulk_command(day: dt.datetime | None) -> None:
    """Write the day's OCDS bulk file (JSON Lines, gzip) and its signed manifest (run daily from cron)."""
    with public_url_context():  # the manifest and releases carry absolute links
        manifest = bulk.write_daily(day.date() if day else None)
        db.session.commit()
    click.echo(f"{manifest['file']}: {manifest['releases']} release(s), {manifest['bytes']} bytes")
    click.echo(f"sha256 {manifest['sha256']}")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
