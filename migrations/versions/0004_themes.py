"""The PMO view: themes with stable ids, each lesson's theme, recompute runs, the search log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('themes',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('central_lesson_id', sa.Integer(), nullable=True),
    sa.Column('centroid', sa.LargeBinary(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['central_lesson_id'], ['lessons.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('lesson_themes',
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('theme_id', sa.Integer(), nullable=False),
    sa.Column('assigned', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['theme_id'], ['themes.id'], ),
    sa.PrimaryKeyConstraint('lesson_id')
    )
    op.create_index(op.f('ix_lesson_themes_theme_id'), 'lesson_themes', ['theme_id'], unique=False)
    op.create_table('theme_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_themes', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=100), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('themes', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


    op.create_index('uq_theme_runs_running', 'theme_runs', ['status'], unique=True,
                    sqlite_where=sa.text("status = 'running'"),
                    postgresql_where=sa.text("status = 'running'"))
    op.create_table('search_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('best_similarity', sa.Double(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_search_log_at'), 'search_log', ['at'], unique=False)
    op.create_index('ix_search_log_actor', 'search_log', ['actor', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_search_log_actor', table_name='search_log')
    op.drop_index(op.f('ix_search_log_at'), table_name='search_log')
    op.drop_table('search_log')
    op.drop_index('uq_theme_runs_running', table_name='theme_runs')
    op.drop_table('theme_runs')
    op.drop_index(op.f('ix_lesson_themes_theme_id'), table_name='lesson_themes')
    op.drop_table('lesson_themes')
    op.drop_table('themes')
