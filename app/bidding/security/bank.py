"""The bank interface of the security ledger.

The bank tells the platform about money arriving in a virtual sub-account with a **signed callback**: a
JSON body
and two headers, ``X-Bank-Timestamp`` (Unix seconds) and ``X-Bank-Signature: sha256=<hex>``, the
HMAC-SHA256 of
``<timestamp>.<raw body>`` under the secret the bank and the platform share (``BANK_CALLBACK_SECRET``; in
development it is derived from ``SECRET_KEY``). A callback with a bad signature or more than five minutes
off the platform clock is refused (400 ``bad_signature``); a callback naming a bank reference the ledger
already has changes nothing.

Money going out (refunds, forfeitures) goes through a :class:`BankAdapter`. The platform ships the
:class:`SimulatedBank` for the demo and the tests; a real bank's adapter implements the same three methods.
Its
statement of a day is what :func:`app.bidding.security.services.reconcile` checks the ledger against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.core.calendar import local_date
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import DomainError

from ..enums import BankDirection
from .models import SimulatedBankEntry

#: How far a callback's timestamp may be from the platform clock.
CALLBACK_TOLERANCE = dt.timedelta(minutes=5)


class CallbackRefused(DomainError):
    """400, not 401: the sender is a system with a signature, not a person who could sign in."""

    status = 400
    code = "bad_signature"


@dataclass(frozen=True)
class StatementLine:
    """One line of the bank's statement (or one callback): amounts in fen."""

    bank_ref: str
    account_no: str
    direction: str
    amount_fen: int
    booked_at: dt.datetime
    counterparty_account: str | None = None
    counterparty_name: str | None = None
    kind: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "bank_ref": self.bank_ref,
            "account_no": self.account_no,
            "direction": self.direction,
            "amount_fen": self.amount_fen,
            "booked_at": self.booked_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "payer_account": self.counterparty_account,
            "payer_name": self.counterparty_name,
        }


class BankAdapter(Protocol):
    def new_account_no(self) -> str: ...

    def pay_out(
        self, *, account_no: str, to_account: str | None, amount_fen: int, kind: str, memo: str
    ) -> StatementLine: ...

    def statement(self, day: dt.date) -> list[StatementLine]: ...


# -- callback signatures ------------------------------------------------------------------------------------


def callback_secret() -> bytes:
    configured = current_app.config.get("BANK_CALLBACK_SECRET")
    if configured:
        return str(configured).encode()
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), b"bank-callback", hashlib.sha256).digest()


