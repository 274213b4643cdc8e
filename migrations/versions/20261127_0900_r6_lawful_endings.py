"""Lawful by construction (issue 15, items 1, 4, 7, 8): the bidder count before any decryption
(ceremonies ``not_opened``), re-tendering (``section.retender_of_id``), suspension causes, the evaluation
ending ``failed`` (every bid rejected), candidate publicity contents, the tenderer's written report to the
regulator, archive retention, and the alert rules that track the report and the contract.

Revision ID: r6_lawful_endings
Revises: q5_evaluation_remedies
Create Date: 2026-11-27 09:00:00
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "r6_lawful_endings"
down_revision = "q5_evaluation_remedies"
branch_labels = None
depends_on = None

CEREMONY_OLD = "status IN ('collecting', 'decrypting', 'completed', 'postponed')"
CEREMONY_NEW = "status IN ('collecting', 'decrypting', 'completed', 'postponed', 'not_opened')"
EVAL_STATUS_OLD = "status IN ('sign_in', 'scoring', 'reporting', 'reported', 'publicity', 'awarded', 'archived')"
EVAL_STATUS_NEW = (
    "status IN ('sign_in', 'scoring', 'reporting', 'reported', 'publicity', 'awarded', 'archived', 'failed')"
)
PUBLICITY_OLD = "status IN ('sign_in', 'scoring', 'reporting', 'reported') OR publicity_starts_at IS NOT NULL"
PUBLICITY_NEW = (
    "status IN ('sign_in', 'scoring', 'reporting', 'reported', 'failed') OR publicity_starts_at IS NOT NULL"
)
FILE_KINDS_OLD = "kind IN ('report', 'publicity', 'award_notice', 'award_letter', 'result_letter', 'archive')"
FILE_KINDS_NEW = (
    "kind IN ('report', 'publicity', 'award_notice', 'award_letter', 'result_letter', 'archive',"
    " 'failure_notice', 'written_report')"
)
RULES = (
    "'same_source_ip', 'same_fingerprint', 'same_signing_key', 'same_contact', 'same_document_hash', "
    "'same_document_metadata', 'price_progression', 'price_close', 'same_project_manager', 'late_amendment', "
    "'repeated_draws', 'key_shares_late', 'overdue_case'"
)
RULES_OLD = f"rule IN ({RULES})"
RULES_NEW = f"rule IN ({RULES}, 'written_report_due', 'contract_due')"
#: Archives sealed before this migration: 15 years from sealing (the platform's period, docs/rules).
RETENTION_YEARS = 15


def _check(batch_op, name: str, old: str, new: str) -> None:
    batch_op.drop_constraint(op.f(name), type_="check")
    batch_op.create_check_constraint(op.f(name), new)


def upgrade():
    with op.batch_alter_table("opening_ceremony", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "bidder_count",
                sa.Integer(),
                nullable=True,
                comment="bidders with a receipted envelope, counted at the start before anything is decrypted",
            )
        )
        _check(batch_op, "ck_opening_ceremony_status_valid", CEREMONY_OLD, CEREMONY_NEW)

    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "retender_of_id",
                sa.Integer(),
                nullable=True,
                comment="重新招标: the failed section this one tenders again (at most one successor each)",
            )
        )
        batch_op.create_unique_constraint(op.f("uq_section_retender_of_id"), ["retender_of_id"])
        batch_op.create_foreign_key(
            op.f("fk_section_retender_of_id_section"), "section", ["retender_of_id"], ["id"]
        )

    with op.batch_alter_table("section_suspension", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cause", sa.String(length=16), server_default="intervention", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_section_suspension_cause_valid"), "cause IN ('intervention', 'case')"
        )

    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "retain_until",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="the archive (bid files included) is kept at least until then",
            )
        )
        batch_op.add_column(
            sa.Column("retention_basis", sa.Text(), nullable=True, comment="the rule the retention follows")
        )
        batch_op.add_column(
            sa.Column(
                "disposed_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="archive files removed by cleanup after the retention period",
            )
        )
        batch_op.add_column(
            sa.Column(
                "failed_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="every bid rejected: the evaluation ended without a candidate",
            )
        )
    evaluation = sa.table(
        "evaluation",
        sa.column("id", sa.Integer()),
        sa.column("archived_at", sa.DateTime(timezone=True)),
        sa.column("archive_sha256", sa.String()),
        sa.column("retain_until", sa.DateTime(timezone=True)),
        sa.column("retention_basis", sa.Text()),
    )
    conn = op.get_bind()
    for row in conn.execute(
        sa.select(evaluation.c.id, evaluation.c.archived_at).where(evaluation.c.archive_sha256.is_not(None))
    ).all():
        sealed = row.archived_at or dt.datetime.now(dt.UTC)
        conn.execute(
            evaluation.update()
            .where(evaluation.c.id == row.id)
            .values(
                retain_until=sealed.replace(year=sealed.year + RETENTION_YEARS),
                retention_basis="sealed before retention was recorded: 15 years",
            )
        )
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        _check(batch_op, "ck_evaluation_status_valid", EVAL_STATUS_OLD, EVAL_STATUS_NEW)
        _check(batch_op, "ck_evaluation_publicity_started", PUBLICITY_OLD, PUBLICITY_NEW)
        batch_op.create_check_constraint(
            op.f("ck_evaluation_failed_iff_failed_at"), "(status = 'failed') = (failed_at IS NOT NULL)"
        )
        batch_op.create_check_constraint(
            op.f("ck_evaluation_archive_has_retention"),
            "(archive_sha256 IS NULL) = (retain_until IS NULL)",
        )

    with op.batch_alter_table("evaluation_candidate", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "project_manager",
                sa.String(length=100),
                nullable=True,
                comment="项目负责人 committed in the bid (发改委令第10号 Art. 6(2))",
            )
        )
        batch_op.add_column(
            sa.Column(
                "pm_certificate",
                sa.String(length=200),
                nullable=True,
                comment="the project manager's certificate name and number",
            )
        )
        batch_op.add_column(
            sa.Column(
                "qualifications",
                sa.Text(),
                nullable=True,
                comment="资格能力条件 the candidate meets (发改委令第10号 Art. 6(3))",
            )
        )

    with op.batch_alter_table("evaluation_file", schema=None) as batch_op:
        _check(batch_op, "ck_evaluation_file_kind_valid", FILE_KINDS_OLD, FILE_KINDS_NEW)

    op.create_table(
        "evaluation_written_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, comment="award + 15 days (法 Art. 47)"),
        sa.Column("scope", sa.Text(), nullable=True, comment="招标范围"),
        sa.Column("method_and_media", sa.Text(), nullable=True, comment="招标方式和发布招标公告的媒介"),
        sa.Column(
            "documents_summary",
            sa.Text(),
            nullable=True,
            comment="投标人须知、技术条款、评标标准和方法、合同主要条款",
        ),
        sa.Column("remarks", sa.Text(), nullable=True, comment="anything else the tenderer reports"),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filed_by", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True, comment="of the filed report document"),
        sa.Column("blob_path", sa.String(length=255), nullable=True),
        sa.CheckConstraint(
            "(filed_at IS NULL) = (filed_by IS NULL) AND (filed_at IS NULL) = (sha256 IS NULL)",
            name=op.f("ck_evaluation_written_report_filed_together"),
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"], ["evaluation.id"], name=op.f("fk_evaluation_written_report_evaluation_id_evaluation")
        ),
        sa.ForeignKeyConstraint(
            ["filed_by"], ["user_account.id"], name=op.f("fk_evaluation_written_report_filed_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_written_report")),
        sa.UniqueConstraint("evaluation_id", name=op.f("uq_evaluation_written_report_evaluation_id")),
    )

    with op.batch_alter_table("supervision_alert", schema=None) as batch_op:
        _check(batch_op, "ck_supervision_alert_rule_valid", RULES_OLD, RULES_NEW)


def downgrade():
    with op.batch_alter_table("supervision_alert", schema=None) as batch_op:
        _check(batch_op, "ck_supervision_alert_rule_valid", RULES_NEW, RULES_OLD)
    op.drop_table("evaluation_written_report")
    with op.batch_alter_table("evaluation_file", schema=None) as batch_op:
        _check(batch_op, "ck_evaluation_file_kind_valid", FILE_KINDS_NEW, FILE_KINDS_OLD)
    with op.batch_alter_table("evaluation_candidate", schema=None) as batch_op:
        batch_op.drop_column("qualifications")
        batch_op.drop_column("pm_certificate")
        batch_op.drop_column("project_manager")
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_evaluation_archive_has_retention"), type_="check")
        batch_op.drop_constraint(op.f("ck_evaluation_failed_iff_failed_at"), type_="check")
        _check(batch_op, "ck_evaluation_publicity_started", PUBLICITY_NEW, PUBLICITY_OLD)
        _check(batch_op, "ck_evaluation_status_valid", EVAL_STATUS_NEW, EVAL_STATUS_OLD)
        batch_op.drop_column("failed_at")
        batch_op.drop_column("disposed_at")
        batch_op.drop_column("retention_basis")
        batch_op.drop_column("retain_until")
    with op.batch_alter_table("section_suspension", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_section_suspension_cause_valid"), type_="check")
        batch_op.drop_column("cause")
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_section_retender_of_id_section"), type_="foreignkey")
        batch_op.drop_constraint(op.f("uq_section_retender_of_id"), type_="unique")
        batch_op.drop_column("retender_of_id")
    with op.batch_alter_table("opening_ceremony", schema=None) as batch_op:
        _check(batch_op, "ck_opening_ceremony_status_valid", CEREMONY_NEW, CEREMONY_OLD)
        batch_op.drop_column("bidder_count")
