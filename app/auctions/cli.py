"""``flask auctions …``: settle what the clock has passed (run ``settle`` every few seconds from a timer;
bids and page views settle the listing they touch anyway)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from . import services

group = AppGroup("auctions", help="Listings and auctions.")


@group.command("settle")
def settle_command() -> None:
    """Open listings whose start has come, start timed auctions and end the ones whose time is up."""
    changed = services.settle_all()
    click.echo(f"settled {changed} listing(s)")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
