"""Endings the law defines (issue 15, item 8), around the evaluation's main flow in :mod:`.services`:

* every bid rejected by the panel (否决所有投标, 招标投标法 Art. 42; 实施条例 Art. 51): when the report is
  closed with no candidate, the evaluation ends ``failed``, the section fails with each bid's rejection
  reasons, the failure notice is published and re-tendering is offered (projects' ``transition``);
* the candidate publicity carries what 国家发展改革委令第10号 Art. 6 lists: ranking, names, prices,
  quality and duration, the evaluation (scores, and every rejected bid with its reasons), the project
  manager each candidate committed with the certificate's name and number, the qualification conditions
  it meets, and how to object;
* the tenderer's written report (书面报告) to the regulator within 15 days of fixing the winner (招标投标法
  Art. 47), with the contents of 工程建设项目施工招标投标办法 (七部委30号令) Art. 65, tracked and alerted
  (app.supervision.alerts ``written_report_due``); the contract's 30 days (招标投标法 Art. 46) are alerted
  there too (``contract_due``).

Government procurement sections follow their own law (政府采购法; result announcements, contract filing):
the 10号令 contents and the 书面报告 are required of the other categories.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import audit, calendar, outbox, storage
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role
from app.projects.enums import Category, SectionStatus
from app.projects.models import Section

from .enums import EvaluationStatus, FileKind
from .models import Candidate, Evaluation, WrittenReport

#: 招标投标法 Art. 47: the written report within 15 days of fixing the winner (calendar days).
WRITTEN_REPORT_DAYS = 15


def is_procurement(section: Section) -> bool:
    return bool(section.project.catalogue_item.category == Category.GOVERNMENT_PROCUREMENT)


# -- rejected bids ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """A bid that is not a candidate because it was rejected: at the opening (视为撤销/撤回) or by the
    panel (否决), with the reasons given."""

    org_id: int
    bidder_name: str
    stage: str  # "opening" or "evaluation"
    reasons: tuple[str, ...]


def rejected_bids(ev: Evaluation) -> list[Rejected]:
    from . import services

    section = services.section_of(ev)
    out: list[Rejected] = []
    for entry in services.all_entries(section):
        if entry.status != "valid":
            out.append(Rejected(entry.org_id, entry.bidder_name, "opening", (entry.reason or "-",)))
    closed = (
        EvaluationStatus.REPORTED,
        EvaluationStatus.PUBLICITY,
        EvaluationStatus.AWARDED,
        EvaluationStatus.ARCHIVED,
        EvaluationStatus.FAILED,
    )
    if ev.status not in closed:  # scores still open (or a round restarted): nothing to publish yet
        return out
    for result in services.results(ev):
        if not result.qualified:
            reasons = tuple(dict.fromkeys(r for r in result.fail_reasons if r)) or ("-",)
            out.append(Rejected(result.bid.org_id, result.bid.name, "evaluation", reasons))
    return out


def stage_label(stage: str) -> str:
    return _("at the opening") if stage == "opening" else _("by the evaluation panel")


# -- every bid rejected -----------------------------------------------------------------------------------


def fail_if_all_rejected(ev: Evaluation, *, actor: User | None) -> bool:
    """Called when the report is closed: with no candidate (every bid rejected), the evaluation ends
    ``failed``, the section fails with the reasons, the failure notice is published and every bidder is
    told. Returns whether it did."""
    from app.projects import services as projects

    from . import services

    if ev.status != EvaluationStatus.REPORTED or ev.round_candidates:
        return False
    section = services.section_of(ev)
    rejected = rejected_bids(ev)
    listed = "; ".join(f"{r.bidder_name}: {', '.join(r.reasons)}" for r in rejected)
    reason = _(
        "Every bid was rejected by the evaluation panel (招标投标法第42条、实施条例第51条): %(list)s. "
        "The tender must be held again.",
        list=listed or "-",
    )
    at = now()
    services.transition(
        ev, EvaluationStatus.FAILED, actor=actor, reason="every bid rejected", changes={"failed_at": at}
    )
    projects.transition(section, SectionStatus.FAILED, actor=actor, reason=reason)
    html = render_template(
        "evaluation/notice_failure.html", ev=ev, section=section, rejected=rejected, reason=reason
    )
    blob = storage.write_bytes(html.encode(), folder=f"evaluation/{ev.id}", suffix=".html")
    services._add_file(ev, FileKind.FAILURE_NOTICE, "failure-notice.html", blob)
    for entry in services.all_entries(section):
        services._notify_org(entry.org_id, _("%(code)s: no bid accepted", code=section.code), reason)
    services._audit(
        "evaluation:evaluation:fail",
        actor,
        ev,
        {
            "reason": "every bid rejected",
            "rejected": [
                {"org_id": r.org_id, "stage": r.stage, "reasons": list(r.reasons)} for r in rejected
            ],
            "notice_sha256": blob.sha256,
        },
    )
    return True


# -- candidate publicity contents (发改委令第10号 Art. 6) ----------------------------------------------------


@dataclass(frozen=True)
class CandidateDetails:
    """What the tenderer adds per candidate from its bid (Art. 6(2), 6(3))."""

    project_manager: str = ""
    pm_certificate: str = ""
    qualifications: str = ""


def declared_items(ev: Evaluation, org_id: int) -> dict[str, Any]:
    """The candidate's declared opening items (price, quality, duration, project manager …)."""
    from . import services

    entry = next((e for e in services.all_entries(services.section_of(ev)) if e.org_id == org_id), None)
    return dict(entry.declared) if entry is not None else {}


