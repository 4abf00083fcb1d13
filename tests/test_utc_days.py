"""Stored times read back in UTC, whatever time zone a PostgreSQL connection speaks, so the
PMO counts UTC days: a lesson logged at 23:30 UTC belongs to that day in its trends and in
the report's periods, not to the next day because the server's time zone is 14 hours ahead."""

from datetime import date

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from insights.trends import live_lessons
from lessons.db import make_engine
from lessons.models import Lesson


def test_a_lesson_logged_late_in_the_utc_day_counts_on_that_day(backend, api):
    lesson = api.lesson("Logged late", "Logged at 23:30 UTC, with no date of its own.")
    with backend.engine.begin() as connection:
        connection.execute(text("UPDATE lessons SET created_at = :at WHERE id = :id"),
                           {"at": "2024-01-01 23:30:00+00:00" if backend.name == "postgresql"
                            else "2024-01-01 23:30:00.000000", "id": lesson["id"]})
    engine = make_engine(backend.url)
    try:
        with Session(engine) as session:
            if backend.name == "postgresql":
                session.execute(text("SET TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14
                local = session.scalar(text("SELECT created_at::date FROM lessons WHERE id = :id"),
                                       {"id": lesson["id"]})
                assert local == date(2024, 1, 2)  # the connection's own day
                logged = session.scalar(select(Lesson.created_at).where(
                    Lesson.id == lesson["id"]))
                assert logged is not None and logged.date() == date(2024, 1, 1)
            assert live_lessons(session)[lesson["id"]].day == date(2024, 1, 1)
    finally:
        engine.dispose()
