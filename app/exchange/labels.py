"""Delivery errors in words (the kinds and states of messages are in the registry, app/core/labels.py)."""

from __future__ import annotations

from flask_babel import gettext as _


def error_label(text: str | None) -> str:
    """A delivery error in words (the stored text begins with its kind, see ``services.error_text``)."""
    if not text:
        return "—"
    kind = text.split("|", 1)[0]
    if kind == "unreachable":
        return _("The receiver could not be reached.")
    if kind.startswith("status:"):
        return _("The receiver answered with error %(code)s.", code=kind.split(":", 1)[1])
    return _("The receiver refused the record.")
