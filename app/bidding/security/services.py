"""The bid security rules: sub-accounts, bank credits, electronic guarantees, refunds with interest,
forfeiture on statutory grounds, reconciliation. Every state change goes through :func:`transition` and leaves
an audit leaf; amounts are integer fen. The acting user is always a parameter."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import audit
from app.core.audit import Actor
from app.core.calendar import Unit, load_calendar, local_date, period_end
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.permissions import Role
from app.projects import rules
from app.projects.enums import Category, SectionStatus
from app.projects.models import Section

from ..enums import BankDirection, ForfeitureGround, MovementKind, SecurityForm, SecurityStatus
from . import bank, guarantees
from .models import BankMovement, BidSecurity, Reconciliation

S = SecurityStatus

#: The legal moves of a bid security, and the audit action each one writes.
TRANSITIONS: dict[SecurityStatus, frozenset[SecurityStatus]] = {
    S.AWAITING: frozenset({S.SECURED, S.LATE, S.REFUND_DUE}),
    S.SECURED: frozenset({S.REFUND_DUE, S.FORFEITED}),
    S.LATE: frozenset({S.REFUND_DUE}),
    S.REFUND_DUE: frozenset({S.REFUNDED, S.RELEASED}),
    S.REFUNDED: frozenset(),
    S.RELEASED: frozenset(),
    S.FORFEITED: frozenset(),
}
ACTIONS: dict[SecurityStatus, str] = {
    S.SECURED: "bidding:security:secure",
    S.LATE: "bidding:security:late",
    S.REFUND_DUE: "bidding:security:refund_due",
    S.REFUNDED: "bidding:security:refund",
    S.RELEASED: "bidding:security:release",
    S.FORFEITED: "bidding:security:forfeit",
}

#: The legal basis shown with each forfeiture ground; the grounds of Art. 74 concern the winner only.
GROUND_BASIS: dict[ForfeitureGround, str] = {
    ForfeitureGround.WITHDRAWAL_AFTER_DEADLINE: "实施条例第35条第2款",
    ForfeitureGround.DECRYPTION_BIDDER_FAULT: "电子招标投标办法第31条、实施条例第35条",
    ForfeitureGround.REFUSES_CONTRACT: "实施条例第74条",
    ForfeitureGround.NO_PERFORMANCE_SECURITY: "实施条例第74条",
    ForfeitureGround.ADDS_CONDITIONS: "实施条例第74条",
}
WINNER_GROUNDS = frozenset(
    {
        ForfeitureGround.REFUSES_CONTRACT,
        ForfeitureGround.NO_PERFORMANCE_SECURITY,
        ForfeitureGround.ADDS_CONDITIONS,
    }
)

_FEN = Decimal(100)


def yuan_to_fen(yuan: Decimal) -> int:
    return int((Decimal(yuan) * _FEN).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_text(fen: int | None) -> str:
    """``1,234.56`` — for pages and exports (yuan with two decimals, exact)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def required_fen(section: Section) -> int:
    return yuan_to_fen(section.bid_security)


def check_required_amount(section: Section) -> rules.RuleCheck:
    """The section's required security against 实施条例 Art. 26 and the works cap."""
    return rules.check_bid_security(
        section.estimated_value, section.bid_security, section.project.catalogue_item.category
    )


def _deadline_passed(section: Section, at: dt.datetime | None = None) -> bool:
    return section.bid_deadline is not None and (at or now()) > section.bid_deadline


def _payload(sec: BidSecurity, **extra: Any) -> dict[str, Any]:
    return {"section_id": sec.section_id, "security_id": sec.id, **extra}


def transition(
    sec: BidSecurity, to: SecurityStatus, *, actor: Actor | None, reason: str, **payload: Any
) -> None:
    """Move ``sec`` to ``to`` if the table allows it, and write the audit leaf."""
    current = SecurityStatus(sec.status)
    if to not in TRANSITIONS[current]:
        raise Conflict(_("This bid security cannot change from its current state that way."))
    sec.status = to.value
    action = ACTIONS[to]
    audit.record(
        action,
        actor=actor,
        object_type="bid_security",
        object_id=sec.id,
        payload=_payload(sec, before=current.value, after=to.value, reason=reason, **payload),
    )


# -- sub-accounts ------------------------------------------------------------------------------------------


def security_of(section: Section, org_id: int) -> BidSecurity | None:
    return db.session.scalar(
        select(BidSecurity).where(BidSecurity.section_id == section.id, BidSecurity.org_id == org_id)
    )


