"""Objections to the prequalification documents (资格预审文件, 招标投标法实施条例 Art. 22): the case matter
``prequal``.

Revision ID: s13_prequal_objections
Revises: s12_performance_security
Create Date: 2026-12-08 08:00:00
"""

from alembic import op

revision = "s13_prequal_objections"
down_revision = "s12_performance_security"
branch_labels = None
depends_on = None

OLD = "matter IN ('documents', 'opening', 'results', 'other')"
NEW = "matter IN ('documents', 'prequal', 'opening', 'results', 'other')"


def _matter_check(check: str) -> None:
    with op.batch_alter_table("complaint_case", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_complaint_case_matter_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_complaint_case_matter_valid"), check)


def upgrade():
    _matter_check(NEW)


def downgrade():
    _matter_check(OLD)
