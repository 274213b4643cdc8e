"""``flask bidding …``: orphan clean-up and the receipts ↔ files check."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from . import storage

group = AppGroup("bidding", help="Sealed bids: storage maintenance.")


@group.command("cleanup")
@click.option("--grace", default=storage.GRACE_SECONDS, show_default=True, help="Only files older than this.")
@click.option(
    "--dispose-expired",
    is_flag=True,
    help="Also dispose of archives whose retention period has ended (bundle and decrypted bids).",
)
def cleanup_command(grace: int, dispose_expired: bool) -> None:
    """Remove stale temp files and envelope files that no receipt refers to. Files of an archive under
    its retention period (15 years, 政府采购法 Art. 42; docs/rules.md) are never removed; once the period has
    ended, ``--dispose-expired`` removes the bundle and the decrypted bids (the sealed ciphertext stays)."""
    from app.core.db import db
    from app.evaluation import archive

    removed = storage.cleanup(grace_seconds=grace)
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} file(s) removed")
    kept = archive.under_retention()
    click.echo(f"{len(kept)} archive(s) under retention kept")
    if dispose_expired:
        disposed = archive.dispose_expired()
        db.session.commit()
        for ev in disposed:
            click.echo(f"disposed archive of section {ev.section_id} (retained until {ev.retain_until})")
        click.echo(f"{len(disposed)} archive(s) past retention disposed")


@group.command("check")
def check_command() -> None:
    """Prove every receipt (envelope row) has its file and every stored file has its receipt."""
    report = storage.check()
    click.echo(f"{report.rows} receipts, {report.files} files")
    for path in report.missing_files:
        click.echo(f"MISSING file for receipt: {path}")
    for path in report.size_mismatches:
        click.echo(f"SIZE differs from receipt: {path}")
    for path in report.orphan_files:
        click.echo(f"ORPHAN file without receipt: {path}")
    if not report.ok:
        raise SystemExit(1)
    click.echo("ok")


@group.group("bank-simulate")
def bank_simulate() -> None:
    """The simulated bank of the bid security ledger (demo and tests)."""


@bank_simulate.command("pay")
@click.option("--account", "account_no", required=True, help="The virtual sub-account number.")
@click.option("--amount", required=True, help="Yuan, e.g. 200000.00")
@click.option("--payer-account", default="6222000000000000001", show_default=True)
@click.option("--payer-name", default="", help="The paying organization.")
@click.option("--no-callback", is_flag=True, help="Book at the bank only: the statement brings it later.")
@click.option("--replay", is_flag=True, help="Send the signed callback twice (it must book once).")
def bank_pay(
    account_no: str, amount: str, payer_account: str, payer_name: str, no_callback: bool, replay: bool
) -> None:
    """A bidder pays into its sub-account; the bank sends its signed callback."""
    from decimal import Decimal, InvalidOperation

    from app.core.db import db

    from .security import bank, services

    try:
        fen = services.yuan_to_fen(Decimal(amount))
    except InvalidOperation as err:
        raise click.BadParameter("amount") from err
    line, body, headers = bank.SimulatedBank().receive(
        account_no=account_no, amount_fen=fen, payer_account=payer_account, payer_name=payer_name
    )
    db.session.commit()
    click.echo(f"bank reference {line.bank_ref}: {services.fen_text(fen)} yuan to {account_no}")
    if no_callback:
        click.echo("no callback sent")
        return
    for _round in range(2 if replay else 1):
        _movement, created = bank.deliver(body, headers)
        db.session.commit()
        click.echo("callback: booked" if created else "callback: duplicate, nothing booked")


@bank_simulate.command("reconcile")
@click.option("--day", default=None, help="YYYY-MM-DD (Beijing date); today by default.")
def bank_reconcile(day: str | None) -> None:
    """Reconcile the simulated bank's statement of a day with the ledger."""
    import datetime as dt

    from app.core.calendar import local_date
    from app.core.clock import now
    from app.core.db import db

    from .security import services

    when = dt.date.fromisoformat(day) if day else local_date(now())
    run = services.reconcile(when, actor=None)
    db.session.commit()
    click.echo(
        f"{when}: {run.statement_lines} lines, {run.matched} matched, "
        f"{run.booked_from_statement} booked from the statement, {len(run.differences)} differences"
    )
    if not run.balanced:
        raise SystemExit(1)
