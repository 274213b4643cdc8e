"""The bid security ledger (issue 18 item 1): per-section virtual sub-accounts and electronic guarantees, bank
movements keyed by the bank's reference, reconciliation runs, and the simulated bank's books.

Revision ID: s8_bid_security_ledger
Revises: s7_public_draw_record
Create Date: 2026-12-07 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s8_bid_security_ledger"
down_revision = "s7_contracts"  # chained after the migrations merged meanwhile
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "simulated_bank_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_ref", sa.String(length=64), nullable=False),
        sa.Column("account_no", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("counterparty_account", sa.String(length=64), nullable=True),
        sa.Column("counterparty_name", sa.String(length=200), nullable=True),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_simulated_bank_entry_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulated_bank_entry")),
        sa.UniqueConstraint("bank_ref", name=op.f("uq_simulated_bank_entry_bank_ref")),
    )
    with op.batch_alter_table("simulated_bank_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_simulated_bank_entry_booked_at"), ["booked_at"], unique=False)

    op.create_table(
        "security_reconciliation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_by", sa.Integer(), nullable=True),
        sa.Column("statement_lines", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("booked_from_statement", sa.Integer(), nullable=False, comment="callbacks that never came"),
        sa.Column(
            "statement_credits_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "statement_debits_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ledger_credits_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger_debits_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_by"], ["user_account.id"], name=op.f("fk_security_reconciliation_run_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_reconciliation")),
    )
    with op.batch_alter_table("security_reconciliation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_reconciliation_day"), ["day"], unique=False)

    op.create_table(
        "bid_security",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("account_no", sa.String(length=32), nullable=False, comment="the virtual sub-account"),
        sa.Column("form", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "required_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="the section's security when issued",
        ),
        sa.Column(
            "received_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="cash credited, principal",
        ),
        sa.Column(
            "interest_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="interest paid with the refund",
        ),
        sa.Column(
            "payer_account", sa.String(length=64), nullable=True, comment="first payer (basic account)"
        ),
        sa.Column("payer_name", sa.String(length=200), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "refund_due_at", sa.DateTime(timezone=True), nullable=True, comment="statutory refund deadline"
        ),
        sa.Column("refund_reason", sa.Text(), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forfeit_ground", sa.String(length=32), nullable=True),
        sa.Column("forfeit_note", sa.Text(), nullable=True),
        sa.Column("guarantee_issuer", sa.String(length=64), nullable=True),
        sa.Column("guarantee_number", sa.String(length=64), nullable=True),
        sa.Column(
            "guarantee_amount_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("guarantee_valid_from", sa.Date(), nullable=True),
        sa.Column("guarantee_valid_until", sa.Date(), nullable=True),
        sa.Column(
            "guarantee_document", sa.JSON(), nullable=True, comment="the issuer's signed data as verified"
        ),
        sa.CheckConstraint(
            "(forfeit_ground IS NULL OR forfeit_ground IN ('withdrawal_after_deadline', 'decryption_bidder_fault', 'refuses_contract', 'no_performance_security', 'adds_conditions'))",  # noqa: E501
            name=op.f("ck_bid_security_ground_valid"),
        ),
        sa.CheckConstraint(
            "(form = 'guarantee') = (guarantee_number IS NOT NULL)",
            name=op.f("ck_bid_security_guarantee_has_number"),
        ),
        sa.CheckConstraint(
            "(status = 'forfeited') = (forfeit_ground IS NOT NULL)",
            name=op.f("ck_bid_security_forfeit_has_ground"),
        ),
        sa.CheckConstraint("form IN ('cash', 'guarantee')", name=op.f("ck_bid_security_form_valid")),
        sa.CheckConstraint(
            "status != 'refund_due' OR refund_due_at IS NOT NULL", name=op.f("ck_bid_security_refund_has_due")
        ),
        sa.CheckConstraint(
            "status != 'refunded' OR refunded_at IS NOT NULL", name=op.f("ck_bid_security_refunded_has_time")
        ),
        sa.CheckConstraint(
            "status != 'secured' OR secured_at IS NOT NULL", name=op.f("ck_bid_security_secured_has_time")
        ),
        sa.CheckConstraint(
            "status IN ('awaiting', 'secured', 'late', 'refund_due', 'refunded', 'released', 'forfeited')",
            name=op.f("ck_bid_security_status_valid"),
        ),
        sa.CheckConstraint(
            "required_fen >= 0 AND received_fen >= 0 AND interest_fen >= 0",
            name=op.f("ck_bid_security_amounts_sane"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_bid_security_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["section_id"], ["section.id"], name=op.f("fk_bid_security_section_id_section")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_security")),
        sa.UniqueConstraint("account_no", name=op.f("uq_bid_security_account_no")),
        sa.UniqueConstraint("section_id", "org_id", name="one_per_bidder"),
    )
    with op.batch_alter_table("bid_security", schema=None) as batch_op:
        batch_op.create_index("guarantee_once", ["guarantee_issuer", "guarantee_number"], unique=True)
        batch_op.create_index(batch_op.f("ix_bid_security_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bid_security_section_id"), ["section_id"], unique=False)

    op.create_table(
        "bank_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "bank_ref", sa.String(length=64), nullable=False, comment="the bank's transaction reference"
        ),
        sa.Column(
            "security_id",
            sa.Integer(),
            nullable=True,
            comment="NULL: money to an unknown sub-account (suspense)",
        ),
        sa.Column("account_no", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("counterparty_account", sa.String(length=64), nullable=True),
        sa.Column("counterparty_name", sa.String(length=200), nullable=True),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False, comment="the bank's value time"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False, comment="callback, statement or platform"),
        sa.CheckConstraint("direction IN ('credit', 'debit')", name=op.f("ck_bank_movement_direction_valid")),
        sa.CheckConstraint(
            "kind IN ('deposit', 'interest', 'refund', 'forfeit')", name=op.f("ck_bank_movement_kind_valid")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_bank_movement_amount_positive")),
        sa.ForeignKeyConstraint(
            ["security_id"], ["bid_security.id"], name=op.f("fk_bank_movement_security_id_bid_security")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_movement")),
        sa.UniqueConstraint("bank_ref", name=op.f("uq_bank_movement_bank_ref")),
    )
    with op.batch_alter_table("bank_movement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_movement_booked_at"), ["booked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_bank_movement_security_id"), ["security_id"], unique=False)


def downgrade():
    with op.batch_alter_table("bank_movement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_movement_security_id"))
        batch_op.drop_index(batch_op.f("ix_bank_movement_booked_at"))

    op.drop_table("bank_movement")
    with op.batch_alter_table("bid_security", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bid_security_section_id"))
        batch_op.drop_index(batch_op.f("ix_bid_security_org_id"))
        batch_op.drop_index("guarantee_once")

    op.drop_table("bid_security")
    with op.batch_alter_table("security_reconciliation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_reconciliation_day"))

    op.drop_table("security_reconciliation")
    with op.batch_alter_table("simulated_bank_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_simulated_bank_entry_booked_at"))

    op.drop_table("simulated_bank_entry")
