"""The FAISS vector index: ids are lesson ids, one vector per passage, inner product on unit vectors.

Small collections use an exact flat index. Past EXACT_LIMIT passage vectors
an IVF index takes over (bench/README.md measures its recall against exact
search); a filtered search on it still compares every allowed vector.
Snapshots are written atomically with a manifest that says whether they can
be trusted; anything else found on disk means a rebuild, never a crash.
"""

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

# Passage vectors, not lessons: what a flat scan costs depends on vectors, and lessons
# hold 1 to 24 of them (NASA's 6.5 on average). 500k vectors take about 40 ms to scan
# on two cores: some 200k lessons of a page or two each.
EXACT_LIMIT = 500_000
SNAPSHOT_FORMAT = 1


class SnapshotError(Exception):
    """The snapshot on disk is missing, damaged or made for something else."""


@dataclass
class Manifest:
    model: str
    dim: int
    count: int  # vectors in the index
    last_seq: int  # the change log position the index reflects
    index_type: str
    index_file: str
    sha256: str
    format: int = SNAPSHOT_FORMAT
    # The identity of the database the index was built from (`lessons.backup`); a snapshot
    # from before identities, or made with none, names "" and is never trusted.
    database: str = ""


class VectorIndex:
    """add / remove / search / save / load over lesson ids, whatever FAISS index is inside."""

    def __init__(self, index: faiss.Index, index_type: str):
        self.index = index
        self.index_type = index_type

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray) -> "VectorIndex":
        """An index over `vectors` of the right type for their number."""
        if len(vectors) <= EXACT_LIMIT:
            index = cls(faiss.IndexIDMap(faiss.IndexFlatIP(dim)), "flat")
        else:
            index = cls(ivf_index(dim, vectors), "ivf")
        index.add(ids, vectors)
        return index

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

    def remove(self, ids: list[int]) -> None:
        if ids:
            self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
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
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nlist)
                      if self.index_type == "ivf" else faiss.SearchParameters(sel=selector))
        fetch = k
        while True:
            # A lesson has several passages: ask for more vectors until k lessons are
            # found, or until FAISS returns fewer than asked (nothing more to find).
            fetch = min(fetch * 4, self.count)
            scores, labels = self.index.search(vector.reshape(1, -1), fetch, params=params)
            best: dict[int, float] = {}
            for label, score in zip(labels[0], scores[0]):
                if label >= 0 and label not in best:  # results come best first
                    best[int(label)] = float(score)
            if len(best) >= k or fetch >= self.count or labels[0][-1] < 0:
                return list(best.items())[:k]

    def passage_scores(self, vector: np.ndarray, lesson_ids: np.ndarray) -> dict[int, list[float]]:
        """The score of every passage of these lessons, by lesson id (a lesson without
        vectors is left out)."""
        if self.count == 0 or len(lesson_ids) == 0:
            return {}
        selector = faiss.IDSelectorBatch(np.asarray(lesson_ids, dtype=np.int64))
        params = (faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nlist)
                  if self.index_type == "ivf" else faiss.SearchParameters(sel=selector))
        # Inner products of unit vectors are at least -1: the range holds every passage.
        _, scores, labels = self.index.range_search(vector.reshape(1, -1), -2.0, params=params)
        found: dict[int, list[float]] = {}
        for label, score in zip(labels, scores):
            found.setdefault(int(label), []).append(float(score))
        return found

    def save(self, folder: Path, model: str, last_seq: int,
             database: str = "") -> Manifest:
        """Write the index, then the manifest naming it, each to a temp file, fsynced and renamed."""
        folder.mkdir(parents=True, exist_ok=True)
        data = faiss.serialize_index(self.index).tobytes()
        digest = hashlib.sha256(data).hexdigest()
        index_file = f"vectors-{digest[:16]}.faiss"
        write_atomically(folder / index_file, data)
        manifest = Manifest(model, self.dim, self.count, last_seq, self.index_type,
                            index_file, digest, database=database)
        write_atomically(folder / "manifest.json", json.dumps(asdict(manifest)).encode())
        for old in folder.glob("vectors-*.faiss"):
            if old.name != index_file:
                old.unlink(missing_ok=True)
        return manifest

    @classmethod
    def load(cls, folder: Path, model: str, dim: int) -> tuple["VectorIndex", Manifest]:
        """The snapshot in `folder`, checked against its manifest, or `SnapshotError`."""
        manifest = read_manifest(folder)
        try:
            data = (folder / manifest.index_file).read_bytes()
        except OSError as error:
            raise SnapshotError(f"the index file is missing: {error}") from error
        if manifest.format != SNAPSHOT_FORMAT or manifest.model != model or manifest.dim != dim:
            raise SnapshotError("the snapshot was made for another model or format")
        if hashlib.sha256(data).hexdigest() != manifest.sha256:
            raise SnapshotError("the index file does not match its manifest")
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as error:
            raise SnapshotError(f"FAISS cannot read the index: {error}") from error
        if index.ntotal != manifest.count or index.d != dim:
            raise SnapshotError("the index does not hold what its manifest says")
        return cls(index, manifest.index_type), manifest


def read_manifest(folder: Path) -> Manifest:
    """The manifest in `folder`, or `SnapshotError`."""
    try:
        return Manifest(**json.loads((folder / "manifest.json").read_text()))
    except FileNotFoundError:
        raise SnapshotError("no snapshot yet") from None
    except (OSError, ValueError, TypeError) as error:
        raise SnapshotError(f"the manifest is unreadable: {error}") from error


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


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename over `path`, fsync the folder."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def remove_stale_temp_files(folder: Path, older_than: float = 600) -> None:
    """Temp files left by a writer killed mid-write (young ones may still be being written)."""
    now = time.time()
    for temp in folder.glob(".*.tmp"):
        try:
            if now - temp.stat().st_mtime > older_than:
                temp.unlink()
        except FileNotFoundError:
            pass
