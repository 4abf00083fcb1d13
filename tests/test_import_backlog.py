"""A bulk import makes its lessons searchable by their leading passages; the queue encodes the
rest (the backlog), and every process's index then holds each lesson whole."""

import csv
import time
from datetime import timedelta

from conftest import working
from sqlalchemy import func, select, update

from lessons.imports.importer import run_import
from lessons.imports.mappings import guess
from lessons.imports.tables import open_table
from lessons.models import Lesson, PassageBacklog, PassageVector, utcnow
from search import vectors
from search.engine import SearchEngine
from search.passages import lesson_passages
from search.retrieve import query_vector, search
from web.database import db
from web.engine import engine

HEADER = ["Title", "What happened", "Root cause", "Recommendation"]
CASES = [
    ("Crane permit applied for too late", "The crane licence took nine weeks, not two.",
     "Nobody owned the permit calendar.", "Keep a register of permits with their lead times."),
    ("Vendor held the billing data", "We could not export our own invoices at exit.",
     "The contract had no clause on data return.", "Write an exit and export clause in."),
    ("Key engineer left mid-project", "Nobody else knew the deployment scripts.",
     "Knowledge sat with one person.", "Pair on every release and write the runbook."),
]


def import_cases(app, tmp_path) -> list[int]:
    """The cases imported as `lessons import` and the worker do; the new lessons' ids."""
    path = tmp_path / "cases.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([HEADER, *CASES])
    with app.app_context():
        run_import(db.session, open_table(path), guess(HEADER), actor="test",
                   on_batch=engine().embed_leading)
        return list(db.session.scalars(select(Lesson.id).order_by(Lesson.id)))


def stored_passages(app) -> dict[int, int]:
    """How many passage vectors each lesson has stored."""
    with app.app_context():
        return dict(db.session.execute(select(PassageVector.lesson_id, func.count())
                                       .group_by(PassageVector.lesson_id)).all())


def backlog_size(app) -> int:
    with app.app_context():
        return vectors.backlog_size(db.session, engine().model)


def replica(app) -> SearchEngine:
    """Another process's engine on the same database, its index built now."""
    with app.app_context():
        own = engine()
        return SearchEngine(own.sessions, own.folder, own.model).ready()


def indexed_passages(app, search_engine: SearchEngine, lesson_ids: list[int]) -> dict[int, int]:
    """How many passages of each lesson `search_engine`'s index holds."""
    with app.app_context():
        vector = query_vector(search_engine.embedder, "permit")
    return {i: len(scores) for i, scores in search_engine.passage_scores(vector, lesson_ids)
            .items()}


def test_imported_lessons_are_found_by_their_leading_passage_then_held_whole(app, tmp_path):
    other = replica(app)  # another process, serving searches while the import runs
    lesson_ids = import_cases(app, tmp_path)
    other.sync()  # its next search: the leading passages taken as they are, nothing encoded
    assert stored_passages(app) == dict.fromkeys(lesson_ids, 1)
    assert backlog_size(app) == 3
    assert indexed_passages(app, other, lesson_ids) == dict.fromkeys(lesson_ids, 1)
    with app.app_context():  # searchable already, by the leading passage
        top = search(other, db.session, "the licence for the crane came late", limit=1)
        assert top.hits[0].lesson.title == "Crane permit applied for too late"

    with app.app_context():
        assert engine().complete() == 3
    assert stored_passages(app) == dict.fromkeys(lesson_ids, 3)
    assert backlog_size(app) == 0
    other.sync()  # as the other process's next request does
    assert indexed_passages(app, other, lesson_ids) == dict.fromkeys(lesson_ids, 3)
    with app.app_context():
        assert vectors.stale_lessons(db.session, other.model) == []
        assert engine().complete() == 0


def test_a_lesson_edited_while_in_the_backlog_is_embedded_whole_by_the_sync(app, tmp_path,
                                                                              client):
    lesson_id = import_cases(app, tmp_path)[0]
    with app.app_context():
        engine().ready()  # built, holding the leading passages: the edit's sync follows it
    edited = client.patch(f"/api/v1/lessons/{lesson_id}",
                          json={"recommendation": "Book the crane permit at kickoff."})
    assert edited.status_code == 200, edited.get_json()
    with app.app_context():
        engine().ready()  # the sync that sees the edit
        lesson = db.session.get_one(Lesson, lesson_id)
        expected = len(lesson_passages(lesson.content()))
    assert stored_passages(app)[lesson_id] == expected == 3
    assert backlog_size(app) == 2  # the two untouched lessons still wait


def test_the_sweep_completes_the_backlog_a_killed_worker_left_once_it_stops_growing(
        app, tmp_path):
    lesson_ids = import_cases(app, tmp_path)
    queue, tasks = app.extensions["lessons.queue"]
    tasks["sweep"].call_local()  # what the worker runs every minute
    # A backlog that grew in the last minute is an import under way: left to it.
    assert "complete" not in [task.name for task in queue.pending()]
    with app.app_context():  # a minute later: the import's worker died before completing
        db.session.execute(update(PassageBacklog).values(
            added_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
    tasks["sweep"].call_local()
    assert "complete" in [task.name for task in queue.pending()]
    with working(app):
        deadline = time.monotonic() + 60
        while backlog_size(app):
            assert time.monotonic() < deadline, "the backlog was not completed"
            time.sleep(0.1)
    assert stored_passages(app) == dict.fromkeys(lesson_ids, 3)


def test_a_deleted_lesson_leaves_the_backlog_unembedded(app, tmp_path, client):
    lesson_id = import_cases(app, tmp_path)[0]
    assert client.delete(f"/api/v1/lessons/{lesson_id}").status_code == 200
    with app.app_context():
        assert engine().complete() == 3
    assert stored_passages(app)[lesson_id] == 1
    assert backlog_size(app) == 0


def test_workers_side_by_side_claim_different_lessons_and_a_dead_one_s_claim_lapses(app,
                                                                                    tmp_path):
    lesson_ids = import_cases(app, tmp_path)
    with app.app_context():
        model, soon = engine().model, utcnow() + timedelta(minutes=10)
        first = vectors.claim_backlog(db.session, model, 2, soon)
        db.session.commit()
        second = vectors.claim_backlog(db.session, model, 2, soon)
        db.session.commit()
        assert (first, second) == (lesson_ids[:2], lesson_ids[2:])
        assert vectors.claim_backlog(db.session, model, 2, soon) == []
        db.session.execute(update(PassageBacklog).values(claimed_until=utcnow()
                                                         - timedelta(seconds=1)))
        db.session.commit()  # both workers died
        assert engine().complete() == 3
    assert stored_passages(app) == dict.fromkeys(lesson_ids, 3)


def test_a_sync_that_read_the_backlog_before_it_was_completed_keeps_the_passages(
        app, tmp_path, monkeypatch):
    lesson_ids = import_cases(app, tmp_path)
    other = replica(app)
    with app.app_context():
        read_before = vectors.latest_changes(db.session, lesson_ids)
        engine().complete()
    # The other process's sync had read the backlog and the change log just before the
    # completion committed, and stores what it read after.
    monkeypatch.setattr(vectors, "waiting_in_backlog", lambda *_: set(lesson_ids))
    other.reindex_lessons(lesson_ids, read_before)
    assert stored_passages(app) == dict.fromkeys(lesson_ids, 3)
    monkeypatch.undo()
    other.sync()  # the completion's own changes: nothing to encode, nothing waits
    assert indexed_passages(app, other, lesson_ids) == dict.fromkeys(lesson_ids, 3)
    assert backlog_size(app) == 0
