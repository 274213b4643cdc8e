"""Procedures beyond open tendering (issue 18 item 3): the section's procedure, the approval of a non-open
procedure and, for invitation tendering, the invited bidder organizations.

Revision ID: s7_section_procedure
Revises: s7_public_draw_record
Create Date: 2026-12-07 03:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s7_section_procedure"
down_revision = "s7_public_draw_record"
branch_labels = None
depends_on = None

PROCEDURES = (
    "open",
    "invited",
    "competitive_negotiation",
    "competitive_consultation",
    "inquiry",
    "single_source",
)


def upgrade():
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("procedure", sa.String(length=32), server_default="open", nullable=False, comment="采购/招标方式")
        )
        batch_op.add_column(
            sa.Column(
                "procedure_approval_ref",
                sa.String(length=200),
                server_default="",
                nullable=False,
                comment="approval of a non-open procedure (e.g. 邀请招标)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "invited_org_ids",
                sa.JSON(),
                nullable=True,
                comment="邀请招标: the invited bidder organizations (only they obtain and bid)",
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_section_procedure_valid"),
            "procedure IN (" + ", ".join(repr(p) for p in PROCEDURES) + ")",
        )


def downgrade():
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_section_procedure_valid"), type_="check")
        batch_op.drop_column("invited_org_ids")
        batch_op.drop_column("procedure_approval_ref")
        batch_op.drop_column("procedure")
