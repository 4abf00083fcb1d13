"""A notification held for an in-app digest names the digest that gathered it, marked in the
digest's transaction, so one committed late is gathered by the next digest instead of being
skipped by a time cursor. In-app digests came with this revision, so none is older to mark.
A downgrade loses the marks.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_notifications_digest_id', 'notifications',
                                    ['digest_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_notifications_digest_id'), ['digest_id'])


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_digest_id'))
        batch_op.drop_constraint('fk_notifications_digest_id', type_='foreignkey')
        batch_op.drop_column('digest_id')
