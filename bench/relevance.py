"""Relevance on queries people type: the paraphrase set, pooled, judged blind, scored by half.

The set (`bench/paraphrase/queries.json`) holds kickoff descriptions,
questions and short keyword searches written the way a project manager types
them, none sharing a 3-word sequence with a lesson title
(`bench/paraphrase/check_overlap.py`). Each query carries written criteria
for grades 2 (directly useful), 1 (related) and 0. Queries split once into a
tuning half and a held-out half (`half` in the file); constants are chosen
on the tuning half only, and the held-out half says whether a change earned
its place.

The corpus is the 2,101 NASA lessons (imported through the `nasa` mapping)
plus the demo data, indexed by the product's own engine, cached in
/tmp/lessons-relevance-cache so a rerun starts in seconds.

Systems, each a ranking of lessons:
  bm25      the keyword side alone (FTS5 bm25 on SQLite)
  dense     the dense side alone (a lesson scores as its best passage)
  rrf       reciprocal rank fusion of those two, k = 60 (the naive baseline)
  product   `search.retrieve.search`, what /api/v1/search answers
  briefing  (kickoff descriptions) `search.briefing.generate` for a project
            with that description

Commands:
  rank FILE     save every system's ranking per query (to pool, or to score later)
  pool OUT RANKINGS...
                the union of the saved rankings' top 20 per query that nobody
                judged yet, shuffled with the system hidden, in batches for judges
  merge FILES   add judges' grades ({query id: {lesson key: grade}}) to
                bench/paraphrase/judgments.json
  eval          nDCG@10, Recall@10 (grade >= 1) and judged@10 per system,
                query kind and half
  latency       p50 / p95 of /api/v1/search over the set, three rounds
  tune          the ranking weights (`search.ranking.WEIGHTS`) chosen by coordinate
                ascent on the tuning half, with their held-out score
Run:
    .venv/bin/python bench/relevance.py eval [--systems product rrf ...]
"""

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NASA = ROOT.parent / "shared" / "data" / "nasa_llis_2101.csv"
SET = ROOT / "bench" / "paraphrase"
QUERIES = SET / "queries.json"
JUDGMENTS = SET / "judgments.json"
CACHE = Path("/tmp/lessons-relevance-cache")
TOP = 10
POOL_DEPTH = 20
DEPTH = 100
PROJECT_PREFIX = "Relevance kickoff "
SYSTEMS = ("bm25", "dense", "rrf", "product", "briefing")


def make_app():
    """The app on the cached corpus, NASA + demo, imported and indexed on first use."""
    os.environ["LESSONS_INSTANCE_PATH"] = str(CACHE / "instance")
    CACHE.mkdir(parents=True, exist_ok=True)
    from lessons.db import make_engine, upgrade
    from web import create_app

    url = f"sqlite:///{CACHE / 'corpus.db'}"
    upgrade(make_engine(url))  # a cache made by older code gets the newer schema
    app = create_app({"DATABASE_URL": url})
    if not (CACHE / "corpus.done").exists():
        runner = app.test_cli_runner()
        for args in (["demo", "load"], ["import", str(NASA), "--mapping", "nasa"]):
            result = runner.invoke(args=args)
            print(" ".join(args[:2]), "→", (result.output or str(result)).strip()[:300],
                  file=sys.stderr, flush=True)
        from web.engine import engine

        with app.app_context():
            engine().ready()
        (CACHE / "corpus.done").touch()
    return app


def lesson_key(lesson) -> str:
    """A key that survives a rebuilt cache: the NASA id, or the demo lesson's title."""
    return f"nasa:{lesson.external_id}" if lesson.external_id else f"demo:{lesson.title}"


def load_queries() -> list[dict]:
    return json.loads(QUERIES.read_text())


def load_judgments() -> dict[str, dict[str, int]]:
    return json.loads(JUDGMENTS.read_text()) if JUDGMENTS.exists() else {}


