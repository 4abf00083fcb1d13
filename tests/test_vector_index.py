"""The contract every vector index keeps (`search.index.VectorIndex`), run on each one registered.

Plain unit tests: random unit vectors, no app, no model. A new backend is
registered in `search.index.VECTOR_INDEXES` and must pass all of these; FAISS
runs twice, flat and forced to IVF, since the two search differently.
"""

import functools
import json

import numpy as np
import pytest

from search.faiss_index import FaissIndex
from search.index import VECTOR_INDEXES, SnapshotError, VectorIndex, vector_index_type
from search.snapshot import load_snapshot, read_manifest, save_snapshot

DIM = 16
LESSONS = 150  # of 1 to 6 passages each: some 500 vectors, enough to train an IVF index


def implementations():
    for name in VECTOR_INDEXES:
        yield pytest.param((name, vector_index_type(name).build), id=name)
    # FAISS again, IVF from the first vector: its filtered search must still be exact.
    yield pytest.param(("faiss", functools.partial(FaissIndex.build, exact_limit=0)),
                       id="faiss-ivf")


@pytest.fixture(params=list(implementations()))
def implementation(request):
    """(registered name, build function) of one implementation."""
    return request.param


@pytest.fixture
def data():
    """(lesson ids, unit vectors): each lesson's passages in a row."""
    rng = np.random.default_rng(11)
    ids = np.repeat(np.arange(1, LESSONS + 1), rng.integers(1, 7, LESSONS)).astype(np.int64)
    return ids, unit(rng.standard_normal((len(ids), DIM)))


@pytest.fixture
def index(implementation, data):
    return implementation[1](DIM, *data)


def unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    return (matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)).astype(np.float32)


def exact(data, query, allowed=None) -> list[tuple[int, float]]:
    """Every lesson (among `allowed`) with its best passage's inner product, best first."""
    ids, vectors = data
    best: dict[int, float] = {}
    for lesson_id, score in zip(ids.tolist(), (vectors @ query).tolist(), strict=True):
        if (allowed is None or lesson_id in allowed) and score > best.get(lesson_id, -2.0):
            best[lesson_id] = score
    return sorted(best.items(), key=lambda pair: -pair[1])


def same(found, expected):
    assert [lesson for lesson, _ in found] == [lesson for lesson, _ in expected]
    assert [score for _, score in found] == pytest.approx([score for _, score in expected],
                                                          abs=1e-5)


def test_it_has_every_member_of_the_interface(index):
    assert isinstance(index, VectorIndex)


def test_it_holds_what_it_was_built_with(index, data):
    assert index.count == len(data[0]) and index.dim == DIM


def test_an_empty_index_finds_nothing(implementation):
    empty = implementation[1](DIM, np.zeros(0, np.int64), np.zeros((0, DIM), np.float32))
    query = unit(np.ones(DIM))
    assert empty.count == 0 and empty.dim == DIM
    assert empty.search(query, 10) == [] and empty.search(query, 10, frozenset({1})) == []
    assert empty.passage_scores(query, [1, 2]) == {}


def test_add_then_remove_every_passage_of_a_lesson(index, data):
    ids, vectors = data
    new = unit(np.random.default_rng(5).standard_normal((3, DIM)))
    index.add(np.full(3, 10_000, np.int64), new)
    assert index.count == len(ids) + 3
    assert index.search(new[1], 1) == [(10_000, pytest.approx(1.0, abs=1e-5))]
    passages = int((ids == 7).sum())
    index.remove([7, 10_000, 99_999])  # an id it does not hold is ignored
    assert index.count == len(ids) - passages
    assert index.passage_scores(new[1], [7, 10_000]) == {}
    assert 7 not in dict(index.search(vectors[ids == 7][0], LESSONS))
    index.remove([])
    assert index.count == len(ids) - passages


def test_an_upsert_replaces_a_lessons_vectors(index, data):
    ids, _ = data
    replacement = unit(np.random.default_rng(6).standard_normal((2, DIM)))
    index.remove([3])
    index.add(np.full(2, 3, np.int64), replacement)
    assert index.count == len(ids) - int((ids == 3).sum()) + 2
    assert sorted(index.passage_scores(replacement[0], [3])[3]) == pytest.approx(
        sorted((replacement @ replacement[0]).tolist()), abs=1e-5)
    assert index.search(replacement[0], 1) == [(3, pytest.approx(1.0, abs=1e-5))]


def test_search_gives_lessons_best_first_by_their_best_passage(index, data):
    ids, vectors = data
    for query_row in range(0, len(ids), 50):
        found = index.search(vectors[query_row], 10)
        best = dict(exact(data, vectors[query_row]))
        assert len(found) == 10 and len({lesson for lesson, _ in found}) == 10
        assert found[0][0] == ids[query_row]  # its own passage scores 1
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True)
        assert scores == pytest.approx([best[lesson] for lesson, _ in found], abs=1e-5)
        if index.kind == "flat":  # exact: the true ten best
            same(found, exact(data, vectors[query_row])[:10])


def test_search_asks_for_more_lessons_than_there_are(index, data):
    found = index.search(data[1][0], LESSONS + 50)
    assert len(found) >= LESSONS // 2
    assert len(found) == len({lesson for lesson, _ in found})
    if index.kind == "flat":
        same(found, exact(data, data[1][0]))


