"""Display names of the states and kinds the portal shows (English msgids, Chinese in the catalog)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

STATUS_LABELS: dict[str, Any] = {
    "draft": _l("Draft"),
    "published": _l("Open for bids"),
    "bidding_closed": _l("Bidding closed"),
    "opening": _l("Opening"),
    "opened": _l("Opened"),
    "evaluating": _l("Evaluating"),
    "publicity": _l("Candidate publicity"),
    "awarded": _l("Awarded"),
    "archived": _l("Archived"),
    "failed": _l("Failed"),
    "cancelled": _l("Cancelled"),
    "suspended": _l("Suspended"),
    "resumed": _l("Resumed"),
    "retendered": _l("Re-tendered"),
    "deadline_moved": _l("Bid deadline moved"),
}

CATEGORY_LABELS: dict[str, Any] = {
    "engineering_construction": _l("Engineering construction"),
    "government_procurement": _l("Government procurement"),
    "land_mineral": _l("Land and mineral rights"),
    "state_property": _l("State-owned property rights"),
    "other": _l("Other"),
}

CATALOGUE_STATUS_LABELS: dict[str, Any] = {
    "draft": _l("Draft"),
    "comment": _l("Open for public comment"),
    "published": _l("In force"),
    "superseded": _l("Superseded"),
}

DAY_UNIT_LABELS: dict[str, Any] = {
    "calendar": _l("calendar days"),
    "working": _l("working days"),
}

RESULT_TITLES: dict[str, Any] = {
    "openings": _l("Opening records"),
    "candidates": _l("Candidate publicity"),
    "awards": _l("Awards"),
    "failed": _l("Failed tenders"),
    "cancelled": _l("Cancelled tenders"),
}


def status_label(value: str | None) -> str:
    return str(STATUS_LABELS.get(value or "", value or ""))


def category_label(value: str | None) -> str:
    return str(CATEGORY_LABELS.get(value or "", value or ""))
