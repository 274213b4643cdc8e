"""Evaluation remedies of upheld complaints: re-evaluation rounds (scores, candidates and files of a voided
round stay, marked void) and voided awards (中标无效).

Revision ID: q5_evaluation_remedies
Revises: p4_signing_keys
Create Date: 2026-11-26 07:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "q5_evaluation_remedies"
down_revision = "p4_signing_keys"  # chained after the signing-key migration that landed meanwhile
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "round",
                sa.Integer(),
                server_default="1",
                nullable=False,
                comment="evaluation round; a re-evaluation ordered on an upheld complaint starts the next",
            )
        )

    with op.batch_alter_table("evaluation_score", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
        batch_op.drop_constraint("member_bidder_criterion", type_="unique")
        batch_op.create_unique_constraint(
            "member_round_bidder_criterion", ["member_id", "round", "org_id", "criterion"]
        )
        batch_op.create_check_constraint(
            op.f("ck_evaluation_score_void_has_reason"), "(voided_at IS NULL) = (void_reason IS NULL)"
        )

    with op.batch_alter_table("evaluation_candidate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
        batch_op.drop_constraint("evaluation_rank", type_="unique")
        batch_op.create_unique_constraint("evaluation_round_rank", ["evaluation_id", "round", "rank"])
        batch_op.create_check_constraint(
            op.f("ck_evaluation_candidate_void_has_reason"), "(voided_at IS NULL) = (void_reason IS NULL)"
        )

    with op.batch_alter_table("evaluation_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_evaluation_file_void_has_reason"), "(voided_at IS NULL) = (void_reason IS NULL)"
        )

    op.create_table(
        "evaluation_restart",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False, comment="the round voided"),
        sa.Column(
            "from_status", sa.String(length=16), nullable=False, comment="the evaluation's status when voided"
        ),
        sa.Column("reason", sa.Text(), nullable=False, comment="the complaint number and remedy"),
        sa.Column("restarted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restarted_by", sa.Integer(), nullable=True),
        sa.Column("report_sha256", sa.String(length=64), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publicity_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publicity_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "decisions",
            sa.JSON(),
            nullable=False,
            comment="[{member_id, submitted_at, decision, signature, dissent, decided_at}]",
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"], ["evaluation.id"], name=op.f("fk_evaluation_restart_evaluation_id_evaluation")
        ),
        sa.ForeignKeyConstraint(
            ["restarted_by"], ["user_account.id"], name=op.f("fk_evaluation_restart_restarted_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_restart")),
        sa.UniqueConstraint("evaluation_id", "round", name="evaluation_round"),
    )
    with op.batch_alter_table("evaluation_restart", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_restart_evaluation_id"), ["evaluation_id"], unique=False)

    op.create_table(
        "evaluation_voided_award",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("award_reason", sa.Text(), nullable=True),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("awarded_by", sa.Integer(), nullable=True),
        sa.Column("contract_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "contract_signed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="a contract signed on the void award falls with it",
        ),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, comment="the complaint number and remedy"),
        sa.ForeignKeyConstraint(
            ["awarded_by"], ["user_account.id"], name=op.f("fk_evaluation_voided_award_awarded_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["evaluation_candidate.id"],
            name=op.f("fk_evaluation_voided_award_candidate_id_evaluation_candidate"),
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"], ["evaluation.id"], name=op.f("fk_evaluation_voided_award_evaluation_id_evaluation")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_evaluation_voided_award_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["voided_by"], ["user_account.id"], name=op.f("fk_evaluation_voided_award_voided_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_voided_award")),
        sa.UniqueConstraint("candidate_id", name=op.f("uq_evaluation_voided_award_candidate_id")),
    )
    with op.batch_alter_table("evaluation_voided_award", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_voided_award_evaluation_id"), ["evaluation_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("evaluation_voided_award", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_voided_award_evaluation_id"))
    op.drop_table("evaluation_voided_award")
    with op.batch_alter_table("evaluation_restart", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_restart_evaluation_id"))
    op.drop_table("evaluation_restart")

    with op.batch_alter_table("evaluation_file", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_evaluation_file_void_has_reason"), type_="check")
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_at")

    # a downgrade keeps the current round only: the voided rows would break the old unique constraints
    op.execute("DELETE FROM evaluation_candidate WHERE voided_at IS NOT NULL")
    with op.batch_alter_table("evaluation_candidate", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_evaluation_candidate_void_has_reason"), type_="check")
        batch_op.drop_constraint("evaluation_round_rank", type_="unique")
        batch_op.create_unique_constraint("evaluation_rank", ["evaluation_id", "rank"])
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_at")
        batch_op.drop_column("round")

    op.execute("DELETE FROM evaluation_score WHERE voided_at IS NOT NULL")
    with op.batch_alter_table("evaluation_score", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_evaluation_score_void_has_reason"), type_="check")
        batch_op.drop_constraint("member_round_bidder_criterion", type_="unique")
        batch_op.create_unique_constraint("member_bidder_criterion", ["member_id", "org_id", "criterion"])
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_at")
        batch_op.drop_column("round")

    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.drop_column("round")
