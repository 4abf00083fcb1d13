"""The index is derived data: damaged, killed or stale snapshots lead to a rebuild, never a
wrong answer."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import api_token, served
from sqlalchemy import delete, func, select

from lessons.models import PassageVector
from search.embedder import model_location
from search.engine import SearchEngine
from search.faiss_index import FaissIndex, ivf_index
from search.index import SnapshotError
from search.snapshot import load_snapshot, read_manifest
from web.database import db
from web.engine import engine

TOPICS = [
    ("Vendor lock-in on the billing platform", "We could not export our own invoices."),
    ("Testing squeezed before go-live", "UAT lost four of its six weeks to late builds."),
    ("Key engineer left mid-project", "Nobody else knew the deployment scripts."),
    ("Permit applied for too late", "The crane licence took nine weeks, not two."),
    ("Stakeholders saw the design too late", "Nurses rejected the ward layout at handover."),
]


@pytest.fixture
def filled(app, client):
    """An app with a few lessons, its index built and snapshotted."""
    for title, body in TOPICS:
        client.post("/api/v1/lessons", json={"title": title, "what_happened": body})
    with app.app_context():
        engine().ready().snapshot()
    return app


def fresh_engine(app) -> SearchEngine:
    """A new engine on the same database and instance folder: a restarted process."""
    with app.app_context():
        old = engine()
        return SearchEngine(old.sessions, old.folder, old.model)


def top_title(app, search_engine, query) -> str:
    from search.retrieve import search

    with app.app_context():
        return search(search_engine, db.session, query, limit=1).hits[0].lesson.title


def count_rebuilds(monkeypatch) -> list[int]:
    calls = []
    original = SearchEngine.rebuild

    def rebuild(self, on_progress=None):
        calls.append(1)
        return original(self, on_progress)

    monkeypatch.setattr(SearchEngine, "rebuild", rebuild)
    return calls


def test_a_good_snapshot_is_loaded_and_caught_up(filled, client, monkeypatch):
    rebuilds = count_rebuilds(monkeypatch)
    client.post("/api/v1/lessons", json={"title": "Budget cut halfway",
                                         "what_happened": "Finance removed a third of the money."})
    restarted = fresh_engine(filled).ready()
    assert rebuilds == []
    assert top_title(filled, restarted, "the funding was reduced") == "Budget cut halfway"


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "missing-index", "delete"])
def test_a_damaged_snapshot_means_a_rebuild(filled, monkeypatch, damage):
    folder = fresh_engine(filled).folder
    manifest = read_manifest(folder)
    index_file = folder / manifest.index_file
    data = index_file.read_bytes()
    if damage == "truncate":
        index_file.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        position = random.Random(7).randrange(len(data))
        flipped = bytes([data[position] ^ 0x10])
        index_file.write_bytes(data[:position] + flipped + data[position + 1:])
    elif damage == "manifest":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "missing-index":
        index_file.unlink()
    else:
        for path in folder.iterdir():
            path.unlink()
    with pytest.raises(SnapshotError):
        load_snapshot(folder, manifest.model, manifest.dim)
    rebuilds = count_rebuilds(monkeypatch)
    restarted = fresh_engine(filled).ready()
    assert rebuilds == [1]
    assert top_title(filled, restarted, "the crane licence came late") == TOPICS[3][0]
    load_snapshot(folder, manifest.model, manifest.dim)  # the rebuild wrote a good one


def test_a_snapshot_newer_than_the_database_is_not_trusted(filled, monkeypatch):
    search_engine = fresh_engine(filled).ready()
    search_engine.last_seq += 1000  # as if the database were restored from an older backup
    search_engine.snapshot()
    rebuilds = count_rebuilds(monkeypatch)
    fresh_engine(filled).ready()
    assert rebuilds == [1]


SNAPSHOT_WRITER = """
import sys
from pathlib import Path
from search import vectors
from search.faiss_index import FaissIndex
from search.snapshot import save_snapshot
from lessons.db import make_engine
from sqlalchemy.orm import Session
url, folder, model = sys.argv[1:4]
with Session(make_engine(url)) as session:
    ids, matrix = vectors.all_vectors(session, model, 384)
index = FaissIndex.build(384, ids, matrix)
print("ready", flush=True)
while True:
    save_snapshot(index, Path(folder), model, 1)