def issue_account(section: Section, *, actor: User) -> BidSecurity:
    """The bidder's virtual sub-account for this section (issued once; asking again returns it)."""
    if actor.role != Role.BIDDER:
        raise Forbidden(_("Only a bidder has a sub-account."))
    from app.projects.services import may_take_part, take_part_refusal

    if not may_take_part(section, actor.org_id):  # 邀请招标 / 资格预审: the invited (qualified) only
        raise Forbidden(take_part_refusal(section, bids=True))
    existing = security_of(section, actor.org_id)
    if existing is not None:
        return existing
    if section.status != SectionStatus.PUBLISHED or _deadline_passed(section):
        raise Conflict(_("Sub-accounts are issued only while the section accepts bids."))
    if required_fen(section) <= 0:
        raise Conflict(_("This section requires no bid security."))
    adapter = bank.adapter()
    account_no = adapter.new_account_no()
    while db.session.scalar(select(BidSecurity.id).where(BidSecurity.account_no == account_no)) is not None:
        account_no = adapter.new_account_no()
    sec = BidSecurity(
        section_id=section.id,
        org_id=actor.org_id,
        account_no=account_no,
        required_fen=required_fen(section),
        issued_at=now(),
    )
    db.session.add(sec)
    db.session.flush()  # the audit leaf names the row
    audit.record(
        "bidding:security:account_issue",
        actor=actor,
        object_type="bid_security",
        object_id=sec.id,
        payload=_payload(sec, required_fen=sec.required_fen),
    )
    return sec


# -- money in ---------------------------------------------------------------------------------------------


def receive_credit(line: bank.StatementLine, *, source: str) -> tuple[BankMovement, bool]:
    """Book a bank credit once: a reference the ledger already has returns its movement unchanged
    (``False``), whatever path — callback, replayed callback, statement — brings it again."""
    existing = db.session.scalar(select(BankMovement).where(BankMovement.bank_ref == line.bank_ref))
    if existing is not None:
        if existing.amount_fen != line.amount_fen or existing.account_no != line.account_no:
            raise Conflict(_("The bank reused a reference for a different movement; nothing was booked."))
        return existing, False
    if line.direction != BankDirection.CREDIT:
        raise DomainError(
            _("Only credits are announced by callback; payments out are booked by the platform.")
        )
    sec = db.session.scalar(select(BidSecurity).where(BidSecurity.account_no == line.account_no))
    movement = BankMovement(
        bank_ref=line.bank_ref,
        security_id=None if sec is None else sec.id,
        account_no=line.account_no,
        direction=BankDirection.CREDIT.value,
        kind=MovementKind.DEPOSIT.value,
        amount_fen=line.amount_fen,
        counterparty_account=line.counterparty_account,
        counterparty_name=line.counterparty_name,
        booked_at=line.booked_at,
        recorded_at=now(),
        source=source,
    )
    db.session.add(movement)
    db.session.flush()  # the leaf names the movement; a duplicate reference must fail here
    audit.record(
        "bidding:bank:credit",
        object_type="bank_movement",
        object_id=movement.id,
        payload={
            "section_id": None if sec is None else sec.section_id,
            "bank_ref": line.bank_ref,
            "amount_fen": line.amount_fen,
            "source": source,
        },
    )
    if sec is not None:
        _apply_credit(sec, movement)
    return movement, True


def _apply_credit(sec: BidSecurity, movement: BankMovement) -> None:
    sec.received_fen += movement.amount_fen
    if sec.payer_account is None:
        sec.payer_account, sec.payer_name = movement.counterparty_account, movement.counterparty_name
    status = SecurityStatus(sec.status)
    late = _deadline_passed(sec.section, movement.booked_at)
    if status is S.AWAITING and sec.form == SecurityForm.CASH:
        if late:
            transition(
                sec, S.LATE, actor=None, reason="paid after the bid deadline", bank_ref=movement.bank_ref
            )
            _due(sec, movement.booked_at, _("Paid after the bid deadline: it does not secure the bid."))
        elif sec.received_fen >= sec.required_fen:
            sec.secured_at = movement.booked_at
            transition(sec, S.SECURED, actor=None, reason="paid in full", bank_ref=movement.bank_ref)


