"""Collusion and process alerts (围标串标预警, SPEC §7; rules reference §8).

Each rule reads one section's records and returns findings; :func:`run_alert_rules` stores new findings as
:class:`SupervisionAlert` rows (a finding already stored, whatever its status, is not raised again) and writes
one audit leaf per alert. Alerts are flags for the regulator and the evaluation panel: nothing here rejects a
bid. A rule whose source tables are absent (a domain not migrated yet) or empty finds nothing.

Bidder-comparison rules run only once bidding has closed: before the deadline an alert naming two bidders
would tell who bids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, inspect, select

from app.core import audit
from app.core.clock import now
from app.core.db import db
from app.projects.enums import SectionStatus
from app.projects.models import Section

from . import docmeta
from .enums import AlertRule, AlertStatus
from .models import SupervisionAlert

R = AlertRule

#: (legal basis, one-line description) per rule. 条例 = 招标投标法实施条例.
RULES: dict[AlertRule, tuple[str, Any]] = {
    R.SAME_SOURCE_IP: (
        "条例 Art. 40(2)",
        _l("The same public IP address uploaded bids of different bidders."),
    ),
    R.SAME_FINGERPRINT: (
        "条例 Art. 40(2)",
        _l("The same client machine (MAC/CPU/disk fingerprint) uploaded bids of different bidders."),
    ),
    R.SAME_SIGNING_KEY: ("条例 Art. 40(1)", _l("Bids of different bidders are signed with the same key.")),
    R.SAME_CONTACT: (
        "条例 Art. 40(2)",
        _l("Bids of different bidders were submitted by accounts with the same phone or e-mail."),
    ),
    R.SAME_DOCUMENT_HASH: ("条例 Art. 40(1), 40(4)", _l("Different bidders submitted byte-identical files.")),
    R.SAME_DOCUMENT_METADATA: (
        "条例 Art. 40(1)",
        _l("Opened documents of different bidders carry the same author or company in their properties."),
    ),
    R.PRICE_PROGRESSION: (
        "条例 Art. 40(4)",
        _l("Bid prices follow a regular step (arithmetic progression)."),
    ),
    R.PRICE_CLOSE: ("条例 Art. 40(4)", _l("Bid prices of different bidders are abnormally close.")),
    R.SAME_PROJECT_MANAGER: ("条例 Art. 40(3)", _l("The same project manager is named in several bids.")),
    R.LATE_AMENDMENT: (
        "招标投标法 Art. 23; 条例 Art. 21",
        _l("A clarification affecting bids was published less than 15 days before the bid deadline."),
    ),
    R.REPEATED_DRAWS: ("条例 Art. 46, 48", _l("Experts were drawn more than once for this section.")),
    R.KEY_SHARES_LATE: (
        "电子招标投标办法 Art. 31",
        _l("Opening-key shares arrived late or are missing after the bid deadline."),
    ),
    R.OVERDUE_CASE: ("条例 Art. 61", _l("A complaint or report about this section is past its due date.")),
    R.WRITTEN_REPORT_DUE: (
        "招标投标法 Art. 47",
        _l(
            "The tenderer's written report to the regulator is due within 15 days of the award: due soon, or "
            "overdue."
        ),
    ),
    R.CONTRACT_DUE: (
        "招标投标法 Art. 46",
        _l("The contract must be signed within 30 days of the award notice: due soon, or lapsed."),
    ),
    R.CONTRACT_PUBLICATION: (
        "政府采购法实施条例 Art. 50",
        _l(
            "A government procurement contract must be published within 2 working days of signing: not "
            "published in time, or published late."
        ),
    ),
    R.BID_VALIDITY_LAPSING: (
        "条例 Art. 25",
        _l(
            "The bid validity ends soon (or has ended) and the contract is not signed: extend it before it "
            "lapses."
        ),
    ),
    R.SECURITY_REFUND_OVERDUE: (
        "条例 Art. 57",
        _l("A bid security was not refunded within 5 days of the contract signing."),
    ),
    R.SUSPENSION_LIMIT: (
        "政府采购法 Art. 57",
        _l(
            "A government procurement suspended while a complaint is handled must resume within 30 days: "
            "the limit is near, or passed."
        ),
    ),
}

#: Rules whose alerts are also sent to the parties who must act (the tenderer side; the winner for the
#: contract), not only shown to the regulator.
NOTIFY_PARTIES = frozenset(
    {
        R.WRITTEN_REPORT_DUE,
        R.CONTRACT_DUE,
        R.CONTRACT_PUBLICATION,
        R.BID_VALIDITY_LAPSING,
        R.SECURITY_REFUND_OVERDUE,
    }
)

MINUTE = dt.timedelta(minutes=1)
BEFORE_CLOSE = frozenset({SectionStatus.DRAFT.value, SectionStatus.PUBLISHED.value})


@dataclass
class Finding:
    rule: AlertRule
    key: str  # what makes the finding the same finding on a re-run (sorted ids, the shared value)
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.rule.value}|{self.key}".encode()).hexdigest()


def _has_tables(*names: str) -> bool:
    insp = inspect(db.session.connection())
    return all(insp.has_table(n) for n in names)


def _cfg(name: str, default: Any) -> Any:
    value = current_app.config.get(name)
    return default if value is None else value


# ---------------------------------------------------------------------------------------------------------
# Bidder comparisons: active envelopes after the bid deadline
# ---------------------------------------------------------------------------------------------------------


def _record_published(section: Section) -> bool:
    """Whether the section's opening record is public: only from then on may anything compare bidders (who
    bid is secret until the opening, SPEC §3.3 — also while shares are collected or decryption runs)."""
    if section.status in BEFORE_CLOSE or not _has_tables("opening_ceremony"):
        return False
    from app.bidding.enums import CeremonyStatus
    from app.bidding.models import OpeningCeremony

    completed = select(OpeningCeremony.id).where(
        OpeningCeremony.section_id == section.id, OpeningCeremony.status == CeremonyStatus.COMPLETED.value
    )
    return db.session.scalar(completed.limit(1)) is not None


def _envelopes(section: Section) -> list[Any]:
    if not _has_tables("sealed_envelope") or not _record_published(section):
        return []
    from app.bidding.models import SealedEnvelope
    from app.bidding.opening import not_opened_ceremony

    if not_opened_ceremony(section) is not None:
        # Never opened (fewer than 3 bidders): comparing the bidders would tell who bid in a tender whose
        # bids nobody may ever see.
        return []

    return list(
        db.session.scalars(
            select(SealedEnvelope)
            .where(SealedEnvelope.section_id == section.id, SealedEnvelope.status == "active")
            .order_by(SealedEnvelope.id)
        )
    )


def _shared(
    rule: AlertRule, pairs: Iterable[tuple[Any, int, int]], label: str, *, show_value: bool = True
) -> list[Finding]:
    """Findings for every value shared by two or more different organizations. ``pairs`` yields
    (value, org id, envelope or row id)."""
    orgs: dict[Any, set[int]] = defaultdict(set)
    rows: dict[Any, set[int]] = defaultdict(set)
    for value, org_id, row_id in pairs:
        if value in (None, ""):
            continue
        orgs[value].add(org_id)
        rows[value].add(row_id)
    out = []
    for value, org_ids in sorted(orgs.items(), key=lambda kv: str(kv[0])):
        if len(org_ids) < 2:
            continue
        ids = sorted(org_ids)
        shown = str(value) if show_value else hashlib.sha256(str(value).encode()).hexdigest()[:12]
        out.append(
            Finding(
                rule,
                f"{shown}|{','.join(map(str, ids))}",
                f"{label} {shown}: {len(ids)} bidders",
                {"value": str(value), "org_ids": ids, "rows": sorted(rows[value])},
            )
        )
    return out


def rule_same_source_ip(section: Section) -> list[Finding]:
    envs = _envelopes(section)
    return _shared(R.SAME_SOURCE_IP, ((e.source_ip, e.org_id, e.id) for e in envs), "IP")


def rule_same_fingerprint(section: Section) -> list[Finding]:
    envs = _envelopes(section)
    return _shared(R.SAME_FINGERPRINT, ((e.client_fingerprint, e.org_id, e.id) for e in envs), "machine")


def rule_same_signing_key(section: Section) -> list[Finding]:
    envs = [e for e in _envelopes(section) if e.signing_key_id is not None]
    if not envs:
        return []
    from app.bidding.models import BidderKey

    keys = {
        k.id: k.public_key
        for k in db.session.scalars(
            select(BidderKey).where(BidderKey.id.in_({e.signing_key_id for e in envs}))
        )
    }
    return _shared(
        R.SAME_SIGNING_KEY,
        ((keys.get(e.signing_key_id, e.signing_key_id), e.org_id, e.id) for e in envs),
        "key",
        show_value=False,
    )


def rule_same_contact(section: Section) -> list[Finding]:
    envs = _envelopes(section)
    if not envs:
        return []
    from app.accounts.models import User

    users = {
        u.id: u for u in db.session.scalars(select(User).where(User.id.in_({e.submitted_by for e in envs})))
    }
    values = []
    for e in envs:
        user = users.get(e.submitted_by)
        if user is None:
            continue
        if user.phone:
            values.append((f"phone:{''.join(ch for ch in user.phone if ch.isdigit())}", e.org_id, e.id))
        if user.email:
            values.append((f"email:{user.email.strip().casefold()}", e.org_id, e.id))
    return _shared(R.SAME_CONTACT, values, "contact", show_value=False)


def rule_same_document_hash(section: Section) -> list[Finding]:
    envs = _envelopes(section)
    return _shared(R.SAME_DOCUMENT_HASH, ((e.sha256, e.org_id, e.id) for e in envs), "file", show_value=False)


#: Documents larger than this are not read for metadata (an OOXML file's directory is at its end).
MAX_METADATA_BYTES = 64 << 20


def _read_opened(envelope: Any) -> bytes | None:
    """The opened plaintext of a document envelope, through the bidding domain (decrypted at rest)."""
    reader: Callable[[Any], bytes | None] | None = current_app.extensions.get("supervision_document_reader")
    if reader is None:
        try:
            from app.bidding.opening import read_document
        except ImportError:
            return None

        def reader(env: Any) -> bytes | None:
            if (env.plaintext_size or 0) > MAX_METADATA_BYTES:
                return None
            return b"".join(read_document(env))

    try:
        return reader(envelope)
    except Exception:
        return None


def rule_same_document_metadata(section: Section) -> list[Finding]:
    envs = [e for e in _envelopes(section) if e.kind == "document" and e.plaintext_path]
    values = []
    for e in envs:
        data = _read_opened(e)
        if not data:
            continue
        meta = docmeta.extract(data)
        for name in docmeta.FIELDS:
            if meta.get(name):
                values.append((f"{name}:{meta[name].strip().casefold()}", e.org_id, e.id))
    return _shared(R.SAME_DOCUMENT_METADATA, values, "document property")


# ---------------------------------------------------------------------------------------------------------
# The opening record: prices and project managers
# ---------------------------------------------------------------------------------------------------------


def _record_entries(section: Section) -> list[Any]:
    if not _has_tables("opening_ceremony", "opening_record_entry"):
        return []
    from app.bidding.models import OpeningCeremony, OpeningRecordEntry

    return list(
        db.session.scalars(
            select(OpeningRecordEntry)
            .join(OpeningCeremony, OpeningCeremony.id == OpeningRecordEntry.ceremony_id)
            .where(
                OpeningCeremony.section_id == section.id,
                OpeningCeremony.status == "completed",
                OpeningRecordEntry.status == "valid",
            )
            .order_by(OpeningRecordEntry.position)
        )
    )


def _price(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    return price if price.is_finite() and price > 0 else None


def _prices(section: Section) -> list[tuple[Decimal, int]]:
    out = []
    for entry in _record_entries(section):
        price = _price((entry.declared or {}).get("price"))
        if price is not None:
            out.append((price, entry.org_id))
    return sorted(out)


def rule_price_progression(section: Section) -> list[Finding]:
    """Three or more consecutive prices (sorted) with equal steps, within a tolerance relative to price."""
    prices = _prices(section)
    if len(prices) < 3:
        return []
    tol = Decimal(str(_cfg("SUPERVISION_PRICE_STEP_TOLERANCE", "0.0001")))
    mean = sum((p for p, _ in prices), Decimal(0)) / len(prices)
    out = []
    i = 0
    while i + 2 < len(prices):
        j = i + 1
        step = prices[j][0] - prices[i][0]
        while (
            j + 1 < len(prices) and step > 0 and abs((prices[j + 1][0] - prices[j][0]) - step) <= tol * mean
        ):
            j += 1
        if j - i >= 2:
            run = prices[i : j + 1]
            orgs = sorted(o for _, o in run)
            out.append(
                Finding(
                    R.PRICE_PROGRESSION,
                    ",".join(str(p) for p, _ in run),
                    f"{len(run)} prices step by ≈{step}",
                    {"prices": [str(p) for p, _ in run], "org_ids": orgs, "step": str(step)},
                )
            )
            i = j
        else:
            i += 1
    return out


def rule_price_close(section: Section) -> list[Finding]:
    """Groups of different bidders whose prices all lie within a tiny relative spread."""
    prices = _prices(section)
    spread = Decimal(str(_cfg("SUPERVISION_PRICE_SPREAD", "0.0005")))
    out = []
    i = 0
    while i < len(prices):
        j = i
        while j + 1 < len(prices) and prices[j + 1][0] - prices[i][0] <= spread * prices[i][0]:
            j += 1
        group = prices[i : j + 1]
        if len({o for _, o in group}) >= 2:
            orgs = sorted({o for _, o in group})
            out.append(
                Finding(
                    R.PRICE_CLOSE,
                    ",".join(map(str, orgs)),
                    f"{len(group)} prices within {spread * 100}%",
                    {"prices": [str(p) for p, _ in group], "org_ids": orgs},
                )
            )
        i = j + 1
    return out


def rule_same_project_manager(section: Section) -> list[Finding]:
    values = []
    for entry in _record_entries(section):
        name = (entry.declared or {}).get("project_manager")
        if isinstance(name, str) and name.strip():
            values.append(("".join(name.split()).casefold(), entry.org_id, entry.id))
    return _shared(R.SAME_PROJECT_MANAGER, values, "project manager")


# ---------------------------------------------------------------------------------------------------------
# Process rules
# ---------------------------------------------------------------------------------------------------------


def rule_late_amendment(section: Section) -> list[Finding]:
    from app.projects.models import Amendment

    days = int(_cfg("SUPERVISION_AMENDMENT_LEAD_DAYS", 15))
    out = []
    for am in db.session.scalars(
        select(Amendment).where(Amendment.section_id == section.id).order_by(Amendment.number)
    ):
        deadline = am.new_deadline or section.bid_deadline
        if not am.affects_bids or deadline is None:
            continue
        lead = deadline - am.published_at
        if lead < dt.timedelta(days=days):
            out.append(
                Finding(
                    R.LATE_AMENDMENT,
                    str(am.id),
                    f"amendment {am.number}: {lead.days} days before the deadline",
                    {
                        "amendment_id": am.id,
                        "published_at": am.published_at.isoformat(),
                        "deadline": deadline.isoformat(),
                    },
                )
            )
    return out


def rule_repeated_draws(section: Section) -> list[Finding]:
    if not _has_tables("expert_draw"):
        return []
    from app.experts.models import ExpertDraw

    draws = list(
        db.session.scalars(
            select(ExpertDraw).where(ExpertDraw.section_id == section.id).order_by(ExpertDraw.id)
        )
    )
    if len(draws) < 2:
        return []
    ids = [d.id for d in draws]
    return [
        Finding(
            R.REPEATED_DRAWS,
            ",".join(map(str, ids)),
            f"{len(draws)} expert draws",
            {
                "draw_ids": ids,
                "statuses": [d.status for d in draws],
                "cancel_reasons": [d.cancel_reason for d in draws],
            },
        )
    ]


def rule_key_shares_late(section: Section) -> list[Finding]:
    """Shares submitted more than the grace period after the deadline, or still missing after it."""
    if section.bid_deadline is None or not _has_tables(
        "opening_key_share", "opening_ceremony", "submitted_share"
    ):
        return []
    from app.bidding.models import OpeningCeremony, OpeningKeyShare, SubmittedShare

    grace = dt.timedelta(minutes=int(_cfg("SUPERVISION_SHARE_GRACE_MINUTES", 30)))
    due = section.bid_deadline + grace
    shares = list(db.session.scalars(select(OpeningKeyShare).where(OpeningKeyShare.section_id == section.id)))
    if not shares:
        return []
    submitted: dict[int, dt.datetime] = {}
    for sub in db.session.scalars(
        select(SubmittedShare)
        .join(OpeningCeremony, OpeningCeremony.id == SubmittedShare.ceremony_id)
        .where(OpeningCeremony.section_id == section.id)
    ):
        prev = submitted.get(sub.key_share_id)
        submitted[sub.key_share_id] = sub.submitted_at if prev is None else min(prev, sub.submitted_at)
    out = []
    at = now()
    for share in shares:
        got = submitted.get(share.id)
        if got is not None and got > due:
            out.append(
                Finding(
                    R.KEY_SHARES_LATE,
                    f"late:{share.id}",
                    f"share {share.member_index} arrived {(got - section.bid_deadline) // MINUTE} min "
                    "after the deadline",
                    {
                        "key_share_id": share.id,
                        "custodian_id": share.custodian_id,
                        "submitted_at": got.isoformat(),
                    },
                )
            )
        elif got is None and at > due and section.status not in BEFORE_CLOSE:
            out.append(
                Finding(
                    R.KEY_SHARES_LATE,
                    f"missing:{share.id}",
                    f"share {share.member_index} missing",
                    {"key_share_id": share.id, "custodian_id": share.custodian_id},
                )
            )
    return out


def rule_overdue_case(section: Section) -> list[Finding]:
    if not _has_tables("complaint_case"):
        return []
    from app.complaints.models import Case

    at = now()
    out = []
    for case in db.session.scalars(
        select(Case).where(
            Case.section_id == section.id,
            Case.decided_at.is_(None),
            Case.closed_at.is_(None),
            (Case.overdue_at.is_not(None)) | (Case.due_at < at),
        )
    ):
        out.append(
            Finding(
                R.OVERDUE_CASE,
                str(case.id),
                f"case {case.number or case.id} due {case.due_at.isoformat() if case.due_at else '?'}",
                {
                    "case_id": case.id,
                    "kind": case.kind,
                    "due_at": case.due_at.isoformat() if case.due_at else None,
                },
            )
        )
    return out


def _evaluation_of(section: Section) -> Any:
    if not _has_tables("evaluation", "evaluation_written_report"):
        return None
    from app.evaluation.models import Evaluation

    return db.session.scalar(select(Evaluation).where(Evaluation.section_id == section.id))


def _due_findings(rule: AlertRule, what: str, due: dt.datetime, warn: dt.timedelta) -> list[Finding]:
    at = now()
    if at > due:
        return [Finding(rule, f"overdue:{due.isoformat()}", f"{what} overdue since {due.isoformat()}",
                        {"due_at": due.isoformat(), "state": "overdue"})]  # fmt: skip
    if at >= due - warn:
        return [Finding(rule, f"due_soon:{due.isoformat()}", f"{what} due {due.isoformat()}",
                        {"due_at": due.isoformat(), "state": "due_soon"})]  # fmt: skip
    return []


def rule_written_report_due(section: Section) -> list[Finding]:
    """法 Art. 47: the written report within 15 days of the award — warned ahead, flagged when overdue."""
    ev = _evaluation_of(section)
    report = ev.written_report if ev is not None else None
    if report is None or report.filed_at is not None or section.status != SectionStatus.AWARDED.value:
        return []
    warn = dt.timedelta(days=int(_cfg("SUPERVISION_REPORT_WARN_DAYS", 3)))
    return _due_findings(R.WRITTEN_REPORT_DUE, "written report", report.due_at, warn)


def rule_contract_due(section: Section) -> list[Finding]:
    """法 Art. 46: the contract within 30 days of the award notice — warned before it lapses."""
    ev = _evaluation_of(section)
    if (
        ev is None
        or ev.awarded_at is None
        or ev.contract_due_at is None
        or ev.contract_signed_at is not None
        or section.status != SectionStatus.AWARDED.value
    ):
        return []
    warn = dt.timedelta(days=int(_cfg("SUPERVISION_CONTRACT_WARN_DAYS", 5)))
    return _due_findings(R.CONTRACT_DUE, "contract", ev.contract_due_at, warn)


def rule_contract_publication(section: Section) -> list[Finding]:
    """采购条例 Art. 50: a government procurement contract is published within 2 working days of signing —
    flagged once the period has passed unpublished, and flagged when it was published after it."""
    if not _has_tables("contract"):
        return []
    from app.contracts.models import Contract

    contract = db.session.scalar(select(Contract).where(Contract.section_id == section.id))
    if contract is None or contract.publish_due_at is None:
        return []
    due = contract.publish_due_at
    evidence = {
        "contract_id": contract.id,
        "due_at": due.isoformat(),
        "signed_at": contract.signed_at.isoformat(),
    }
    if contract.published_at is not None:
        if contract.published_at <= due:
            return []
        return [
            Finding(
                R.CONTRACT_PUBLICATION,
                f"late:{contract.id}",
                f"contract published {contract.published_at.isoformat()}, due {due.isoformat()}",
                {**evidence, "state": "late", "published_at": contract.published_at.isoformat()},
            )
        ]
    if now() > due:
        return [
            Finding(
                R.CONTRACT_PUBLICATION,
                f"overdue:{contract.id}",
                f"contract not published, due {due.isoformat()}",
                {**evidence, "state": "overdue"},
            )
        ]
    return []


def rule_bid_validity_lapsing(section: Section) -> list[Finding]:
    """条例 Art. 25: the bid validity in force ends within ``SUPERVISION_VALIDITY_WARN_DAYS`` (7) days, or has
    ended, while the bids are held and no contract is signed — warned so the tenderer extends it in time."""
    if not _has_tables("bid_validity_extension"):
        return []
    from app.bidding.validity import services as validity

    if section.status not in {s.value for s in validity.HELD_STATES}:
        return []
    ev = _evaluation_of(section)
    if ev is not None and ev.contract_signed_at is not None:
        return []
    end = validity.current_end(section)
    if end is None:
        return []
    warn = dt.timedelta(days=int(_cfg("SUPERVISION_VALIDITY_WARN_DAYS", 7)))
    return _due_findings(R.BID_VALIDITY_LAPSING, "bid validity", end, warn)


def rule_security_refund_overdue(section: Section) -> list[Finding]:
    """条例 Art. 57: every bid security refund is paid within 5 日 of the contract — flagged when one is
    not."""
    if not _has_tables("bid_security"):
        return []
    from app.bidding.security import services as security

    return [
        Finding(
            R.SECURITY_REFUND_OVERDUE,
            f"overdue:{sec.id}:{sec.refund_due_at.isoformat() if sec.refund_due_at else ''}",
            f"bid security {sec.id} refund overdue since {sec.refund_due_at}",
            {
                "security_id": sec.id,
                "due_at": sec.refund_due_at.isoformat() if sec.refund_due_at else None,
                "state": "overdue",
            },
        )
        for sec in security.overdue_refunds(section)
    ]


def rule_suspension_limit(section: Section) -> list[Finding]:
    """采购法 Art. 57: the finance department may suspend the procurement while it handles a complaint, for at
    most 30 日 — warned ahead, flagged once passed."""
    if not section.suspended or not _has_tables("complaint_case"):
        return []
    from app.complaints.models import Case
    from app.complaints.sections import suspension_limit

    cases = db.session.scalars(
        select(Case)
        .where(Case.section_id == section.id, Case.kind == "complaint", Case.decided_at.is_(None))
        .order_by(Case.id)
    )
    warn = dt.timedelta(days=int(_cfg("SUPERVISION_SUSPENSION_WARN_DAYS", 5)))
    for case in cases:
        limit = suspension_limit(case)
        if limit is not None:
            out = _due_findings(R.SUSPENSION_LIMIT, "suspension", limit, warn)
            for finding in out:
                finding.evidence["case_id"] = case.id
            return out
    return []


RULE_FUNCTIONS: dict[AlertRule, Callable[[Section], list[Finding]]] = {
    R.SAME_SOURCE_IP: rule_same_source_ip,
    R.SAME_FINGERPRINT: rule_same_fingerprint,
    R.SAME_SIGNING_KEY: rule_same_signing_key,
    R.SAME_CONTACT: rule_same_contact,
    R.SAME_DOCUMENT_HASH: rule_same_document_hash,
    R.SAME_DOCUMENT_METADATA: rule_same_document_metadata,
    R.PRICE_PROGRESSION: rule_price_progression,
    R.PRICE_CLOSE: rule_price_close,
    R.SAME_PROJECT_MANAGER: rule_same_project_manager,
    R.LATE_AMENDMENT: rule_late_amendment,
    R.REPEATED_DRAWS: rule_repeated_draws,
    R.KEY_SHARES_LATE: rule_key_shares_late,
    R.OVERDUE_CASE: rule_overdue_case,
    R.WRITTEN_REPORT_DUE: rule_written_report_due,
    R.CONTRACT_DUE: rule_contract_due,
    R.CONTRACT_PUBLICATION: rule_contract_publication,
    R.BID_VALIDITY_LAPSING: rule_bid_validity_lapsing,
    R.SECURITY_REFUND_OVERDUE: rule_security_refund_overdue,
    R.SUSPENSION_LIMIT: rule_suspension_limit,
}


def findings(section: Section) -> list[Finding]:
    out: list[Finding] = []
    for fn in RULE_FUNCTIONS.values():
        out.extend(fn(section))
    return out


def run_alert_rules(section: Section, *, actor: Any = None) -> list[SupervisionAlert]:
    """Store the section's new findings as open alerts (audited); return the alerts raised by this run."""
    known = set(
        db.session.scalars(
            select(SupervisionAlert.fingerprint).where(SupervisionAlert.section_id == section.id)
        )
    )
    raised = []
    for finding in findings(section):
        if finding.fingerprint in known:
            continue
        known.add(finding.fingerprint)
        basis, _ = RULES[finding.rule]
        alert = SupervisionAlert(
            section_id=section.id,
            rule=finding.rule.value,
            fingerprint=finding.fingerprint,
            summary=finding.summary,
            legal_basis=basis,
            evidence=json.loads(json.dumps(finding.evidence, default=str)),
            status=AlertStatus.OPEN.value,
            raised_at=now(),
        )
        db.session.add(alert)
        db.session.flush()  # the alert id goes into its audit leaf
        audit.record(
            "supervision:alert:raise",
            actor=actor,
            object_type="supervision_alert",
            object_id=alert.id,
            payload={"section_id": section.id, "rule": alert.rule, "legal_basis": basis},
        )
        if finding.rule in NOTIFY_PARTIES:
            _notify_parties(section, finding)
        elif finding.rule is R.SUSPENSION_LIMIT:
            _notify_handling_regulator(section, finding)
        raised.append(alert)
    return raised


