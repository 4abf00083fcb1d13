"""Themes cluster one vector per lesson (its title, lessons learned and recommendation read
whole), kept here so a recompute encodes only what changed; a theme can carry a PMO's name;
lessons that went well form themes of their own ("what works"). A downgrade loses the
names the PMO gave themes; the vectors are a cache, encoded again on the next recompute.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('theme_vectors',
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lesson_id', 'model')
    )
    op.add_column('themes', sa.Column('name', sa.String(length=200), nullable=True))
    # Themes found before were all problem themes (or mixed): not "what works".
    op.add_column('themes', sa.Column('works', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('themes') as batch:
        batch.drop_column('works')
        batch.drop_column('name')
    op.drop_table('theme_vectors')
