"""Bid security (投标保证金) ledger — 实施条例 Arts. 26, 35, 57, 74; 政府采购法实施条例 Art. 33.

Bidders pay into a per-section virtual sub-account (the bank announces each credit with a signed callback,
booked once per bank reference) or submit an electronic guarantee whose issuer signature is verified. Until
the opening nobody but the bidder learns who paid: staff and regulators see counts and amounts, audit leaves
are sealed. Refunds run on the statutory clocks with demand-deposit interest;
forfeiture only on a listed ground. The day's ledger balances to the fen, reconciles
against the bank's statement and exports as CSV or XLSX.

Rooms: ``models``, ``bank`` (callback signatures, the adapter, the simulated bank), ``guarantees`` (电子保函),
``services`` (the rules), ``ledger`` (daily ledger, exports), ``api``/``views`` (HTTP), ``cli``
(``flask bidding bank-simulate``), ``demo``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask


def leaf_sealed(leaf: Any) -> bool:
    """Audit sealer: a security or bank-credit leaf names its section; until that section is opened the audit
    pages show neither who acted nor the payload (SPEC §3.3: nobody learns who bid)."""
    if leaf.object_type not in {"bid_security", "bank_movement"}:
        return False
    from app.core.db import db
    from app.projects.models import Section

    from ..permissions import is_opened

    try:
        section_id = json.loads(leaf.payload or "{}").get("section_id")
    except ValueError:
        return True
    section = db.session.get(Section, section_id) if isinstance(section_id, int) else None
    return section is not None and not is_opened(section)


def init_app(app: Flask) -> None:
    from app.core import audit_sealing

    from . import api, views

    app.config.setdefault("BANK_ADAPTER", "simulated")
    app.config.setdefault("BANK_CALLBACK_SECRET", None)
    app.config.setdefault("BID_SECURITY_INTEREST_RATE", "0.0035")  # PBoC demand-deposit benchmark, per year
    app.config.setdefault("BID_GUARANTEE_ISSUERS", {})
    app.config.setdefault("BID_GUARANTEE_SIMULATED_ISSUER", True)
    audit_sealing.register(leaf_sealed)
    app.register_blueprint(views.bp)
    api.init_app(app)
