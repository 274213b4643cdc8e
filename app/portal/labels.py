"""Display names of the states and kinds the portal shows: views over the label registry
(:mod:`app.core.labels`), kept under their old names for the portal's pages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from app.core.labels import label, tables


class _Kind(Mapping[str, str]):
    """One kind of the registry as a read-only mapping, translated when read."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __getitem__(self, key: str) -> str:
        return label(self.kind, key)

    def get(self, key: str, default: Any = None) -> Any:
        return label(self.kind, key) if key else default

    def __iter__(self) -> Iterator[str]:
        return iter(tables()[self.kind])

    def __len__(self) -> int:
        return len(tables()[self.kind])


STATUS_LABELS = _Kind("section_status")
CATEGORY_LABELS = _Kind("category")
CATALOGUE_STATUS_LABELS = _Kind("catalogue_status")
DAY_UNIT_LABELS = _Kind("day_unit")

RESULT_TITLES: dict[str, Any] = {
    "openings": _l("Opening records"),
    "candidates": _l("Candidate publicity"),
    "awards": _l("Awards"),
    "failed": _l("Failed tenders"),
    "cancelled": _l("Cancelled tenders"),
}


def status_label(value: str | None) -> str:
    return label("section_status", value)


def category_label(value: str | None) -> str:
    return label("category", value)
