"""Search: stored passage vectors, occurrences, and keyword search per dialect.

SQLite gets an FTS5 table kept in step by triggers; PostgreSQL a generated
tsvector column with a GIN index. Neither is in the models: `lessons.db`
tells the schema comparison to leave them out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TEXT_COLUMNS = ("title", "what_happened", "root_cause", "impact", "recommendation")


def upgrade() -> None:
    op.create_table(
        "occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_occurrences_lesson_id"), "occurrences", ["lesson_id"])
    op.create_index(op.f("ix_occurrences_project_id"), "occurrences", ["project_id"])
    op.create_table(
        "passage_vectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=500), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lesson_id", "model", "position"),
    )
    op.create_index(op.f("ix_passage_vectors_model"), "passage_vectors", ["model"])
    op.create_index("ix_changes_entity_seq", "changes", ["entity", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        upgrade_postgresql()
    else:
        upgrade_sqlite()


def upgrade_postgresql() -> None:
    weights = dict(zip(TEXT_COLUMNS, "ABCCB", strict=True))
    document = " || ".join(
        f"setweight(to_tsvector('english', coalesce({column}, '')), '{weights[column]}')"
        for column in TEXT_COLUMNS
    )
    op.execute(f"ALTER TABLE lessons ADD COLUMN search_vector tsvector "
               f"GENERATED ALWAYS AS ({document}) STORED")
    op.execute("CREATE INDEX ix_lessons_search_vector ON lessons USING gin (search_vector)")


def upgrade_sqlite() -> None:
    columns = ", ".join(TEXT_COLUMNS)
    new = ", ".join(f"new.{c}" for c in TEXT_COLUMNS)
    old = ", ".join(f"old.{c}" for c in TEXT_COLUMNS)
    op.execute(f"CREATE VIRTUAL TABLE lessons_fts USING fts5({columns}, content='lessons', "
               f"content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')")
    op.execute(f"CREATE TRIGGER lessons_fts_insert AFTER INSERT ON lessons BEGIN "
               f"INSERT INTO lessons_fts(rowid, {columns}) VALUES (new.id, {new}); END")
    op.execute(f"CREATE TRIGGER lessons_fts_delete AFTER DELETE ON lessons BEGIN "
               f"INSERT INTO lessons_fts(lessons_fts, rowid, {columns}) "
               f"VALUES ('delete', old.id, {old}); END")
    op.execute(f"CREATE TRIGGER lessons_fts_update AFTER UPDATE ON lessons BEGIN "
               f"INSERT INTO lessons_fts(lessons_fts, rowid, {columns}) "
               f"VALUES ('delete', old.id, {old}); "
               f"INSERT INTO lessons_fts(rowid, {columns}) VALUES (new.id, {new}); END")
    op.execute("INSERT INTO lessons_fts(lessons_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_lessons_search_vector")
        op.execute("ALTER TABLE lessons DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS lessons_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS lessons_fts")
    op.drop_index("ix_changes_entity_seq", table_name="changes")
    op.drop_index(op.f("ix_passage_vectors_model"), table_name="passage_vectors")
    op.drop_table("passage_vectors")
    op.drop_index(op.f("ix_occurrences_project_id"), table_name="occurrences")
    op.drop_index(op.f("ix_occurrences_lesson_id"), table_name="occurrences")
    op.drop_table("occurrences")
