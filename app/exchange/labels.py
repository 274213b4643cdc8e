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
