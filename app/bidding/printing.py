"""The printed opening record (开标记录表): the published record as a signed PDF (app.core.printing).

Its hash is the SHA-256 of the canonical record (``OpeningCeremony.record_sha256``), the one the audit log
holds and bidders sign when they confirm the record."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _

from app.core import printing
from app.core.db import db
from app.projects.models import Section

from . import opening

KIND = "opening_record"


def _title() -> str:
    return _("Opening record")


def current_sha256(section_id: int) -> str | None:
    section = db.session.get(Section, section_id)
    ceremony = opening.completed_ceremony(section) if section is not None else None
    return ceremony.record_sha256 if ceremony is not None else None


def register() -> None:
    printing.register(KIND, _title, current_sha256)


def printed_record(section: Section) -> printing.PrintedRecord | None:
    """The opening record of a section as printed; None before it is published."""
    ceremony = opening.completed_ceremony(section)
    if ceremony is None or ceremony.record_sha256 is None:
        return None
    html = render_template(
        "bidding/record_pdf.html",
        section=section,
        ceremony=ceremony,
        record=opening.record_document(section, ceremony),
        record_leaf=opening.record_leaf(section),
    )
    return printing.PrintedRecord(
        kind=KIND,
        object_id=section.id,
        sha256=ceremony.record_sha256,
        title=f"{_title()} · {section.code}",
        body_html=html,
        filename=f"opening-record-{section.id}.pdf",
    )
