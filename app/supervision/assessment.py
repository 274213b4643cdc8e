"""Staff assessment (考核): what each staff member and department did in a period, from the domain tables
(and so from the same facts the audit log records).

Per person: registrations reviewed, openings run, draws run, cases handled, median hours to handle,
overdue rate, complaints upheld against their trades. "Handled" items are registration reviews (due within
``SUPERVISION_REVIEW_DUE_WORKDAYS`` working days of submission) and decided complaint cases (due at their
statutory ``due_at``). "Their trades": sections of projects whose registration the person reviewed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from dataclasses import dataclass, field, fields
from html import escape

from flask import current_app
from sqlalchemy import inspect, select

from app.accounts.models import Organization, User
from app.core import spreadsheets
from app.core.calendar import load_calendar, local_date
from app.core.db import db
from app.core.permissions import Role
from app.projects.models import Project, Section

STAFF_ROLES = (Role.CENTER_STAFF.value, Role.REGULATOR.value, Role.MANAGER.value)


@dataclass
class Row:
    user_id: int | None
    name: str
    department: str
    registrations_reviewed: int = 0
    openings_run: int = 0
    draws_run: int = 0
    cases_handled: int = 0
    median_hours: float | None = None
    overdue_rate: float | None = None
    complaints_upheld: int = 0
    _durations: list[float] = field(default_factory=list, repr=False)
    _handled: int = field(default=0, repr=False)
    _overdue: int = field(default=0, repr=False)

    def finish(self) -> None:
        self.median_hours = round(statistics.median(self._durations), 1) if self._durations else None
        self.overdue_rate = round(self._overdue / self._handled, 3) if self._handled else None


COLUMNS = [f.name for f in fields(Row) if not f.name.startswith("_") and f.name != "user_id"]


def _has(name: str) -> bool:
    return inspect(db.session.connection()).has_table(name)


def _in_period(value: dt.datetime | None, start: dt.datetime, end: dt.datetime) -> bool:
    return value is not None and start <= value < end


def assess(start: dt.datetime, end: dt.datetime) -> tuple[list[Row], list[Row]]:
    """(per staff member, per department) for ``start <= t < end``."""
    users = list(
        db.session.scalars(select(User).where(User.role.in_(STAFF_ROLES)).order_by(User.org_id, User.id))
    )
    orgs = {o.id: o.name for o in db.session.scalars(select(Organization))}
    rows = {u.id: Row(u.id, u.display_name, orgs.get(u.org_id, str(u.org_id))) for u in users}
    calendar = load_calendar()
    due_days = int(current_app.config.get("SUPERVISION_REVIEW_DUE_WORKDAYS") or 3)

    reviewed_sections: dict[int, int] = {}  # section id → reviewer
    for project in db.session.scalars(select(Project).where(Project.reviewed_by.is_not(None))):
        for section_id in db.session.scalars(select(Section.id).where(Section.project_id == project.id)):
            reviewed_sections[section_id] = project.reviewed_by  # type: ignore[assignment]
        row = rows.get(project.reviewed_by)  # type: ignore[arg-type]
        if row is None or not _in_period(project.reviewed_at, start, end):
            continue
        assert project.reviewed_at is not None
        row.registrations_reviewed += 1
        row._durations.append((project.reviewed_at - project.submitted_at).total_seconds() / 3600)
        row._handled += 1
        due = calendar.add_working_days(local_date(project.submitted_at), due_days)
        if local_date(project.reviewed_at) > due:
            row._overdue += 1

    if _has("opening_ceremony"):
        from app.bidding.models import OpeningCeremony

        for ceremony in db.session.scalars(
            select(OpeningCeremony).where(
                OpeningCeremony.started_at >= start, OpeningCeremony.started_at < end
            )
        ):
            if ceremony.started_by in rows:
                rows[ceremony.started_by].openings_run += 1

    if _has("expert_draw"):
        from app.experts.models import ExpertDraw

        for draw in db.session.scalars(
            select(ExpertDraw).where(ExpertDraw.requested_at >= start, ExpertDraw.requested_at < end)
        ):
            if draw.requested_by in rows:
                rows[draw.requested_by].draws_run += 1

    if _has("complaint_case"):
        from app.complaints.models import Case

        for case in db.session.scalars(select(Case).where(Case.decided_at >= start, Case.decided_at < end)):
            assert case.decided_at is not None
            handler = rows.get(case.primary_handler_id or case.owner_id or -1)
            if handler is not None:
                handler.cases_handled += 1
                began = case.accepted_at or case.received_at or case.filed_at
                if began is not None:
                    handler._durations.append((case.decided_at - began).total_seconds() / 3600)
                handler._handled += 1
                if case.overdue_at is not None or (case.due_at is not None and case.decided_at > case.due_at):
                    handler._overdue += 1
            if case.violation_established and case.section_id in reviewed_sections:
                trader = rows.get(reviewed_sections[case.section_id])
                if trader is not None:
                    trader.complaints_upheld += 1

    people = list(rows.values())
    departments: dict[str, Row] = {}
    for row in people:
        dep = departments.setdefault(row.department, Row(None, row.department, row.department))
        for name in (
            "registrations_reviewed",
            "openings_run",
            "draws_run",
            "cases_handled",
            "complaints_upheld",
        ):
            setattr(dep, name, getattr(dep, name) + getattr(row, name))
        dep._durations.extend(row._durations)
        dep._handled += row._handled
        dep._overdue += row._overdue
    for row in [*people, *departments.values()]:
        row.finish()
    return people, sorted(departments.values(), key=lambda r: r.name)


def to_csv(rows: list[Row]) -> str:
    """Names come from accounts and organizations: a cell a spreadsheet would run as a formula is escaped
    (``app.core.spreadsheets.safe_cell``)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(spreadsheets.safe_row([getattr(row, c) for c in COLUMNS]))
    return buf.getvalue()


def to_xlsx(people: list[Row], departments: list[Row]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.title = "staff"
    for title, rows in (("staff", people), ("departments", departments)):
        ws = sheet if title == "staff" else wb.create_sheet(title)
        spreadsheets.append_xlsx_row(ws, list(COLUMNS))
        for row in rows:
            spreadsheets.append_xlsx_row(ws, [getattr(row, c) for c in COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def bar_chart(rows: list[Row], metric: str, *, title: str, width: int = 560, bar: int = 18) -> str:
    """A horizontal bar chart as inline SVG markup (no script, no style attribute: CSP-safe)."""
    values = [(r.name, float(getattr(r, metric) or 0)) for r in rows]
    top = max((v for _, v in values), default=0) or 1
    label_w, pad = 180, 4
    height = (bar + pad) * max(len(values), 1) + 28
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (name, value) in enumerate(values):
        y = 24 + i * (bar + pad)
        w = int((width - label_w - 60) * value / top)
        shown = f"{value:g}"
        parts.append(
            f'<text x="0" y="{y + bar - 5}" font-size="12">{escape(name[:24])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar}" fill="#b22222"/>'
            f'<text x="{label_w + w + 4}" y="{y + bar - 5}" font-size="12">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
