"""A sentence-transformers model run by ONNX Runtime, for the few texts a request encodes.

A search embeds one short query on the request's thread, where torch spends
most of its time outside the arithmetic: on this 2-core machine MiniLM took
11 ms for a 2-word query through torch and 3.3 ms through ONNX Runtime, one
thread each, with the same vector (cosine 1.0; bench/README.md, "Query
embedding"). The model's whole pipeline (transformer, pooling, normalising)
is exported from the loaded model when first needed (through a temporary
file, into memory), so any sentence-transformers model gets it and nothing is
kept or downloaded. The export is checked against torch on texts of different
lengths; a model that does not export, or whose exported vectors differ,
keeps torch, as does a process without onnxruntime.
"""

import logging
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Texts whose vectors the export must reproduce before it is trusted: two lengths, so
# padding in one batch is checked too.
PROBES = ["Supplier lock-in", "The vendor kept our data in a proprietary format, so leaving "
          "meant rebuilding every report and paying for an export we had assumed was free."]
TOLERANCE = 1e-4  # the largest difference in any coordinate of a unit vector


class OnnxEncoder:
    """Encodes texts as `model` does, through ONNX Runtime on the calling thread."""

    def __init__(self, model: Any, session: Any, inputs: list[str]):
        self.model = model  # its tokenizer, with its own truncation
        self.session = session
        self.inputs = inputs

    @classmethod
    def export(cls, model: Any) -> "OnnxEncoder | None":
        """The exported `model`, or None (logged) where it cannot be trusted."""
        try:
            encoder = cls._export(model)
        except Exception as error:  # any model, any failure: torch stays
            log.info("Queries stay on torch: the model did not export to ONNX (%s)", error)
            return None
        expected = model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        difference = float(np.abs(encoder.encode(PROBES) - expected).max())
        if difference > TOLERANCE:
            log.warning("Queries stay on torch: ONNX vectors differ by %.2g", difference)
            return None
        return encoder

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
                warnings.simplefilter("ignore")  # the tracer's notes on a model it exports well
                torch.onnx.export(traceable(model, inputs), tuple(features[n] for n in inputs),
                                  path, input_names=inputs, output_names=["embedding"],
                                  dynamic_axes={**axes, "embedding": {0: "texts"}},
                                  opset_version=17, dynamo=False)
            options = onnxruntime.SessionOptions()
            # A request's few texts: one thread, as torch computes on request threads.
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            # Without its memory arena the export and session add 220 MB to a process
            # instead of 290 MB, at the same speed on a query's few texts.
            options.enable_cpu_mem_arena = False
            session = onnxruntime.InferenceSession(str(path), options,
                                                   providers=["CPUExecutionProvider"])
        return cls(model, session, inputs)

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
