"""The backlog of passages still to encode: a bulk import stores each lesson's leading passage
and leaves the rest to the queue. Notifications say whether they wait for a digest, so an
account that turns to immediate email gets those in a catch-up. A downgrade loses both; the
lessons the backlog names keep their leading passage until `lessons reindex`.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('passage_backlog',
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'model')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('for_digest', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('for_digest')
    op.drop_table('passage_backlog')