def _notify_parties(section: Section, finding: Finding) -> None:
    """Tell those who must act: the tenderer and its agency (and, for the contract, the winner)."""
    from app.accounts.models import User
    from app.core import outbox
    from app.core.clock import CST
    from app.core.permissions import Role

    project = section.project
    orgs = {project.owner_org_id, project.agency_org_id} - {None}
    roles = {Role.TENDERER.value}
    ev = _evaluation_of(section)
    if finding.rule is R.CONTRACT_DUE and ev is not None and ev.winner_org_id is not None:
        orgs.add(ev.winner_org_id)
        roles.add(Role.BIDDER.value)
    due = dt.datetime.fromisoformat(finding.evidence["due_at"]).astimezone(CST).strftime("%Y-%m-%d %H:%M")
    overdue = finding.evidence.get("state") == "overdue"
    if finding.rule is R.BID_VALIDITY_LAPSING:
        subject = gettext("%(code)s: bid validity", code=section.code)
        body = (
            gettext(
                "The bid validity lapsed on %(due)s without an extension: evaluation and award cannot "
                "proceed on the lapsed bids (招标投标法实施条例第25条).",
                due=due,
            )
            if overdue
            else gettext(
                "The bid validity ends on %(due)s and the contract is not signed: ask the bidders to extend "
                "it before then (招标投标法实施条例第25条).",
                due=due,
            )
        )
    elif finding.rule is R.SECURITY_REFUND_OVERDUE:
        subject = gettext("%(code)s: bid security refund overdue", code=section.code)
        body = gettext(
            "A bid security was due back by %(due)s and is not refunded (招标投标法实施条例第57条).", due=due
        )
    elif finding.rule is R.CONTRACT_PUBLICATION:
        subject = gettext("%(code)s: contract publication", code=section.code)
        body = (
            gettext(
                "The contract was published after its deadline of %(due)s (政府采购法实施条例第50条).",
                due=due,
            )
            if finding.evidence.get("state") == "late"
            else gettext(
                "The signed contract was to be published by %(due)s and is not public "
                "(政府采购法实施条例第50条).",
                due=due,
            )
        )
    elif finding.rule is R.CONTRACT_DUE:
        subject = gettext("%(code)s: contract deadline", code=section.code)
        body = (
            gettext(
                "The contract was due by %(due)s and is not recorded as signed (招标投标法第46条).", due=due
            )
            if overdue
            else gettext("The contract must be signed by %(due)s (招标投标法第46条).", due=due)
        )
    else:
        subject = gettext("%(code)s: written report to the regulator", code=section.code)
        body = (
            gettext(
                "The written report was due by %(due)s and has not been filed (招标投标法第47条).", due=due
            )
            if overdue
            else gettext("The written report to the regulator is due by %(due)s (招标投标法第47条).", due=due)
        )
    users = db.session.scalars(
        select(User).where(User.org_id.in_(orgs), User.role.in_(roles), User.is_active.is_(True))
    )
    for user in users:
        outbox.enqueue(channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id)


