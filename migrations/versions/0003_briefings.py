"""Kickoff briefings: project kickoff fields, briefings, their lessons, and decisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('briefings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('aspects', sa.JSON(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id')
    )
    op.create_table('briefing_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('briefing_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('aspects', sa.JSON(), nullable=False),
    sa.Column('aspect_text', sa.Text(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['briefing_id'], ['briefings.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_briefing_items_briefing_id'), 'briefing_items', ['briefing_id'],
                    unique=False)
    op.create_table('kickoff_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'lesson_id')
    )
    op.create_index(op.f('ix_kickoff_decisions_lesson_id'), 'kickoff_decisions', ['lesson_id'],
                    unique=False)
    op.create_index(op.f('ix_kickoff_decisions_project_id'), 'kickoff_decisions', ['project_id'],
                    unique=False)
    op.add_column('projects', sa.Column('objectives', sa.Text(), nullable=True))
    op.add_column('projects', sa.Column('vendors', sa.Text(), nullable=True))
    op.add_column('projects', sa.Column('technologies', sa.Text(), nullable=True))
    op.add_column('projects', sa.Column('constraints', sa.Text(), nullable=True))
    op.add_column('projects', sa.Column('budget_range', sa.String(length=100), nullable=True))
    op.add_column('projects', sa.Column('team_size', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('projects', 'team_size')
    op.drop_column('projects', 'budget_range')
    op.drop_column('projects', 'constraints')
    op.drop_column('projects', 'technologies')
    op.drop_column('projects', 'vendors')
    op.drop_column('projects', 'objectives')
    op.drop_index(op.f('ix_kickoff_decisions_project_id'), table_name='kickoff_decisions')
    op.drop_index(op.f('ix_kickoff_decisions_lesson_id'), table_name='kickoff_decisions')
    op.drop_table('kickoff_decisions')
    op.drop_index(op.f('ix_briefing_items_briefing_id'), table_name='briefing_items')
    op.drop_table('briefing_items')
    op.drop_table('briefings')
