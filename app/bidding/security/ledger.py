"""The daily ledger of the security account: the day's movements, opening and closing balances that balance to
the fen, and its export (CSV, XLSX). Identities are masked for sections not yet opened."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.accounts.models import User
from app.core import spreadsheets
from app.core.calendar import end_of_local_day
from app.core.clock import CST
from app.core.db import db
from app.core.labels import label

from ..enums import BankDirection
from . import services
from .models import BankMovement, BidSecurity


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), CST).astimezone(dt.UTC)


def _balance_before(instant: dt.datetime) -> int:
    credits = db.session.scalar(
        select(func.coalesce(func.sum(BankMovement.amount_fen), 0)).where(
            BankMovement.booked_at < instant, BankMovement.direction == BankDirection.CREDIT.value
        )
    )
    debits = db.session.scalar(
        select(func.coalesce(func.sum(BankMovement.amount_fen), 0)).where(
            BankMovement.booked_at < instant, BankMovement.direction == BankDirection.DEBIT.value
        )
    )
    return int(credits or 0) - int(debits or 0)


def movements_of_day(day: dt.date) -> list[BankMovement]:
    return list(
        db.session.scalars(
            select(BankMovement)
            .where(BankMovement.booked_at >= _start(day), BankMovement.booked_at < end_of_local_day(day))
            .order_by(BankMovement.booked_at, BankMovement.id)
        )
    )


@dataclass
class LedgerRow:
    movement: BankMovement
    section_code: str
    bidder: str | None  # None: sealed until the opening
    account_no: str | None


@dataclass
class DailyLedger:
    day: dt.date
    opening_fen: int
    credits_fen: int
    debits_fen: int
    closing_fen: int
    rows: list[LedgerRow] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """Opening + credits − debits = closing (the closing balance is summed apart, by the database)."""
        return self.opening_fen + self.credits_fen - self.debits_fen == self.closing_fen


def daily_ledger(day: dt.date, *, viewer: User) -> DailyLedger:
    from ..permissions import may_see_identity

    rows = movements_of_day(day)
    opening = _balance_before(_start(day))
    closing = _balance_before(end_of_local_day(day))
    credits = sum(m.amount_fen for m in rows if m.direction == BankDirection.CREDIT)
    debits = sum(m.amount_fen for m in rows if m.direction == BankDirection.DEBIT)
    out = []
    for m in rows:
        sec: BidSecurity | None = m.security
        if sec is None:
            out.append(LedgerRow(m, "", _("Unknown sub-account (suspense)"), m.account_no))
            continue
        shown = may_see_identity(viewer, sec)
        out.append(
            LedgerRow(m, sec.section.code, sec.org.name if shown else None, sec.account_no if shown else None)
        )
    return DailyLedger(day, opening, credits, debits, closing, out)


def _table(ledger: DailyLedger) -> list[list[str]]:
    sealed = _("Sealed until the opening")
    head = [
        _("Time"), _("Bank reference"), _("Section"), _("Bidder"), _("Sub-account"), _("Kind"),
        _("Credit (yuan)"), _("Debit (yuan)"),
    ]  # fmt: skip
    body = [head, [_("Opening balance"), "", "", "", "", "", services.fen_text(ledger.opening_fen), ""]]
    for r in ledger.rows:
        m = r.movement
        credit = m.direction == BankDirection.CREDIT
        body.append(
            [
                m.booked_at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
                m.bank_ref,
                r.section_code,
                r.bidder if r.bidder is not None else sealed,
                r.account_no if r.account_no is not None else sealed,
                label("movement_kind", m.kind),
                services.fen_text(m.amount_fen) if credit else "",
                "" if credit else services.fen_text(m.amount_fen),
            ]
        )
    body.append(
        [
            _("Totals"),
            "",
            "",
            "",
            "",
            "",
            services.fen_text(ledger.credits_fen),
            services.fen_text(ledger.debits_fen),
        ]
    )
    body.append([_("Closing balance"), "", "", "", "", "", services.fen_text(ledger.closing_fen), ""])
    return body


def export_csv(ledger: DailyLedger) -> bytes:
    buf = io.StringIO()
    # Bidder names and bank references come from outside: a cell a spreadsheet would run as a formula is
    # escaped (app.core.spreadsheets), as in every export.
    csv.writer(buf).writerows(spreadsheets.safe_row(row) for row in _table(ledger))
    return ("\ufeff" + buf.getvalue()).encode()  # BOM: spreadsheet programs read the Chinese as UTF-8


def export_xlsx(ledger: DailyLedger) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = ledger.day.isoformat()
    for row in _table(ledger):
        spreadsheets.append_xlsx_row(ws, row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
