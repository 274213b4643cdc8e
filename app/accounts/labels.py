"""Words for people of the accounts domain's codes (the label registry of this domain)."""

from __future__ import annotations

from flask_babel import gettext as _


def admin_act_label(action: str) -> str:
    """What an administrator did to an account, as the holder and the regulators read it."""
    labels = {
        "admin:user:create": _("created the account"),
        "admin:user:password_reset": _("reset the password (a one-time link went to you)"),
        "admin:user:mfa_reset": _("reset the two-factor sign-in (a one-time link went to you)"),
        "admin:user:disable": _("disabled the account"),
        "admin:user:enable": _("enabled the account"),
        "admin:organization:create": _("created the organization"),
        "account:user:approve": _(
            "approved the account (a second party, after the administrator created it)"
        ),
    }
    return labels.get(action, _("changed the account"))