def _due(sec: BidSecurity, start: dt.datetime, reason: str, *, working: bool = False) -> None:
    """Start the refund clock: ``BID_SECURITY_REFUND_DAYS`` days (working days for government procurement)
    after ``start``, counted as civil law counts (start day not counted, a holiday end moves on)."""
    unit: Unit = "working" if working else "calendar"
    sec.refund_due_at = period_end(start, rules.BID_SECURITY_REFUND_DAYS, unit=unit, calendar=load_calendar())
    sec.refund_reason = reason
    if sec.status != S.REFUND_DUE:
        transition(sec, S.REFUND_DUE, actor=None, reason=reason, due=sec.refund_due_at)


# -- electronic guarantees --------------------------------------------------------------------------------


def submit_guarantee(section: Section, document: dict[str, Any], *, actor: User) -> BidSecurity:
    """Secure the bid with an electronic guarantee (电子保函) that verifies against its issuer's key."""
    existing = security_of(section, actor.org_id) if actor.org_id is not None else None
    lodged = existing is not None and existing.form == SecurityForm.GUARANTEE.value
    if existing is not None and lodged and existing.status == S.SECURED:
        return _extend_guarantee(existing, document, actor=actor)
    sec = issue_account(section, actor=actor)
    if sec.status != S.AWAITING or sec.received_fen > 0:
        raise Conflict(_("This bid is already secured or has money on its sub-account."))
    if _deadline_passed(section):
        raise Conflict(_("The bid deadline has passed: a guarantee can no longer be submitted."))
    data = guarantees.verify(document, section=section, org=sec.org if sec.org else actor.organization)
    if data.amount_fen < sec.required_fen:
        raise DomainError(
            _(
                "The guarantee covers %(amount)s yuan; the section requires %(required)s yuan.",
                amount=fen_text(data.amount_fen),
                required=fen_text(sec.required_fen),
            ),
            code="guarantee_too_small",
        )
    clash = db.session.scalar(
        select(BidSecurity.id).where(
            BidSecurity.guarantee_issuer == data.issuer, BidSecurity.guarantee_number == data.number
        )
    )
    if clash is not None:
        raise Conflict(_("This guarantee has already been used."), code="guarantee_used")
    sec.form = SecurityForm.GUARANTEE.value
    sec.guarantee_issuer, sec.guarantee_number = data.issuer, data.number
    sec.guarantee_amount_fen = data.amount_fen
    sec.guarantee_valid_from, sec.guarantee_valid_until = data.valid_from, data.valid_until
    sec.guarantee_document = document
    sec.secured_at = now()
    transition(
        sec, S.SECURED, actor=actor, reason="guarantee verified", issuer=data.issuer, number=data.number
    )
    return sec


def _extend_guarantee(sec: BidSecurity, document: dict[str, Any], *, actor: User) -> BidSecurity:
    """The issuer's amendment of a guarantee already lodged (same issuer and number, a later end): what a
    bidder submits, also after the deadline, to keep its security as long as its bid when it accepts an
    extension of the bid validity (实施条例第26条: 投标保证金有效期应当与投标有效期一致)."""
    data = guarantees.verify(document, section=sec.section, org=sec.org)
    if (data.issuer, data.number) != (sec.guarantee_issuer, sec.guarantee_number):
        raise Conflict(
            _("The bid is already secured by another guarantee: only its issuer's extension can replace it."),
            code="guarantee_used",
        )
    if sec.guarantee_valid_until is not None and data.valid_until <= sec.guarantee_valid_until:
        raise DomainError(_("The amended guarantee must end later than the one lodged."), code="not_later")
    if data.amount_fen < sec.required_fen:
        raise DomainError(_("The amended guarantee covers less than the section requires."))
    before = sec.guarantee_valid_until
    sec.guarantee_valid_until, sec.guarantee_document = data.valid_until, document
    audit.record(
        "bidding:security:guarantee_extend",
        actor=actor,
        object_type="bid_security",
        object_id=sec.id,
        payload=_payload(sec, issuer=data.issuer, number=data.number, before=before, until=data.valid_until),
    )
    return sec


def guarantee_covers(section: Section, org_id: int, until: dt.datetime) -> dt.date | None:
    """None when the bidder's security lasts until ``until`` (cash does); else the date its guarantee ends."""
    sec = security_of(section, org_id)
    if sec is None or sec.form != SecurityForm.GUARANTEE.value or sec.guarantee_valid_until is None:
        return None
    return None if sec.guarantee_valid_until >= local_date(until) else sec.guarantee_valid_until


# -- refunds -----------------------------------------------------------------------------------------------


