"""A request's few texts are embedded by ONNX Runtime, to the vectors torch gives them.

The model is the real one (exported from the loaded sentence-transformers model); bulk
encodes stay on torch. No database: the embedder alone.
"""

import logging
import sys

import numpy as np
import pytest

from search.embedder import DEFAULT_MODEL, FEW, get_embedder
from search.onnx_encoder import OnnxEncoder

TEXTS = [
    "LOTO",
    "the supplier held our data hostage",
    # Longer than the 256 word pieces the model reads: cut where torch cuts it.
    " ".join(["The integrator kept the design rights, so leaving them meant a rebuild."] * 40),
]


@pytest.fixture(scope="module")
def embedder():
    return get_embedder(DEFAULT_MODEL)


def test_onnx_runtime_gives_the_vectors_torch_gives(embedder):
    onnx = embedder.onnx()
    assert onnx is not None, "the bundled model did not export"
    expected = embedder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    found = onnx.encode(TEXTS)
    assert found.dtype == np.float32 and found.shape == (len(TEXTS), embedder.dim)
    assert float(np.abs(found - expected).max()) < 1e-5
    np.testing.assert_allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-6)


def test_a_query_goes_through_onnx_runtime_and_a_bulk_encode_through_torch(embedder,
                                                                          monkeypatch):
    assert embedder.onnx() is not None  # exported (and checked) before counting starts
    calls = []
    original = OnnxEncoder.encode

    def counted(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(OnnxEncoder, "encode", counted)
    # Texts no other test encodes, so the suite's remembered vectors do not answer them.
    embedder.encode(["a query only this test asks about cranes"])
    assert calls == [1]
    embedder.encode([f"bulk passage {n} about scaffolding permits" for n in range(FEW + 1)])
    assert calls == [1]


def test_a_process_without_onnxruntime_stays_on_torch(embedder, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    with caplog.at_level(logging.INFO, logger="search.onnx_encoder"):
        assert OnnxEncoder.export(embedder.model) is None
    assert "Queries stay on torch: the model did not export" in caplog.text


def test_an_export_whose_vectors_differ_from_torch_is_not_trusted(embedder, monkeypatch,
                                                                   caplog):
    original = OnnxEncoder.encode

    def skewed(self, texts):  # an export that got one coordinate of every vector wrong
        vectors = original(self, texts).copy()
        vectors[:, -1] += 0.01
        return vectors

    monkeypatch.setattr(OnnxEncoder, "encode", skewed)
    with caplog.at_level(logging.WARNING, logger="search.onnx_encoder"):
        assert OnnxEncoder.export(embedder.model) is None
    assert "ONNX vectors differ" in caplog.text