def test_a_filtered_search_is_exact_within_the_allowed_lessons(index, data):
    rng = np.random.default_rng(8)
    allowed = frozenset(rng.choice(np.arange(1, LESSONS + 1), 30, replace=False).tolist())
    for query in unit(rng.standard_normal((10, DIM))):
        same(index.search(query, 10, allowed), exact(data, query, allowed)[:10])


def test_a_filter_narrower_than_k_returns_each_allowed_lesson_once(index, data):
    allowed = frozenset({2, 40, 41, 149})
    query = data[1][5]
    same(index.search(query, 100, allowed), exact(data, query, allowed))


def test_a_filter_may_name_lessons_the_index_does_not_hold(index, data):
    query = data[1][9]
    assert index.search(query, 10, frozenset({123_456, 654_321})) == []
    same(index.search(query, 10, frozenset({5, 123_456})), exact(data, query, {5}))
    assert index.search(query, 10, frozenset()) == []


def test_k_zero_finds_nothing(index, data):
    assert index.search(data[1][0], 0) == []


def test_passage_scores_gives_every_passage_of_the_lessons_asked(index, data):
    ids, vectors = data
    query = unit(np.random.default_rng(9).standard_normal(DIM))
    scores = index.passage_scores(query, [4, 17, 123_456])
    assert set(scores) == {4, 17}  # a lesson without vectors is left out
    for lesson in (4, 17):
        assert sorted(scores[lesson]) == pytest.approx(
            sorted((vectors[ids == lesson] @ query).tolist()), abs=1e-5)
    assert index.passage_scores(query, []) == {}


def test_save_and_load_give_the_same_index(implementation, index, data):
    loaded = type(index).load(index.save(), DIM)
    assert (loaded.count, loaded.dim, loaded.kind) == (index.count, index.dim, index.kind)
    for query in data[1][:5]:
        assert loaded.search(query, 10) == index.search(query, 10)
        assert loaded.search(query, 10, frozenset({1, 2, 3})) == index.search(
            query, 10, frozenset({1, 2, 3}))


def test_a_snapshot_round_trip_keeps_its_manifest(implementation, index, data, tmp_path):
    name = implementation[0]
    written = save_snapshot(index, tmp_path, "a-model", 42, "db-1", name)
    loaded, manifest = load_snapshot(tmp_path, "a-model", DIM, name)
    assert manifest == written == read_manifest(tmp_path)
    assert (manifest.count, manifest.dim, manifest.last_seq, manifest.database,
            manifest.index_type, manifest.backend) == (index.count, DIM, 42, "db-1",
                                                       index.kind, name)
    assert loaded.search(data[1][3], 5) == index.search(data[1][3], 5)
    save_snapshot(loaded, tmp_path, "a-model", 43, "db-1", name)  # the older file goes
    assert len(list(tmp_path.glob("vectors-*"))) == 1


def test_bytes_that_are_not_an_index_raise_snapshot_error(implementation, index):
    index_type = type(index)
    data = index.save()
    with pytest.raises(SnapshotError):
        index_type.load(data, DIM + 1)  # made for another model's width
    if data:  # an implementation whose store is elsewhere saves nothing to damage
        with pytest.raises(SnapshotError):
            index_type.load(data[: len(data) // 2], DIM)
        with pytest.raises(SnapshotError):
            index_type.load(b"not an index at all", DIM)


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "missing-index", "count",
                                    "model", "dim", "backend"])
def test_a_damaged_snapshot_raises_snapshot_error(implementation, index, tmp_path, damage):
    name = implementation[0]
    manifest = save_snapshot(index, tmp_path, "a-model", 1, "db-1", name)
    index_file = tmp_path / manifest.index_file
    data = index_file.read_bytes()
    if not data and damage in ("truncate", "flip"):
        pytest.skip("this implementation saves nothing to damage: its store is elsewhere")
    model, dim, backend = "a-model", DIM, name
    if damage == "truncate":
        index_file.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        position = len(data) // 3
        index_file.write_bytes(data[:position] + bytes([data[position] ^ 0x10])
                               + data[position + 1:])
    elif damage == "manifest":
        (tmp_path / "manifest.json").write_text("{not json")
    elif damage == "missing-index":
        index_file.unlink()
    elif damage == "count":  # a manifest that says more than the index holds
        written = json.loads((tmp_path / "manifest.json").read_text())
        (tmp_path / "manifest.json").write_text(json.dumps({**written, "count": 1}))
    elif damage == "model":
        model = "another-model"
    elif damage == "dim":
        dim = DIM * 2
    else:
        backend = "another-backend"
    with pytest.raises(SnapshotError):
        load_snapshot(tmp_path, model, dim, backend)


def test_no_snapshot_raises_snapshot_error(tmp_path):
    with pytest.raises(SnapshotError, match="no snapshot yet"):
        load_snapshot(tmp_path, "a-model", DIM)


def test_an_unknown_implementation_is_refused_by_name():
    with pytest.raises(ValueError, match="Unknown vector index 'annoy'.*faiss"):
        vector_index_type("annoy")
