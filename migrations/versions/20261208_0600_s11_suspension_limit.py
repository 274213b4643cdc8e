"""The alert ``suspension_limit``: a government procurement suspended while a complaint is handled must
resume within 30 日 (政府采购法 Art. 57).

Revision ID: s11_suspension_limit
Revises: s10_auction_terms
Create Date: 2026-12-08 06:00:00
"""

from alembic import op

revision = "s11_suspension_limit"
down_revision = "s10_auction_terms"
branch_labels = None
depends_on = None

RULES = (
    "'same_source_ip', 'same_fingerprint', 'same_signing_key', 'same_contact', 'same_document_hash', "
    "'same_document_metadata', 'price_progression', 'price_close', 'same_project_manager', 'late_amendment', "
    "'repeated_draws', 'key_shares_late', 'overdue_case', 'written_report_due', 'contract_due', "
    "'contract_publication', 'bid_validity_lapsing', 'security_refund_overdue'"
)
RULES_OLD = f"rule IN ({RULES})"
RULES_NEW = f"rule IN ({RULES}, 'suspension_limit')"


def _rules_check(new: str) -> None:
    with op.batch_alter_table("supervision_alert", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_supervision_alert_rule_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_supervision_alert_rule_valid"), new)


def upgrade():
    _rules_check(RULES_NEW)


def downgrade():
    _rules_check(RULES_OLD)
