"""The parts of a section's archive in words (the codes are in app/contracts/archive.py)."""

from __future__ import annotations

from flask_babel import pgettext


def archive_part_label(code: str) -> str:
    words = {
        "documents": pgettext("archive_part", "Tender documents"),
        "envelopes": pgettext("archive_part", "Sealed envelopes"),
        "opening_record": pgettext("archive_part", "Opening record"),
        "evaluation": pgettext("archive_part", "Evaluation report and scores"),
        "draw": pgettext("archive_part", "Expert draw record"),
        "cases": pgettext("archive_part", "Objections, complaints and reports"),
        "contract": pgettext("archive_part", "Signed contract"),
    }
    return words.get(code, pgettext("archive_part", "Other part"))
