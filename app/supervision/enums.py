"""States and kinds of the supervision domain, stored by value."""

from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    OPEN = "open"  # raised, nobody has looked yet
    ACKNOWLEDGED = "acknowledged"  # a regulator has seen it and keeps watching
    ESCALATED = "escalated"  # turned into a case (立案) or a recorded escalation
    DISMISSED = "dismissed"  # closed with a reason (e.g. on-site upload, explained)


class AlertRule(StrEnum):
    """What raised an alert; each rule names its legal basis in :data:`app.supervision.alerts.RULES`."""

    SAME_SOURCE_IP = "same_source_ip"
    SAME_FINGERPRINT = "same_fingerprint"
    SAME_SIGNING_KEY = "same_signing_key"
    SAME_CONTACT = "same_contact"
    SAME_DOCUMENT_HASH = "same_document_hash"
    SAME_DOCUMENT_METADATA = "same_document_metadata"
    PRICE_PROGRESSION = "price_progression"
    PRICE_CLOSE = "price_close"
    SAME_PROJECT_MANAGER = "same_project_manager"
    LATE_AMENDMENT = "late_amendment"
    REPEATED_DRAWS = "repeated_draws"
    KEY_SHARES_LATE = "key_shares_late"
    OVERDUE_CASE = "overdue_case"
    WRITTEN_REPORT_DUE = "written_report_due"  # 书面报告 not filed 15 days after the award (法 Art. 47)
    CONTRACT_DUE = "contract_due"  # contract not signed: due soon, or lapsed (法 Art. 46)
    CONTRACT_PUBLICATION = "contract_publication"  # GP contract not published within 2 working days (条例 50)
    BID_VALIDITY_LAPSING = (
        "bid_validity_lapsing"  # bid validity ends soon or ended, no contract (条例 Art. 25)
    )
    SECURITY_REFUND_OVERDUE = "security_refund_overdue"  # a refund not paid by its 5th day (条例 Art. 57)
    SUSPENSION_LIMIT = "suspension_limit"  # GP suspended > 30 日 during a complaint (采购法 Art. 57)


class NoticeStatus(StrEnum):
    OPEN = "open"  # issued, waiting for the addressee's response
    RESPONDED = "responded"  # response received, waiting for the regulator's review
    CLOSED = "closed"  # the regulator accepted the rectification