"""


def test_kill_9_during_snapshot_writes_leaves_a_loadable_state(filled, backend):
    folder = fresh_engine(filled).folder
    model = read_manifest(folder).model
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for attempt in range(4):
        writer = subprocess.Popen(
            [sys.executable, "-c", SNAPSHOT_WRITER, backend.url, str(folder), model],
            stdout=subprocess.PIPE, env=env, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(random.Random(attempt).uniform(0.0, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
        try:
            index, _ = load_snapshot(folder, model, 384)
            assert index.count > 0
        except SnapshotError:
            pass  # also fine: the next start rebuilds
        restarted = fresh_engine(filled).ready()
        assert top_title(filled, restarted, "nurses did not like the ward") == TOPICS[4][0]


def test_a_model_change_re_embeds_everything(filled, backend, make_app, monkeypatch):
    # The same weights under another name are another vector space as far as the index knows.
    other = model_location("all-MiniLM-L6-v2")
    monkeypatch.setenv("LESSONS_INSTANCE_PATH", filled.instance_path)
    app = make_app(DATABASE_URL=backend.url, EMBEDDING_MODEL=other)
    with app.app_context():
        assert engine().status().startswith("stale: built for model all-MiniLM-L6-v2")
        engine().ready()
        rows = db.session.scalar(select(func.count()).select_from(PassageVector)
                                 .where(PassageVector.model == other))
        assert rows == len(TOPICS)
        assert read_manifest(engine().folder).model == other
    assert top_title(app, engine_of(app), "export of our invoices was impossible") == TOPICS[0][0]


def engine_of(app) -> SearchEngine:
    with app.app_context():
        return engine()


def test_searching_from_20_threads_while_lessons_are_captured(app):
    import json
    from urllib.request import Request, urlopen

    errors: list[str] = []
    done = threading.Event()
    token = api_token(app)

    def call(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = Request(base + path, data=data, method=method,
                          headers={"Content-Type": "application/json",
                                   "Authorization": f"Bearer {token}"})
        with urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def searcher(number):
        while not done.is_set():
            try:
                call("GET", f"/search?q=capture+number+{number}&limit=5")
            except Exception as error:  # noqa: BLE001 - every failure is a finding
                errors.append(repr(error))

    with served(app, threads=8) as root:
        base = f"{root}/api/v1"
        call("GET", "/search?q=warm+up")
        searchers = [threading.Thread(target=searcher, args=(i,)) for i in range(20)]
        for t in searchers:
            t.start()
        try:
            captured = []
            for i in range(12):
                lesson = call("POST", "/lessons", {
                    "title": f"Capture number {i}: the {['crane', 'vendor', 'audit'][i % 3]} "
                             f"problem of week {i}",
                    "what_happened": f"Event {i} happened while others were searching."})
                captured.append(lesson["id"])
                # Searchable as soon as the capture returned, even under load.
                hits = call("GET", f"/search?q=Capture+number+{i}+week+{i}&limit=3")["items"]
                assert lesson["id"] in [h["id"] for h in hits]
            edited = call("PATCH", f"/lessons/{captured[0]}", {"title": "Renamed while searched"})
            hits = call("GET", "/search?q=Renamed+while+searched&limit=1")["items"]
            assert hits[0]["id"] == edited["id"] and hits[0]["title"] == "Renamed while searched"
        finally:
            done.set()
            for t in searchers:
                t.join(timeout=60)
    assert errors == []


def test_a_rebuild_refreshes_lessons_changed_behind_its_back(filled):
    from lessons.models import Lesson
    from lessons.services import update_lesson

    with filled.app_context():  # a write no process indexed: a script, or a crash before sync
        lesson = db.session.scalar(select(Lesson).where(Lesson.title == TOPICS[1][0]))
        update_lesson(db.session, lesson.id, {"title": "Catering for the gala was poor",
                                              "what_happened": "Cold food, long queues."},
                      actor="script")
        db.session.commit()
    search_engine = fresh_engine(filled)
    for path in search_engine.folder.iterdir():  # no snapshot: the new process rebuilds
        path.unlink()
    search_engine.ready()
    assert (top_title(filled, search_engine, "the dinner food was bad")
            == "Catering for the gala was poor")


def test_a_start_embeds_lessons_its_snapshot_holds_without_stored_vectors(filled, monkeypatch):
    from lessons.models import Lesson
    from search.vectors import stale_lessons

    with filled.app_context():  # vectors lost behind the snapshot's back (a table emptied)
        lesson_id = db.session.scalar(select(Lesson.id).where(Lesson.title == TOPICS[3][0]))
        db.session.execute(delete(PassageVector).where(PassageVector.lesson_id == lesson_id))
        db.session.commit()
    rebuilds = count_rebuilds(monkeypatch)
    restarted = fresh_engine(filled).ready()
    assert rebuilds == []  # the snapshot is still good: only the missing are embedded
    with filled.app_context():
        assert stale_lessons(db.session, restarted.model) == []
    assert top_title(filled, restarted, "the crane licence came late") == TOPICS[3][0]


def test_a_filtered_search_on_ivf_compares_every_allowed_lesson():
    # An unfiltered IVF search probes a quarter of the lists; a filter's few lessons
    # may all sit elsewhere, so a filtered search must still find each of them.
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((25_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(len(vectors)) // 2  # two passages per lesson
    approximate = FaissIndex(ivf_index(32, vectors), "ivf")
    exact = FaissIndex(faiss.IndexIDMap(faiss.IndexFlatIP(32)), "flat")
    for index in (approximate, exact):
        index.add(ids, vectors)
    allowed = frozenset(rng.choice(ids.max() + 1, 50, replace=False).tolist())
    for query in vectors[:20]:
        found = approximate.search(query, 10, allowed)
        expected = exact.search(query, 10, allowed)
        assert [lesson for lesson, _ in found] == [lesson for lesson, _ in expected]
        assert len(approximate.search(query, 100, allowed)) == 50  # stops when all are found
