"""Review: each lesson's review status and since when, and the history of its reviews.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Lessons logged before the workflow existed are the record: they count as approved.
    # Plain ALTER TABLE: a batch rebuild of lessons would drop its full-text search triggers.
    op.add_column('lessons', sa.Column('status', sa.String(length=20), nullable=False,
                                       server_default='approved'))
    op.create_index('ix_lessons_status', 'lessons', ['status'], unique=False)
    op.add_column('lessons', sa.Column('status_since', sa.DateTime(timezone=True), nullable=True))
    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_reviews_lesson_id'), 'reviews', ['lesson_id'], unique=False)


def downgrade() -> None:
    op.drop_table('reviews')
    op.drop_column('lessons', 'status_since')
    op.drop_index('ix_lessons_status', 'lessons')
    op.drop_column('lessons', 'status')
