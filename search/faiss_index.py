"""The FAISS vector index: the `VectorIndex` each process holds in memory.

Small collections use an exact flat index. Past EXACT_LIMIT passage vectors
an IVF index takes over (bench/README.md measures its recall against exact
search); a filtered search on it still compares every allowed vector.
"""

from collections.abc import Iterable
from typing import Self, cast

import faiss
import numpy as np

from search.index import AllowedIds, SnapshotError

# Passage vectors, not lessons: what a flat scan costs depends on vectors, and lessons
# hold 1 to 24 of them (NASA's 6.5 on average). 500k vectors take about 40 ms to scan
# on two cores: some 200k lessons of a page or two each.
EXACT_LIMIT = 500_000


class FaissIndex:
    """A FAISS index with lesson ids as its ids: flat (exact) or IVF (approximate)."""

    def __init__(self, index: faiss.Index, kind: str):
        self.index = index
        self.kind = kind

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray,
              exact_limit: int = EXACT_LIMIT) -> Self:
        """An index over `vectors` of the right type for their number."""
        if len(vectors) <= exact_limit:
            index = cls(faiss.IndexIDMap(faiss.IndexFlatIP(dim)), "flat")
        else:
            index = cls(ivf_index(dim, vectors), "ivf")
        index.add(ids, vectors)
        return index

    @classmethod
    def load(cls, data: bytes, dim: int) -> Self:
        """The index `save` serialised, or `SnapshotError`."""
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as error:
            raise SnapshotError(f"FAISS cannot read the index: {error}") from error
        if index.d != dim:
            raise SnapshotError(f"the index holds {index.d}-dimensional vectors, not {dim}")
        return cls(index, "ivf" if isinstance(index, faiss.IndexIVF) else "flat")

    def save(self) -> bytes:
        """The index serialised by FAISS."""
        return faiss.serialize_index(self.index).tobytes()

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> None:
        ids = id_array(ids)
        if len(ids):
            self.index.remove_ids(faiss.IDSelectorBatch(ids))

    def search(
        self, vector: np.ndarray, k: int, allowed: AllowedIds | None = None
    ) -> list[tuple[int, float]]:
        """The `k` best lessons as (lesson id, best passage score), best first.

        `allowed` limits the search to those lesson ids before the cut, so a
        filtered search still fills its page. On IVF it probes every list: the
        allowed lessons may sit in lists an unfiltered search would skip. FAISS
        checks each id against the filter and scores only the allowed ones, so
        a narrow filter stays cheap (50 lessons of 100k: 1.2 ms p95).
        """
        if self.count == 0 or k <= 0:
            return []
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return []
            params = self.only(allowed)
        fetch = k
        while True:
            # A lesson has several passages: ask for more vectors until k lessons are
            # found, or until FAISS returns fewer than asked (nothing more to find).
            fetch = min(fetch * 4, self.count)
            scores, labels = self.index.search(vector.reshape(1, -1), fetch, params=params)
            best: dict[int, float] = {}
            for label, score in zip(labels[0], scores[0], strict=True):
                if label >= 0 and label not in best:  # results come best first
                    best[int(label)] = float(score)
            if len(best) >= k or fetch >= self.count or labels[0][-1] < 0:
                return list(best.items())[:k]

    def passage_scores(self, vector: np.ndarray, lesson_ids: Iterable[int]
                       ) -> dict[int, list[float]]:
        """The score of every passage of these lessons, by lesson id (a lesson without
        vectors is left out)."""
        ids = id_array(lesson_ids)
        if self.count == 0 or len(ids) == 0:
            return {}
        # Inner products of unit vectors are at least -1: the range holds every passage.
        _, scores, labels = self.index.range_search(vector.reshape(1, -1), -2.0,
                                                    params=self.only(ids))
        found: dict[int, list[float]] = {}
        for label, score in zip(labels, scores, strict=True):
            found.setdefault(int(label), []).append(float(score))
        return found

    def only(self, ids: Iterable[int]) -> faiss.SearchParameters:
        """Search parameters that let only these lesson ids through (every list, on IVF)."""
        selector = faiss.IDSelectorBatch(id_array(ids))
        # Keyword arguments, which FAISS's Python wrapper adds and its stubs miss: that way the
        # parameters keep the selector alive while FAISS uses it.
        if self.kind == "ivf":
            nlist = cast(faiss.IndexIVF, self.index).nlist
            return faiss.SearchParametersIVF(sel=selector, nprobe=nlist)  # type: ignore[call-arg]
        return faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]


def id_array(ids: Iterable[int]) -> np.ndarray:
    """Lesson ids as the int64 array FAISS takes."""
    if isinstance(ids, np.ndarray):
        return ids.astype(np.int64, copy=False)
    if isinstance(ids, (set, frozenset, list, tuple)):
        return np.fromiter(ids, dtype=np.int64, count=len(ids))
    return np.fromiter(ids, dtype=np.int64)


def ivf_index(dim: int, vectors: np.ndarray) -> faiss.Index:
    """An inverted-file index trained on `vectors`: approximate, for large collections."""
    nlist = max(64, int(4 * np.sqrt(len(vectors))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.random.default_rng(0).permutation(len(vectors))[: nlist * 64]]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    # A lesson has several passages, so recall over lessons needs a wide probe: on 100k
    # lessons nlist/16 gave recall@10 0.85 and nlist/6 0.949 (bench/README.md).
    index.nprobe = max(8, nlist // 4)
    return index
