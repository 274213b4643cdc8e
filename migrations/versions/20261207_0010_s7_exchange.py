"""Data exchange with the provincial platform (issue 20 item 3): the messages pushed, and what the simulated
provincial platform received; webhook subscriptions and deliveries (item 4).

Revision ID: s7_exchange
Revises: s7_section_questions
Create Date: 2026-12-07 00:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s7_exchange"
down_revision = "s7_section_questions"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "exchange_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("leaf_idx", sa.Integer(), nullable=False, comment="the audit leaf that recorded the event"),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("transaction_code", sa.String(length=64), nullable=False, comment="unified transaction code"),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_receipt", sa.String(length=200), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name=op.f("ck_exchange_message_exchange_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_message")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_exchange_message_idempotency_key")),
        sa.UniqueConstraint("leaf_idx", name="exchange_leaf_once"),
    )
    with op.batch_alter_table("exchange_message") as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_message_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchange_message_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchange_message_transaction_code"), ["transaction_code"], unique=False)
    op.create_table(
        "simulated_province_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("transaction_code", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulated_province_record")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_simulated_province_record_idempotency_key")),
    )


    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False, comment="empty: every kind"),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_webhook_subscription_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    with op.batch_alter_table("webhook_subscription") as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_subscription_user_id"), ["user_id"], unique=False)
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name=op.f("ck_webhook_delivery_webhook_status")),
        sa.ForeignKeyConstraint(["message_id"], ["exchange_message.id"], name=op.f("fk_webhook_delivery_message_id_exchange_message")),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["webhook_subscription.id"], name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint("subscription_id", "message_id", name="webhook_delivery_once"),
    )
    with op.batch_alter_table("webhook_delivery") as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_delivery_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_delivery_subscription_id"), ["subscription_id"], unique=False)


def downgrade():
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_subscription")
    op.drop_table("simulated_province_record")
    op.drop_table("exchange_message")
