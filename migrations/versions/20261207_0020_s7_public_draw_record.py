"""The public draw record (issue 16 item 1, issue 14 panel secrecy): a draw round frozen from now on keeps
its pool and exclusions with pseudonyms as frozen (record format 2), and its digests are over them, so
anyone can recompute a published draw.

Revision ID: s7_public_draw_record
Revises: s7_exchange
Create Date: 2026-12-07 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s7_public_draw_record"
down_revision = "s7_exchange"  # chained after the migrations merged meanwhile
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("expert_draw_round") as batch:
        batch.add_column(
            sa.Column(
                "public_pool",
                sa.Text(),
                nullable=True,
                comment="record format 2: the frozen list with pseudonyms, canonical JSON; pool_digest is over it",
            )
        )
        batch.add_column(
            sa.Column(
                "public_exclusions",
                sa.Text(),
                nullable=True,
                comment="record format 2: the exclusions with pseudonyms; exclusions_digest is over it",
            )
        )
    if op.get_bind().dialect.name == "postgresql":
        # hexadecimal text: pglz spends tens of milliseconds per draw on it without shrinking it
        for column in ("public_pool", "public_exclusions"):
            op.execute(f"ALTER TABLE expert_draw_round ALTER COLUMN {column} SET STORAGE EXTERNAL")


def downgrade():
    with op.batch_alter_table("expert_draw_round") as batch:
        batch.drop_column("public_exclusions")
        batch.drop_column("public_pool")
