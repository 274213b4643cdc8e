"""supervision: alerts, rectification notices, witness keys

Revision ID: g8_supervision
Revises: b3_projects
Create Date: 2026-11-26 04:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = 'g8_supervision'
down_revision = 'b3_projects'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('witness_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False, comment='base64 of the raw 32-byte key'),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_witness_key_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_witness_key'))
    )
    with op.batch_alter_table('witness_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_witness_key_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_witness_key_active', ['user_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))

    op.create_table('rectification_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=False),
    sa.Column('addressee_org_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_by', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name=op.f('ck_rectification_notice_closed_iff_at')),
    sa.CheckConstraint("(status = 'open') = (responded_at IS NULL)", name=op.f('ck_rectification_notice_responded_iff_not_open')),
    sa.CheckConstraint("status IN ('open', 'responded', 'closed')", name=op.f('ck_rectification_notice_status_valid')),
    sa.ForeignKeyConstraint(['addressee_org_id'], ['organization.id'], name=op.f('fk_rectification_notice_addressee_org_id_organization')),
    sa.ForeignKeyConstraint(['closed_by'], ['user_account.id'], name=op.f('fk_rectification_notice_closed_by_user_account')),
    sa.ForeignKeyConstraint(['issued_by'], ['user_account.id'], name=op.f('fk_rectification_notice_issued_by_user_account')),
    sa.ForeignKeyConstraint(['section_id'], ['section.id'], name=op.f('fk_rectification_notice_section_id_section')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rectification_notice'))
    )
    with op.batch_alter_table('rectification_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rectification_notice_section_id'), ['section_id'], unique=False)

    op.create_table('supervision_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False, comment="SHA-256 of the finding's evidence keys"),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.String(length=200), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False, comment='ids, values, leaf indexes'),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('case_ref', sa.String(length=64), nullable=True, comment='complaints case id, when escalated'),
    sa.CheckConstraint("(status = 'open') = (decided_at IS NULL)", name=op.f('ck_supervision_alert_decided_iff_not_open')),
    sa.CheckConstraint("rule IN ('same_source_ip', 'same_fingerprint', 'same_signing_key', 'same_contact', 'same_document_hash', 'same_document_metadata', 'price_progression', 'price_close', 'same_project_manager', 'late_amendment', 'repeated_draws', 'key_shares_late', 'overdue_case')", name=op.f('ck_supervision_alert_rule_valid')),
    sa.CheckConstraint("status <> 'dismissed' OR decision_note IS NOT NULL", name=op.f('ck_supervision_alert_dismissed_has_reason')),
    sa.CheckConstraint("status IN ('open', 'acknowledged', 'escalated', 'dismissed')", name=op.f('ck_supervision_alert_status_valid')),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'], name=op.f('fk_supervision_alert_decided_by_user_account')),
    sa.ForeignKeyConstraint(['section_id'], ['section.id'], name=op.f('fk_supervision_alert_section_id_section')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_alert')),
    sa.UniqueConstraint('section_id', 'rule', 'fingerprint', name='finding')
    )
    with op.batch_alter_table('supervision_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_alert_section_id'), ['section_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_alert_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('supervision_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_alert_status'))
        batch_op.drop_index(batch_op.f('ix_supervision_alert_section_id'))

    op.drop_table('supervision_alert')
    with op.batch_alter_table('rectification_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rectification_notice_section_id'))

    op.drop_table('rectification_notice')
    with op.batch_alter_table('witness_key', schema=None) as batch_op:
        batch_op.drop_index('uq_witness_key_active', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_witness_key_user_id'))

    op.drop_table('witness_key')