class Systems:
    """Each system's ranking of lesson keys for a query, inside one app context."""

    def __init__(self, session, search_engine):
        from sqlalchemy import select

        from lessons.models import Lesson

        self.session = session
        self.engine = search_engine.ready()
        self.keys = {lesson.id: lesson_key(lesson) for lesson in session.scalars(select(Lesson))}
        self.projects: dict[str, int] = {}

    def rank(self, system: str, query: dict) -> list[str]:
        ids = getattr(self, system)(query)
        return [self.keys[i] for i in ids]

    def bm25(self, query: dict) -> list[int]:
        from search.keyword import keyword_search
        from search.retrieve import live_conditions

        return [i for i, _ in keyword_search(self.session, query["text"], live_conditions(None),
                                             DEPTH)]

    def dense(self, query: dict) -> list[int]:
        vector = self.engine.embedder.encode([query["text"]])[0]
        return [i for i, _ in self.engine.dense(vector, DEPTH, None)]

    def rrf(self, query: dict) -> list[int]:
        scores: dict[int, float] = defaultdict(float)
        for ranking in (self.bm25(query), self.dense(query)):
            for rank, lesson_id in enumerate(ranking, start=1):
                scores[lesson_id] += 1 / (60 + rank)
        return sorted(scores, key=lambda i: -scores[i])

    def product(self, query: dict) -> list[int]:
        from search.retrieve import search

        return [hit.lesson.id for hit in search(self.engine, self.session, query["text"],
                                                limit=POOL_DEPTH * 2).hits]

    def briefing(self, query: dict) -> list[int]:
        from search.briefing import generate
        from web.engine import feeds

        if query["kind"] != "kickoff":
            return []
        project = self.project(query)
        briefing = generate(self.engine, self.session, project, feeds())
        self.session.commit()
        return [item.lesson_id for item in sorted(briefing.items, key=lambda item: item.rank)]

    def project(self, query: dict):
        from sqlalchemy import select

        from lessons.models import Project
        from lessons.services import create_project, update_project

        name = PROJECT_PREFIX + query["id"]
        project = self.session.scalar(select(Project).where(Project.name == name))
        if project is None:
            project = create_project(self.session, {"name": name, "description": query["text"],
                                                    "status": "proposed"})
        elif project.description != query["text"]:
            update_project(self.session, project.id, {"description": query["text"]})
        self.session.commit()
        return project


def ndcg(grades: list[int], judged: dict[str, int]) -> float:
    dcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(grades[:TOP], start=1))
    ideal = sorted(judged.values(), reverse=True)[:TOP]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def scores(ranking: list[str], judged: dict[str, int]) -> tuple[float, float, float]:
    """(nDCG@10, Recall@10 of lessons graded >= 1, judged@10) of one ranking."""
    top = ranking[:TOP]
    relevant = [key for key, grade in judged.items() if grade >= 1]
    recall = (sum(key in relevant for key in top) / min(len(relevant), TOP)) if relevant else 0.0
    judged_share = sum(key in judged for key in top) / max(len(top), 1)
    return ndcg([judged.get(key, 0) for key in top], judged), recall, judged_share


def rank_command(path: Path, systems: list[str]) -> None:
    """Save each system's top DEPTH per query: {query id: {system: [lesson keys]}}."""
    from web.database import db
    from web.engine import engine

    app = make_app()
    with app.app_context():
        run = Systems(db.session, engine())
        rankings = {query["id"]: {system: run.rank(system, query) for system in systems}
                    for query in load_queries()}
    path.write_text(json.dumps(rankings, indent=1, ensure_ascii=False))
    print(f"rankings of {', '.join(systems)} for {len(rankings)} queries → {path}")


def diversity(session, model: str, lesson_ids: list[int]) -> tuple[int, float]:
    """(pairs with cosine >= 0.85, mean pairwise cosine) of these lessons' mean passage
    vectors: how much a top 10 repeats itself."""
    from search.vectors import stored_rows

    rows = stored_rows(session, model, lesson_ids)
    means = [np.mean([np.frombuffer(r.vector, dtype=np.float32) for r in rows[i].values()], 0)
             for i in lesson_ids if rows[i]]
    vectors = np.array([m / max(float(np.linalg.norm(m)), 1e-9) for m in means])
    cosines = [float(vectors[a] @ vectors[b]) for a in range(len(vectors))
               for b in range(a + 1, len(vectors))]
    return sum(c >= 0.85 for c in cosines), float(np.mean(cosines)) if cosines else 0.0