def withdraw_before_deadline(sec: BidSecurity, *, actor: User) -> None:
    """The bidder withdraws before the deadline (实施条例 Art. 35 ¶1): refund within 5 days of the notice."""
    if actor.org_id != sec.org_id or _deadline_passed(sec.section):
        raise Conflict(_("A bid security can be withdrawn only by its bidder, before the bid deadline."))
    if sec.status not in {S.AWAITING, S.SECURED} or (sec.status == S.AWAITING and sec.received_fen == 0):
        raise Conflict(_("There is nothing to return."))
    sec.refund_due_at = period_end(
        now(), rules.BID_SECURITY_REFUND_DAYS, unit="calendar", calendar=load_calendar()
    )
    sec.refund_reason = _("Withdrawn in writing before the bid deadline (实施条例第35条).")
    transition(sec, S.REFUND_DUE, actor=actor, reason="withdrawn before the deadline", due=sec.refund_due_at)


def schedule_refunds(section: Section, *, actor: User) -> int:
    """Start the refund clock for every bidder still holding security: 5 日 after the contract for all
    (实施条例
    Art. 57); government procurement: 5 工作日 after the award notice for the others, after the contract for
    the
    winner (政府采购法实施条例 Art. 33); a failed or cancelled tender: 5 日 from now. Returns how many."""
    from app.evaluation.models import Evaluation

    ev = db.session.scalar(select(Evaluation).where(Evaluation.section_id == section.id))
    ended = section.status in {SectionStatus.FAILED, SectionStatus.CANCELLED}
    signed = ev.contract_signed_at if ev is not None else None
    procurement = section.project.catalogue_item.category == Category.GOVERNMENT_PROCUREMENT
    awarded = ev.awarded_at if ev is not None else None
    if not ended and signed is None and not (procurement and awarded is not None):
        raise Conflict(_("Refunds start when the contract is signed or the tender has ended without one."))
    count = 0
    for sec in _securities(section):
        if sec.status != S.SECURED and not (sec.status == S.AWAITING and sec.received_fen > 0):
            continue
        winner = ev is not None and ev.winner_org_id == sec.org_id
        if ended:
            _due(sec, now(), _("The tender ended without a contract."))
        elif procurement and not winner and awarded is not None:
            _due(sec, awarded, _("Not awarded (政府采购法实施条例第33条)."), working=True)
        elif signed is not None:
            reason = _("Contract signed (实施条例第57条).")
            _due(sec, signed, reason, working=procurement)
        else:
            continue  # the procurement winner waits for its contract
        count += 1
    audit.record(
        "bidding:security:schedule_refunds",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={"count": count},
    )
    return count


def refund_withdrawn_bid(section: Section, org_id: int, *, actor: User, reason: str) -> BidSecurity | None:
    """A bid withdrawn after the deadline on a ground that keeps the security — the bidder refused to extend
    the bid validity (实施条例 Art. 25): start the clock now and pay back at once, with interest."""
    sec = security_of(section, org_id)
    if sec is None:
        return None
    if sec.status == S.SECURED or (sec.status == S.AWAITING and sec.received_fen > 0):
        _due(sec, now(), reason)
    if sec.status == S.REFUND_DUE:
        refund(sec, actor=actor)
    return sec


def refund_after_contract(section: Section, *, actor: User) -> tuple[int, int]:
    """实施条例 Art. 57: once the contract is signed the securities go back, with bank interest, to the winner
    and every other bidder within 5 日. The platform starts every refund at the signing and pays it at once;
    a payment the bank does not carry out now stays due (queued: staff pay it from the section ledger) and is
    alerted once its 5th day has passed (``security_refund_overdue``). Returns (paid, queued)."""
    schedule_refunds(section, actor=actor)
    paid = queued = 0
    for sec in _securities(section):
        if sec.status != S.REFUND_DUE:
            continue
        try:
            with db.session.begin_nested():  # a failed payment undoes only its own bookings
                refund(sec, actor=actor)
            paid += 1
        except DomainError as err:
            queued += 1
            current_app.logger.warning("bid security %s refund queued: %s", sec.id, err.message)
    return paid, queued


def overdue_refunds(section: Section, at: dt.datetime | None = None) -> list[BidSecurity]:
    """Refunds whose statutory day has passed unpaid."""
    at = at or now()
    return [
        s
        for s in _securities(section)
        if s.status == S.REFUND_DUE and s.refund_due_at is not None and s.refund_due_at < at
    ]


