"""The demo data is rich enough for briefings and themes to find something real."""

from collections import Counter
from datetime import date

from sqlalchemy import select

from lessons.demo import load_demo
from lessons.models import Action, Lesson, Project


def test_demo_data_loads_through_the_services(session):
    result = load_demo(session)
    session.commit()
    projects = session.scalars(select(Project)).all()
    lessons = session.scalars(select(Lesson)).all()
    assert result.lessons == len(lessons) >= 150
    with_lessons = [p for p in projects if p.lessons]
    assert len(with_lessons) >= 15
    kickoffs = [p for p in projects if not p.lessons]
    assert len(kickoffs) >= 3 and all(len(p.description) > 500 for p in kickoffs)
    assert len({p.business_unit for p in projects}) >= 6
    assert set(Counter(lesson.kind for lesson in lessons)) == {"went_wrong", "went_well", "risk"}
    assert all(len(lesson.revisions) == 1 for lesson in lessons)
    actions = session.scalars(select(Action)).all()
    overdue = [a for a in actions if a.is_overdue(date.today())]
    assert len(overdue) >= 5
    # A history for the PMO's actions opened against closed: opened when the lesson happened,
    # closed when due, not all on the day of the load.
    assert all(a.created_at.date() == a.lesson.occurred_on for a in actions)
    assert all(a.closed_at.date() == a.due_on for a in actions if a.status == "done")
    assert len({a.created_at.year for a in actions}) >= 2
    assert load_demo(session).projects == 0