def pool_command(rankings: list[Path], output: Path, batches: int, seed: int) -> None:
    """Blind batches to judge: every saved ranking's top POOL_DEPTH per query that nobody
    judged yet, shuffled, with the systems hidden. Writes OUTPUT-1.json … OUTPUT-N.json."""
    from sqlalchemy import select

    from lessons.models import Lesson
    from web.database import db

    judgments = load_judgments()
    saved = [json.loads(path.read_text()) for path in rankings]
    rng = random.Random(seed)
    app = make_app()
    items = []
    with app.app_context():
        by_key = {lesson_key(lesson): lesson for lesson in db.session.scalars(select(Lesson))}
        for query in load_queries():
            keys = {key for ranking in saved for keys in ranking.get(query["id"], {}).values()
                    for key in keys[:POOL_DEPTH]}
            keys -= set(judgments.get(query["id"], {}))
            ordered = sorted(keys)
            rng.shuffle(ordered)
            if ordered:
                items.append({"id": query["id"], "kind": query["kind"], "text": query["text"],
                              "criteria": query["criteria"],
                              "candidates": [card(key, by_key[key]) for key in ordered]})
    rng.shuffle(items)
    total = sum(len(item["candidates"]) for item in items)
    per_batch, batch, number = total / batches, [], 1
    for item in items:
        batch.append(item)
        if sum(len(i["candidates"]) for i in batch) >= per_batch or item is items[-1]:
            path = output.with_name(f"{output.stem}-{number}.json")
            path.write_text(json.dumps(batch, indent=1, ensure_ascii=False))
            print(f"{path}: {len(batch)} queries, {sum(len(i['candidates']) for i in batch)} "
                  "lessons")
            batch, number = [], number + 1
    print(f"{total} lessons to judge for {len(items)} queries")


def card(key: str, lesson) -> dict:
    """What a judge reads of a lesson: its title and the start of each text field."""
    def cut(text, limit):
        text = " ".join((text or "").split())
        return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"

    return {"key": key, "title": lesson.title,
            "what_happened": cut(lesson.what_happened, 500),
            "root_cause": cut(lesson.root_cause, 250),
            "recommendation": cut(lesson.recommendation, 350),
            "tags": lesson.tags}


def merge_command(files: list[Path]) -> None:
    judgments = load_judgments()
    added = 0
    for path in files:
        for query_id, grades in json.loads(path.read_text()).items():
            for key, grade in grades.items():
                if grade not in (0, 1, 2):
                    sys.exit(f"{path}: {query_id} {key}: grade {grade!r} is not 0, 1 or 2")
                judgments.setdefault(query_id, {})[key] = grade
                added += 1
    JUDGMENTS.write_text(json.dumps(judgments, indent=1, ensure_ascii=False, sort_keys=True))
    print(f"{added} grades merged; {sum(map(len, judgments.values()))} in all")


def eval_command(systems: list[str], kinds: list[str] | None = None,
                 saved: dict[str, Path] | None = None, half: str | None = None) -> dict:
    """Print (and return) each system's mean metrics by half and query kind; `saved`
    adds rankings saved by `rank` (by another version of the code), under their names."""
    from web.database import db
    from web.engine import engine

    judgments = load_judgments()
    queries = [q for q in load_queries() if q["id"] in judgments
               and (not kinds or q["kind"] in kinds) and (not half or q["half"] == half)]
    app = make_app()
    table: dict[tuple[str, str, str], list[tuple[float, float, float]]] = defaultdict(list)
    times: dict[str, list[float]] = defaultdict(list)
    earlier = {}
    for label, path in (saved or {}).items():
        for query_id, rankings in json.loads(path.read_text()).items():
            for system, ranking in rankings.items():
                earlier[(f"{label} {system}", query_id)] = ranking
    names = sorted({name for name, _ in earlier}) + systems
    rankings: dict[str, list[list[str]]] = defaultdict(list)
    with app.app_context():
        run = Systems(db.session, engine())
        for query in queries:
            for system in names:
                if system.endswith("briefing") and query["kind"] != "kickoff":
                    continue
                started = time.perf_counter()
                ranking = earlier.get((system, query["id"])) or run.rank(system, query)
                times[system].append(time.perf_counter() - started)
                if query["kind"] == "kickoff":
                    rankings[system].append(ranking)
                row = scores(ranking, judgments[query["id"]])
                for half in (query["half"], "all"):
                    for kind in (query["kind"], "all"):
                        table[(system, half, kind)].append(row)
    print_table(table, names)
    with app.app_context():
        ids = {key: i for i, key in Systems(db.session, engine()).keys.items()}
        for system in names:
            pairs = [diversity(db.session, engine().model, [ids[key] for key in ranking[:TOP]])
                     for ranking in rankings[system]]
            print(f"{system}: near-duplicate pairs (cosine >= 0.85) per top 10 "
                  f"{np.mean([p[0] for p in pairs]):.2f}, mean pairwise cosine "
                  f"{np.mean([p[1] for p in pairs]):.3f} over {len(pairs)} kickoff descriptions")
    for system in systems:
        if times[system]:
            print(f"{system}: median {1000 * float(np.median(times[system])):.0f} ms per query")
    return {key: tuple(np.mean(rows, axis=0)) for key, rows in table.items()}


