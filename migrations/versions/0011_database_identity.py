"""A random id for the database, renewed at every restore: index snapshots are tied to it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('database_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # Snapshots made before this revision name no database: each is rebuilt once.
    op.bulk_insert(table, [{'id': 1, 'value': uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table('database_identity')
