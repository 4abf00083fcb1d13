"""Theme quality: do the themes of search/themes.py find the NASA failure patterns?

The corpus is the 2,101 NASA LLIS lessons and their passage vectors
(all-MiniLM-L6-v2) in /tmp/lessons-quality-cache/base.db, built by
bench/search_quality.py; this script waits for base.done and only reads it.
A lesson's vector is the unit mean of its passage vectors.

Ground truth: ../shared/data/nasa_llis_failure_patterns_2106.jsonl gives each
lesson (by LLIS number) a list of failure patterns, the first being the main
one, and one primary agent. Lessons without an entry are clustered but not
scored. Metrics, each at the same number of clusters k:

  NMI pattern   normalised mutual information with the main failure pattern (18 classes)
  NMI agent     the same with the primary agent (9 classes)
  purity        share of lessons whose cluster's most common main pattern is their main one
  purity any    share of lessons whose cluster's most common main pattern is any of theirs
  seed ARI      adjusted Rand index between the clusterings of two seeds, mean over pairs:
                how much the themes depend on luck rather than on the lessons

The product's method (`themes.cluster`) is compared with plain k-means at the
same k: faiss k-means (random initial centres, 20 iterations) and
scikit-learn's KMeans (k-means++ initial centres, one run), and with random
clusters of the same k (what NMI and purity give for nothing). Each runs with
seeds 0..9; a cell is the mean ± the standard deviation over seeds, since one
seed's luck moves NMI by about as much as the methods differ. Then:

- the time of `cluster` with k chosen, and the same input twice;
- the labels of the largest themes (distinctive terms and central title);
- theme ids across a recompute: 5% of the lessons dropped, the themes
  recomputed with the same seed and matched to the old ones; the share of
  lessons that keep their theme id, for the product and for faiss k-means;
- clustering and naming 100k synthetic lessons (each the unit mean of 2-3
  real lesson vectors plus a little noise, with the text of the first of them);
- the product's whole `recompute()` (vectors read from the database, themes
  and every lesson's theme written back) on copies of SQLite databases: the
  NASA one, and with --recompute-db the synthetic ones of search_speed.py.

--names measures only the theme names instead (bench/theme_names.py): how
often a lesson's own theme's name is the nearest name to it, for the old
word-bag names and the shipped phrase + title names, and how often a name's
nearest failure pattern is its theme's majority pattern.

--experiments adds what was tried against the shipped method: other numbers
of micro-clusters, Ward without the k-means pass and Ward on all lessons,
other lesson vectors (title only, first passage, Lesson(s) Learned and
Recommendation(s) passages, mean-centred), and quality criteria for k.

Run (one core; about 1 minute, 2 with --experiments):
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 \\
        .venv/bin/python bench/theme_quality.py [--experiments] [--synthetic 100000]
        .venv/bin/python bench/theme_quality.py --names   # 12 min first (encoding), 1 after
"""

import argparse
import json
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from itertools import combinations
from pathlib import Path

import faiss
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search import themes  # noqa: E402  (after the path: the bench runs from a checkout)
from search.passages import lesson_passages  # noqa: E402
from search.theme_store import MATCH_SIMILARITY  # noqa: E402

BASE = Path("/tmp/lessons-quality-cache")
LABELS = ROOT.parent / "shared" / "data" / "nasa_llis_failure_patterns_2106.jsonl"
MODEL = "all-MiniLM-L6-v2"
FIELDS = ("title", "what_happened", "root_cause", "impact", "recommendation")
SEEDS = range(10)
FIXED_K = (10, 18, 45)  # 18: as many clusters as main failure patterns
CRITERIA_K = (5, 8, 10, 15, 20, 25, 32, 40, 50, 60)
SHOWN_THEMES = 10
DROPPED = 0.05  # share of lessons removed before the recompute
NOISE = 0.01  # per dimension: a noise vector of norm 0.2 against a mean of norm ~0.7

TABLE_HEADER = ("| k | method | NMI pattern | NMI agent | purity | purity any | seed ARI |\n"
                "| --- | --- | --- | --- | --- | --- | --- |")

Method = Callable[[np.ndarray, int, int], np.ndarray]


