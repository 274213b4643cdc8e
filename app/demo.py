"""``flask demo seed``: a demo city with every kind of organization and a user for every role.

Passwords are random per install; they and the TOTP secrets of the roles that need two-factor
sign-in are printed and kept in ``instance/demo-logins.txt`` (mode 0600), never in the repository."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.accounts import services as accounts
from app.accounts import totp
from app.accounts.enums import Industry
from app.accounts.models import Organization, User
from app.core.clock import now, security_now
from app.core.crypto import encrypt_at_rest
from app.core.db import db
from app.core.errors import DomainError
from app.core.permissions import MFA_REQUIRED_ROLES, OrgKind, Role
from app.core.web import public_url_context

group = AppGroup("demo", help="Demo city.")


@dataclass(frozen=True)
class DemoOrg:
    key: str
    name: str
    kind: OrgKind
    industry: Industry | None = None
    credit_code: str | None = None


ORGS = [
    DemoOrg("operator", "南通市公共资源交易平台运营方", OrgKind.PLATFORM_OPERATOR),
    DemoOrg("center", "南通市公共资源交易中心", OrgKind.TRADING_CENTER),
    DemoOrg("office", "南通市公共资源交易管理办公室", OrgKind.MANAGEMENT_OFFICE),
    DemoOrg("reg_housing", "南通市住房和城乡建设局", OrgKind.REGULATOR, Industry.HOUSING_CONSTRUCTION),
    DemoOrg("reg_finance", "南通市财政局（政府采购监管）", OrgKind.REGULATOR, Industry.FINANCE_PROCUREMENT),
    DemoOrg("reg_land", "南通市自然资源和规划局", OrgKind.REGULATOR, Industry.LAND_RESOURCES),
    DemoOrg("reg_assets", "南通市人民政府国有资产监督管理委员会", OrgKind.REGULATOR, Industry.STATE_ASSETS),
    DemoOrg("tenderer", "南通市城市建设投资有限公司", OrgKind.TENDERER, credit_code="91320600MA1XXXX001"),
    DemoOrg("agency", "江苏通达招标代理有限公司", OrgKind.AGENCY, credit_code="91320600MA1XXXX002"),
    DemoOrg("bidder1", "南通一建集团有限公司", OrgKind.BIDDER, credit_code="91320600MA1XXXX101"),
    DemoOrg("bidder2", "江苏华建建设股份有限公司", OrgKind.BIDDER, credit_code="91320600MA1XXXX102"),
    DemoOrg("bidder3", "南通四建集团有限公司", OrgKind.BIDDER, credit_code="91320600MA1XXXX103"),
    DemoOrg("bidder4", "中建八局第三建设有限公司", OrgKind.BIDDER, credit_code="91320600MA1XXXX104"),
    DemoOrg("bidder5", "江苏启安建设集团有限公司", OrgKind.BIDDER, credit_code="91320600MA1XXXX105"),
    DemoOrg("university", "南通大学", OrgKind.EXPERT_EMPLOYER),
]

# username, display name, org key, role
USERS = [
    ("admin", "平台管理员", "operator", Role.SYSADMIN),
    ("staff", "陈静（交易中心）", "center", Role.CENTER_STAFF),
    ("staff2", "刘洋（交易中心）", "center", Role.CENTER_STAFF),
    ("manager", "王强（公管办）", "office", Role.MANAGER),
    ("regulator", "赵敏（住建局）", "reg_housing", Role.REGULATOR),
    ("regulator2", "孙磊（财政局）", "reg_finance", Role.REGULATOR),
    ("regulator3", "钱峰（自然资源和规划局）", "reg_land", Role.REGULATOR),
    ("regulator4", "何琳（国资委）", "reg_assets", Role.REGULATOR),
    ("tenderer", "李华（城建投）", "tenderer", Role.TENDERER),
    ("agent", "周婷（通达招标）", "agency", Role.TENDERER),
    ("bidder1", "张伟（南通一建）", "bidder1", Role.BIDDER),
    ("bidder2", "黄丽（华建建设）", "bidder2", Role.BIDDER),
    ("bidder3", "吴刚（南通四建）", "bidder3", Role.BIDDER),
    ("bidder4", "郑洁（中建八局三公司）", "bidder4", Role.BIDDER),
    ("bidder5", "冯超（启安建设）", "bidder5", Role.BIDDER),
    ("expert", "钱教授（南通大学）", "university", Role.EXPERT),
]


def logins_file() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "demo-logins.txt"


def seed() -> list[str]:
    """Create the demo city; returns the printable login lines."""
    orgs: dict[str, Organization] = {}
    users: dict[str, User] = {}
    for spec in ORGS:
        orgs[spec.key] = accounts.create_organization(
            spec.name,
            spec.kind,
            actor=None,
            industry=spec.industry,
            credit_code=spec.credit_code,
            region="南通市",
        )
    lines = ["user name      | role         | password              | TOTP secret (authenticator app)"]
    for username, name, org_key, role in USERS:
        password = "demo-" + secrets.token_urlsafe(9)
        user = accounts.create_user(
            username=username,
            display_name=name,
            organization=orgs[org_key],
            role=role,
            password=password,
            actor=None,
        )
        users[username] = user
        secret_txt = ""
        # Tenderers and agencies hold opening-key shares in the demo sections: a share is confirmed with a
        # TOTP code (step-up), so they get an authenticator too.
        if role in MFA_REQUIRED_ROLES:
            secret = totp.new_secret()
            user.totp_secret_enc = encrypt_at_rest(secret, purpose=accounts.TOTP_PURPOSE)
            user.totp_enabled_at = now()
            secret_txt = totp.secret_b32(secret)
        lines.append(f"{username:<14} | {role.value:<12} | {password:<21} | {secret_txt}")
    from app.projects.demo import seed_projects

    seed_projects(orgs, users)
    from app.bidding.demo import seed_unopened_tender

    seed_unopened_tender(orgs, users)  # fewer than 3 bidders: counted, never opened, failed
    from app.bidding.security.demo import seed_open_tender

    seed_open_tender(users)  # bid security: a callback, a guarantee, a lost callback reconciled
    from app.experts.demo import seed_experts

    seed_experts(orgs, users)
    from app.complaints.demo import seed_cases

    seed_cases()
    from app.auctions.demo import seed_listings

    seed_listings(users)  # a land listing in its timed auction; a state property transfer sold
    # last: two trades run through the real services (a recusal with a replacement draw; a government
    # procurement result announcement with a challenge after it); uploads and the opening commit
    from app.evaluation.demo_trades import seed_trades

    for line in seed_trades(users):  # the drawn experts' accounts ("username | password")
        username, password = (part.strip() for part in line.split("|"))
        lines.append(f"{username:<14} | {Role.EXPERT.value:<12} | {password:<21} | ")
    from app.core import audit

    audit.checkpoint(reason="demo seed")  # the seeded log ends signed: a witness can pin it at once
    return lines


@group.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when accounts already exist.")
def seed_command(if_empty: bool) -> None:
    """Create the demo city and print its logins."""
    if db.session.scalar(select(func.count()).select_from(User)):
        if if_empty:
            path = logins_file()
            if path.exists():
                click.echo(path.read_text())
            return
        raise click.ClickException("the database already has accounts; demo seed runs on an empty database")
    lines = seed()
    db.session.commit()
    # the demo's public records reach the simulated provincial platform (staff see them on the exchange page)
    from app.exchange import services as exchange

    with public_url_context():
        exchange.sweep()
        db.session.commit()
        exchange.deliver(limit=1000)
    text = "\n".join(lines) + "\n"
    path = logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    click.echo("Demo city created. Logins (also in instance/demo-logins.txt):")
    click.echo(text)
    click.echo(
        "Roles with a TOTP secret sign in with a code: `flask demo totp USERNAME` prints the current one."
    )


@group.command("totp")
@click.argument("username")
def totp_command(username: str) -> None:
    """Print the current TOTP code of a demo account (demo convenience; the secret is in the logins file)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException("no such user")
    secret = accounts.totp_secret(user)
    if secret is None or not user.totp_enabled:
        raise click.ClickException("this account has no two-factor secret")
    click.echo(totp.code_at(secret, security_now()))  # real time, whatever the demo clock


def init_app(app: Flask) -> None:
    app.cli.add_command(group)


@group.command("clock")
@click.argument("step")
def clock_command(step: str) -> None:
    """Move demo time forward: STEP like 3d, 12h, 30m (needs DEMO_CLOCK=1)."""
    import datetime as dt

    from app.core import democlock

    units = {"d": "days", "h": "hours", "m": "minutes"}
    if not step or step[-1] not in units or not step[:-1].isdigit():
        raise click.ClickException("STEP must look like 3d, 12h or 30m")
    try:
        offset = democlock.advance(dt.timedelta(**{units[step[-1]]: int(step[:-1])}), actor=None)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    db.session.commit()
    click.echo(f"demo time is now {offset} ahead of real time")
