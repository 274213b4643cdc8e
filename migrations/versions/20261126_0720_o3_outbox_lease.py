"""Outbox delivery leases: several machines may run ``flask outbox deliver`` at once without sending a
message twice.

Revision ID: o3_outbox_lease
Revises: n2_draw_exclusions_text
Create Date: 2026-11-26 07:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "o3_outbox_lease"
down_revision = "n2_draw_exclusions_text"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_token", sa.String(length=32), nullable=True, comment="the deliverer holding the lease")
        )
        batch_op.add_column(
            sa.Column(
                "claimed_until",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="lease: no other deliverer sends it before then",
            )
        )


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claim_token")
