"""The printed evaluation documents (app.core.printing): the evaluation report (评标报告), the written report
to the regulator (招标投标情况书面报告) and the award notice (中标通知书 / 中标结果公告).

Each is the stored document as it was drawn up (the HTML whose SHA-256 the members signed, or the file of the
evaluation), printed as it is: its hash is the SHA-256 of those stored bytes. The object id of all three is
the section id."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import printing, storage
from app.core.db import db
from app.projects.models import Section

from . import services
from .enums import FileKind
from .models import Evaluation, EvaluationFile

REPORT = "evaluation_report"
WRITTEN_REPORT = "written_report"
AWARD_NOTICE = "award_notice"
DOCUMENTS = {"report": REPORT, "written_report": WRITTEN_REPORT, "award_notice": AWARD_NOTICE}
"""The ``document`` of the PDF's address → the kind of printed record."""

_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)


def _evaluation(section_id: int) -> Evaluation | None:
    section = db.session.get(Section, section_id)
    return services.evaluation_for(section) if section is not None else None


def award_notice_file(ev: Evaluation) -> EvaluationFile | None:
    """The award notice in force (a voided award's notice stays on file, marked void)."""
    return db.session.scalar(
        select(EvaluationFile)
        .where(
            EvaluationFile.evaluation_id == ev.id,
            EvaluationFile.kind == FileKind.AWARD_NOTICE.value,
            EvaluationFile.voided_at.is_(None),
        )
        .order_by(EvaluationFile.id.desc())
        .limit(1)
    )


def _stored(kind: str, ev: Evaluation) -> tuple[str, str] | None:
    """(blob path, SHA-256) of the stored document of this kind."""
    if kind == REPORT:
        return (ev.report_path, ev.report_sha256) if ev.report_path and ev.report_sha256 else None
    if kind == WRITTEN_REPORT:
        report = ev.written_report
        if report is None or report.blob_path is None or report.sha256 is None:
            return None
        return report.blob_path, report.sha256
    notice = award_notice_file(ev)
    return (notice.blob_path, notice.sha256) if notice is not None else None


def _current(kind: str) -> Callable[[int], str | None]:
    def current_sha256(section_id: int) -> str | None:
        ev = _evaluation(section_id)
        stored = _stored(kind, ev) if ev is not None else None
        return stored[1] if stored else None

    return current_sha256


def title(kind: str) -> str:
    if kind == REPORT:
        return _("Evaluation report")
    if kind == WRITTEN_REPORT:
        return _("Written report to the regulator")
    return _("Award notice")


def _title(kind: str) -> Callable[[], str]:
    return lambda: title(kind)


def register() -> None:
    for kind in (REPORT, WRITTEN_REPORT, AWARD_NOTICE):
        printing.register(kind, _title(kind), _current(kind))


def printed_record(kind: str, section: Section, ev: Evaluation) -> printing.PrintedRecord | None:
    """The stored document as printed; None when there is none (not drawn up, not filed, not awarded)."""
    stored = _stored(kind, ev)
    if stored is None:
        return None
    path, sha256 = stored
    html = b"".join(storage.iter_blob(path)).decode()
    match = _BODY.search(html)
    return printing.PrintedRecord(
        kind=kind,
        object_id=section.id,
        sha256=sha256,
        title=f"{title(kind)} · {section.code}",
        body_html=match.group(1) if match else html,
        filename=f"{kind.replace('_', '-')}-{section.id}.pdf",
    )