@dataclass
class Corpus:
    fields: list[dict[str, str | None]]
    passages: list[dict[int, np.ndarray]]  # per lesson: passage position -> vector
    vectors: np.ndarray
    main_pattern: np.ndarray  # index into pattern_names, -1 where not labelled
    agent: np.ndarray
    patterns: list[set[str]]
    pattern_names: list[str]

    @property
    def texts(self) -> list[str]:
        """Each lesson's fields in one text, for the distinctive terms."""
        return ["\n".join(filter(None, lesson.values())) for lesson in self.fields]


def wait_for_base() -> None:
    """Poll every 60 s until the search-quality bench has finished base.db."""
    while not (BASE / "base.done").exists():
        print(f"waiting for {BASE / 'base.done'} ...", file=sys.stderr, flush=True)
        time.sleep(60)


def read_lessons(database: Path, fields: tuple[str, ...] = FIELDS
                 ) -> tuple[list[tuple], list[dict[int, np.ndarray]]]:
    """The live NASA lessons with passage vectors, in id order: (id, external_id, *fields)
    rows and each one's passages by position."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    rows = connection.execute(
        f"SELECT id, external_id, {', '.join(fields)} FROM lessons "
        "WHERE deleted_at IS NULL AND external_id LIKE 'LLIS-%' ORDER BY id").fetchall()
    passages: dict[int, dict[int, np.ndarray]] = {row[0]: {} for row in rows}
    for lesson_id, position, vector in connection.execute(
            "SELECT lesson_id, position, vector FROM passage_vectors WHERE model = ?", (MODEL,)):
        if lesson_id in passages:
            passages[lesson_id][position] = np.frombuffer(vector, dtype=np.float32)
    connection.close()
    rows = [row for row in rows if passages[row[0]]]
    return rows, [passages[row[0]] for row in rows]


def load_corpus() -> Corpus:
    """The NASA lessons with passage vectors, their labels, in id order."""
    rows, passage_list = read_lessons(BASE / "base.db")
    passages = {row[0]: found for row, found in zip(rows, passage_list, strict=True)}
    entries = {e["lesson_number"]: e for e in map(json.loads, LABELS.open(encoding="utf-8"))}
    found = [entries.get(row[1].removeprefix("LLIS-")) for row in rows]
    names = sorted({e["failure_patterns"][0] for e in found if e and e["failure_patterns"]})
    agents = sorted({e["primary_agent"] for e in found if e})
    return Corpus(
        fields=[dict(zip(FIELDS, row[2:], strict=True)) for row in rows],
        passages=[passages[row[0]] for row in rows],
        vectors=unit(np.stack([np.mean(list(passages[row[0]].values()), axis=0) for row in rows])),
        main_pattern=np.array([names.index(e["failure_patterns"][0])
                               if e and e["failure_patterns"] else -1 for e in found]),
        agent=np.array([agents.index(e["primary_agent"]) if e else -1 for e in found]),
        patterns=[set(e["failure_patterns"]) if e else set() for e in found],
        pattern_names=names,
    )


def passage_mean(lessons: list[dict[str, str | None]], passages: list[dict[int, np.ndarray]],
                 fields: set[str]) -> np.ndarray:
    """Each lesson's unit mean of its passages from `fields` (all passages if it has none)."""
    vectors = []
    for content, stored in zip(lessons, passages, strict=True):
        chosen = [stored[p.position] for p in lesson_passages(content)
                  if p.field in fields and p.position in stored]
        vectors.append(np.mean(chosen or list(stored.values()), axis=0))
    return unit(np.stack(vectors))


def unit(vectors: np.ndarray) -> np.ndarray:
    """The rows scaled to length 1, as float32 faiss can take."""
    return np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
                                dtype=np.float32)