def interest_for(principal_fen: int, start: dt.datetime, end: dt.datetime) -> int:
    """Demand-deposit interest (活期, the configured annual rate ``BID_SECURITY_INTEREST_RATE``; banks count a
    360-day year) on ``principal_fen`` for the whole local days from ``start`` to ``end``, rounded to the
    fen."""
    days = max((local_date(end) - local_date(start)).days, 0)
    rate = Decimal(str(current_app.config.get("BID_SECURITY_INTEREST_RATE", "0.0035")))
    return int(
        (Decimal(principal_fen) * rate * days / Decimal(360)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    )


def refund(sec: BidSecurity, *, actor: User) -> BidSecurity:
    """Pay back what the sub-account holds, with interest, to the account it came from; a guarantee is
    released. Allowed once the refund clock runs."""
    if sec.status != S.REFUND_DUE:
        raise Conflict(_("This bid security is not due for refund."))
    principal = sec.held_fen
    if sec.form == SecurityForm.GUARANTEE and principal == 0:
        sec.refunded_at = now()
        transition(sec, S.RELEASED, actor=actor, reason="guarantee released")
        return sec
    first = min((m.booked_at for m in sec.movements if m.direction == BankDirection.CREDIT), default=now())
    interest = interest_for(principal, first, now())
    adapter = bank.adapter()
    if interest > 0:
        _book_out(
            sec,
            adapter.pay_out(
                account_no=sec.account_no,
                to_account=None,
                amount_fen=interest,
                kind=MovementKind.INTEREST.value,
                memo="interest",
            ),
            MovementKind.INTEREST,
        )
    if principal + interest > 0:
        line = adapter.pay_out(
            account_no=sec.account_no,
            to_account=sec.payer_account,
            amount_fen=principal + interest,
            kind=MovementKind.REFUND.value,
            memo=sec.payer_name or "",
        )
        _book_out(sec, line, MovementKind.REFUND)
    sec.interest_fen = interest
    sec.refunded_at = now()
    transition(
        sec, S.REFUNDED, actor=actor, reason="refunded", principal_fen=principal, interest_fen=interest
    )
    return sec


def _book_out(sec: BidSecurity, line: bank.StatementLine, kind: MovementKind) -> BankMovement:
    movement = BankMovement(
        bank_ref=line.bank_ref,
        security_id=sec.id,
        account_no=sec.account_no,
        direction=line.direction,
        kind=kind.value,
        amount_fen=line.amount_fen,
        counterparty_account=line.counterparty_account,
        counterparty_name=line.counterparty_name,
        booked_at=line.booked_at,
        recorded_at=now(),
        source="platform",
    )
    db.session.add(movement)
    sec.movements.append(movement)
    return movement


# -- forfeiture --------------------------------------------------------------------------------------------


def forfeit(sec: BidSecurity, ground: ForfeitureGround | str, note: str, *, actor: User) -> BidSecurity:
    """Keep the security on one of the grounds the law lists, and only where that ground can apply."""
    try:
        ground = ForfeitureGround(ground)
    except ValueError as err:
        raise DomainError(
            _("Choose the legal ground from the list."), errors={"ground": [_("Unknown.")]}
        ) from err
    if not (note or "").strip():
        raise DomainError(_("State the facts."), errors={"note": [_("Required.")]})
    if sec.status != S.SECURED:
        raise Conflict(_("Only a bid security that secures a bid can be forfeited."))
    if not _deadline_passed(sec.section):
        raise Conflict(_("Before the bid deadline a bidder may withdraw freely (实施条例第35条)."))
    if ground is ForfeitureGround.DECRYPTION_BIDDER_FAULT and not _revoked_at_opening(sec):
        raise Conflict(
            _("The opening record does not show this bid as deemed revoked through the bidder's fault.")
        )
    if ground in WINNER_GROUNDS:
        from app.evaluation.models import Evaluation

        ev = db.session.scalar(select(Evaluation).where(Evaluation.section_id == sec.section_id))
        if ev is None or ev.winner_org_id != sec.org_id:
            raise Conflict(_("This ground concerns the winning bidder only (实施条例第74条)."))
    if sec.form == SecurityForm.CASH and sec.held_fen > 0:
        line = bank.adapter().pay_out(
            account_no=sec.account_no,
            to_account=None,
            amount_fen=sec.held_fen,
            kind=MovementKind.FORFEIT.value,
            memo="tenderer",
        )
        _book_out(sec, line, MovementKind.FORFEIT)
    # set with the state in one flush: the ground goes with 'forfeited' (CHECK forfeit_has_ground)
    sec.forfeit_ground, sec.forfeit_note = ground.value, note.strip()
    transition(sec, S.FORFEITED, actor=actor, reason=GROUND_BASIS[ground], ground=ground.value)
    return sec


def _revoked_at_opening(sec: BidSecurity) -> bool:
    from ..enums import EntryStatus
    from ..models import OpeningCeremony, OpeningRecordEntry

    entry = db.session.scalar(
        select(OpeningRecordEntry.id)
        .join(OpeningCeremony, OpeningCeremony.id == OpeningRecordEntry.ceremony_id)
        .where(
            OpeningCeremony.section_id == sec.section_id,
            OpeningRecordEntry.org_id == sec.org_id,
            OpeningRecordEntry.status == EntryStatus.REVOKED.value,
        )
    )
    return entry is not None


# -- reading -----------------------------------------------------------------------------------------------


def _securities(section: Section) -> list[BidSecurity]:
    return list(
        db.session.scalars(
            select(BidSecurity).where(BidSecurity.section_id == section.id).order_by(BidSecurity.id)
        )
    )


def securities_of(section: Section) -> list[BidSecurity]:
    return _securities(section)


def section_totals(section: Section) -> dict[str, int]:
    """What may be said before the opening: counts and amounts, no names."""
    rows = _securities(section)
    return {
        "issued": len(rows),
        "secured": sum(1 for r in rows if r.status == S.SECURED),
        "guarantees": sum(1 for r in rows if r.form == SecurityForm.GUARANTEE and r.status == S.SECURED),
        "held_fen": sum(r.held_fen for r in rows),
        "refund_due": sum(1 for r in rows if r.status == S.REFUND_DUE),
        "overdue": sum(
            1 for r in rows if r.status == S.REFUND_DUE and r.refund_due_at and r.refund_due_at < now()
        ),
    }


def suspense_movements() -> list[BankMovement]:
    return list(db.session.scalars(select(BankMovement).where(BankMovement.security_id.is_(None))))


def reconcile(day: dt.date, *, actor: User | None) -> Reconciliation:
    """Check the bank's statement of ``day`` against the ledger: book credits whose callback never came,
    list every other difference. A run with no difference balances."""
    from .ledger import movements_of_day

    lines = bank.adapter().statement(day)
    seen: set[str] = set()
    matched = booked = 0
    differences: list[dict[str, Any]] = []
    for line in lines:
        seen.add(line.bank_ref)
        mine = db.session.scalar(select(BankMovement).where(BankMovement.bank_ref == line.bank_ref))
        if mine is None and line.direction == BankDirection.CREDIT and line.kind in {None, "deposit"}:
            receive_credit(line, source="statement")
            booked += 1
        elif mine is None:
            differences.append(
                {"bank_ref": line.bank_ref, "problem": "missing_in_ledger", "amount_fen": line.amount_fen}
            )
        elif (mine.amount_fen, mine.direction, mine.account_no) != (
            line.amount_fen,
            line.direction,
            line.account_no,
        ):
            differences.append(
                {"bank_ref": line.bank_ref, "problem": "differs", "amount_fen": line.amount_fen}
            )
        else:
            matched += 1
    ledger_rows = movements_of_day(day)
    for m in ledger_rows:
        if m.bank_ref not in seen:
            differences.append(
                {"bank_ref": m.bank_ref, "problem": "missing_in_statement", "amount_fen": m.amount_fen}
            )
    run = Reconciliation(
        day=day,
        run_at=now(),
        run_by=None if actor is None else actor.id,
        statement_lines=len(lines),
        matched=matched,
        booked_from_statement=booked,
        statement_credits_fen=sum(x.amount_fen for x in lines if x.direction == BankDirection.CREDIT),
        statement_debits_fen=sum(x.amount_fen for x in lines if x.direction == BankDirection.DEBIT),
        ledger_credits_fen=sum(m.amount_fen for m in ledger_rows if m.direction == BankDirection.CREDIT),
        ledger_debits_fen=sum(m.amount_fen for m in ledger_rows if m.direction == BankDirection.DEBIT),
        differences=differences,
    )
    db.session.add(run)
    db.session.flush()  # the leaf names the run
    audit.record(
        "bidding:bank:reconcile",
        actor=actor,
        object_type="security_reconciliation",
        object_id=run.id,
        payload={
            "day": day.isoformat(),
            "lines": len(lines),
            "booked": booked,
            "differences": len(differences),
        },
    )
    return run
