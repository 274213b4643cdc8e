"""Authentication hardening: shared attempt throttles instead of account lock-outs, one-time links to the
account holder (activation, password reset, authenticator enrolment) and notices of administrative acts;
sensitive outbox messages.

Revision ID: r6_auth_hardening
Revises: r6_lawful_endings
Create Date: 2026-12-06 20:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = "r6_auth_hardening"
down_revision = "r6_lawful_endings"  # chained after the lawful-endings migration merged meanwhile
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "throttle",
        sa.Column("key", sa.String(length=64), nullable=False, comment="HMAC-SHA256 hex of the subject"),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="forgotten after this: the end of a rate window, or a day of quiet",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle")),
    )
    with op.batch_alter_table("throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_throttle_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "account_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "revoked_at", sa.DateTime(timezone=True), nullable=True, comment="replaced by a newer link"
        ),
        sa.Column("created_by", sa.Integer(), nullable=True, comment="the administrator who asked for it"),
        sa.CheckConstraint(
            "purpose IN ('activate', 'password', 'enrol')", name=op.f("ck_account_link_purpose_valid")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_account_link_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_link_token_hash")),
    )
    with op.batch_alter_table("account_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_link_user_id"), ["user_id"], unique=False)

    op.create_table(
        "account_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.String(length=100),
            nullable=False,
            comment="the audit action, e.g. admin:user:password_reset",
        ),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("audit_idx", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_account_notice_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_notice")),
    )
    with op.batch_alter_table("account_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_notice_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_user_account_failed_logins_nonneg"), type_="check")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")
        batch_op.add_column(
            sa.Column(
                "totp_reset_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="an administrator reset two-factor: the holder enrols again through the link sent",
            )
        )

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sensitive",
                sa.Boolean(),
                server_default="0",
                nullable=False,
                comment="carries a one-time credential link: never logged, body scrubbed once sent",
            )
        )


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("sensitive")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("totp_reset_at")
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint(
            batch_op.f("ck_user_account_failed_logins_nonneg"), "failed_logins >= 0"
        )
    with op.batch_alter_table("account_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_notice_user_id"))
    op.drop_table("account_notice")
    with op.batch_alter_table("account_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_link_user_id"))
    op.drop_table("account_link")
    with op.batch_alter_table("throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_throttle_expires_at"))
    op.drop_table("throttle")
