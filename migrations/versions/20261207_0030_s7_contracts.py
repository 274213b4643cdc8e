"""Contracts and closure, procurement intentions (issue 18 items 4 and 5): the signed contract of a section
with its publication and amendments, and the government procurement intentions (采购意向公开).

Revision ID: s7_contracts
Revises: s7_public_draw_record
Create Date: 2026-12-07 00:30:00
"""

import sqlalchemy as sa
from alembic import op


revision = "s7_contracts"
down_revision = "s7_section_procedure"  # chained after the migrations merged meanwhile
branch_labels = None
depends_on = None

RULES = (
    "'same_source_ip', 'same_fingerprint', 'same_signing_key', 'same_contact', 'same_document_hash', "
    "'same_document_metadata', 'price_progression', 'price_close', 'same_project_manager', 'late_amendment', "
    "'repeated_draws', 'key_shares_late', 'overdue_case', 'written_report_due', 'contract_due'"
)
RULES_OLD = f"rule IN ({RULES})"
RULES_NEW = f"rule IN ({RULES}, 'contract_publication')"


def _rules_check(new: str) -> None:
    with op.batch_alter_table("supervision_alert", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_supervision_alert_rule_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_supervision_alert_rule_valid"), new)


def upgrade():
    _rules_check(RULES_NEW)  # the contract_publication alert (政府采购法实施条例 Art. 50)
    op.create_table(
        "procurement_intention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False, comment="the purchaser"),
        sa.Column("project_name", sa.String(length=200), nullable=False),
        sa.Column("budget", sa.Numeric(precision=16, scale=2), nullable=False, comment="yuan"),
        sa.Column("needs_summary", sa.Text(), nullable=False),
        sa.Column("expected_month", sa.Date(), nullable=False, comment="first day of the expected month"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)",
            name=op.f("ck_procurement_intention_withdrawn_iff_at"),
        ),
        sa.CheckConstraint(
            "status = 'draft' OR published_at IS NOT NULL",
            name=op.f("ck_procurement_intention_published_has_at"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'withdrawn')",
            name=op.f("ck_procurement_intention_status_valid"),
        ),
        sa.CheckConstraint("budget > 0", name=op.f("ck_procurement_intention_budget_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_procurement_intention_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_procurement_intention_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_procurement_intention_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procurement_intention")),
    )
    with op.batch_alter_table("procurement_intention", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procurement_intention_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_procurement_intention_project_id"), ["project_id"], unique=False)

    op.create_table(
        "contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("supplier_org_id", sa.Integer(), nullable=False, comment="the winner"),
        sa.Column("supplier_name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "amount", sa.Numeric(precision=16, scale=2), nullable=False, comment="contract amount in yuan"
        ),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("blob_path", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column(
            "publish_due_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="government procurement: end of the 2nd working day after signing",
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(status = 'published') = (published_at IS NOT NULL)", name=op.f("ck_contract_published_iff_at")
        ),
        sa.CheckConstraint("status IN ('signed', 'published')", name=op.f("ck_contract_status_valid")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_contract_amount_positive")),
        sa.ForeignKeyConstraint(
            ["evaluation_id"], ["evaluation.id"], name=op.f("fk_contract_evaluation_id_evaluation")
        ),
        sa.ForeignKeyConstraint(
            ["published_by"], ["user_account.id"], name=op.f("fk_contract_published_by_user_account")
        ),
        sa.ForeignKeyConstraint(["section_id"], ["section.id"], name=op.f("fk_contract_section_id_section")),
        sa.ForeignKeyConstraint(
            ["supplier_org_id"], ["organization.id"], name=op.f("fk_contract_supplier_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["user_account.id"], name=op.f("fk_contract_uploaded_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract")),
        sa.UniqueConstraint("section_id", name=op.f("uq_contract_section_id")),
    )
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_evaluation_id"), ["evaluation_id"], unique=False)

    op.create_table(
        "contract_amendment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False, comment="1, 2, … per contract"),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("amount_after", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("blob_path", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount_after > 0", name=op.f("ck_contract_amendment_amount_positive")),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name=op.f("fk_contract_amendment_contract_id_contract")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["user_account.id"], name=op.f("fk_contract_amendment_recorded_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_amendment")),
        sa.UniqueConstraint("contract_id", "number", name="contract_number"),
    )
    with op.batch_alter_table("contract_amendment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_amendment_contract_id"), ["contract_id"], unique=False)


def downgrade():
    _rules_check(RULES_OLD)
    with op.batch_alter_table("contract_amendment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_amendment_contract_id"))

    op.drop_table("contract_amendment")
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_evaluation_id"))

    op.drop_table("contract")
    with op.batch_alter_table("procurement_intention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procurement_intention_project_id"))
        batch_op.drop_index(batch_op.f("ix_procurement_intention_org_id"))

    op.drop_table("procurement_intention")
