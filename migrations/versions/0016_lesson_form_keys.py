"""A lesson saved by the capture form keeps the form's one-time key, unique, so the same form
sent twice (a double-click, or Save again on the form Back restored) finds the lesson it
saved instead of making a second.
Lessons from before have none. A downgrade loses the keys.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-16
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE and a unique index, not a constraint: SQLite would rebuild the
    # lessons table for a constraint, which drops its full-text search triggers (0002).
    op.add_column('lessons', sa.Column('form_key', sa.String(length=32), nullable=True))
    op.create_index(op.f('ix_lessons_form_key'), 'lessons', ['form_key'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('ix_lessons_form_key'), table_name='lessons')
    op.drop_column('lessons', 'form_key')
