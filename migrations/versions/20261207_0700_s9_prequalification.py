"""Prequalification (资格预审, issue 18 item 3): the section's flag, the rounds of a section's
prequalification and the applications submitted to them.

Revision ID: s9_prequalification
Revises: s8_token_sections
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s9_prequalification"
down_revision = "s8_token_sections"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "prequalification",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="资格预审: only the applicants its prequalification qualified obtain the documents and bid",
            )
        )
    op.create_table(
        "prequalification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False, comment="1, then 2… after a failed round"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("notice_text", sa.Text(), nullable=False, comment="资格预审公告"),
        sa.Column("docs_available_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "docs_available_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="资格预审文件停止发售 (≥ 5 日 after the start, 条例 Art. 16)",
        ),
        sa.Column(
            "application_deadline",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="提交资格预审申请文件的截止时间 (≥ 5 日 after the sale ends, 条例 Art. 17)",
        ),
        sa.Column("document_filename", sa.String(length=200), nullable=True, comment="资格预审文件"),
        sa.Column("document_blob_path", sa.String(length=255), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("document_size", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "notified_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="资格预审结果通知书 sent to every applicant",
        ),
        sa.Column("qualified_count", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'passed', 'failed')",
            name=op.f("ck_prequalification_status_valid"),
        ),
        sa.CheckConstraint(
            "(status = 'draft') = (published_at IS NULL)", name=op.f("ck_prequalification_published_iff_at")
        ),
        sa.CheckConstraint(
            "(status IN ('passed', 'failed')) = (notified_at IS NOT NULL)",
            name=op.f("ck_prequalification_notified_iff_at"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_prequalification_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["section_id"], ["section.id"], name=op.f("fk_prequalification_section_id_section")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prequalification")),
        sa.UniqueConstraint("section_id", "round", name="one_round_number"),
    )
    with op.batch_alter_table("prequalification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prequalification_section_id"), ["section_id"], unique=False)
    op.create_table(
        "prequal_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prequalification_id", sa.Integer(), nullable=False),
        sa.Column("applicant_org_id", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("blob_path", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "submitted_at", sa.DateTime(timezone=True), nullable=False, comment="the latest version's arrival"
        ),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, comment="why not qualified (told to the applicant)"),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "result IN ('pending', 'qualified', 'not_qualified')",
            name=op.f("ck_prequal_application_result_valid"),
        ),
        sa.CheckConstraint(
            "(result = 'pending') = (reviewed_at IS NULL)",
            name=op.f("ck_prequal_application_reviewed_iff_at"),
        ),
        sa.CheckConstraint(
            "result != 'not_qualified' OR reason != ''",
            name=op.f("ck_prequal_application_refusal_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["applicant_org_id"],
            ["organization.id"],
            name=op.f("fk_prequal_application_applicant_org_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["applicant_user_id"],
            ["user_account.id"],
            name=op.f("fk_prequal_application_applicant_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["prequalification_id"],
            ["prequalification.id"],
            name=op.f("fk_prequal_application_prequalification_id_prequalification"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["user_account.id"], name=op.f("fk_prequal_application_reviewed_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prequal_application")),
        sa.UniqueConstraint(
            "prequalification_id", "applicant_org_id", name="one_per_applicant"
        ),
    )
    with op.batch_alter_table("prequal_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prequal_application_prequalification_id"), ["prequalification_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("prequal_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prequal_application_prequalification_id"))
    op.drop_table("prequal_application")
    with op.batch_alter_table("prequalification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prequalification_section_id"))
    op.drop_table("prequalification")
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.drop_column("prequalification")