def print_table(table, systems) -> None:
    kinds = ("all", "kickoff", "question", "keywords")
    for half in ("tuning", "held-out", "all"):
        print(f"\n{half}: nDCG@10 / Recall@10 / judged@10 (queries)")
        print("| system | " + " | ".join(kinds) + " |")
        print("| --- |" + " --- |" * len(kinds))
        for system in systems:
            cells = []
            for kind in kinds:
                rows = table.get((system, half, kind))
                if rows:
                    mean = np.mean(rows, axis=0)
                    cells.append(f"{mean[0]:.3f} / {mean[1]:.3f} / {mean[2]:.2f} ({len(rows)})")
                else:
                    cells.append("")
            print(f"| {system} | " + " | ".join(cells) + " |")


def query_pools(queries: list[dict]) -> list[tuple[dict, object]]:
    """Each query with the product's candidates (`Candidates.pool`), keyed as judged."""
    from search.acronyms import spelled_out
    from search.retrieve import candidates, check_query, live_conditions, query_vector
    from web.database import db
    from web.engine import engine

    app = make_app()
    out = []
    with app.app_context():
        run = Systems(db.session, engine())
        for query in queries:
            text = check_query(query["text"])
            # As `search.retrieve.search` embeds it.
            vector = query_vector(run.engine.embedder,
                                  spelled_out(db.session, text, live_conditions(None)))
            found = candidates(run.engine, db.session, vector, text, live_conditions(None), None)
            out.append((query, {run.keys[i]: c for i, c in found.pool.items()}))
    return out


def tune_command(rounds: int) -> None:
    """Coordinate ascent on nDCG@10 of the tuning half, per query-length bucket of
    `search.ranking.WEIGHTS`; prints the best weights and their held-out score."""
    from search.keyword import terms
    from search.ranking import SIGNALS, WEIGHTS, Weights, phrase_of, rank

    judgments = load_judgments()
    queries = [q for q in load_queries() if q["id"] in judgments]
    pools = query_pools(queries)
    grid = [0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0]

    def mean_ndcg(items, weights) -> float:
        values = []
        for query, pool in items:
            ids = {key: n for n, key in enumerate(pool)}
            by_id = {ids[key]: c for key, c in pool.items()}
            keys = {n: key for key, n in ids.items()}
            ranked = rank(by_id, terms(query["text"]), phrase_of(query["text"]), weights)
            values.append(scores([keys[i] for i in ranked], judgments[query["id"]])[0])
        return float(np.mean(values)) if values else 0.0

    low = 0
    for limit, shipped in WEIGHTS:
        bucket = [(q, p) for q, p in pools if low < len(terms(q["text"])) <= limit]
        low = limit
        tuning = [(q, p) for q, p in bucket if q["half"] == "tuning"]
        held = [(q, p) for q, p in bucket if q["half"] == "held-out"]
        best = list(shipped.as_tuple())
        best_score = mean_ndcg(tuning, Weights(*best))
        print(f"\nup to {limit} words: {len(tuning)} tuning, {len(held)} held-out queries; "
              f"shipped: tuning {best_score:.3f}, held-out {mean_ndcg(held, shipped):.3f}")
        for _ in range(rounds):
            improved = False
            for position in range(len(SIGNALS)):
                for value in grid:
                    trial = best.copy()
                    trial[position] = value
                    score = mean_ndcg(tuning, Weights(*trial))
                    if score > best_score + 1e-6:
                        best, best_score, improved = trial, score, True
            if not improved:
                break
        print(f"  best: {dict(zip(SIGNALS, best, strict=True))}")
        print(f"  tuning {best_score:.3f}, held-out {mean_ndcg(held, Weights(*best)):.3f}")


