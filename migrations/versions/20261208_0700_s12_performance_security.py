"""Performance security (履约保证金): ``section.performance_security_pct``, the percentage of the contract amount
the winner provides, at most 10 (招标投标法实施条例 Art. 58; 政府采购法实施条例 Art. 48).

Revision ID: s12_performance_security
Revises: s11_suspension_limit
Create Date: 2026-12-08 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s12_performance_security"
down_revision = "s11_suspension_limit"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "performance_security_pct",
                sa.Numeric(precision=5, scale=2),
                nullable=True,
                comment="履约保证金 the winner provides, in percent of the contract amount (≤ 10, 条例 Art. 58)",
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_section_performance_security_le_10pct"),
            "performance_security_pct IS NULL"
            " OR (performance_security_pct > 0 AND performance_security_pct <= 10)",
        )


def downgrade():
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_section_performance_security_le_10pct"), type_="check")
        batch_op.drop_column("performance_security_pct")
