"""``flask projects …``: jobs of the projects domain."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.core.db import db

from . import services

group = AppGroup("projects", help="Projects and sections.")


@group.command("close-due")
def close_due_command() -> None:
    """Close bidding on every section whose bid deadline has passed (run every minute from cron)."""
    closed = services.close_due_sections()
    db.session.commit()
    click.echo(f"closed {len(closed)} section(s)")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
