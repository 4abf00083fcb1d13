"""Tags by meaning: a short search is compared with every tag people have given lessons.

A tag is a topic in a few words, as a short search is, and the model compares
short texts with short texts far better than a two-word search with a page
of text: "vendor lock-in" is 0.19 from the passages of "Every workflow is
trapped inside FlowMatic" but 1.0 from its tag, and "stuck with one vendor"
is 0.65 from that tag. Tag vectors are derived data, encoded once per
process and kept in memory (a few thousand distinct tags take a few MB).
"""

import threading

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.models import LessonTag
from search.embedder import Embedder


class TagVectors:
    """Every distinct tag's vector, refreshed when the change log has moved on."""

    def __init__(self) -> None:
        self.tags: list[str] = []
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.vectors: dict[str, np.ndarray] = {}
        self.seq = -1
        self.lock = threading.Lock()

    def scores(self, session: Session, embedder: Embedder, vector: np.ndarray,
               seq: int) -> dict[str, float]:
        """The cosine of every tag with `vector`; `seq` is the change-log position the caller
        has caught up with (new tags are encoded when it moves)."""
        with self.lock:
            if seq != self.seq:
                self.refresh(session, embedder)
                self.seq = seq
            tags, matrix = self.tags, self.matrix
        if not tags:
            return {}
        return dict(zip(tags, (matrix @ vector).tolist(), strict=True))

    def refresh(self, session: Session, embedder: Embedder) -> None:
        tags = list(session.scalars(select(LessonTag.tag).distinct()))
        new = [tag for tag in tags if tag not in self.vectors]
        self.vectors.update(zip(new, embedder.encode(new), strict=True))
        self.tags = tags
        self.matrix = (np.vstack([self.vectors[tag] for tag in tags]) if tags
                       else np.zeros((0, embedder.dim), dtype=np.float32))