def _notify_handling_regulator(section: Section, finding: Finding) -> None:
    """The suspension's limit is the handling regulator's to keep: its staff are told (采购法 Art. 57)."""
    from app.accounts.models import User
    from app.complaints.models import Case
    from app.core import outbox
    from app.core.clock import CST
    from app.core.permissions import Role

    case = db.session.get(Case, finding.evidence["case_id"])
    if case is None or case.handling_org_id is None:
        return
    due = dt.datetime.fromisoformat(finding.evidence["due_at"]).astimezone(CST).strftime("%Y-%m-%d %H:%M")
    number = case.number or str(case.id)
    subject = gettext("%(code)s: suspension limit", code=section.code)
    body = (
        gettext(
            "The procurement has been suspended for complaint %(number)s beyond %(due)s: a suspension may "
            "last at most 30 days (政府采购法第57条). Resume it now.",
            number=number,
            due=due,
        )
        if finding.evidence.get("state") == "overdue"
        else gettext(
            "The procurement suspended for complaint %(number)s must resume by %(due)s: a suspension may "
            "last at most 30 days (政府采购法第57条).",
            number=number,
            due=due,
        )
    )
    users = db.session.scalars(
        select(User).where(
            User.org_id == case.handling_org_id, User.role == Role.REGULATOR.value, User.is_active.is_(True)
        )
    )
    for user in users:
        outbox.enqueue(channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id)


