"""The signed contract of a section: upload, publication, amendments (招标投标法 Art. 46; 政府采购法 Arts. 43,
49; 政府采购法实施条例 Art. 50).

* The tenderer (purchaser) or its agency uploads the signed contract as a PDF once the section is awarded.
  Uploading records the signing on the evaluation (:func:`app.evaluation.services.record_contract`: the
  30-day deadline of 招标投标法 Art. 46, the bid security refunds, the pending-challenge block of 采购条例
  Art. 54), unless the signing was recorded before without a document.
* Government procurement contracts are published within 2 working days of signing (条例 Art. 50):
  :attr:`Contract.publish_due_at`. Publishing later is allowed — the contract must still be public — but it
  is marked late and the ``contract_publication`` alert flags it (app/supervision/alerts.py).
* Amendments (补充合同/合同变更) are recorded with their signed PDF and the amount after them; for
  government procurement the amount may grow by at most 10 % of the original contract (采购法 Art. 49).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core import audit, calendar, storage
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.projects import rules
from app.projects.enums import Category
from app.projects.models import Section
from app.projects.permissions import acts_for

from .enums import CONTRACT_TRANSITIONS, ContractStatus
from .models import Contract, ContractAmendment

MAX_PDF_BYTES = 20 * 1024 * 1024
PDF_MAGIC = b"%PDF-"


def is_procurement(section: Section) -> bool:
    return bool(section.project.catalogue_item.category == Category.GOVERNMENT_PROCUREMENT)


def contract_for(section: Section) -> Contract | None:
    return db.session.scalar(select(Contract).where(Contract.section_id == section.id))


def _audit(action: str, actor: User | None, contract: Contract, payload: dict[str, Any]) -> None:
    audit.record(
        action,
        actor=actor,
        object_type="contract",
        object_id=contract.id,
        payload={"section_id": contract.section_id, **payload},
    )


def parse_amount(raw: object, field: str = "amount") -> Decimal:
    try:
        value = Decimal(str(raw).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise DomainError(
            _("Enter an amount in yuan."), errors={field: [_("Enter an amount in yuan.")]}
        ) from None
    if not value.is_finite() or value <= 0 or value >= Decimal("1e14"):
        raise DomainError(_("Enter an amount in yuan."), errors={field: [_("Enter an amount in yuan.")]})
    return value.quantize(Decimal("0.01"))


def _read_pdf(stream: IO[bytes] | None, filename: str) -> tuple[bytes, str]:
    if stream is None or not filename:
        raise DomainError(_("Upload the signed PDF."), errors={"document": [_("Upload the signed PDF.")]})
    data = stream.read(MAX_PDF_BYTES + 1)
    if len(data) > MAX_PDF_BYTES:
        raise DomainError(
            _("The file is larger than 20 MB."), errors={"document": [_("The file is larger than 20 MB.")]}
        )
    if not data.startswith(PDF_MAGIC):
        raise DomainError(
            _("Upload the signed contract as a PDF file."),
            errors={"document": [_("Upload the signed contract as a PDF file.")]},
        )
    name = filename.replace("/", "_").replace("\\", "_").strip()[:150] or "contract.pdf"
    if not name.lower().endswith(".pdf"):
        name += ".pdf"
    return data, name


def publish_due(section: Section, signed_at: dt.datetime) -> dt.datetime | None:
    """End of the 2nd working day after signing, for government procurement (条例 Art. 50); else None."""
    if not is_procurement(section):
        return None
    return calendar.period_end(
        signed_at, rules.CONTRACT_PUBLISH_WORKING_DAYS, unit="working", calendar=calendar.load_calendar()
    )


def upload_contract(
    section: Section,
    *,
    actor: User,
    stream: IO[bytes] | None,
    filename: str,
    amount: object,
    title: str,
    signed_at: dt.datetime | None = None,
) -> Contract:
    """Store the signed contract of an awarded section (and record the signing if not recorded yet)."""
    from app.evaluation import services as evaluation
    from app.evaluation.enums import EvaluationStatus

    if not acts_for(actor, section.project):
        raise NotFound(_("Not found."))
    ev = evaluation.evaluation_for(section)
    if ev is None or ev.status != EvaluationStatus.AWARDED or ev.winner_org_id is None:
        raise Conflict(_("Record the contract after the award."))
    if contract_for(section) is not None:
        raise Conflict(_("The signed contract is already uploaded; record changes as amendments."))
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise DomainError(_("Enter the contract title."), errors={"title": [_("Enter the contract title.")]})
    value = parse_amount(amount)
    winning = next((c.price for c in ev.candidates if c.org_id == ev.winner_org_id), None)
    if winning is not None and value != winning:
        # 招标投标法 Art. 46 (政府采购法 Art. 46 likewise): the contract is made on the tender documents and
        # the winning bid; the price is of their substance
        message = _(
            "The contract price is the winning bid price, %(price)s yuan: the contract may not depart from "
            "the tender documents and the winning bid on their substance "
            "(招标投标法第46条；政府采购法第46条).",
            price=f"{winning:,.2f}",
        )
        raise DomainError(message, errors={"amount": [message]}, code="amount_not_bid")
    data, name = _read_pdf(stream, filename)
    if ev.contract_signed_at is None:
        evaluation.record_contract(ev, actor=actor, signed_at=signed_at)
    assert ev.contract_signed_at is not None
    at = ev.contract_signed_at
    winner = db.session.get(Organization, ev.winner_org_id)
    blob = storage.write_bytes(data, folder=f"contracts/{section.id}", suffix=".pdf")
    contract = Contract(
        section_id=section.id,
        evaluation_id=ev.id,
        supplier_org_id=ev.winner_org_id,
        supplier_name=winner.name if winner is not None else "",
        title=title,
        amount=value,
        signed_at=at,
        status=ContractStatus.SIGNED.value,
        filename=name,
        blob_path=blob.path,
        sha256=blob.sha256,
        size=blob.size,
        uploaded_at=now(),
        uploaded_by=actor.id,
        publish_due_at=publish_due(section, at),
    )
    db.session.add(contract)
    db.session.flush()  # the contract id goes into its audit leaf
    _audit(
        "contracts:contract:upload",
        actor,
        contract,
        {
            "sha256": blob.sha256,
            "size": blob.size,
            "amount": str(value),
            "signed_at": at,
            "supplier_org_id": contract.supplier_org_id,
            "publish_due_at": contract.publish_due_at,
        },
    )
    return contract


def transition(contract: Contract, to: ContractStatus, *, actor: User, changes: dict[str, Any]) -> None:
    current = ContractStatus(contract.status)
    if to not in CONTRACT_TRANSITIONS[current]:
        raise Conflict(_("The contract is already published."))
    contract.status = to.value
    for key, value in changes.items():
        setattr(contract, key, value)


def publish_contract(contract: Contract, *, actor: User) -> Contract:
    """Make the contract public (合同公告); late when after the 2 working days of 条例 Art. 50."""
    section = db.session.get(Section, contract.section_id)
    assert section is not None
    if not acts_for(actor, section.project):
        raise NotFound(_("Not found."))
    at = now()
    transition(
        contract,
        ContractStatus.PUBLISHED,
        actor=actor,
        changes={"published_at": at, "published_by": actor.id},
    )
    _audit(
        "contracts:contract:publish",
        actor,
        contract,
        {
            "sha256": contract.sha256,
            "amount": str(contract.amount),
            "publish_due_at": contract.publish_due_at,
            "late": contract.published_late,
        },
    )
    return contract


def current_amount(contract: Contract) -> Decimal:
    return contract.amendments[-1].amount_after if contract.amendments else contract.amount


def record_amendment(
    contract: Contract,
    *,
    actor: User,
    summary: str,
    amount_after: object,
    stream: IO[bytes] | None,
    filename: str,
    signed_at: dt.datetime | None = None,
) -> ContractAmendment:
    """Record a signed amendment (补充合同); government procurement: at most +10 % (采购法 Art. 49)."""
    section = db.session.get(Section, contract.section_id)
    assert section is not None
    if not acts_for(actor, section.project):
        raise NotFound(_("Not found."))
    summary = (summary or "").strip()
    if not summary or len(summary) > 4000:
        raise DomainError(
            _("Describe what the amendment changes."),
            errors={"summary": [_("Describe what the amendment changes.")]},
        )
    value = parse_amount(amount_after, "amount_after")
    at = signed_at or now()
    if at < contract.signed_at or at > now():
        raise DomainError(
            _("The amendment's signing date must lie between the contract's signing and now."),
            errors={
                "signed_on": [
                    _("The amendment's signing date must lie between the contract's signing and now.")
                ]
            },
        )
    if is_procurement(section):
        ceiling = contract.amount * (1 + rules.CONTRACT_SUPPLEMENT_MAX_RATIO)
        if value > ceiling:
            message = _(
                "A government procurement contract may grow by at most 10%% of its original amount "
                "(政府采购法第49条): at most %(max)s yuan.",
                max=f"{ceiling:,.2f}",
            )
            raise DomainError(message, errors={"amount_after": [message]}, code="supplement_too_large")
    data, name = _read_pdf(stream, filename)
    blob = storage.write_bytes(data, folder=f"contracts/{section.id}", suffix=".pdf")
    amendment = ContractAmendment(
        contract=contract,
        number=len(contract.amendments) + 1,
        summary=summary,
        amount_after=value,
        signed_at=at,
        filename=name,
        blob_path=blob.path,
        sha256=blob.sha256,
        size=blob.size,
        recorded_at=now(),
        recorded_by=actor.id,
    )
    db.session.add(amendment)
    db.session.flush()  # the amendment number is read back by the page
    _audit(
        "contracts:amendment:record",
        actor,
        contract,
        {
            "number": amendment.number,
            "amount_before": str(
                contract.amount if amendment.number == 1 else contract.amendments[-2].amount_after
            ),
            "amount_after": str(value),
            "sha256": blob.sha256,
            "signed_at": at,
        },
    )
    return amendment


# -- reading ----------------------------------------------------------------------------------------------


def publication_state(contract: Contract, at: dt.datetime | None = None) -> str:
    """``not_required`` (works), ``due`` / ``overdue`` (not published), ``on_time`` / ``late``."""
    at = at or now()
    if contract.published_at is not None:
        return "late" if contract.published_late else "on_time"
    if contract.publish_due_at is None:
        return "not_required"
    return "overdue" if at > contract.publish_due_at else "due"


def published_contracts(*, limit: int = 200) -> list[Contract]:
    return list(
        db.session.scalars(
            select(Contract)
            .where(Contract.status == ContractStatus.PUBLISHED.value)
            .order_by(Contract.published_at.desc(), Contract.id.desc())
            .limit(limit)
        )
    )


def contracts_for(user: User) -> list[Contract]:
    """The contracts a user may read: the tenderer side its own, a regulator its jurisdiction, staff all."""
    from app.core.permissions import Role
    from app.projects.models import Project

    stmt = select(Contract).join(Section, Section.id == Contract.section_id).join(Project)
    if user.role == Role.TENDERER:
        stmt = stmt.where((Project.owner_org_id == user.org_id) | (Project.agency_org_id == user.org_id))
    elif user.role == Role.REGULATOR:
        stmt = stmt.where(Project.regulator_org_id == user.org_id)
    elif user.role not in (Role.CENTER_STAFF, Role.MANAGER):
        return []
    return list(db.session.scalars(stmt.order_by(Contract.id.desc()).limit(500)))


def awaiting_upload(user: User) -> list[Section]:
    """Awarded sections of the user's side without an uploaded contract."""
    from app.evaluation.models import Evaluation
    from app.projects.enums import SectionStatus
    from app.projects.models import Project

    stmt = (
        select(Section)
        .join(Project)
        .join(Evaluation, Evaluation.section_id == Section.id)
        .outerjoin(Contract, Contract.section_id == Section.id)
        .where(
            Section.status == SectionStatus.AWARDED.value,
            Contract.id.is_(None),
            (Project.owner_org_id == user.org_id) | (Project.agency_org_id == user.org_id),
        )
        .order_by(Section.id)
    )
    return list(db.session.scalars(stmt))
