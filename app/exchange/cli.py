"""``flask exchange …``: the push to the provincial platform (run ``push`` every minute from cron)."""

from __future__ import annotations

import datetime as dt

import click
from flask import Flask
from flask.cli import AppGroup

from app.core.clock import now
from app.core.db import db
from app.core.web import public_url_context

from . import services, webhooks

group = AppGroup("exchange", help="Data exchange with the provincial platform.")


@group.command("push")
@click.option("--limit", default=100, show_default=True)
def push_command(limit: int) -> None:
    """Make messages from the log's new public records, then send what is due."""
    with public_url_context():  # records carry absolute links
        made = services.sweep()
        db.session.commit()
        sent, failed = services.deliver(limit)
        hooks_sent, hooks_failed = webhooks.deliver(limit)
    click.echo(f"made {made}, sent {sent}, failed {failed} (retried later)")
    click.echo(f"webhooks: sent {hooks_sent}, failed {hooks_failed}")


@group.command("simulate-outage")
@click.option("--minutes", type=int, default=60, show_default=True)
@click.option("--end", is_flag=True, help="Bring the simulated provincial platform back now.")
def outage_command(minutes: int, end: bool) -> None:
    """Take the simulated provincial platform down (demo: watch the retries, then nothing lost)."""
    services.simulate_outage(None if end else now() + dt.timedelta(minutes=minutes))
    db.session.commit()
    click.echo("the simulated provincial platform is " + ("back" if end else f"down for {minutes} minutes"))


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
