"""Idempotency keys of the API's creating POSTs (issue 20 item 1): one row per caller and key with the
first answer, shared by every worker.

Revision ID: s8_idempotency_keys
Revises: s7_public_draw_record
Create Date: 2026-12-07 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s8_idempotency_keys"
down_revision = "s8_bid_security_ledger"  # chained after the migrations merged meanwhile
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "user_id", sa.Integer(), nullable=False, comment="the calling account; 0 for anonymous callers"
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column(
            "request_hash", sa.String(length=64), nullable=False, comment="SHA-256 hex of method, path and body"
        ),
        sa.Column("status_code", sa.Integer(), nullable=True, comment="NULL while the first request runs"),
        sa.Column(
            "response_enc",
            sa.LargeBinary(),
            nullable=True,
            comment="the answer, Fernet under DATA_KEY: it may carry a tracking code or a secret",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status_code IS NULL) = (response_enc IS NULL)", name=op.f("ck_idempotency_key_answer_complete")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_key_user_id_key")),
    )
    with op.batch_alter_table("idempotency_key") as batch:
        batch.create_index(batch.f("ix_idempotency_key_expires_at"), ["expires_at"], unique=False)


def downgrade():
    op.drop_table("idempotency_key")
