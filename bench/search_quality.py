"""Retrieval quality on the 2,101 NASA lessons: keyword-only, dense-only and hybrid.

Two self-supervised query sets, as the search engine issue defines them:
  recommendation  the query is a lesson's Recommendation(s) text (its first
                  1,000 characters); the relevant document is that lesson,
                  indexed without its recommendation.
  title           the query is a lesson's title; the relevant document is that
                  lesson, indexed with its title replaced by its LLIS id.
Each lesson is its own single relevant document, so nDCG@10 = 1/log2(1+rank),
Recall@10 = [rank <= 10] and MRR = 1/rank (ranks past 100 count as misses).

It also measures the embedding choice against the obvious alternative: the
product embeds each lesson as passages (a lesson scores as its best passage);
the alternative is one vector per lesson from all its text, which the model
truncates at 256 word pieces.

The data goes in through `lessons import --mapping nasa`, the vectors through
the product's own engine. Work files live in /tmp/lessons-quality-cache so a
rerun skips what is done. --budgets re-runs the keyword side under other
values of search.keyword.POSTINGS_BUDGET (the dense side as cached). Run:
    .venv/bin/python bench/search_quality.py [--data ../shared/data/nasa_llis_2101.csv]
    .venv/bin/python bench/search_quality.py --budgets 1000000000 50000 1050 630
"""

import argparse
import csv
import math
import os
import pickle
import shutil
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nasa_llis_2101.csv"
CACHE = Path("/tmp/lessons-quality-cache")
QUERY_CHARS = 1_000
DEPTH = 100


def make_app(name: str):
    """An app on the SQLite file `<cache>/<name>.db` with its own instance folder."""
    os.environ["LESSONS_INSTANCE_PATH"] = str(CACHE / f"{name}-instance")
    from web import create_app

    return create_app({"DATABASE_URL": f"sqlite:///{CACHE / name}.db"})


def imported_base(data: Path):
    """The NASA file imported through `lessons import`, indexed by the product's engine."""
    app = make_app("base")
    if not (CACHE / "base.done").exists():
        from lessons.db import make_engine, upgrade

        upgrade(make_engine(f"sqlite:///{CACHE / 'base'}.db"))
        result = app.test_cli_runner().invoke(args=["import", str(data), "--mapping", "nasa"])
        print(result.output.strip().splitlines()[0] if result.output else result, flush=True)
        (CACHE / "base.done").touch()
    return app


def variant(name: str, change) -> object:
    """A copy of the base database with `change(lesson)` applied to every lesson, re-indexed."""
    app = make_app(name)
    if not (CACHE / f"{name}.done").exists():
        shutil.copy(CACHE / "base.db", CACHE / f"{name}.db")
        from lessons.models import Lesson
        from lessons.services import update_lesson
        from web.database import db

        with app.app_context():
            lessons = db.session.scalars(select(Lesson)).all()
            for lesson in lessons:
                update_lesson(db.session, lesson.id, change(lesson), actor="bench")
            db.session.commit()
        (CACHE / f"{name}.done").touch()
    from web.engine import engine

    with app.app_context():
        started = time.perf_counter()
        engine().ready()
        print(f"{name}: index ready in {time.perf_counter() - started:.0f} s", flush=True)
    return app


def rank_of(target: int, ranking) -> int | None:
    for rank, (lesson_id, _) in enumerate(ranking[:DEPTH], start=1):
        if lesson_id == target:
            return rank
    return None


def metrics(ranks: list[int | None]) -> tuple[float, float, float]:
    """(nDCG@10, Recall@10, MRR) for one relevant document per query."""
    ndcg = np.mean([1 / math.log2(1 + r) if r and r <= 10 else 0.0 for r in ranks])
    recall = np.mean([1.0 if r and r <= 10 else 0.0 for r in ranks])
    mrr = np.mean([1 / r if r else 0.0 for r in ranks])
    return float(ndcg), float(recall), float(mrr)


def single_vector_index(app, embedder):
    """The alternative: one vector per lesson from all its embedded text."""
    from lessons.models import Lesson
    from search.passages import EMBEDDED_FIELDS
    from web.database import db

    with app.app_context():
        lessons = db.session.scalars(select(Lesson).where(Lesson.deleted_at.is_(None))).all()
        texts = ["\n".join(filter(None, [lesson.title]
                                 + [getattr(lesson, f) for f in EMBEDDED_FIELDS]))
                 for lesson in lessons]
        ids = np.array([lesson.id for lesson in lessons], dtype=np.int64)
    vectors = embedder.encode(texts)
    index = faiss.IndexIDMap(faiss.IndexFlatIP(embedder.dim))
    index.add_with_ids(vectors, ids)
    return index


def rankings_for(app, queries: list[tuple[int, str]], label: str) -> list[dict]:
    """Per query: the relevant lesson and the keyword, dense and one-vector rankings (cached)."""
    cached = CACHE / f"{label}-rankings.pickle"
    if cached.exists():
        return pickle.loads(cached.read_bytes())
    from lessons.models import Lesson
    from lessons.services.lessons import lesson_conditions
    from search.keyword import keyword_search
    from search.retrieve import candidates
    from web.database import db
    from web.engine import engine

    with app.app_context():
        search_engine = engine()
        by_external = dict(db.session.execute(select(Lesson.external_id, Lesson.id)).all())
        texts = [text for _, text in queries]
        started = time.perf_counter()
        vectors = search_engine.embedder.encode(texts)
        print(f"{label}: {len(texts)} queries embedded in {time.perf_counter() - started:.0f} s",
              flush=True)
        single = single_vector_index(app, search_engine.embedder)
        conditions = lesson_conditions({"state": "active"})
        result = []
        for (external_id, text), vector in zip(queries, vectors, strict=True):
            scores, labels = single.search(vector.reshape(1, -1), DEPTH)
            result.append({
                "target": by_external[external_id],
                "keyword": keyword_search(db.session, text, conditions, DEPTH),
                "dense": search_engine.dense(vector, DEPTH, None),
                "one": [(int(i), float(s))
                        for i, s in zip(labels[0], scores[0], strict=True) if i >= 0],
                "shipped": list(candidates(search_engine, db.session, vector, text, conditions,
                                           None, DEPTH).fused.items()),
            })
    cached.write_bytes(pickle.dumps(result))
    return result


