"""Auctions: mineral rights listings (``kind`` 'mineral_rights', 矿业权出让交易规则), the termination of a
listing by the center (``status`` 'terminated', 终止, with ``termination_reason`` and ``terminated_by``), and the
refund of the bidders' deposits (令第39号 Art. 24: ``auction_registration.deposit_refund_due_at`` …).

Revision ID: s10_auction_terms
Revises: s9_bid_validity
Create Date: 2026-12-07 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "s10_auction_terms"
down_revision = "s9_bid_validity"
branch_labels = None
depends_on = None

KIND_OLD = "kind IN ('land', 'state_property')"
KIND_NEW = "kind IN ('land', 'state_property', 'mineral_rights')"
STATUS_OLD = "status IN ('draft', 'announced', 'listing', 'timed_bidding', 'sold', 'unsold')"
STATUS_NEW = "status IN ('draft', 'announced', 'listing', 'timed_bidding', 'sold', 'unsold', 'terminated')"
ENDED_OLD = "(status IN ('sold', 'unsold')) = (ended_at IS NOT NULL)"
ENDED_NEW = "(status IN ('sold', 'unsold', 'terminated')) = (ended_at IS NOT NULL)"
TERMINATED = "(status = 'terminated') = (termination_reason IS NOT NULL AND terminated_by IS NOT NULL)"


REFUND_WHOLE = (
    "deposit_refunded_at IS NULL OR (deposit_refund_due_at IS NOT NULL"
    " AND deposit_refund_reference IS NOT NULL AND deposit_refunded_by IS NOT NULL)"
)
APPLIED = "NOT (deposit_applied AND deposit_refund_due_at IS NOT NULL)"


def _check(batch_op, name: str, sql: str) -> None:
    batch_op.drop_constraint(op.f(name), type_="check")
    batch_op.create_check_constraint(op.f(name), sql)


def upgrade():
    with op.batch_alter_table("auction_listing", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "termination_reason",
                sa.String(length=500),
                nullable=True,
                comment="终止: why the center stopped the listing before its end",
            )
        )
        batch_op.add_column(sa.Column("terminated_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_auction_listing_terminated_by_user_account"), "user_account", ["terminated_by"], ["id"]
        )
        _check(batch_op, "ck_auction_listing_kind_valid", KIND_NEW)
        _check(batch_op, "ck_auction_listing_status_valid", STATUS_NEW)
        _check(batch_op, "ck_auction_listing_ended_when_final", ENDED_NEW)
        batch_op.create_check_constraint(op.f("ck_auction_listing_reason_when_terminated"), TERMINATED)
    with op.batch_alter_table("auction_registration", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "deposit_refund_due_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="5 working days after the end (令第39号 Art. 24); NULL: none due or applied",
            )
        )
        batch_op.add_column(
            sa.Column(
                "deposit_applied",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="the winner's deposit counts toward the price (抵作价款), never refunded",
            )
        )
        batch_op.add_column(sa.Column("deposit_refunded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deposit_refunded_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "deposit_refund_reference",
                sa.String(length=64),
                nullable=True,
                comment="bank reference of the refund transfer",
            )
        )
        batch_op.create_foreign_key(
            op.f("fk_auction_registration_deposit_refunded_by_user_account"),
            "user_account",
            ["deposit_refunded_by"],
            ["id"],
        )
        batch_op.create_check_constraint(op.f("ck_auction_registration_refund_recorded_whole"), REFUND_WHOLE)
        batch_op.create_check_constraint(op.f("ck_auction_registration_applied_or_refunded"), APPLIED)


def downgrade():
    with op.batch_alter_table("auction_registration", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_auction_registration_applied_or_refunded"), type_="check")
        batch_op.drop_constraint(op.f("ck_auction_registration_refund_recorded_whole"), type_="check")
        batch_op.drop_constraint(
            op.f("fk_auction_registration_deposit_refunded_by_user_account"), type_="foreignkey"
        )
        for column in (
            "deposit_refund_reference",
            "deposit_refunded_by",
            "deposit_refunded_at",
            "deposit_applied",
            "deposit_refund_due_at",
        ):
            batch_op.drop_column(column)
    op.execute("DELETE FROM auction_bid WHERE listing_id IN (SELECT id FROM auction_listing WHERE status = 'terminated' OR kind = 'mineral_rights')")
    op.execute("UPDATE auction_listing SET winner_id = NULL WHERE kind = 'mineral_rights'")
    op.execute("DELETE FROM auction_registration WHERE listing_id IN (SELECT id FROM auction_listing WHERE status = 'terminated' OR kind = 'mineral_rights')")
    op.execute("DELETE FROM auction_listing WHERE status = 'terminated' OR kind = 'mineral_rights'")
    with op.batch_alter_table("auction_listing", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_auction_listing_reason_when_terminated"), type_="check")
        _check(batch_op, "ck_auction_listing_ended_when_final", ENDED_OLD)
        _check(batch_op, "ck_auction_listing_status_valid", STATUS_OLD)
        _check(batch_op, "ck_auction_listing_kind_valid", KIND_OLD)
        batch_op.drop_constraint(op.f("fk_auction_listing_terminated_by_user_account"), type_="foreignkey")
        batch_op.drop_column("terminated_by")
        batch_op.drop_column("termination_reason")
