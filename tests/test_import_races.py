"""Imports beside other writers: searches embedding the same lessons, a second import of the
same file, a rerun after a kill. Each race is made certain with a barrier, not left to timing."""

import csv
import io
import itertools
import threading
import time

from sqlalchemy import func, select, text

from lessons.imports import importer
from lessons.imports.importer import run_import
from lessons.imports.mappings import guess
from lessons.imports.tables import open_table
from lessons.models import ImportRun, Lesson, PassageVector
from search import vectors
from search.engine import SearchEngine
from web.database import db
from web.engine import engine

HEADER = ["Title", "Description"]
MARK = "Imported case"


def rows(count: int) -> list[list[str]]:
    return [[f"{MARK} {n}: the crane permit", f"{MARK} {n} waited nine weeks for a licence."]
            for n in range(count)]


def csv_bytes(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows(count))
    return out.getvalue().encode()


def start_web_import(client, content: bytes) -> str:
    """Upload `content` and start importing it; the run's URL."""
    uploaded = client.post("/import", data={"file": (io.BytesIO(content), "cases.csv")},
                           content_type="multipart/form-data")
    run_url = uploaded.headers["Location"]
    assert client.post(f"{run_url}/start").status_code == 303
    return run_url


def finished_run(app, run_url: str, client) -> ImportRun:
    """The run once it has stopped running, detached from the session."""
    deadline = time.monotonic() + 120
    while "run-running" in client.get(f"{run_url}/progress").get_data(as_text=True):
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.2)
    with app.app_context():
        run = db.session.get(ImportRun, int(run_url.rsplit("/", 1)[1]))
        db.session.expunge(run)
        return run


def unembedded(app) -> list[int]:
    with app.app_context():
        return vectors.stale_lessons(db.session, engine().model)


# An import's embedding and a request's sync on the same new lessons

def test_a_web_import_finishes_while_a_search_embeds_the_same_lessons(
        app, client, monkeypatch, queue_worker):
    assert client.get("/api/v1/search?q=warm+up").status_code == 200  # built: searches sync
    with app.app_context():
        embedder = engine().embedder
    meet = threading.Barrier(2, timeout=60)
    marked = itertools.count()
    real_encode = embedder.encode

    def encode(texts, batch_size=64):
        # The import's embedding and the search's sync both read "no vectors yet" before
        # either writes: the two encodes of the new lessons wait for each other here.
        if any(MARK in t for t in texts) and next(marked) < 2:
            meet.wait()
        return real_encode(texts, batch_size=batch_size)

    monkeypatch.setattr(embedder, "encode", encode)
    run_url = start_web_import(client, csv_bytes(6))
    deadline = time.monotonic() + 60  # an import that died never reaches the barrier
    while meet.n_waiting == 0:  # the import's first batch is committed and being embedded
        assert not meet.broken
        assert time.monotonic() < deadline, "the import never started embedding"
        time.sleep(0.05)
    searched = client.get("/api/v1/search?q=crane+licence+late")
    run = finished_run(app, run_url, client)
    assert searched.status_code == 200, searched.get_data(as_text=True)[:500]
    assert (run.status, run.message, run.report["created"]) == ("done", None, 6)
    assert unembedded(app) == []


def test_a_database_error_stops_an_import_with_a_sentence_not_a_driver_message(
        app, client, monkeypatch, queue_worker):
    def embed_on_a_broken_database(self, lesson_ids):
        with self.sessions() as session:
            session.execute(text("SELECT * FROM no_such_table"))  # a real driver error

    monkeypatch.setattr(SearchEngine, "embed_leading", embed_on_a_broken_database)
    run = finished_run(app, start_web_import(client, csv_bytes(3)), client)
    assert run.status == "failed", run.message
    message = run.message
    raw = ("sqlite3", "psycopg", "no_such", "[SQL", "Error")
    assert not any(words in message for words in raw), message
    assert "database" in message and "Run the same import again" in message, message


# Two imports of one file without ids, started together

def test_two_imports_of_a_file_without_ids_started_together_create_each_lesson_once(
        app, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 10)
    path = tmp_path / "cases.csv"
    path.write_bytes(csv_bytes(30))
    meet = threading.Barrier(2, timeout=60)
    real_known_keys = importer.known_keys

    def known_keys_together(session):
        keys = real_known_keys(session)
        meet.wait()  # both imports know the same "nothing here yet" before either writes
        return keys

    monkeypatch.setattr(importer, "known_keys", known_keys_together)
    sessions = app.extensions["lessons.db"][1]
    reports = {}

    def run(number: int) -> None:
        with app.app_context(), sessions() as session:
            reports[number] = run_import(session, open_table(path), guess(HEADER),
                                         actor=f"import {number}")

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [reports[n].stopped for n in (1, 2)] == [None, None]
    assert sum(len(r.created) for r in reports.values()) == 30
    assert sum(len(r.skipped) for r in reports.values()) == 30
    with app.app_context():
        lessons, hashes = db.session.execute(
            select(func.count(), func.count(Lesson.source_hash.distinct()))).one()
    assert (lessons, hashes) == (30, 30)


# The rerun of an import killed between a batch's commit and its embedding

def test_rerunning_a_killed_import_embeds_what_its_last_batch_committed(
        app, runner, session, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 4)
    path = tmp_path / "cases.csv"
    path.write_bytes(csv_bytes(4))

    def killed(_ids):
        raise KeyboardInterrupt  # after the commit, before any vector is stored

    first = run_import(session, open_table(path), guess(HEADER), actor="t", on_batch=killed)
    assert first.taken() == "2-5" and "Interrupted" in first.stopped
    assert len(unembedded(app)) == 4

    rerun = runner.invoke(args=["import", str(path)])
    assert rerun.exit_code == 0, rerun.output
    assert "skipped 4 already here" in rerun.output
    assert unembedded(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count(PassageVector.lesson_id.distinct()))) == 4