def scores(corpus: Corpus, labels: np.ndarray) -> tuple[float, float, float, float]:
    """NMI with the main pattern, NMI with the agent, purity, purity against any pattern."""
    scored = corpus.main_pattern >= 0
    truth, found = corpus.main_pattern[scored], labels[scored]
    majority = {c: Counter(truth[found == c]).most_common(1)[0][0] for c in np.unique(found)}
    patterns = [p for p, keep in zip(corpus.patterns, scored, strict=True) if keep]
    return (
        normalized_mutual_info_score(truth, found),
        normalized_mutual_info_score(corpus.agent[scored], found),
        float(np.mean([majority[c] == t for c, t in zip(found, truth, strict=True)])),
        float(np.mean([corpus.pattern_names[majority[c]] in p
                       for c, p in zip(found, patterns, strict=True)])),
    )


def faiss_kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Plain k-means as faiss does it: random initial centres, 20 iterations."""
    kmeans = faiss.Kmeans(vectors.shape[1], k, niter=20, seed=seed)
    kmeans.train(vectors)
    return kmeans.index.search(vectors, 1)[1][:, 0]


def sklearn_kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Plain k-means as scikit-learn does it: k-means++ initial centres, one run."""
    return KMeans(n_clusters=k, random_state=seed, n_init=1).fit_predict(vectors)


