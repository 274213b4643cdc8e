"""The printed decision on a complaint (投诉处理决定书) as a signed PDF (app.core.printing).

Its hash is the SHA-256 of the canonical JSON of the decision (:func:`decision_document`): the case, the
parties, the outcome, the remedy, the time and the text of the decision — what the PDF prints. Publishing
the decision does not change it."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import render_template
from flask_babel import gettext as _

from app.bidding.signing import canonical
from app.core import audit, printing
from app.core.db import db

from .enums import CaseKind
from .models import Case

KIND = "case_decision"


def _title() -> str:
    return _("Decision on the complaint")


def decided(case: Case | None) -> bool:
    return bool(case is not None and case.kind == CaseKind.COMPLAINT.value and case.decided_at is not None)


def decision_document(case: Case) -> dict[str, Any]:
    section = case.section
    return {
        "type": "ggzy-case-decision-v1",
        "case_id": case.id,
        "number": case.number,
        "section_id": case.section_id,
        "section_code": section.code if section else None,
        "handling_org": case.handling_org.name if case.handling_org else None,
        "matter": case.matter,
        "complainant": case.complainant_name,
        "respondent": case.respondent_name,
        "upheld": case.remedy is not None,
        "remedy": case.remedy,
        "decided_at": audit.canonical_json(case.decided_at).strip('"'),
        "decision": case.decision,
    }


def decision_sha256(case: Case) -> str:
    return hashlib.sha256(canonical(decision_document(case))).hexdigest()


def current_sha256(case_id: int) -> str | None:
    case = db.session.get(Case, case_id)
    return decision_sha256(case) if case is not None and decided(case) else None


def register() -> None:
    printing.register(KIND, _title, current_sha256)


def printed_record(case: Case) -> printing.PrintedRecord | None:
    """The decision as printed; None for a case without a decision on a complaint."""
    if not decided(case):
        return None
    return printing.PrintedRecord(
        kind=KIND,
        object_id=case.id,
        sha256=decision_sha256(case),
        title=f"{_title()} · {case.number}",
        body_html=render_template("complaints/decision_pdf.html", case=case, title=_title()),
        filename=f"decision-{case.id}.pdf",
    )