def alerts_for_panel(section_id: int) -> list[SupervisionAlert]:
    """What the evaluation panel is shown for its section: every alert not dismissed, oldest first. The
    panel weighs them; nothing here rejects a bid (条例 Art. 40 deems, the committee decides)."""
    return list(
        db.session.scalars(
            select(SupervisionAlert)
            .where(
                SupervisionAlert.section_id == section_id,
                SupervisionAlert.status != AlertStatus.DISMISSED.value,
            )
            .order_by(SupervisionAlert.raised_at, SupervisionAlert.id)
        )
    )


def sections_to_check() -> list[Section]:
    """Sections in progress (not draft, not ended): what ``flask supervision alerts`` scans."""
    ended = {SectionStatus.ARCHIVED.value, SectionStatus.CANCELLED.value, SectionStatus.DRAFT.value}
    return list(db.session.scalars(select(Section).where(Section.status.not_in(ended)).order_by(Section.id)))


def open_alert_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(SupervisionAlert.section_id, func.count())
        .where(SupervisionAlert.status == AlertStatus.OPEN.value)
        .group_by(SupervisionAlert.section_id)
    )
    return {sid: n for sid, n in rows}


__all__ = ["RULES", "RULE_FUNCTIONS", "Finding", "alerts_for_panel", "findings", "run_alert_rules"]


def run_alert_rules_after_opening(section: Section, actor: Any) -> None:
    """Hook for the opening ceremony: flag collusion signals as soon as the bids are open."""
    run_alert_rules(section, actor=actor)
