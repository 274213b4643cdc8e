"""Lawful panels and cases (issue 15, items 2, 3, 5, 6): experts' employment history and recused/absent
seats with their reasons; tenderer representatives as real panel seats; the result announcement of
government procurement; on-site objections linked to their cases.

Revision ID: r6_lawful_panels
Revises: r6_auth_hardening
Create Date: 2026-12-06 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "r6_lawful_panels"
down_revision = "r6_auth_hardening"  # chained after the migrations merged meanwhile
branch_labels = None
depends_on = None

SEAT_STATUSES_BEFORE = "status IN ('standby', 'invited', 'confirmed', 'declined', 'no_answer', 'released')"
SEAT_STATUSES = (
    "status IN ('standby', 'invited', 'confirmed', 'declined', 'no_answer', 'released', 'recused', 'absent')"
)


def upgrade():
    op.create_table(
        "expert_employment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column(
            "org_id",
            sa.Integer(),
            nullable=True,
            comment="NULL: not registered on the platform (matched by name/code)",
        ),
        sa.Column("org_name", sa.String(length=200), nullable=False, comment="the organization's name as recorded"),
        sa.Column("org_credit_code", sa.String(length=32), nullable=True, comment="unified social credit code"),
        sa.Column("starts_on", sa.Date(), nullable=True, comment="local date; NULL when not known"),
        sa.Column("ends_on", sa.Date(), nullable=False, comment="last day of the employment (local date)"),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True, comment="user id; NULL for automatic rows"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('manual', 'import', 'employer_change', 'self')",
            name=op.f("ck_expert_employment_source_valid"),
        ),
        sa.CheckConstraint(
            "starts_on IS NULL OR ends_on >= starts_on", name=op.f("ck_expert_employment_range_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"], ["expert.id"], name=op.f("fk_expert_employment_expert_id_expert"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_expert_employment_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expert_employment")),
        sa.UniqueConstraint("expert_id", "org_name", "ends_on", name="expert_org_end"),
    )
    with op.batch_alter_table("expert_employment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expert_employment_expert_id"), ["expert_id"], unique=False)
        batch_op.create_index("ix_expert_employment_org_end", ["org_id", "ends_on"], unique=False)
        batch_op.create_index("ix_expert_employment_name_end", ["org_name", "ends_on"], unique=False)
        batch_op.create_index("ix_expert_employment_code_end", ["org_credit_code", "ends_on"], unique=False)

    with op.batch_alter_table("expert_panel_seat", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recusal_reason",
                sa.Text(),
                nullable=True,
                comment="why the seat was recused (回避) or replaced for absence, as recorded",
            )
        )
        batch_op.add_column(sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_expert_panel_seat_status_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_expert_panel_seat_status_valid"), SEAT_STATUSES)
        batch_op.create_check_constraint(
            op.f("ck_expert_panel_seat_replaced_has_reason"),
            "(status NOT IN ('recused', 'absent')) OR (recusal_reason IS NOT NULL AND replaced_at IS NOT NULL)",
        )

    op.create_table(
        "evaluation_representative",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("named_by", sa.Integer(), nullable=False),
        sa.Column("named_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(withdrawn_at IS NULL) = (withdraw_reason IS NULL)",
            name=op.f("ck_evaluation_representative_withdrawn_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["named_by"], ["user_account.id"], name=op.f("fk_evaluation_representative_named_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["section_id"], ["section.id"], name=op.f("fk_evaluation_representative_section_id_section")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_evaluation_representative_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_representative")),
    )
    with op.batch_alter_table("evaluation_representative", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_representative_section_id"), ["section_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_evaluation_representative_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_evaluation_representative_active",
            ["section_id", "user_id"],
            unique=True,
            postgresql_where=sa.text("withdrawn_at IS NULL"),
            sqlite_where=sa.text("withdrawn_at IS NULL"),
        )

    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "notice_kind",
                sa.String(length=24),
                server_default="candidate_publicity",
                nullable=False,
                comment="what the publicity columns hold: candidate publicity (works) or the result "
                "announcement period (government procurement), frozen at the start",
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_evaluation_notice_kind_valid"),
            "notice_kind IN ('candidate_publicity', 'result_announcement')",
        )

    with op.batch_alter_table("evaluation_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("representative_id", sa.Integer(), nullable=True))
        batch_op.alter_column("seat_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column("expert_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_unique_constraint("evaluation_member_representative", ["evaluation_id", "representative_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_evaluation_member_representative_id_evaluation_representative"),
            "evaluation_representative",
            ["representative_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            op.f("ck_evaluation_member_expert_or_representative"),
            "(seat_id IS NULL) <> (representative_id IS NULL)",
        )
        batch_op.create_check_constraint(
            op.f("ck_evaluation_member_seat_has_expert"), "(seat_id IS NULL) = (expert_id IS NULL)"
        )

    with op.batch_alter_table("onsite_objection", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("case_id", sa.Integer(), nullable=True, comment="the objection case (complaints domain)")
        )
        batch_op.create_unique_constraint(batch_op.f("uq_onsite_objection_case_id"), ["case_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_onsite_objection_case_id_complaint_case"), "complaint_case", ["case_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("onsite_objection", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_onsite_objection_case_id_complaint_case"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_onsite_objection_case_id"), type_="unique")
        batch_op.drop_column("case_id")

    op.execute("DELETE FROM evaluation_score WHERE member_id IN "
               "(SELECT id FROM evaluation_member WHERE representative_id IS NOT NULL)")
    op.execute("DELETE FROM evaluation_member WHERE representative_id IS NOT NULL")
    with op.batch_alter_table("evaluation_member", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_evaluation_member_seat_has_expert"), type_="check")
        batch_op.drop_constraint(op.f("ck_evaluation_member_expert_or_representative"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_evaluation_member_representative_id_evaluation_representative"), type_="foreignkey"
        )
        batch_op.drop_constraint("evaluation_member_representative", type_="unique")
        batch_op.alter_column("expert_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.alter_column("seat_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("representative_id")

    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_evaluation_notice_kind_valid"), type_="check")
        batch_op.drop_column("notice_kind")

    with op.batch_alter_table("evaluation_representative", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_evaluation_representative_active",
            postgresql_where=sa.text("withdrawn_at IS NULL"),
            sqlite_where=sa.text("withdrawn_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_evaluation_representative_user_id"))
        batch_op.drop_index(batch_op.f("ix_evaluation_representative_section_id"))
    op.drop_table("evaluation_representative")

    # recused and absent seats read as declined (with their reason) under the old set of states
    op.execute(
        "UPDATE expert_panel_seat SET status = 'declined', decline_reason = substr(recusal_reason, 1, 500) "
        "WHERE status IN ('recused', 'absent')"
    )
    with op.batch_alter_table("expert_panel_seat", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_expert_panel_seat_replaced_has_reason"), type_="check")
        batch_op.drop_constraint(op.f("ck_expert_panel_seat_status_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_expert_panel_seat_status_valid"), SEAT_STATUSES_BEFORE)
        batch_op.drop_column("replaced_at")
        batch_op.drop_column("recusal_reason")

    with op.batch_alter_table("expert_employment", schema=None) as batch_op:
        batch_op.drop_index("ix_expert_employment_code_end")
        batch_op.drop_index("ix_expert_employment_name_end")
        batch_op.drop_index("ix_expert_employment_org_end")
        batch_op.drop_index(batch_op.f("ix_expert_employment_expert_id"))
    op.drop_table("expert_employment")
