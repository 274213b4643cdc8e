"""complaints: objections, complaints and reports on statutory clocks; routing, threads, evidence

Revision ID: e7_complaints
Revises: b3_projects
Create Date: 2026-11-26 04:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "e7_complaints"
down_revision = "b3_projects"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('complaint_department_head',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_complaint_department_head_org_id_organization')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_complaint_department_head_user_id_user_account')),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_complaint_department_head'))
    )
    op.create_table('complaint_handler_absence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('last_day >= first_day', name=op.f('ck_complaint_handler_absence_order')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_complaint_handler_absence_created_by_user_account')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_complaint_handler_absence_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_handler_absence'))
    )
    op.create_index(op.f('ix_complaint_handler_absence_user_id'), 'complaint_handler_absence', ['user_id'], unique=False)
    op.create_table('complaint_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=True, comment='public reference, set on filing'),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('regime', sa.String(length=16), nullable=False),
    sa.Column('matter', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('filer_id', sa.Integer(), nullable=True),
    sa.Column('filer_org_id', sa.Integer(), nullable=True),
    sa.Column('by_agent', sa.Boolean(), nullable=False, comment='filed by an agent (代理人)'),
    sa.Column('power_of_attorney_id', sa.Integer(), nullable=True, comment='attachment carrying the power of attorney (授权委托书)'),
    sa.Column('complainant_name', sa.String(length=200), nullable=False),
    sa.Column('complainant_address', sa.String(length=300), nullable=False),
    sa.Column('complainant_contact', sa.String(length=100), nullable=False),
    sa.Column('respondent_name', sa.String(length=200), nullable=False),
    sa.Column('respondent_address', sa.String(length=300), nullable=False),
    sa.Column('respondent_contact', sa.String(length=100), nullable=False),
    sa.Column('facts', sa.Text(), nullable=False),
    sa.Column('claims', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False, comment='leads and evidence (线索和证据)'),
    sa.Column('other_regulator', sa.Text(), nullable=False, comment='another regulator already seized'),
    sa.Column('cross_department', sa.Boolean(), nullable=False, comment='concerns several departments: filed with the management office'),
    sa.Column('prior_objection_id', sa.Integer(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True, comment='sha256(section, matter, complainant): same facts after a withdrawal'),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('reporter_name', sa.String(length=100), nullable=False, comment='visible to the handlers only'),
    sa.Column('reporter_contact', sa.String(length=100), nullable=False, comment='visible to the handlers only'),
    sa.Column('tracking_hash', sa.String(length=64), nullable=True, comment='sha256 of the tracking code; the code itself is never stored'),
    sa.Column('respondent_org_id', sa.Integer(), nullable=True),
    sa.Column('handling_org_id', sa.Integer(), nullable=True, comment='department currently responsible'),
    sa.Column('owner_id', sa.Integer(), nullable=True, comment='首问负责: who received it in the handling department'),
    sa.Column('primary_handler_id', sa.Integer(), nullable=True),
    sa.Column('backup_handler_id', sa.Integer(), nullable=True),
    sa.Column('backup_may_act', sa.Boolean(), nullable=False, comment='AB角: set when the backup was alerted (primary absent or case untouched)'),
    sa.Column('knew_at', sa.DateTime(timezone=True), nullable=True, comment='when the filer knew (知道)'),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True, comment='received by the current department (restarts at each transfer)'),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True, comment="the running clock's end"),
    sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True, comment='marked overdue by the tick'),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.Text(), nullable=False, comment='answer to an objection or a report'),
    sa.Column('decision', sa.Text(), nullable=False, comment='decision text (facts found, basis)'),
    sa.Column('remedy', sa.String(length=16), nullable=True),
    sa.Column('violation_established', sa.Boolean(), nullable=False, comment='a clear violation is established: withdrawal is refused'),
    sa.Column('groundless', sa.Boolean(), nullable=False, comment='rejected as groundless'),
    sa.Column('suspended_section', sa.Boolean(), nullable=False, comment='this case suspended its section and must resume it'),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'report') = (tracking_hash IS NOT NULL)", name=op.f('ck_complaint_case_tracking_iff_report')),
    sa.CheckConstraint("(status = 'draft') = (filed_at IS NULL)", name=op.f('ck_complaint_case_filed_iff_not_draft')),
    sa.CheckConstraint("(status = 'published') = (published_at IS NOT NULL)", name=op.f('ck_complaint_case_published_iff_at')),
    sa.CheckConstraint("kind = 'report' OR filer_id IS NOT NULL", name=op.f('ck_complaint_case_real_name_unless_report')),
    sa.CheckConstraint("kind = 'report' OR status = 'draft' OR section_id IS NOT NULL", name=op.f('ck_complaint_case_section_unless_report')),
    sa.CheckConstraint("kind IN ('objection', 'complaint', 'report')", name=op.f('ck_complaint_case_kind_valid')),
    sa.CheckConstraint("matter IN ('documents', 'opening', 'results', 'other')", name=op.f('ck_complaint_case_matter_valid')),
    sa.CheckConstraint("regime IN ('construction', 'procurement')", name=op.f('ck_complaint_case_regime_valid')),
    sa.CheckConstraint("remedy IS NULL OR remedy IN ('correction', 're_evaluation', 're_tender', 'void_award')", name=op.f('ck_complaint_case_remedy_valid')),
    sa.CheckConstraint("status <> 'answered' OR answered_at IS NOT NULL", name=op.f('ck_complaint_case_answered_has_at')),
    sa.CheckConstraint("status <> 'upheld' OR remedy IS NOT NULL", name=op.f('ck_complaint_case_upheld_has_remedy')),
    sa.CheckConstraint("status IN ('draft', 'submitted', 'answered', 'not_accepted', 'transferred', 'accepted', 'investigating', 'withdrawn', 'rejected', 'upheld', 'published', 'closed', 'forwarded', 'assigned')", name=op.f('ck_complaint_case_status_valid')),
    sa.CheckConstraint('primary_handler_id IS NULL OR backup_handler_id IS NULL OR primary_handler_id <> backup_handler_id', name=op.f('ck_complaint_case_ab_distinct')),
    sa.ForeignKeyConstraint(['backup_handler_id'], ['user_account.id'], name=op.f('fk_complaint_case_backup_handler_id_user_account')),
    sa.ForeignKeyConstraint(['filer_id'], ['user_account.id'], name=op.f('fk_complaint_case_filer_id_user_account')),
    sa.ForeignKeyConstraint(['filer_org_id'], ['organization.id'], name=op.f('fk_complaint_case_filer_org_id_organization')),
    sa.ForeignKeyConstraint(['handling_org_id'], ['organization.id'], name=op.f('fk_complaint_case_handling_org_id_organization')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_complaint_case_owner_id_user_account')),
    sa.ForeignKeyConstraint(['primary_handler_id'], ['user_account.id'], name=op.f('fk_complaint_case_primary_handler_id_user_account')),
    sa.ForeignKeyConstraint(['prior_objection_id'], ['complaint_case.id'], name=op.f('fk_complaint_case_prior_objection_id_complaint_case')),
    sa.ForeignKeyConstraint(['respondent_org_id'], ['organization.id'], name=op.f('fk_complaint_case_respondent_org_id_organization')),
    sa.ForeignKeyConstraint(['section_id'], ['section.id'], name=op.f('fk_complaint_case_section_id_section')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_case')),
    sa.UniqueConstraint('number', name=op.f('uq_complaint_case_number')),
    sa.UniqueConstraint('tracking_hash', name=op.f('uq_complaint_case_tracking_hash'))
    )
    op.create_index(op.f('ix_complaint_case_backup_handler_id'), 'complaint_case', ['backup_handler_id'], unique=False)
    op.create_index(op.f('ix_complaint_case_filer_id'), 'complaint_case', ['filer_id'], unique=False)
    op.create_index(op.f('ix_complaint_case_filer_org_id'), 'complaint_case', ['filer_org_id'], unique=False)
    op.create_index(op.f('ix_complaint_case_fingerprint'), 'complaint_case', ['fingerprint'], unique=False)
    op.create_index(op.f('ix_complaint_case_handling_org_id'), 'complaint_case', ['handling_org_id'], unique=False)
    op.create_index('ix_complaint_case_open_due', 'complaint_case', ['status', 'due_at'], unique=False)
    op.create_index(op.f('ix_complaint_case_primary_handler_id'), 'complaint_case', ['primary_handler_id'], unique=False)
    op.create_index(op.f('ix_complaint_case_respondent_org_id'), 'complaint_case', ['respondent_org_id'], unique=False)
    op.create_index(op.f('ix_complaint_case_section_id'), 'complaint_case', ['section_id'], unique=False)
    op.create_index(op.f('ix_complaint_case_status'), 'complaint_case', ['status'], unique=False)
    op.create_table('complaint_case_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('blob_path', sa.String(length=255), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("audience IN ('parties', 'filer', 'respondent', 'internal')", name=op.f('ck_complaint_case_attachment_audience_valid')),
    sa.CheckConstraint('size >= 0', name=op.f('ck_complaint_case_attachment_size_nonneg')),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], name=op.f('fk_complaint_case_attachment_case_id_complaint_case')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['user_account.id'], name=op.f('fk_complaint_case_attachment_uploaded_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_case_attachment'))
    )
    op.create_index(op.f('ix_complaint_case_attachment_case_id'), 'complaint_case_attachment', ['case_id'], unique=False)
    op.create_table('complaint_case_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('internal', sa.Boolean(), nullable=False, comment='shown to handlers only'),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_complaint_case_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], name=op.f('fk_complaint_case_event_case_id_complaint_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_case_event'))
    )
    op.create_index(op.f('ix_complaint_case_event_case_id'), 'complaint_case_event', ['case_id'], unique=False)
    op.create_table('complaint_case_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True, comment='NULL: the reporter, through the tracking code'),
    sa.Column('author_side', sa.String(length=16), nullable=False, comment='filer, respondent or handler'),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("audience IN ('parties', 'filer', 'respondent', 'internal')", name=op.f('ck_complaint_case_message_audience_valid')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_complaint_case_message_author_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], name=op.f('fk_complaint_case_message_case_id_complaint_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_case_message'))
    )
    op.create_index(op.f('ix_complaint_case_message_case_id'), 'complaint_case_message', ['case_id'], unique=False)
    op.create_table('complaint_case_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False, comment='what the notice is about, e.g. the due date'),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('overdue', 'escalated', 'due_soon_backup', 'absent_backup', 'stalled')", name=op.f('ck_complaint_case_notice_kind_valid')),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], name=op.f('fk_complaint_case_notice_case_id_complaint_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_case_notice')),
    sa.UniqueConstraint('case_id', 'kind', 'key', name='case_kind_key')
    )
    op.create_index(op.f('ix_complaint_case_notice_case_id'), 'complaint_case_notice', ['case_id'], unique=False)
    op.create_table('complaint_case_pause',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("reason IN ('expert_review', 'testing', 'appraisal', 'defect_fix')", name=op.f('ck_complaint_case_pause_reason_valid')),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= started_at', name=op.f('ck_complaint_case_pause_interval')),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], name=op.f('fk_complaint_case_pause_case_id_complaint_case')),
    sa.ForeignKeyConstraint(['started_by'], ['user_account.id'], name=op.f('fk_complaint_case_pause_started_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_case_pause'))
    )
    op.create_index(op.f('ix_complaint_case_pause_case_id'), 'complaint_case_pause', ['case_id'], unique=False)
    op.create_index('uq_complaint_case_pause_open', 'complaint_case_pause', ['case_id'], unique=True, sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
    op.create_table('complaint_case_transfer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_org_id', sa.Integer(), nullable=True),
    sa.Column('to_org_id', sa.Integer(), nullable=True),
    sa.Column('to_user_id', sa.Integer(), nullable=True),
    sa.Column('backup_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('received', 'forwarded', 'assigned', 'transferred')", name=op.f('ck_complaint_case_transfer_kind_valid')),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_complaint_case_transfer_actor_id_user_account')),
    sa.ForeignKeyConstraint(['backup_user_id'], ['user_account.id'], name=op.f('fk_complaint_case_transfer_backup_user_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['complaint_case.id'], name=op.f('fk_complaint_case_transfer_case_id_complaint_case')),
    sa.ForeignKeyConstraint(['from_org_id'], ['organization.id'], name=op.f('fk_complaint_case_transfer_from_org_id_organization')),
    sa.ForeignKeyConstraint(['to_org_id'], ['organization.id'], name=op.f('fk_complaint_case_transfer_to_org_id_organization')),
    sa.ForeignKeyConstraint(['to_user_id'], ['user_account.id'], name=op.f('fk_complaint_case_transfer_to_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_case_transfer'))
    )
    op.create_index(op.f('ix_complaint_case_transfer_case_id'), 'complaint_case_transfer', ['case_id'], unique=False)
    op.create_table('complaint_credit_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('regulator_org_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('case_ids', sa.Text(), nullable=False, comment='comma-separated ids of the groundless complaints'),
    sa.Column('last_case_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['last_case_id'], ['complaint_case.id'], name=op.f('fk_complaint_credit_record_last_case_id_complaint_case')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_complaint_credit_record_org_id_organization')),
    sa.ForeignKeyConstraint(['regulator_org_id'], ['organization.id'], name=op.f('fk_complaint_credit_record_regulator_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_credit_record')),
    sa.UniqueConstraint('org_id', 'last_case_id', name='org_last_case')
    )
    op.create_index(op.f('ix_complaint_credit_record_org_id'), 'complaint_credit_record', ['org_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_complaint_credit_record_org_id'), table_name='complaint_credit_record')
    op.drop_table('complaint_credit_record')
    op.drop_index(op.f('ix_complaint_case_transfer_case_id'), table_name='complaint_case_transfer')
    op.drop_table('complaint_case_transfer')
    op.drop_index('uq_complaint_case_pause_open', table_name='complaint_case_pause', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index(op.f('ix_complaint_case_pause_case_id'), table_name='complaint_case_pause')
    op.drop_table('complaint_case_pause')
    op.drop_index(op.f('ix_complaint_case_notice_case_id'), table_name='complaint_case_notice')
    op.drop_table('complaint_case_notice')
    op.drop_index(op.f('ix_complaint_case_message_case_id'), table_name='complaint_case_message')
    op.drop_table('complaint_case_message')
    op.drop_index(op.f('ix_complaint_case_event_case_id'), table_name='complaint_case_event')
    op.drop_table('complaint_case_event')
    op.drop_index(op.f('ix_complaint_case_attachment_case_id'), table_name='complaint_case_attachment')
    op.drop_table('complaint_case_attachment')
    op.drop_index(op.f('ix_complaint_case_status'), table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_section_id'), table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_respondent_org_id'), table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_primary_handler_id'), table_name='complaint_case')
    op.drop_index('ix_complaint_case_open_due', table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_handling_org_id'), table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_fingerprint'), table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_filer_org_id'), table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_filer_id'), table_name='complaint_case')
    op.drop_index(op.f('ix_complaint_case_backup_handler_id'), table_name='complaint_case')
    op.drop_table('complaint_case')
    op.drop_index(op.f('ix_complaint_handler_absence_user_id'), table_name='complaint_handler_absence')
    op.drop_table('complaint_handler_absence')
    op.drop_table('complaint_department_head')
