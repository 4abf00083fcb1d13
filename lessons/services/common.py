"""What every service shares: the change log, fetching rows, tags and paging."""

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select, text
from sqlalchemy.orm import Session

from lessons.db import insert_or
from lessons.errors import Conflict, NotFound
from lessons.fields import MAX_ID
from lessons.models import Change, utcnow
from lessons.queries import Page

T = TypeVar("T")


def record_change(session: Session, entity: str, entity_id: int, op: str) -> None:
    """Append to the change log, in the caller's transaction.

    On PostgreSQL, writers queue on a table lock until they commit, so change
    numbers commit in order and a follower reading "everything after N" never
    skips a change that commits late. (SQLite writers are serial anyway.)
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE changes IN SHARE ROW EXCLUSIVE MODE"))
    session.add(Change(entity=entity, entity_id=entity_id, op=op))


def insert_once(session: Session, model: type[T], keys: list[str], /, **values: Any) -> T | None:
    """Insert a row unless one with the same `keys` exists (a unique constraint's columns):
    the new row, or None. One statement, so no savepoint: pysqlite commits a savepoint that
    opens a transaction, which would let a rolled-back caller keep the row."""
    table = model.__table__  # type: ignore[attr-defined]
    key = session.execute(insert_or(session)(table).values(**values)
                          .on_conflict_do_nothing(index_elements=keys)
                          .returning(*table.primary_key.columns)).first()
    return None if key is None else session.get(model, tuple(key))


def find_row(session: Session, model: type[T], row_id: int) -> T | None:
    """The row with `row_id`, or None; an id past what the databases hold has none (and
    SQLite cannot even look one up)."""
    return session.get(model, row_id) if 0 < row_id <= MAX_ID else None


def get_row(session: Session, model: type[T], row_id: int) -> T:
    """The row with `row_id`, deleted or not, or `NotFound`."""
    row = find_row(session, model, row_id)
    if row is None:
        raise NotFound(model.__name__.lower(), row_id)
    return row


def get_live_row(session: Session, model: type[T], row_id: int) -> T:
    """The row with `row_id`, which must not be deleted (restore it first)."""
    row = get_row(session, model, row_id)
    if row.deleted_at is not None:  # type: ignore[attr-defined]
        raise Conflict(f"{model.__name__} {row_id} is deleted; restore it first.")
    return row


def set_tags(rows: list[Any], tags: list[str], row_type: type) -> None:
    """Make `rows` hold exactly `tags`, touching only the tags that changed."""
    for row in [r for r in rows if r.tag not in tags]:
        rows.remove(row)
    present = {r.tag for r in rows}
    rows.extend(row_type(tag=tag) for tag in tags if tag not in present)


def soft_delete(session: Session, row: Any, entity: str) -> None:
    """Mark `row` deleted (once) and log it."""
    if row.deleted_at is None:
        row.deleted_at = utcnow()
        record_change(session, entity, row.id, "delete")
        session.flush()


def restore(session: Session, row: Any, entity: str) -> None:
    """Bring back a soft-deleted `row` and log it."""
    if row.deleted_at is not None:
        row.deleted_at = None
        record_change(session, entity, row.id, "restore")
        session.flush()


def state_filter(model: Any, state: str) -> ColumnElement[bool] | None:
    """The condition for the `state` filter: active, deleted or all rows."""
    if state == "active":
        return model.deleted_at.is_(None)
    if state == "deleted":
        return model.deleted_at.is_not(None)
    return None


def paginate(session: Session, stmt: Select[Any], page: int, per_page: int) -> Page[Any]:
    """Run `stmt` for one page, with the total count of rows it matches."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, total=total or 0, page=page, per_page=per_page)


def ordering(sort: str, columns: dict[str, Any], tie_breaker: Any) -> list[Any]:
    """ORDER BY terms for `sort` ("key" or "-key"), empty values last, then a stable tie-break."""
    column = columns[sort.lstrip("-")]
    descending = sort.startswith("-")
    term = column.desc() if descending else column.asc()
    return [term.nulls_last(), tie_breaker.desc() if descending else tie_breaker.asc()]