def apply_candidate_details(ev: Evaluation, details: dict[int, CandidateDetails] | None) -> None:
    """Record each candidate's project manager, certificate and qualifications, refusing the publicity
    when one is missing (发改委令第10号 Art. 6(2), 6(3)). Government procurement is exempt (its own law)."""
    from . import services

    if is_procurement(services.section_of(ev)):
        return
    details = details or {}
    errors: dict[str, list[str]] = {}
    for cand in ev.candidates:
        given = details.get(cand.rank, CandidateDetails())
        declared = declared_items(ev, cand.org_id)
        cand.project_manager = (given.project_manager or str(declared.get("project_manager") or "")).strip()[
            :100
        ] or None
        cand.pm_certificate = (given.pm_certificate or "").strip()[:200] or None
        cand.qualifications = (given.qualifications or "").strip() or None
        for name, value in (
            ("project_manager", cand.project_manager),
            ("pm_certificate", cand.pm_certificate),
            ("qualifications", cand.qualifications),
        ):
            if not value:
                errors.setdefault(f"{name}_{cand.rank}", []).append(_("Required."))
    if errors:
        raise DomainError(
            _(
                "The candidate publicity must state, for every candidate, the project manager it committed "
                "with the certificate's name and number, and the qualification conditions it meets "
                "(国家发展改革委令第10号第6条)."
            ),
            errors=errors,
            code="publicity_incomplete",
        )


# -- the written report to the regulator (书面报告, 招标投标法 Art. 47) --------------------------------------


def needs_written_report(section: Section) -> bool:
    return not is_procurement(section)


def open_written_report(ev: Evaluation, *, actor: User | None) -> WrittenReport | None:
    """At the award: the report falls due 15 days after the winner is fixed (招标投标法 Art. 47)."""
    from . import services

    section = services.section_of(ev)
    if not needs_written_report(section) or ev.awarded_at is None:
        return None
    due = calendar.period_end(
        ev.awarded_at, WRITTEN_REPORT_DAYS, unit="calendar", calendar=calendar.load_calendar()
    )
    report = ev.written_report
    if report is None:
        report = WrittenReport(due_at=due)
        ev.written_report = report
    elif report.filed_at is None:
        report.due_at = due  # a new award after a voided one: the 15 days run from the new winner
    db.session.flush()
    services._audit("evaluation:written_report:due", actor, ev, {"due_at": due})
    return report