def latency_command(rounds: int, role: str) -> None:
    """Time /api/v1/search over the set, `rounds` times each query, as `lessons run` computes
    (on the request's thread: ONNX Runtime for a query's few pieces, torch otherwise): p50 and
    p95 per query kind, first round and later ones."""
    from sqlalchemy import select

    from lessons.actor import SYSTEM
    from lessons.models import User
    from lessons.services.users import create_token, create_user
    from search.embedder import compute_on_request_threads, freeze_heap
    from web.database import db
    from web.engine import engine

    compute_on_request_threads()
    app = make_app()
    with app.app_context():
        email = f"bench-{role}@example.org"
        user = db.session.scalar(select(User).where(User.email == email)) or create_user(
            db.session, email, role, "bench password 123", actor=SYSTEM)
        _, secret = create_token(db.session, user, "read", actor=SYSTEM)
        db.session.commit()
        engine().ready()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    queries = load_queries()
    client.get("/api/v1/search", query_string={"q": "warm up"}, headers=headers)
    freeze_heap()  # as `lessons run` does once warmed up
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for round_number in range(rounds):
        for query in queries:
            started = time.perf_counter()
            response = client.get("/api/v1/search", query_string={"q": query["text"]},
                                  headers=headers)
            elapsed = 1000 * (time.perf_counter() - started)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            which = "first" if round_number == 0 else "again"
            for kind in (query["kind"], "all"):
                times[(kind, which)].append(elapsed)
    print(f"/api/v1/search as {role}, {len(queries)} queries x {rounds}: p50 / p95 ms")
    print("| queries | first time | asked again |\n| --- | --- | --- |")
    for kind in ("all", "kickoff", "question", "keywords"):
        cells = [f"{np.percentile(times[(kind, w)], 50):.1f} / "
                 f"{np.percentile(times[(kind, w)], 95):.1f}" if times[(kind, w)] else ""
                 for w in ("first", "again")]
        print(f"| {kind} | " + " | ".join(cells) + " |")


def patch(assignment: str) -> None:
    """Set a module constant for an experiment: "search.briefing.RRF_K=30"."""
    import importlib

    target, value = assignment.split("=", 1)
    module, name = target.rsplit(".", 1)
    setattr(importlib.import_module(module), name, json.loads(value))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ranks = commands.add_parser("rank")
    ranks.add_argument("output", type=Path)
    ranks.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    pool = commands.add_parser("pool")
    pool.add_argument("output", type=Path)
    pool.add_argument("rankings", nargs="+", type=Path)
    pool.add_argument("--batches", type=int, default=8)
    pool.add_argument("--seed", type=int, default=7)
    merge = commands.add_parser("merge")
    merge.add_argument("files", nargs="+", type=Path)
    evaluate = commands.add_parser("eval")
    evaluate.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    evaluate.add_argument("--kinds", nargs="+", default=None)
    evaluate.add_argument("--half", choices=["tuning", "held-out"], default=None)
    evaluate.add_argument("--saved", nargs="+", default=[], metavar="LABEL=FILE",
                          help="rankings saved by `rank`, e.g. landed=/tmp/landed.json")
    evaluate.add_argument("--patch", nargs="+", default=[], metavar="MODULE.NAME=VALUE",
                          help="experiments: set a constant first, e.g. search.briefing.RRF_K=30")
    commands.add_parser("prepare")
    latency = commands.add_parser("latency")
    latency.add_argument("--rounds", type=int, default=3)
    latency.add_argument("--role", default="admin", choices=["admin", "pmo", "contributor"])
    latency.add_argument("--patch", nargs="+", default=[], metavar="MODULE.NAME=VALUE",
                         help="e.g. search.embedder.FEW=0: every query through torch")
    tune = commands.add_parser("tune")
    tune.add_argument("--rounds", type=int, default=3)
    tune.add_argument("--patch", nargs="+", default=[], metavar="MODULE.NAME=VALUE")
    args = parser.parse_args()
    if args.command == "rank":
        rank_command(args.output, args.systems)
    elif args.command == "pool":
        pool_command(args.rankings, args.output, args.batches, args.seed)
    elif args.command == "merge":
        merge_command(args.files)
    elif args.command == "eval":
        for assignment in args.patch:
            patch(assignment)
        eval_command(args.systems, args.kinds,
                     {label: Path(path) for label, path in (a.split("=", 1) for a in args.saved)},
                     args.half)
    elif args.command == "latency":
        for assignment in args.patch:
            patch(assignment)
        latency_command(args.rounds, args.role)
    elif args.command == "tune":
        for assignment in args.patch:
            patch(assignment)
        tune_command(args.rounds)
    else:
        make_app()


if __name__ == "__main__":
    csv.field_size_limit(sys.maxsize)
    main()
