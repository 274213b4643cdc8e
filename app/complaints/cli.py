"""``flask cases …``: the clock tick (run from cron) and the department heads."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core.db import db

from . import routing

group = AppGroup("cases", help="Objections, complaints and reports.")


@group.command("tick")
def tick_command() -> None:
    """Mark overdue cases and send reminders, supervision notices and escalations (idempotent)."""
    result = routing.tick()
    db.session.commit()
    click.echo(f"overdue: {len(result.overdue)} newly marked {', '.join(result.overdue)}".rstrip())
    click.echo(f"notices sent: {result.notices}")


@group.command("set-head")
@click.argument("org_name")
@click.argument("username")
def set_head_command(org_name: str, username: str) -> None:
    """Name the head of a handling department (receives escalations)."""
    org = db.session.scalar(select(Organization).where(Organization.name == org_name))
    user = db.session.scalar(select(User).where(User.username == username))
    if org is None or user is None:
        raise click.ClickException("no such organization or user")
    routing.set_department_head(org, user, actor=None)
    db.session.commit()
    click.echo(f"{user.display_name} heads {org.name}")
