"""Retired signing keys: the platform's Ed25519 key can be rotated and what an old key signed still
verifies.

Revision ID: p4_signing_keys
Revises: o3_outbox_lease
Create Date: 2026-11-26 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "p4_signing_keys"
down_revision = "o3_outbox_lease"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "signing_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False, comment="raw Ed25519 key"),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_key")),
        sa.UniqueConstraint("public_key", name=op.f("uq_signing_key_public_key")),
    )


def downgrade():
    op.drop_table("signing_key")
