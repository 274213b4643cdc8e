"""Bid validity with extensions, SME price deduction (issue 18 item 3): ``section.bid_validity_days``,
``section.sme_deduction_rate``, ``section.sme_works``, the tables ``bid_validity_extension`` and
``bid_validity_answer``; the alerts ``bid_validity_lapsing`` and ``security_refund_overdue``.

Revision ID: s9_bid_validity
Revises: s8_token_sections
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s9_bid_validity"
down_revision = "s9_secgaps"
branch_labels = None
depends_on = None

RULES = (
    "'same_source_ip', 'same_fingerprint', 'same_signing_key', 'same_contact', 'same_document_hash', "
    "'same_document_metadata', 'price_progression', 'price_close', 'same_project_manager', 'late_amendment', "
    "'repeated_draws', 'key_shares_late', 'overdue_case', 'written_report_due', 'contract_due', "
    "'contract_publication'"
)
RULES_OLD = f"rule IN ({RULES})"
RULES_NEW = f"rule IN ({RULES}, 'bid_validity_lapsing', 'security_refund_overdue')"


def _rules_check(new: str) -> None:
    with op.batch_alter_table("supervision_alert", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_supervision_alert_rule_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_supervision_alert_rule_valid"), new)


def upgrade():
    _rules_check(RULES_NEW)
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "bid_validity_days",
                sa.Integer(),
                server_default="90",
                nullable=False,
                comment="投标有效期: days counted from the bid deadline (实施条例 Art. 25)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "sme_deduction_rate",
                sa.Numeric(precision=5, scale=2),
                nullable=True,
                comment="government procurement: 小微企业价格扣除 in percent (财库〔2020〕46号 Art. 9)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "sme_works",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="government procurement of works: the SME deduction lies in 3-5 percent",
            )
        )
        batch_op.create_check_constraint(op.f("ck_section_bid_validity_positive"), "bid_validity_days > 0")

    op.create_table(
        "bid_validity_extension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column(
            "previous_end_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="the validity end in force when the extension was requested",
        ),
        sa.Column("new_end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.CheckConstraint("new_end_at > previous_end_at", name=op.f("ck_bid_validity_extension_extends")),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_bid_validity_extension_requested_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["section_id"], ["section.id"], name=op.f("fk_bid_validity_extension_section_id_section")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_validity_extension")),
    )
    with op.batch_alter_table("bid_validity_extension", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bid_validity_extension_section_id"), ["section_id"], unique=False
        )

    op.create_table(
        "bid_validity_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["user_account.id"], name=op.f("fk_bid_validity_answer_answered_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["bid_validity_extension.id"],
            name=op.f("fk_bid_validity_answer_extension_id_bid_validity_extension"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_bid_validity_answer_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_validity_answer")),
        sa.UniqueConstraint("extension_id", "org_id", name="one_answer_per_bidder"),
    )
    with op.batch_alter_table("bid_validity_answer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bid_validity_answer_extension_id"), ["extension_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("bid_validity_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bid_validity_answer_extension_id"))
    op.drop_table("bid_validity_answer")
    with op.batch_alter_table("bid_validity_extension", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bid_validity_extension_section_id"))
    op.drop_table("bid_validity_extension")
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_section_bid_validity_positive"), type_="check")
        batch_op.drop_column("sme_works")
        batch_op.drop_column("sme_deduction_rate")
        batch_op.drop_column("bid_validity_days")
    _rules_check(RULES_OLD)