def random_themes(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Each lesson in a random one of k clusters: the floor every method must clear."""
    return np.random.default_rng(seed).integers(0, k, size=len(vectors))


def product(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The shipped method."""
    return themes.cluster(vectors, k, seed)


def with_micro_clusters(count: int) -> Method:
    """The product with `count` micro-clusters instead of the shipped number."""
    def method(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
        shipped, themes.MICRO_CLUSTERS = themes.MICRO_CLUSTERS, count
        try:
            return themes.cluster(vectors, k, seed)
        finally:
            themes.MICRO_CLUSTERS = shipped
    return method


def row(corpus: Corpus, name: str, method: Method, k: int) -> str:
    """One table row: each metric's mean ± standard deviation over the seeds."""
    runs = [method(corpus.vectors, k, seed) for seed in SEEDS]
    metrics = list(zip(*(scores(corpus, labels) for labels in runs), strict=True))
    metrics.append(tuple(adjusted_rand_score(a, b) for a, b in combinations(runs, 2)))
    cells = [f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" for v in metrics]
    return f"| {k} | {name} | " + " | ".join(cells) + " |"


def comparison(corpus: Corpus, ks: list[int], methods: dict[str, Method]) -> None:
    """A table row for each k and method, under a TABLE_HEADER the caller prints."""
    for k in ks:
        for name, method in methods.items():
            print(row(corpus, name, method, k), flush=True)


def auto_k(corpus: Corpus) -> int:
    """Time `cluster` with k chosen, check it twice, and return the k it chose."""
    started = time.perf_counter()
    labels = themes.cluster(corpus.vectors)
    seconds = time.perf_counter() - started
    again = themes.cluster(corpus.vectors)
    k = int(labels.max()) + 1
    print(f"cluster(k=None) on {len(labels):,} lessons: k = {k}, {seconds:.2f} s; "
          f"the same labels when run again: {np.array_equal(labels, again)}")
    return k


def show_labels(corpus: Corpus, k: int) -> None:
    """The label a PMO would read for the largest themes: top terms and central title."""
    labels = themes.cluster(corpus.vectors, k)
    centres = themes.centroids(corpus.vectors, labels)
    started = time.perf_counter()
    terms = themes.distinctive_terms(corpus.texts, labels)
    central = themes.central_member(corpus.vectors, labels, centres)
    seconds = time.perf_counter() - started
    sizes = np.bincount(labels)
    print(f"labels of the {SHOWN_THEMES} largest of {k} themes ({seconds:.1f} s for all):")
    for theme in range(min(SHOWN_THEMES, k)):
        print(f"- theme {theme} ({sizes[theme]} lessons): {', '.join(terms[theme])}\n"
              f"  central: {corpus.fields[central[theme]]['title']}")


def kept_ids(corpus: Corpus, method: Method, k: int) -> tuple[float, int]:
    """Share of lessons keeping their theme id when 5% of lessons go; new ids."""
    before = method(corpus.vectors, k, 0)
    old = dict(enumerate(themes.centroids(corpus.vectors, before)))
    rng = np.random.default_rng(1)
    kept = np.sort(rng.choice(len(before), int(len(before) * (1 - DROPPED)), replace=False))
    after = method(corpus.vectors[kept], k, 0)
    ids = np.array(themes.match_to_previous(
        old, themes.centroids(corpus.vectors[kept], after), MATCH_SIMILARITY, len(old)))
    return float(np.mean(ids[after] == before[kept])), int((ids >= len(old)).sum())


def stability(corpus: Corpus, k: int) -> None:
    """Theme ids across a recompute, for the product and for plain k-means."""
    print(f"recompute after dropping {DROPPED:.0%} of the lessons (k = {k}, same seed, "
          f"min similarity {MATCH_SIMILARITY}):")
    for name, method in (("themes.cluster", product), ("k-means (faiss)", faiss_kmeans)):
        share, fresh = kept_ids(corpus, method, k)
        print(f"- {name}: {share:.1%} of the lessons keep their theme id; {fresh} new ids")


def synthetic(vectors: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` made-up lessons, each the unit mean of 2-3 real ones plus a little noise.

    Also returns each one's first real lesson, whose text it borrows.
    """
    rng = np.random.default_rng(0)
    sources = rng.integers(0, len(vectors), size=(count, 3))
    parts = rng.integers(2, 4, size=count)
    made = vectors[sources[:, 0]] + vectors[sources[:, 1]]
    made += np.where((parts == 3)[:, None], vectors[sources[:, 2]], 0.0)
    made /= parts[:, None]
    made += rng.normal(0.0, NOISE, size=made.shape).astype(np.float32)
    return unit(made), sources[:, 0]


def time_at_scale(corpus: Corpus, count: int) -> None:
    """Seconds for a full recompute of `count` synthetic lessons (the goal: at most 300)."""
    made, first = synthetic(corpus.vectors, count)
    texts = corpus.texts
    started = time.perf_counter()
    labels = themes.cluster(made)
    clustered = time.perf_counter() - started
    centres = themes.centroids(made, labels)
    themes.central_member(made, labels, centres)
    themes.distinctive_terms([texts[i] for i in first], labels)
    total = time.perf_counter() - started
    same = np.array_equal(labels, themes.cluster(made))
    print(f"{count:,} synthetic lessons: cluster(k=None) {clustered:.1f} s "
          f"(k = {labels.max() + 1}); with centroids, central members and terms {total:.1f} s "
          f"(goal 300 s, one core); the same labels when run again: {same}")


def time_product_recompute(database: Path) -> None:
    """The product's whole recompute (read vectors, cluster, name, store) on a copy of a
    SQLite database whose lessons already have vectors, through its own SearchEngine."""
    import shutil
    import tempfile

    from sqlalchemy.orm import sessionmaker

    from insights.trends import Windows, repeated_mistakes, theme_views
    from lessons.db import make_engine, upgrade
    from lessons.services.reviews import feeds_insights
    from search.embedder import DEFAULT_MODEL
    from search.engine import SearchEngine
    from search.theme_store import recompute

    work = Path(tempfile.mkdtemp(prefix="lessons-themes-"))
    try:
        shutil.copy(database, work / "copy.db")
        db_engine = make_engine(f"sqlite:///{work / 'copy.db'}")
        upgrade(db_engine)  # the cached databases may predate the themes tables
        engine = SearchEngine(sessionmaker(db_engine), work / "index", DEFAULT_MODEL)
        started = time.perf_counter()
        engine.ready()
        ready = time.perf_counter() - started
        times = []
        for _ in range(2):  # the second run matches the first run's themes
            started = time.perf_counter()
            found = recompute(engine, feeds_insights(True))
            times.append(time.perf_counter() - started)
        print(f"recompute() on {database}: {found} themes in {times[0]:.1f} s, again "
              f"{times[1]:.1f} s (index loaded first in {ready:.1f} s; goal 30 s at 2,101 "
              f"lessons, 300 s at 100k)")
        with engine.sessions() as session:  # what the themes page reads
            started = time.perf_counter()
            views = theme_views(session, Windows(date.today()))
            listed = time.perf_counter() - started
            repeats = repeated_mistakes(session, views)
            print(f"  the themes page: theme_views {listed:.2f} s, repeated_mistakes "
                  f"{time.perf_counter() - started - listed:.2f} s ({len(repeats)} repeats)")
        db_engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def title_vectors(corpus: Corpus) -> np.ndarray:
    """Each lesson's title alone, embedded now (torch on one thread)."""
    import torch

    from search.embedder import DEFAULT_MODEL, SentenceTransformerEmbedder

    torch.set_num_threads(1)
    titles = [lesson["title"] or "" for lesson in corpus.fields]
    return SentenceTransformerEmbedder(DEFAULT_MODEL).encode(titles)


def experiments(corpus: Corpus, k: int) -> None:
    """The variants tried against the shipped method, at the automatic k."""
    print(f"\n### Experiments (k = {k})\n")
    print(f"How themes are built:\n\n{TABLE_HEADER}")
    comparison(corpus, [k], {
        f"shipped: {themes.MICRO_CLUSTERS} micro-clusters, Ward, k-means": product,
        "Ward tree only, no k-means pass": themes.ward_start,
        **{f"{count} micro-clusters": with_micro_clusters(count) for count in (100, 400, 800)},
        "Ward on every lesson (no micro-clusters)": with_micro_clusters(len(corpus.vectors)),
    })
    print("\nWhich vector stands for a lesson (the shipped one: the mean of all its passages):\n")
    print(TABLE_HEADER)
    centred = corpus.vectors - corpus.vectors.mean(axis=0)
    for name, vectors in (
            ("title only", title_vectors(corpus)),
            ("first passage", unit(np.stack([p[min(p)] for p in corpus.passages]))),
            ("Lessons Learned + Recommendations passages",
             passage_mean(corpus.fields, corpus.passages, {"root_cause", "recommendation"})),
            ("passage mean, mean-centred", unit(centred))):
        variant = replace(corpus, vectors=vectors)
        comparison(variant, [k], {f"{name}, themes.cluster": product,
                                  f"{name}, k-means++": sklearn_kmeans})
    print("\nCriteria for k, on the product's themes (higher is better, Davies-Bouldin lower):\n")
    distances = np.clip(1.0 - corpus.vectors @ corpus.vectors.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    print("| k | silhouette (cosine) | Calinski-Harabasz | Davies-Bouldin | NMI pattern |")
    print("| --- | --- | --- | --- | --- |")
    for count in CRITERIA_K:
        labels = themes.cluster(corpus.vectors, count)
        print(f"| {count} | {silhouette_score(distances, labels, metric='precomputed'):.4f} "
              f"| {calinski_harabasz_score(corpus.vectors, labels):.1f} "
              f"| {davies_bouldin_score(corpus.vectors, labels):.3f} "
              f"| {scores(corpus, labels)[0]:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", action="store_true", help="also the variants tried")
    parser.add_argument("--names", action="store_true",
                        help="only the theme names: would a reader match name to lessons "
                             "(bench/theme_names.py; reads the NASA CSV, not base.db)")
    parser.add_argument("--synthetic", type=int, default=100_000, help="lessons for the timing")
    parser.add_argument("--recompute-db", type=Path, nargs="*", default=[BASE / "base.db"],
                        help="SQLite databases with vectors to time the product's whole "
                             "recompute on (default: the NASA one; bench/search_speed.py "
                             "caches synthetic ones of 10k and 100k lessons)")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)  # the timings are for one core
    if args.names:
        from theme_names import measure_names  # beside this script

        measure_names()
        return
    wait_for_base()
    corpus = load_corpus()
    print(f"{len(corpus.fields):,} lessons, {(corpus.main_pattern >= 0).sum():,} labelled, "
          f"{len(corpus.pattern_names)} main patterns\n")
    k = auto_k(corpus)
    print(f"\n{TABLE_HEADER}")
    comparison(corpus, [k, *FIXED_K], {
        "themes.cluster": product, "k-means (faiss)": faiss_kmeans,
        "k-means++ (sklearn)": sklearn_kmeans, "random (the floor)": random_themes})
    print()
    show_labels(corpus, k)
    print()
    stability(corpus, k)
    time_at_scale(corpus, args.synthetic)
    for database in args.recompute_db:
        time_product_recompute(database)
    if args.experiments:
        experiments(corpus, k)


if __name__ == "__main__":
    main()
