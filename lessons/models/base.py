"""The declarative base every model shares: UTC timestamps, the soft-delete mixin, ISO text.

Rows are only written through `lessons.services`. Nothing is hard-deleted:
`deleted_at` marks a soft delete, which a restore clears.
"""

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, String, Table, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, in UTC.

    SQLite keeps no zone; PostgreSQL answers in its connection's time zone, which need not
    be UTC; this makes both answer alike, so a stored time's `.date()` is its UTC day.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given for a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, str: String(200)}
    # Every model maps one Table (SQLAlchemy types it as any FROM clause), so Core's
    # insert(), update() and delete() take `Model.__table__` as it is.
    __table__: ClassVar[Table]


class Timestamps:
    """Created, updated and soft-deleted times."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def iso(value: date | datetime | None) -> str | None:
    """ISO 8601 text for a date or time, None stays None."""
    return value.isoformat() if value is not None else None
