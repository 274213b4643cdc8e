"""Merge the domain branches (complaints, supervision, evaluation) into one head.

Each domain's migration descends from the projects migration; this empty revision joins them so
``flask db upgrade`` has a single head to reach.

Revision ID: m1_merge_heads
Revises: e7_complaints, g8_supervision, h6_evaluation
Create Date: 2026-11-26 05:10:00
"""

revision = "m1_merge_heads"
down_revision = ("e7_complaints", "g8_supervision", "h6_evaluation")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
