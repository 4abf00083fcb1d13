"""The migrations build exactly the schema the models describe, on both databases."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lessons.db import alembic_config, include_object, schema_state, upgrade
from lessons.models import Base


def test_models_and_migrations_agree(backend):
    with backend.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_database_is_at_the_newest_revision(backend):
    current, head = schema_state(backend.engine)
    assert current == head is not None


def test_migrations_go_down_and_up_again(backend, app):
    command.downgrade(alembic_config(backend.engine), "base")
    assert schema_state(backend.engine)[0] is None
    upgrade(backend.engine)
    current, head = schema_state(backend.engine)
    assert current == head
