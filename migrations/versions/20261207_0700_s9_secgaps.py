"""Business accounts created by an administrator wait for a second party's approval (监管办分离):
``user_account.approval_requested_at``, ``approved_at``, ``approved_by``.

Revision ID: s9_secgaps
Revises: s8_token_sections
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s9_secgaps"
down_revision = "s9_auctions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(
            sa.Column(
                "approval_requested_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="an administrator created this business account: inactive until a second party "
                "approves it",
            )
        )
        batch.add_column(
            sa.Column(
                "approved_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="when the second party approved the account (app/accounts/approvals.py)",
            )
        )
        batch.add_column(
            sa.Column("approved_by", sa.Integer(), nullable=True, comment="the account that approved it")
        )


def downgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("approved_by")
        batch.drop_column("approved_at")
        batch.drop_column("approval_requested_at")
