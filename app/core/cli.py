"""Kernel command-line tools: audit log, outbox delivery."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

outbox_group = AppGroup("outbox", help="Notification outbox.")


@outbox_group.command("deliver")
@click.option("--limit", default=100, show_default=True)
def deliver(limit: int) -> None:
    """Send pending notifications (run from cron, e.g. every minute)."""
    from app.core.outbox import deliver_pending

    click.echo(f"sent {deliver_pending(limit)}")


def init_app(app: Flask) -> None:
    from app.core.audit_cli import init_cli

    init_cli(app)
    app.cli.add_command(outbox_group)
