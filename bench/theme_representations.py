"""Theme representations: which lesson vector clusters best into the NASA failure patterns?

The product clusters lessons into themes with one unit vector per lesson:
its title, lessons learned and recommendation encoded whole
(search.theme_store.theme_text), until 2026-12 the normalised mean of its
passage vectors. This script compares those vectors with others, each clustered both by the
product's `search.themes.cluster` and by plain scikit-learn k-means
(KMeans, k-means++ starts, n_init=10), at the same k and seeds 0..4:

  passage mean        the vector shipped before: unit mean of the lesson's passage vectors
  leading fields      title + what_happened + root_cause + recommendation, encoded
                      whole (all-MiniLM-L6-v2 reads the first 256 word pieces)
  mix a=0.3/0.5/0.7   unit(a * leading fields + (1 - a) * passage mean)
  first passage       the vector of passage 0 alone
  review text         Title + Abstract + Lesson(s) Learned + Recommendation(s) from
                      the CSV, encoded whole: the text of the independent review
                      (the import puts Abstract and Driving Event in what_happened)
  theme text          the shipped vector: title + root_cause + recommendation, encoded
                      whole (what happened instead when both are empty)

Ground truth and metrics are those of bench/theme_quality.py: each lesson's
main failure pattern (the first of "failure_patterns" in
../shared/data/nasa_llis_failure_patterns_2106.jsonl, by LLIS number; lessons
without one are clustered but not scored), NMI with it, purity (share of
lessons whose cluster's most common main pattern is their own), and seed ARI
(agreement between two seeds' clusterings, mean over pairs). A cell is the
mean ± standard deviation over the seeds.

The corpus is the NASA lessons (external_id 'LLIS-...') of an imported and
indexed SQLite database, read only: by default the relevance bench's
/tmp/lessons-relevance-cache/corpus.db (search_quality.py's base.db works too).
Encoded vectors are cached in /tmp/lessons-theme-representations, keyed by
the texts, so a rerun skips the model.

Run (one core: about 2.5 minutes from the cache; the first run also encodes three texts
per lesson, 10 minutes more on this busy 2-core machine):
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 \\
        .venv/bin/python bench/theme_representations.py [--k 18 32 45] [--seeds 5]
"""

import argparse
import csv
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import faiss
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from theme_quality import read_lessons, unit  # noqa: E402  (beside this script)

from search import themes  # noqa: E402  (after the path: the bench runs from a checkout)
from search.theme_store import theme_text  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
LABELS = DATA / "nasa_llis_failure_patterns_2106.jsonl"
NASA_CSV = DATA / "nasa_llis_2101.csv"
DATABASE = Path("/tmp/lessons-relevance-cache/corpus.db")
CACHE = Path("/tmp/lessons-theme-representations")
MODEL = "all-MiniLM-L6-v2"
FIELDS = ("title", "what_happened", "root_cause", "recommendation")
REVIEW_COLUMNS = ("Title", "Abstract", "Lesson(s) Learned", "Recommendation(s)")
ALPHAS = (0.3, 0.5, 0.7)

Method = Callable[[np.ndarray, int, int], np.ndarray]


def load_lessons(database: Path) -> tuple[list[tuple], list[dict[int, np.ndarray]]]:
    """The live NASA lessons with passage vectors, in id order: rows and passages by position."""
    return read_lessons(database, FIELDS)


def main_patterns(rows: list[tuple]) -> np.ndarray:
    """Each lesson's main failure pattern as a class index, -1 where not labelled."""
    entries = {e["lesson_number"]: e for e in map(json.loads, LABELS.open(encoding="utf-8"))}
    found = [entries.get(row[1].removeprefix("LLIS-")) for row in rows]
    names = sorted({e["failure_patterns"][0] for e in found if e and e["failure_patterns"]})
    return np.array([names.index(e["failure_patterns"][0]) if e and e["failure_patterns"]
                     else -1 for e in found])


def review_texts(rows: list[tuple]) -> list[str]:
    """Title + Abstract + Lesson(s) Learned + Recommendation(s) of each lesson, from the CSV."""
    with NASA_CSV.open(encoding="utf-8", newline="") as source:
        by_id = {line["Lesson ID"]: line for line in csv.DictReader(source)}
    texts = []
    for row in rows:
        line = by_id[row[1].removeprefix("LLIS-")]
        texts.append("\n".join(filter(None, (line[column].strip() for column in REVIEW_COLUMNS))))
    return texts


