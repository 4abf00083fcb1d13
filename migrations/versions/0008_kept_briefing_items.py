"""Briefing items kept because the team decided on them, though the ranking no longer has them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing items were all ranked: false for every one of them.
    op.add_column('briefing_items', sa.Column('kept', sa.Boolean(), nullable=False,
                                              server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('briefing_items') as batch:
        batch.drop_column('kept')