def evaluate(runs: list[dict]) -> list[tuple[str, tuple]]:
    """The metrics of every method on the cached rankings."""
    methods = {
        "keyword only": lambda r: r["keyword"],
        "dense only, passages (shipped)": lambda r: r["dense"],
        "dense only, one vector per lesson": lambda r: r["one"],
        "hybrid (shipped: search.ranking)": lambda r: r["shipped"],
        "hybrid, passages, convex fusion 0.4 (shipped before)": lambda r: convex(
            r["dense"], r["keyword"], 0.4),
        "hybrid, one vector per lesson, convex fusion 0.4": lambda r: convex(
            r["one"], r["keyword"], 0.4),
        "hybrid, RRF k=60": lambda r: rrf(r["dense"], r["keyword"], 60),
        "hybrid, RRF k=10": lambda r: rrf(r["dense"], r["keyword"], 10),
    }
    for alpha in (0.3, 0.4, 0.5, 0.6, 0.7):
        methods[f"hybrid, convex combination, dense weight {alpha}"] = (
            lambda r, a=alpha: convex(r["dense"], r["keyword"], a))
    return [(name, metrics([rank_of(r["target"], method(r)) for r in runs]))
            for name, method in methods.items()]


def keyword_budgets(app, queries: list[tuple[int, str]], runs: list[dict],
                    budgets: list[int]) -> None:
    """The keyword side re-run under other POSTINGS_BUDGET values; the dense side as cached."""
    from lessons.services.lessons import lesson_conditions
    from search import keyword
    from web.database import db

    shipped = keyword.POSTINGS_BUDGET
    print("| postings budget | keyword nDCG@10 | hybrid nDCG@10 | keyword ms/query |\n"
          "| --- | --- | --- | --- |")
    with app.app_context():
        conditions = lesson_conditions({"state": "active"})
        for budget in budgets:
            keyword.POSTINGS_BUDGET = budget
            started = time.perf_counter()
            rankings = [keyword.keyword_search(db.session, text, conditions, DEPTH)
                        for _, text in queries]
            elapsed = (time.perf_counter() - started) / len(queries) * 1000
            alone = metrics([rank_of(r["target"], k) for r, k in zip(runs, rankings, strict=True)])
            fused = metrics([rank_of(r["target"], convex(r["dense"], k, 0.4))
                             for r, k in zip(runs, rankings, strict=True)])
            print(f"| {budget:,}{' (shipped)' if budget == shipped else ''} | {alone[0]:.3f} "
                  f"| {fused[0]:.3f} | {elapsed:.1f} |")
    keyword.POSTINGS_BUDGET = shipped


def convex(dense, keyword, dense_weight: float):
    """Each side's scores min-max normalised per query, combined with `dense_weight` (the
    fusion shipped before search.ranking)."""
    scores: dict[int, float] = {}
    for weight, ranking in ((dense_weight, dense), (1 - dense_weight, keyword)):
        if ranking:
            low, high = min(s for _, s in ranking), max(s for _, s in ranking)
            for lesson_id, score in ranking:
                scores[lesson_id] = scores.get(lesson_id, 0.0) + weight * (
                    (score - low) / (high - low) if high > low else 1.0)
    return sorted(scores.items(), key=lambda item: -item[1])


def rrf(dense, keyword, k: int):
    """Reciprocal rank fusion with constant `k`."""
    scores: dict[int, float] = {}
    for ranking in (dense, keyword):
        for rank, (lesson_id, _) in enumerate(ranking, start=1):
            scores[lesson_id] = scores.get(lesson_id, 0.0) + 1 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--fresh", action="store_true", help="Forget the cached work files.")
    parser.add_argument("--budgets", type=int, nargs="*", default=[],
                        help="Also re-run the keyword side with these POSTINGS_BUDGET values.")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(exist_ok=True)
    started = time.perf_counter()
    csv.field_size_limit(sys.maxsize)
    with open(args.data, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    imported_base(args.data)
    recommendation = variant("no-recommendation", lambda lesson: {"recommendation": None})
    title = variant("no-title", lambda lesson: {"title": lesson.external_id})
    sets = {
        "recommendation": (recommendation, [
            (f"LLIS-{row['Lesson ID']}", row["Recommendation(s)"].strip()[:QUERY_CHARS])
            for row in rows if len(row["Recommendation(s)"].strip()) >= 20]),
        "title": (title, [(f"LLIS-{row['Lesson ID']}", row["Title"].strip()) for row in rows]),
    }
    print(f"\nCommand: .venv/bin/python bench/search_quality.py --data {args.data}\n")
    for name, (app, queries) in sets.items():
        runs = rankings_for(app, queries, name)
        print(f"\n### Query = {name} ({len(queries)} queries, {len(rows)} lessons)\n")
        print("| method | nDCG@10 | Recall@10 | MRR |\n| --- | --- | --- | --- |")
        for method, (ndcg, recall, mrr) in evaluate(runs):
            print(f"| {method} | {ndcg:.3f} | {recall:.3f} | {mrr:.3f} |")
        if args.budgets:
            print()
            keyword_budgets(app, queries, runs, args.budgets)
    print(f"\nWall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
