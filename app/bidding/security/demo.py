"""The bid security ledger in the demo city: in the open construction tender one bidder paid (its callback
came twice, booked once), one submitted an electronic guarantee from the simulated insurer, and one payment's
callback was lost and the day's reconciliation booked it; in the tender that failed unopened the refund
clocks run and one bidder was already refunded with interest. Everything goes through the real services."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.accounts.models import User
from app.core.calendar import local_date
from app.core.clock import now
from app.core.db import db
from app.projects.enums import SectionStatus
from app.projects.models import Section

from . import bank, guarantees, services
from .models import BidSecurity


def pay(section: Section, user: User, *, callback: bool = True, replay: bool = False) -> BidSecurity:
    """``user``'s organization pays the section's security from its basic account into its sub-account."""
    sec = services.issue_account(section, actor=user)
    _line, body, headers = bank.SimulatedBank().receive(
        account_no=sec.account_no,
        amount_fen=sec.required_fen,
        payer_account=f"3206{user.org_id:015d}",
        payer_name=user.organization.name,
    )
    for _round in range(2 if replay else (1 if callback else 0)):
        bank.deliver(body, headers)
    return sec


def guarantee(section: Section, user: User) -> BidSecurity:
    """An electronic guarantee from the simulated insurer, covering the deadline and 90 days of validity."""
    assert section.bid_deadline is not None
    deadline = local_date(section.bid_deadline)
    data = {
        "issuer": guarantees.SIMULATED_ISSUER,
        "number": f"{deadline:%Y%m%d}{section.id:04d}{user.org_id:04d}",
        "section_code": section.code,
        "applicant": user.organization.name,
        "amount_fen": services.required_fen(section),
        "valid_from": local_date(now()).isoformat(),
        "valid_until": (deadline + dt.timedelta(days=120)).isoformat(),
    }
    return services.submit_guarantee(
        section, guarantees.sign(data, guarantees.simulated_issuer_key()), actor=user
    )


def seed_open_tender(users: dict[str, User]) -> None:
    section = db.session.scalar(
        select(Section)
        .where(Section.status == SectionStatus.PUBLISHED.value, Section.bid_deadline > now())
        .order_by(Section.id)
    )
    if section is None or services.required_fen(section) <= 0:
        return
    pay(section, users["bidder1"], replay=True)
    guarantee(section, users["bidder2"])
    pay(section, users["bidder3"], callback=False)
    services.reconcile(local_date(now()), actor=users["staff"])


def pay_in_failed_tender(section: Section, users: dict[str, User]) -> None:
    """Before the deadline (the business clock moved back): bidders 4 and 5 pay."""
    for username in ("bidder4", "bidder5"):
        pay(section, users[username])


def refund_failed_tender(section: Section, users: dict[str, User]) -> None:
    """After the failed opening: the refund clocks start, bidder 4 is refunded with interest."""
    staff = users["staff"]
    services.schedule_refunds(section, actor=staff)
    first = services.security_of(section, users["bidder4"].org_id)
    if first is not None:
        services.refund(first, actor=staff)