def encoded(name: str, texts: list[str]) -> np.ndarray:
    """Each text encoded whole by the bundled model, from the /tmp cache when the texts match."""
    digest = hashlib.sha256("\x00".join([MODEL, *texts]).encode("utf-8")).hexdigest()[:16]
    path = CACHE / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    import torch

    from search.embedder import get_embedder

    torch.set_num_threads(1)
    started = time.perf_counter()
    vectors = get_embedder(MODEL).encode(texts)
    print(f"encoded {name}: {len(texts):,} texts in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def representations(rows: list[tuple], passages: list[dict[int, np.ndarray]]
                    ) -> dict[str, np.ndarray]:
    """Every lesson vector compared, by name, each row a unit vector."""
    def joined(*fields: str) -> list[str]:
        columns = [FIELDS.index(field) + 2 for field in fields]
        return ["\n".join(filter(None, ((row[c] or "").strip() for c in columns))) for row in rows]

    mean = unit(np.stack([np.mean(list(p.values()), axis=0) for p in passages]))
    leading = unit(encoded("leading-fields", joined(*FIELDS)))
    return {
        "(a) passage mean (shipped before)": mean,
        "(b) leading fields": leading,
        **{f"(c) mix α={alpha}": unit(alpha * leading + (1 - alpha) * mean) for alpha in ALPHAS},
        "(d) first passage": unit(np.stack([p[min(p)] for p in passages])),
        "review text (CSV, no Driving Event)": unit(encoded("review-text", review_texts(rows))),
        "(e) theme text (shipped)": unit(encoded("theme-text", [
            theme_text(*(row[FIELDS.index(name) + 2] for name in FIELDS)) for row in rows])),
    }


def product(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The shipped method: micro-clusters, Ward, k-means from Ward's themes."""
    return themes.cluster(vectors, k, seed)


def sklearn_kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Plain k-means: k-means++ starts, the best of 10 runs."""
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors)


def scores(truth: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """NMI with the main pattern and purity, over the labelled lessons."""
    scored = truth >= 0
    truth, found = truth[scored], labels[scored]
    majority = {c: Counter(truth[found == c]).most_common(1)[0][0] for c in np.unique(found)}
    purity = float(np.mean([majority[c] == t for c, t in zip(found, truth, strict=True)]))
    return normalized_mutual_info_score(truth, found), purity


def cell(values: list[float]) -> str:
    """Mean ± standard deviation over the seeds."""
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DATABASE, help="imported, indexed SQLite db")
    parser.add_argument("--k", type=int, nargs="+", default=[32, 18, 45], help="numbers of themes")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per cell")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    rows, passages = load_lessons(args.db)
    truth = main_patterns(rows)
    vectors = representations(rows, passages)
    print(f"{len(rows):,} NASA lessons from {args.db}, {(truth >= 0).sum():,} labelled, "
          f"{truth.max() + 1} main patterns; seeds 0..{args.seeds - 1}\n")
    print("| k | representation | method | NMI pattern | purity | seed ARI |\n"
          "| --- | --- | --- | --- | --- | --- |")
    nmi: dict[tuple[int, str, str], float] = {}
    methods: dict[str, Method] = {"themes.cluster": product, "k-means (sklearn, n_init=10)":
                                  sklearn_kmeans}
    for k in args.k:
        for name, matrix in vectors.items():
            for method_name, method in methods.items():
                runs = [method(matrix, k, seed) for seed in range(args.seeds)]
                nmis, purities = zip(*(scores(truth, labels) for labels in runs), strict=True)
                aris = [adjusted_rand_score(a, b) for a, b in combinations(runs, 2)]
                nmi[k, name, method_name] = statistics.mean(nmis)
                print(f"| {k} | {name} | {method_name} | {cell(list(nmis))} "
                      f"| {cell(list(purities))} | {cell(aris)} |", flush=True)
    print()
    for k in args.k:
        best = max(vectors, key=lambda name: max(nmi[k, name, m] for m in methods))
        ours, plain = (nmi[k, best, m] for m in methods)
        print(f"k = {k}: best representation {best}: themes.cluster {ours:.3f}, "
              f"k-means {plain:.3f} ({ours - plain:+.3f}); shipped themes "
              f"{nmi[k, '(e) theme text (shipped)', 'themes.cluster']:.3f}")
    print(f"\nrun time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
