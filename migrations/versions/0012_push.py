"""Push: subscriptions, notifications and their preferences, deliveries (each sent once),
Slack and Teams hooks, outbound webhooks, the Slack accounts and replay guard, the
dispatcher's cursor and the rows it handled, and the periodic tasks' last runs. A
downgrade loses all of them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('target', sa.String(length=1000), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('hook_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_status_next', ['status', 'next_attempt_at'])
        batch_op.create_index(batch_op.f('ix_deliveries_user_id'), ['user_id'])

    cursor = op.create_table('push_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('audit_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # What was audited before push existed is history, not news: nobody is told of it.
    newest = op.get_bind().scalar(sa.text("SELECT max(id) FROM audit_log"))
    op.bulk_insert(cursor, [{'id': 1, 'audit_id': newest or 0}])
    op.create_table('push_handled',
    sa.Column('audit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('audit_id')
    )
    with op.batch_alter_table('push_handled', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_handled_handled_at'), ['handled_at'])

    op.create_table('slack_requests',
    sa.Column('signature', sa.String(length=100), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('signature')
    )
    with op.batch_alter_table('slack_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_requests_received_at'), ['received_at'])

    op.create_table('task_runs',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('chat_hooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('chat_hooks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_hooks_project_id'), ['project_id'])

    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('cadence', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('user_id', 'channel')
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('lesson_id', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shown_in_app', sa.Boolean(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_created_at'), ['created_at'])
        batch_op.create_index(batch_op.f('ix_notifications_delivery_id'), ['delivery_id'])
        batch_op.create_index(batch_op.f('ix_notifications_lesson_id'), ['lesson_id'])
        batch_op.create_index('ix_notifications_user_read', ['user_id', 'read_at'])

    op.create_table('slack_accounts',
    sa.Column('slack_user_id', sa.String(length=50), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('slack_user_id')
    )
    op.create_table('subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('target', sa.String(length=500), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=True),
    sa.Column('model', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'kind', 'target')
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_kind_target', ['kind', 'target'])
        batch_op.create_index(batch_op.f('ix_subscriptions_user_id'), ['user_id'])



def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_user_id'))
        batch_op.drop_index('ix_subscriptions_kind_target')

    op.drop_table('subscriptions')
    op.drop_table('slack_accounts')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_read')
        batch_op.drop_index(batch_op.f('ix_notifications_lesson_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_delivery_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_created_at'))

    op.drop_table('notifications')
    op.drop_table('notification_preferences')
    with op.batch_alter_table('chat_hooks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_hooks_project_id'))

    op.drop_table('chat_hooks')
    op.drop_table('webhooks')
    op.drop_table('task_runs')
    with op.batch_alter_table('slack_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_requests_received_at'))

    op.drop_table('slack_requests')
    op.drop_table('push_cursor')
    with op.batch_alter_table('push_handled', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_handled_handled_at'))

    op.drop_table('push_handled')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_user_id'))
        batch_op.drop_index('ix_deliveries_status_next')

    op.drop_table('deliveries')
