"""Words for the exchange's codes (pages show these, never the codes)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

KIND_LABELS: dict[str, Any] = {
    "announcement": _l("Tender announcement"),
    "amendment": _l("Clarification or amendment"),
    "termination": _l("Termination notice"),
    "failure": _l("Failed tender notice"),
    "opening_record": _l("Opening record"),
    "candidate_publicity": _l("Candidate publicity"),
    "result": _l("Result announcement"),
    "contract": _l("Contract"),
    "case_decision": _l("Complaint decision"),
}
STATUS_LABELS: dict[str, Any] = {
    "pending": _l("Waiting or being retried"),
    "sent": _l("Delivered"),
    "dead": _l("Could not be delivered"),
}


def error_label(text: str | None) -> str:
    """A delivery error in words (the stored text begins with its kind, see ``services.error_text``)."""
    if not text:
        return "—"
    kind = text.split("|", 1)[0]
    if kind == "unreachable":
        return str(_l("The receiver could not be reached."))
    if kind.startswith("status:"):
        return str(_l("The receiver answered with error %(code)s.", code=kind.split(":", 1)[1]))
    return str(_l("The receiver refused the record."))
