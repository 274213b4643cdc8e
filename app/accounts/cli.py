"""``flask accounts ...``: bootstrap a system administrator on a fresh install."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.core.db import db
from app.core.errors import DomainError
from app.core.permissions import OrgKind, Role

from . import services
from .models import Organization

group = AppGroup("accounts", help="Accounts and organizations.")


@group.command("create-admin")
@click.option("--username", required=True)
@click.option("--name", "display_name", default="系统管理员")
@click.password_option()
def create_admin(username: str, display_name: str, password: str) -> None:
    """Create a sysadmin account in the platform operator organization."""
    org = db.session.scalar(select(Organization).where(Organization.kind == OrgKind.PLATFORM_OPERATOR.value))
    if org is None:
        org = services.create_organization("平台运营方", OrgKind.PLATFORM_OPERATOR, actor=None)
    try:
        services.create_user(
            username=username,
            display_name=display_name,
            organization=org,
            role=Role.SYSADMIN,
            password=password,
            actor=None,
        )
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(f"{err.message} {err.errors}") from err
    db.session.commit()
    click.echo(f"created sysadmin {username}; two-factor enrolment happens at first sign-in")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
