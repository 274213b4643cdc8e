"""Questions on the tender documents (答疑), answered as clarifications (issue 18 item 2).

Revision ID: s7_section_questions
Revises: r6_lawful_panels
Create Date: 2026-12-07 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s7_section_questions"
down_revision = "r6_lawful_panels"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "section_question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False, comment="per section, in order of asking"),
        sa.Column("asker_org_id", sa.Integer(), nullable=False),
        sa.Column("asker_user_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "answer_due_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="government procurement: 3 working days (采购法实施条例 Art. 52)",
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("amendment_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('asked', 'answered')", name=op.f("ck_section_question_question_status")),
        sa.CheckConstraint(
            "(status = 'answered') = (amendment_id IS NOT NULL AND answered_at IS NOT NULL)",
            name=op.f("ck_section_question_answered_has_clarification"),
        ),
        sa.ForeignKeyConstraint(["amendment_id"], ["amendment.id"], name=op.f("fk_section_question_amendment_id_amendment")),
        sa.ForeignKeyConstraint(["asker_org_id"], ["organization.id"], name=op.f("fk_section_question_asker_org_id_organization")),
        sa.ForeignKeyConstraint(["asker_user_id"], ["user_account.id"], name=op.f("fk_section_question_asker_user_id_user_account")),
        sa.ForeignKeyConstraint(["section_id"], ["section.id"], name=op.f("fk_section_question_section_id_section")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_section_question")),
        sa.UniqueConstraint("section_id", "number", name="section_question_number"),
    )
    with op.batch_alter_table("section_question") as batch_op:
        batch_op.create_index(batch_op.f("ix_section_question_section_id"), ["section_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_section_question_asker_org_id"), ["asker_org_id"], unique=False)


def downgrade():
    op.drop_table("section_question")
