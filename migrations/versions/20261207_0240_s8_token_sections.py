"""API tokens restricted to some tender sections (issue 20 item 1): ``api_token.section_ids``.

Revision ID: s8_token_sections
Revises: s8_idempotency_keys
Create Date: 2026-12-07 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s8_token_sections"
down_revision = "s8_idempotency_keys"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(
            sa.Column(
                "section_ids",
                sa.JSON(),
                nullable=True,
                comment="the only sections the token reaches (app.core.scoping); NULL: no restriction",
            )
        )


def downgrade():
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("section_ids")
