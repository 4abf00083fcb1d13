"""A title for an action: a kickoff risk is named (by default after its lesson) apart from its
mitigation, which stays the action's text. Older actions have none. A downgrade loses the
titles.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('title')
