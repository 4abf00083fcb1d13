"""A sentence-transformers model run by ONNX Runtime, for the few texts a request encodes.

A search embeds one short query on the request's thread, where torch spends
most of its time outside the arithmetic: on this 2-core machine a keyword
search's embedding took 14.0 ms through torch and 4.8 ms through ONNX
Runtime at the median, one thread each, with the same vector
(bench/query_embedding.py). The model's whole pipeline (transformer,
pooling, normalising) is exported from the loaded model when first needed
(through a temporary file, into memory), so nothing is kept or downloaded.
Tracing records one path through the model, so the export is trusted only
once it gives torch's vectors on batches of other sizes and lengths than
the one traced, a text past the model's length limit included; a model that
does not export, or whose exported vectors differ, keeps torch, as does a
process without onnxruntime.
"""

import logging
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# The batch traced: two lengths, so the padding mask is part of the path recorded.
PROBES = ["Supplier lock-in", "The vendor kept our data in a proprietary format, so leaving "
          "meant rebuilding every report and paying for an export we had assumed was free."]
# Batches the export must encode as torch does before it is trusted: one text (no padding),
# three, and one cut at the model's length limit.
CHECKS = [[PROBES[0]], [PROBES[1], "Permit late", "Crane booked for the wrong week"],
          ["The crane waited nine weeks for the road closure permit. " * 60]]
TOLERANCE = 1e-4  # the largest difference in any coordinate of a unit vector


class OnnxEncoder:
    """Encodes texts as `model` does, through ONNX Runtime on the calling thread."""

    def __init__(self, model: Any, session: Any):
        self.model = model  # its tokenizer, with its own truncation
        self.session = session
        self.inputs = [given.name for given in session.get_inputs()]  # what the graph kept

    @classmethod
    def export(cls, model: Any) -> "OnnxEncoder | None":
        """The exported `model`, or None (logged) where it cannot be trusted."""
        try:
            encoder = cls._export(model)
            difference = max(encoder.difference(model, texts) for texts in CHECKS)
        except Exception as error:  # any model, any failure: torch stays
            log.info("Queries stay on torch: the model did not export to ONNX (%s)", error)
            return None
        if not difference <= TOLERANCE:  # NaN fails too
            log.warning("Queries stay on torch: ONNX vectors differ by %.2g", difference)
            return None
        return encoder

    def difference(self, model: Any, texts: list[str]) -> float:
        """The largest difference between this encoder's vectors of `texts` and torch's."""
        expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return float(np.abs(self.encode(texts) - expected).max())

    @classmethod
    def _export(cls, model: Any) -> "OnnxEncoder":
        import onnxruntime
        import torch

        features = model_inputs(model, PROBES)
        inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids")
                  if name in features]
        axes = {name: {0: "texts", 1: "tokens"} for name in inputs}
        with tempfile.TemporaryDirectory(prefix="lessons-onnx-") as folder:
            path = Path(folder) / "model.onnx"
            with warnings.catch_warnings(), torch.no_grad():
                # The tracer's notes on paths it records (the checks above judge the result)
                # and the legacy exporter's notice. The filters are the process's for the
                # export's two seconds, as Python's warnings are.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")
                torch.onnx.export(traceable(model, inputs), tuple(features[n] for n in inputs),
                                  path, input_names=inputs, output_names=["embedding"],
                                  dynamic_axes={**axes, "embedding": {0: "texts"}},
                                  opset_version=17, dynamo=False)
            options = onnxruntime.SessionOptions()
            # A request's few texts: one thread, as torch computes on request threads.
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            # The memory arena keeps the buffers of the longest batch for good: without it
            # the export and session added 220 MB to a process instead of 290 MB, at the
            # same speed on a query's few texts.
            options.enable_cpu_mem_arena = False
            session = onnxruntime.InferenceSession(str(path), options,
                                                   providers=["CPUExecutionProvider"])
        return cls(model, session)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        features = model_inputs(self.model, texts)
        feed = {name: features[name].numpy().astype(np.int64) for name in self.inputs}
        vectors = self.session.run(None, feed)[0]
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def model_inputs(model: Any, texts: Sequence[str]) -> Any:
    """The model's input tensors for `texts`, truncated as it truncates (`preprocess` since
    sentence-transformers 6, `tokenize` before)."""
    prepare = getattr(model, "preprocess", None) or model.tokenize
    return prepare(list(texts))


def traceable(model: Any, inputs: list[str]) -> Any:
    """`model` as a torch module of positional tensors, which the exporter traces."""
    import torch

    class Whole(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(inputs, tensors, strict=True)))["sentence_embedding"]

    return Whole().eval()
