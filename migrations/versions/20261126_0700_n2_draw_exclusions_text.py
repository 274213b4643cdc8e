"""Frozen draw exclusions as one canonical text on the round, like the frozen pool.

A draw on a pool of 100,000 experts excludes thousands; one row each, with two foreign-key checks per row,
cost more than the rest of the freeze. The round now keeps them as the canonical JSON whose SHA-256 is the
``exclusions_digest`` already committed to the audit log, so every existing digest still verifies. Existing
rows are carried over in that canonical form, then the table is dropped.

Revision ID: n2_draw_exclusions_text
Revises: m1_merge_heads
Create Date: 2026-11-26 07:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "n2_draw_exclusions_text"
down_revision = "m1_merge_heads"
branch_labels = None
depends_on = None


def _canonical(rows):
    return json.dumps([[e, r] for e, r in sorted(rows)], sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def upgrade():
    with op.batch_alter_table("expert_draw_round", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "exclusions",
                sa.Text(),
                nullable=False,
                server_default="[]",
                comment='canonical JSON of the experts matched but excluded: [[expert_id, "reason,reason"], …] by id',
            )
        )
    conn = op.get_bind()
    by_round = {}
    for round_id, expert_id, reasons in conn.execute(
        sa.text("SELECT round_id, expert_id, reasons FROM expert_draw_exclusion")
    ):
        by_round.setdefault(round_id, []).append((int(expert_id), str(reasons)))
    for round_id, rows in by_round.items():
        conn.execute(
            sa.text("UPDATE expert_draw_round SET exclusions = :text WHERE id = :id"),
            {"text": _canonical(rows), "id": round_id},
        )
    op.drop_table("expert_draw_exclusion")


def downgrade():
    op.create_table(
        "expert_draw_exclusion",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.String(length=300), nullable=False, comment="comma-separated reason codes, sorted"),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"], name=op.f("fk_expert_draw_exclusion_expert_id_expert")),
        sa.ForeignKeyConstraint(
            ["round_id"], ["expert_draw_round.id"], name=op.f("fk_expert_draw_exclusion_round_id_expert_draw_round")
        ),
        sa.PrimaryKeyConstraint("round_id", "expert_id", name=op.f("pk_expert_draw_exclusion")),
    )
    conn = op.get_bind()
    table = sa.table(
        "expert_draw_exclusion", sa.column("round_id"), sa.column("expert_id"), sa.column("reasons")
    )
    for round_id, text in conn.execute(sa.text("SELECT id, exclusions FROM expert_draw_round")).all():
        rows = [{"round_id": round_id, "expert_id": e, "reasons": r} for e, r in json.loads(text or "[]")]
        if rows:
            conn.execute(sa.insert(table), rows)
    with op.batch_alter_table("expert_draw_round", schema=None) as batch_op:
        batch_op.drop_column("exclusions")