def sign_callback(body: bytes, timestamp: int) -> str:
    mac = hmac.new(callback_secret(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_callback(body: bytes, timestamp: str | None, signature: str | None) -> None:
    """Refuse (400) a callback whose signature does not verify or whose time is off the platform clock."""
    if not timestamp or not signature or not timestamp.isdigit():
        raise CallbackRefused(_("The bank's signature is missing."))
    expected = sign_callback(body, int(timestamp))
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise CallbackRefused(_("The bank's signature does not verify: the callback was refused."))
    sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    if abs(now() - sent) > CALLBACK_TOLERANCE:
        raise CallbackRefused(_("The bank's callback is too old or from the future: refused."))


def parse_callback(body: bytes) -> StatementLine:
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        amount = doc["amount_fen"]
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount < 10**15:
            raise ValueError("amount")
        direction = str(doc.get("direction", BankDirection.CREDIT.value))
        if direction not in {d.value for d in BankDirection}:
            raise ValueError("direction")
        booked = dt.datetime.fromisoformat(str(doc["booked_at"]).replace("Z", "+00:00"))
        if booked.tzinfo is None:
            raise ValueError("naive time")
        ref, account = str(doc["bank_ref"]).strip(), str(doc["account_no"]).strip()
        if not ref or len(ref) > 64 or not account or len(account) > 32:
            raise ValueError("reference")
    except (ValueError, KeyError, TypeError) as err:
        raise DomainError(_("The bank's callback is not well formed.")) from err
    payer = doc.get("payer_account")
    name = doc.get("payer_name")
    return StatementLine(
        bank_ref=ref,
        account_no=account,
        direction=direction,
        amount_fen=amount,
        booked_at=booked,
        counterparty_account=None if payer is None else str(payer)[:64],
        counterparty_name=None if name is None else str(name)[:200],
    )


# -- the simulated bank -------------------------------------------------------------------------------------


class SimulatedBank:
    """A bank that keeps its books in ``simulated_bank_entry``: it allocates sub-account numbers, accepts
    payments (:meth:`receive`, which also produces the signed callback), pays out and prints statements."""

    PREFIX = "62270"

    def new_account_no(self) -> str:
        return self.PREFIX + "".join(secrets.choice("0123456789") for _n in range(14))

    def _ref(self) -> str:
        return "9" + "".join(secrets.choice("0123456789") for _n in range(19))

    def _book(self, line: StatementLine) -> StatementLine:
        db.session.add(
            SimulatedBankEntry(
                bank_ref=line.bank_ref,
                account_no=line.account_no,
                direction=line.direction,
                kind=line.kind or "",
                amount_fen=line.amount_fen,
                counterparty_account=line.counterparty_account,
                counterparty_name=line.counterparty_name,
                booked_at=line.booked_at,
            )
        )
        return line

    def receive(
        self, *, account_no: str, amount_fen: int, payer_account: str, payer_name: str
    ) -> tuple[StatementLine, bytes, dict[str, str]]:
        """A payment into a sub-account: booked on the bank's side, with the callback it sends (body,
        headers)."""
        line = self._book(
            StatementLine(
                bank_ref=self._ref(),
                account_no=account_no,
                direction=BankDirection.CREDIT.value,
                amount_fen=amount_fen,
                booked_at=now(),
                counterparty_account=payer_account,
                counterparty_name=payer_name,
                kind="deposit",
            )
        )
        body = json.dumps(line.as_json(), ensure_ascii=False, sort_keys=True).encode()
        stamp = int(now().timestamp())
        headers = {"X-Bank-Timestamp": str(stamp), "X-Bank-Signature": sign_callback(body, stamp)}
        return line, body, headers

    def pay_out(
        self, *, account_no: str, to_account: str | None, amount_fen: int, kind: str, memo: str
    ) -> StatementLine:
        direction = BankDirection.CREDIT if kind == "interest" else BankDirection.DEBIT
        return self._book(
            StatementLine(
                bank_ref=self._ref(),
                account_no=account_no,
                direction=direction.value,
                amount_fen=amount_fen,
                booked_at=now(),
                counterparty_account=to_account,
                counterparty_name=memo[:200],
                kind=kind,
            )
        )

    def statement(self, day: dt.date) -> list[StatementLine]:
        start = dt.datetime.combine(day, dt.time(), CST)
        rows = db.session.scalars(
            select(SimulatedBankEntry)
            .where(
                SimulatedBankEntry.booked_at >= start, SimulatedBankEntry.booked_at < start + dt.timedelta(1)
            )
            .order_by(SimulatedBankEntry.id)
        )
        return [
            StatementLine(
                bank_ref=r.bank_ref,
                account_no=r.account_no,
                direction=r.direction,
                amount_fen=r.amount_fen,
                booked_at=r.booked_at,
                counterparty_account=r.counterparty_account,
                counterparty_name=r.counterparty_name,
                kind=r.kind or None,
            )
            for r in rows
            if local_date(r.booked_at) == day
        ]


def adapter() -> BankAdapter:
    """The configured bank (``BANK_ADAPTER``); only the simulated bank ships with the platform."""
    name = current_app.config.get("BANK_ADAPTER", "simulated")
    if name != "simulated":
        raise DomainError(_("No adapter is installed for this bank."))
    return SimulatedBank()


def deliver(body: bytes, headers: dict[str, str]) -> tuple[Any, bool]:
    """Hand a callback to the platform exactly as the HTTP endpoint does (signature first)."""
    from .services import receive_credit

    verify_callback(body, headers.get("X-Bank-Timestamp"), headers.get("X-Bank-Signature"))
    return receive_credit(parse_callback(body), source="callback")
