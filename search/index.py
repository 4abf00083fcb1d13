"""The vector index interface: what retrieval needs of any store of passage vectors.

Ids are lesson ids, one vector per passage (a lesson has 1 to 24), inner product on
unit vectors; a lesson scores as its best passage. FAISS in each process
(`search.faiss_index`) is the one implementation today; a PostgreSQL-side or search
cluster backend plugs in by satisfying `VectorIndex` and passing
`tests/test_vector_index.py`. Where an index is kept between processes is
`search.snapshot`'s business; when it catches up with the change log, `search.engine`'s.
"""

import importlib
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Protocol, Self, runtime_checkable

import numpy as np

# The lessons a search may return (None: every one). Retrieval reads them from the
# database; each implementation turns them into its own filter (a FAISS id selector, a
# SQL predicate) and applies it before the cut, so excluded lessons take no place.
AllowedIds = AbstractSet[int]

# Implementations by the name `LESSONS_VECTOR_INDEX` gives, as "module:class": a module is
# imported only when chosen, so one backend's libraries are not needed to run another.
VECTOR_INDEXES = {"faiss": "search.faiss_index:FaissIndex"}
DEFAULT_VECTOR_INDEX = "faiss"


class SnapshotError(Exception):
    """The snapshot on disk is missing, damaged or made for something else."""


@runtime_checkable
class VectorIndex(Protocol):
    """add / remove / search / save / load over lesson ids, whatever does the work inside."""

    # What `lessons status` and the snapshot manifest call it: "flat" is exact, others not.
    kind: str

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray) -> Self:
        """An index over `vectors` (row i a passage of lesson `ids[i]`), chosen for their number."""
        ...

    @classmethod
    def load(cls, data: bytes, dim: int) -> Self:
        """The index `save` turned into `data`, or `SnapshotError` if it is not a `dim` index."""
        ...

    def save(self) -> bytes:
        """The index as bytes for a snapshot (b"" when its store is elsewhere, say the database)."""
        ...

    @property
    def count(self) -> int:
        """How many passage vectors it holds."""
        ...

    @property
    def dim(self) -> int:
        """The length of its vectors."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add passage vectors, row i a passage of lesson `ids[i]`."""
        ...

    def remove(self, ids: Iterable[int]) -> None:
        """Remove every passage of these lessons (ids it does not hold are ignored)."""
        ...

    def search(self, vector: np.ndarray, k: int,
               allowed: AllowedIds | None = None) -> list[tuple[int, float]]:
        """The `k` best lessons as (lesson id, best passage score), best first, only among
        `allowed` if given: filtered before the cut, so a filtered search fills its page."""
        ...

    def passage_scores(self, vector: np.ndarray, lesson_ids: Iterable[int]
                       ) -> dict[int, list[float]]:
        """The score of every passage of these lessons, by lesson id (a lesson without
        vectors is left out)."""
        ...


def vector_index_type(name: str) -> type[VectorIndex]:
    """The implementation registered as `name`, or a `ValueError` naming the known ones."""
    try:
        module, _, attribute = VECTOR_INDEXES[name].partition(":")
    except KeyError:
        raise ValueError(f"Unknown vector index {name!r} (LESSONS_VECTOR_INDEX): use one of "
                         f"{', '.join(sorted(VECTOR_INDEXES))}.") from None
    return getattr(importlib.import_module(module), attribute)
