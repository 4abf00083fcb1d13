"""Action owners become accounts, and an action can belong to a project (a kickoff risk).

`owner_id` names the account that owns an action; `project_id` the project whose
team raised it (a lesson "raised as a risk" at kickoff). Owners typed as free text
before are matched to an account by email, or by a name only one account has; a
matched owner's text becomes that account's email (which the code before this
revision also recognised as the owner), and one that matches nobody keeps its text.

Downgrading drops both columns: which project raised each risk action (`project_id`) and
the links from owners to their accounts (`owner_id`) are lost; the owners' text stays.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign keys, as for lessons.owner_id: SQLite adds one only by rebuilding the table.
    op.add_column('actions', sa.Column('owner_id', sa.Integer(), nullable=True))
    op.create_index('ix_actions_owner_id', 'actions', ['owner_id'], unique=False)
    op.add_column('actions', sa.Column('project_id', sa.Integer(), nullable=True))
    op.create_index('ix_actions_project_id', 'actions', ['project_id'], unique=False)
    match_owners(op.get_bind())


def match_owners(bind: sa.engine.Connection) -> None:
    """Point each free-text owner that names exactly one account at that account."""
    users = bind.execute(sa.text("SELECT id, email, name FROM users")).all()
    by_email = {email.lower(): (id_, email) for id_, email, _ in users}
    names: dict[str, list[tuple[int, str]]] = {}
    for id_, email, name in users:
        if name and name.strip():
            names.setdefault(name.strip().casefold(), []).append((id_, email))
    owners = bind.execute(sa.text(
        "SELECT DISTINCT owner FROM actions WHERE owner IS NOT NULL")).scalars().all()
    for text in owners:
        key = text.strip()
        account = by_email.get(key.lower())
        if account is None and len(names.get(key.casefold(), [])) == 1:
            account = names[key.casefold()][0]
        if account is not None:
            bind.execute(sa.text("UPDATE actions SET owner_id = :id, owner = :email "
                                 "WHERE owner = :text"),
                         {"id": account[0], "email": account[1], "text": text})


def downgrade() -> None:
    # The owners' text (an email where an account was matched) stays; which project raised
    # a risk action is lost.
    with op.batch_alter_table('actions') as batch:
        batch.drop_index('ix_actions_project_id')
        batch.drop_column('project_id')
        batch.drop_index('ix_actions_owner_id')
        batch.drop_column('owner_id')
