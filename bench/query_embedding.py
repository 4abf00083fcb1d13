"""What a request's embedding costs: torch against ONNX Runtime, one thread each, as served.

The queries of the paraphrase set (bench/paraphrase/queries.json), each embedded
as a search embeds it (`search.retrieve.query_vector`: a long one in pieces),
through torch (`SentenceTransformer.encode`) and through the exported model
(`search.onnx_encoder`). Prints p50 / p95 in ms per query kind, the largest
difference between the two vectors of any query, and the process's memory
before and after the export. Nothing is asserted.

    .venv/bin/python bench/query_embedding.py [--rounds 5]
"""

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.embedder import DEFAULT_MODEL, compute_on_request_threads, get_embedder  # noqa: E402
from search.retrieve import query_pieces  # noqa: E402

QUERIES = Path(__file__).resolve().parent / "paraphrase" / "queries.json"


def resident_mb() -> int:
    status = Path(f"/proc/{os.getpid()}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    compute_on_request_threads()
    embedder = get_embedder(DEFAULT_MODEL)
    model = embedder.model
    queries = json.loads(QUERIES.read_text())
    model.encode(["warm up"])
    before = resident_mb()
    started = time.perf_counter()
    onnx = embedder.onnx()
    if onnx is None:
        sys.exit("The model did not export to ONNX Runtime (see the log).")
    print(f"export and check: {time.perf_counter() - started:.1f} s; resident memory "
          f"{before} MB before, {resident_mb()} MB after")
    runtimes = {"torch": lambda texts: model.encode(texts, normalize_embeddings=True),
                "onnx": onnx.encode}
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    difference = 0.0
    for query in queries:
        texts = query_pieces(query["text"])
        vectors = {name: encode(texts) for name, encode in runtimes.items()}  # warm
        difference = max(difference, float(np.abs(vectors["torch"] - vectors["onnx"]).max()))
        for _ in range(rounds):
            for name, encode in runtimes.items():
                begun = time.perf_counter()
                encode(texts)
                elapsed = 1000 * (time.perf_counter() - begun)
                times[(name, query["kind"])].append(elapsed)
                times[(name, "all")].append(elapsed)
    print(f"{len(queries)} queries x {rounds}, one thread; largest difference in a vector "
          f"coordinate: {difference:.1e}")
    print("| queries | torch p50 / p95 ms | ONNX Runtime p50 / p95 ms |\n| --- | --- | --- |")
    for kind in ("all", "kickoff", "question", "keywords"):
        cells = [f"{np.percentile(times[(name, kind)], 50):.1f} / "
                 f"{np.percentile(times[(name, kind)], 95):.1f}" for name in runtimes]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