@dataclass(frozen=True)
class ReportInput:
    scope: str
    method_and_media: str
    documents_summary: str
    remarks: str = ""


REPORT_FIELDS = ("scope", "method_and_media", "documents_summary")


def file_written_report(ev: Evaluation, data: ReportInput, *, actor: User) -> WrittenReport:
    """The tenderer files the report once: its contents (30号令 Art. 65) — scope, method and media, the key
    parts of the documents from the tenderer; the panel, its report and the result from the platform's
    records — are rendered into a document, hashed, stored and sent to the supervising regulator."""
    from . import services

    section = services.section_of(ev)
    project = section.project
    if actor.role != Role.TENDERER or actor.org_id not in {project.owner_org_id, project.agency_org_id}:
        raise NotFound(_("Not found."))
    report = ev.written_report
    if report is None or ev.awarded_at is None:
        raise Conflict(_("The written report is filed after the award."))
    if report.filed_at is not None:
        raise Conflict(_("The written report has been filed."))
    values = {name: (getattr(data, name) or "").strip() for name in REPORT_FIELDS}
    missing = {name: [_("Required.")] for name, value in values.items() if not value}
    if missing:
        raise DomainError(
            _(
                "The written report states the scope, the tendering method and announcement media, and the "
                "key parts of the tender documents (工程建设项目施工招标投标办法第65条)."
            ),
            errors=missing,
        )
    report.scope = values["scope"]
    report.method_and_media = values["method_and_media"]
    report.documents_summary = values["documents_summary"]
    report.remarks = (data.remarks or "").strip() or None
    at = now()
    winner = next((c for c in ev.candidates if c.org_id == ev.winner_org_id), None)
    html = render_template(
        "evaluation/written_report.html",
        ev=ev,
        section=section,
        report=report,
        winner=winner,
        panel=services.panel_public(ev),
        rejected=rejected_bids(ev),
        filed_at=at,
    )
    blob = storage.write_bytes(html.encode(), folder=f"evaluation/{ev.id}", suffix=".html")
    report.filed_at, report.filed_by = at, actor.id
    report.sha256, report.blob_path = blob.sha256, blob.path
    services._add_file(ev, FileKind.WRITTEN_REPORT, "written-report.html", blob)
    db.session.flush()
    services._audit(
        "evaluation:written_report:file",
        actor,
        ev,
        {"sha256": blob.sha256, "due_at": report.due_at, "late": report.late},
    )
    regulators = db.session.scalars(
        select(User).where(
            User.org_id == project.regulator_org_id,
            User.role == Role.REGULATOR.value,
            User.is_active.is_(True),
        )
    )
    subject = _("Written report on %(code)s", code=section.code)
    body = _(
        "%(tenderer)s filed the written report on the tendering of %(name)s (招标投标法第47条), SHA-256 "
        "%(sha)s.",
        tenderer=actor.organization.name,
        name=section.name,
        sha=blob.sha256,
    )
    for user in regulators:
        outbox.enqueue(channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id)
    audit.checkpoint(reason="written report")
    return report


def report_state(ev: Evaluation, at: dt.datetime | None = None) -> str | None:
    """``filed``, ``filed_late``, ``due``, ``overdue``, or None when no report is owed."""
    report = ev.written_report
    if report is None:
        return None
    if report.filed_at is not None:
        return "filed_late" if report.late else "filed"
    return "overdue" if (at or now()) > report.due_at else "due"


def report_state_label(state: str | None) -> str:
    from app.core.labels import label

    return label("written_report_state", state) if state else "—"


def candidates_for_publicity(ev: Evaluation) -> list[tuple[Candidate, dict[str, Any]]]:
    return [(c, declared_items(ev, c.org_id)) for c in ev.candidates]
