"""Kickoff briefing quality: the briefing's top 10 against a plain search for the whole description.

The corpus is the 2,101 NASA LLIS lessons (imported through `lessons import
--mapping nasa` by bench/search_quality.py into /tmp/lessons-quality-cache/base.db)
plus the demo data. For each of the 20 kickoff descriptions in
bench/kickoff_descriptions.json a project is created with that description and
no lessons of its own, and two rankings are compared:

  briefing      the first 10 items, in rank order, of `search.briefing.generate`
  plain search  `search.retrieve.search(engine, session, description, limit=10)`

against the graded judgments in bench/kickoff_judgments.json (2 = the team
should read it at kickoff, 1 = somewhat useful, 0 = not relevant; a lesson
nobody judged counts as 0 and is reported). Metrics per method:

  nDCG@10        gains 2/1/0, the ideal DCG from every judged lesson of that description
  P@10           the share of the top 10 graded >= 1
  near-dups      pairs in the top 10 whose mean passage vectors have cosine >= 0.85
  mean cosine    mean pairwise cosine of those vectors in the top 10

and the same nDCG@10 and P@10 "condensed": unjudged lessons dropped from a
deeper ranking (all 15 briefing items, the plain search's top 20) before the
cut at 10, so a variant that surfaces lessons nobody judged is not punished
for it (Sakai's condensed lists). The judgments were pooled twice: from the
code of commit 6347b3b, then (2026-11-27) the lessons the code of that day
put in a top 10 that nobody had judged; later fusion changes may surface
lessons nobody judged again, so read the condensed figures next to the plain
ones, and judge a new pool with --pool when the count of unjudged grows.
Each description's judgments carry a "_criteria" string saying what counted.

It also times `generate` on the descriptions of 250 words or more (a warm-up,
then --runs timed runs, median and p95, the model already loaded), and, with
--experiments, reruns the briefing with other DIVERSITY / PER_ASPECT /
ASPECT_CHARS / RRF_K values monkeypatched in (experiments only; the shipped
defaults are the main result).

Work files live in /tmp/lessons-briefing-cache: a copy of base.db with the demo
loaded, indexed and the bench projects created, so a rerun starts in seconds.
Run:
    .venv/bin/python bench/briefing_quality.py [--experiments]
    .venv/bin/python bench/briefing_quality.py --pool /tmp/pool.json   # blind pool to judge
    .venv/bin/python bench/briefing_quality.py --speed-only             # timing alone
Timing shares the CPU with whatever else runs: on a 2-CPU machine another
process embedding text multiplies the embedding time several fold.
"""

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
BASE_CACHE = Path("/tmp/lessons-quality-cache")
CACHE = Path("/tmp/lessons-briefing-cache")
DESCRIPTIONS = ROOT / "bench" / "kickoff_descriptions.json"
JUDGMENTS = ROOT / "bench" / "kickoff_judgments.json"
TOP = 10
NEAR_DUPLICATE = 0.85
LONG_WORDS = 250  # descriptions timed for speed: the ~300-word ones
PROJECT_PREFIX = "Bench kickoff: "
EXPERIMENTS = [  # (label, {briefing module constant: value})
    ("DIVERSITY=0 (no MMR)", {"DIVERSITY": 0.0}),
    ("DIVERSITY=0.15", {"DIVERSITY": 0.15}),
    ("DIVERSITY=0.5", {"DIVERSITY": 0.5}),
    ("PER_ASPECT=10", {"PER_ASPECT": 10}),
    ("PER_ASPECT=60", {"PER_ASPECT": 60}),
    ("ASPECT_CHARS=800", {"ASPECT_CHARS": 800}),
    ("ASPECT_CHARS=200", {"ASPECT_CHARS": 200}),
    # briefing.RRF_K: how steeply an aspect's rank turns into score (1 / (RRF_K + rank));
    # 60 makes the sum over aspects nearly a vote count, so breadth beats a top match
    ("aspect RRF_K=60 (the first default)", {"RRF_K": 60}),
    ("aspect RRF_K=30", {"RRF_K": 30}),
    ("aspect RRF_K=5", {"RRF_K": 5}),
]


def wait_for_base(timeout: float) -> None:
    """Poll every 30 s until the other bench has finished base.db."""
    done = BASE_CACHE / "base.done"
    started = time.monotonic()
    while not done.exists():
        if time.monotonic() - started > timeout:
            sys.exit(f"{done} did not appear within {timeout:.0f} s")
        print(f"waiting for {done} ...", file=sys.stderr, flush=True)
        time.sleep(30)


def copy_base() -> None:
    """Copy base.db with its -wal and -shm together, then check the copy."""
    target = CACHE / "corpus.db"
    for suffix in ("", "-wal", "-shm"):
        (CACHE / f"corpus.db{suffix}").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = BASE_CACHE / f"base.db{suffix}"
        if source.exists():
            shutil.copy2(source, CACHE / f"corpus.db{suffix}")
    with sqlite3.connect(target) as connection:
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        lessons = connection.execute("SELECT count(*) FROM lessons").fetchone()[0]
        vectors = connection.execute("SELECT count(*) FROM passage_vectors").fetchone()[0]
    if check != "ok" or lessons < 2101 or not vectors:
        sys.exit(f"bad copy of base.db: integrity {check}, {lessons} lessons, {vectors} vectors")
    print(f"copied base.db: {lessons} lessons, {vectors} passage vectors", file=sys.stderr)


def make_app():
    os.environ["LESSONS_INSTANCE_PATH"] = str(CACHE / "instance")
    from web import create_app

    return create_app({"DATABASE_URL": f"sqlite:///{CACHE / 'corpus.db'}"})


def prepare(descriptions: list[dict], fresh: bool, wait_timeout: float):
    """The app on the cached corpus: NASA + demo, indexed, with one project per description."""
    if fresh:
        shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    ready = CACHE / "corpus.done"
    if not ready.exists():
        wait_for_base(wait_timeout)
        shutil.rmtree(CACHE / "instance", ignore_errors=True)
        copy_base()
    app = make_app()
    from lessons.demo import load_demo
    from lessons.models import Project
    from lessons.services import create_project
    from web.database import db
    from web.engine import engine

    with app.app_context():
        if not ready.exists():
            result = load_demo(db.session)
            db.session.commit()
            print(f"demo: {result.projects} projects, {result.lessons} lessons", file=sys.stderr)
        existing = set(db.session.scalars(select(Project.name)))
        for entry in descriptions:
            name = PROJECT_PREFIX + entry["name"]
            if name not in existing:
                create_project(db.session, {"name": name, "description": entry["description"],
                                            "status": "proposed"})
        db.session.commit()
        started = time.perf_counter()
        engine().ready()
        print(f"index ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        ready.touch()
    return app


def judgment_key(lesson) -> str:
    return lesson.external_id or f"demo:{lesson.title}"


def briefing_ranking(search_engine, session, project) -> list:
    """All the briefing's lessons in rank order (BRIEFING_SIZE of them), freshly generated."""
    from search.briefing import generate
    from web.engine import feeds

    briefing = generate(search_engine, session, project, feeds())
    return [item.lesson for item in sorted(briefing.items, key=lambda i: i.rank)]


def search_ranking(search_engine, session, project, limit: int = TOP) -> list:
    from search.retrieve import search

    return [hit.lesson for hit in search(search_engine, session, project.description,
                                         limit=limit).hits]


def lesson_vectors(session, model: str, lessons) -> dict[int, np.ndarray]:
    """Each lesson's mean passage vector, unit length."""
    from search.vectors import stored_rows

    rows = stored_rows(session, model, [lesson.id for lesson in lessons])
    result = {}
    for lesson in lessons:
        if rows[lesson.id]:
            mean = np.mean([np.frombuffer(r.vector, dtype=np.float32)
                            for r in rows[lesson.id].values()], axis=0)
            result[lesson.id] = mean / max(float(np.linalg.norm(mean)), 1e-9)
    return result


def diversity(session, model: str, lessons) -> tuple[int, float]:
    """(near-duplicate pairs, mean pairwise cosine) among `lessons`."""
    vectors = lesson_vectors(session, model, lessons)
    cosines = [float(vectors[a.id] @ vectors[b.id]) for a, b in combinations(lessons, 2)
               if a.id in vectors and b.id in vectors]
    return sum(c >= NEAR_DUPLICATE for c in cosines), (float(np.mean(cosines)) if cosines else 0.0)


def ndcg(grades: list[int], judged: dict[str, int]) -> float:
    dcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(grades[:TOP], start=1))
    ideal = sorted(judged.values(), reverse=True)[:TOP]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


class Scorer:
    """Metrics of one method over all descriptions, counting unjudged lessons.

    A row: (nDCG@10, P@10, near-duplicate pairs, mean pairwise cosine,
    condensed nDCG@10, condensed P@10).
    """

    def __init__(self, judgments: dict):
        self.judgments = judgments
        self.rows: list[tuple[float, ...]] = []
        self.unjudged: set[tuple[str, str]] = set()

    def add(self, key: str, top: list, deeper: list, session, model: str) -> tuple[float, ...]:
        """Score `top` (the first 10); `deeper`, a longer ranking, feeds the condensed ones."""
        judged = self.judgments.get(key, {})
        grades = []
        for lesson in top:
            name = judgment_key(lesson)
            if name not in judged:
                self.unjudged.add((key, name))
            grades.append(judged.get(name, 0))
        condensed = [judged[judgment_key(lesson)] for lesson in deeper
                     if judgment_key(lesson) in judged][:TOP]
        duplicates, mean_cosine = diversity(session, model, top)
        row = (ndcg(grades, judged), sum(g >= 1 for g in grades) / TOP, duplicates, mean_cosine,
               ndcg(condensed, judged), sum(g >= 1 for g in condensed) / TOP)
        self.rows.append(row)
        return row

    def means(self) -> tuple[float, ...]:
        return tuple(float(np.mean([row[i] for row in self.rows])) for i in range(6))


def bench_project(session, entry: dict):
    """The project created for one kickoff description."""
    from lessons.models import Project

    return session.scalar(select(Project).where(Project.name == PROJECT_PREFIX + entry["name"]))


def write_pool(app, descriptions: list[dict], path: Path, seed: int) -> None:
    """Both methods' top 10 per description, merged, shuffled, without saying who found what."""
    from web.database import db
    from web.engine import engine

    rng = random.Random(seed)
    pool = {}
    with app.app_context():
        search_engine = engine()
        for entry in descriptions:
            project = bench_project(db.session, entry)
            found = {judgment_key(lesson): lesson
                     for lesson in briefing_ranking(search_engine, db.session, project)[:TOP]}
            found.update({judgment_key(lesson): lesson
                          for lesson in search_ranking(search_engine, db.session, project)})
            db.session.rollback()
            items = [{"id": name, "title": lesson.title,
                      "what_happened": (lesson.what_happened or "")[:600],
                      "root_cause": (lesson.root_cause or "")[:500],
                      "recommendation": (lesson.recommendation or "")[:500]}
                     for name, lesson in found.items()]
            rng.shuffle(items)
            pool[entry["key"]] = {"name": entry["name"], "description": entry["description"],
                                  "lessons": items}
    path.write_text(json.dumps(pool, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"pool of {sum(len(p['lessons']) for p in pool.values())} lessons written to {path}")


def evaluate(app, descriptions, judgments, per_description: bool) -> dict[str, Scorer]:
    """Score both methods on every description; the briefings are kept (committed)."""
    from web.database import db
    from web.engine import engine

    scorers = {"briefing": Scorer(judgments), "plain search": Scorer(judgments)}
    lines = []
    with app.app_context():
        search_engine = engine()
        for entry in descriptions:
            project = bench_project(db.session, entry)
            briefed = briefing_ranking(search_engine, db.session, project)
            db.session.commit()
            briefing = briefed[:TOP]
            plain = search_ranking(search_engine, db.session, project)
            deeper = search_ranking(search_engine, db.session, project, limit=2 * TOP)
            b = scorers["briefing"].add(entry["key"], briefing, briefed, db.session,
                                        search_engine.model)
            p = scorers["plain search"].add(entry["key"], plain, deeper, db.session,
                                            search_engine.model)
            overlap = len({lesson.id for lesson in briefing} & {lesson.id for lesson in plain})
            lines.append(f"| {entry['key']} | {len(entry['description'].split())} "
                         f"| {b[0]:.3f} | {p[0]:.3f} | {b[1]:.1f} | {p[1]:.1f} "
                         f"| {b[2]} | {p[2]} | {overlap} |")
    if per_description:
        print("\n### Per description\n")
        print("| description | words | nDCG briefing | nDCG search | P@10 briefing | P@10 search "
              "| near-dups briefing | near-dups search | shared lessons |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        print("\n".join(lines))
    return scorers


def experiment(app, descriptions, judgments, overrides: dict) -> Scorer:
    """The briefing with briefing-module constants monkeypatched; nothing is kept."""
    import search.briefing as briefing_module
    from web.database import db
    from web.engine import engine

    saved = {name: getattr(briefing_module, name) for name in overrides}
    scorer = Scorer(judgments)
    try:
        for name, value in overrides.items():
            setattr(briefing_module, name, value)
        with app.app_context():
            search_engine = engine()
            for entry in descriptions:
                project = bench_project(db.session, entry)
                ranking = briefing_ranking(search_engine, db.session, project)
                scorer.add(entry["key"], ranking[:TOP], ranking, db.session, search_engine.model)
                db.session.rollback()
    finally:
        for name, value in saved.items():
            setattr(briefing_module, name, value)
    return scorer


def time_generate(app, descriptions, runs: int) -> tuple[list[float], list[float], int, list[int]]:
    """Seconds per `generate` on the long descriptions, after a warm-up (model loaded),
    and seconds to embed the same aspects alone (the model's share of it)."""
    from search.briefing import generate, project_aspects
    from web.database import db
    from web.engine import engine, feeds

    long = [e for e in descriptions if len(e["description"].split()) >= LONG_WORDS]
    times, encoding = [], []
    with app.app_context():
        search_engine = engine()
        projects = [bench_project(db.session, entry) for entry in long]
        aspects = [len(project_aspects(p)) for p in projects]
        for project in projects:  # warm-up: model, caches, SQLite pages
            generate(search_engine, db.session, project, feeds())
            db.session.rollback()
        for run in range(runs):
            project = projects[run % len(projects)]
            started = time.perf_counter()
            generate(search_engine, db.session, project, feeds())
            db.session.flush()
            times.append(time.perf_counter() - started)
            db.session.rollback()
            texts = [aspect.text for aspect in project_aspects(project)]
            started = time.perf_counter()
            search_engine.embedder.encode(texts)
            encoding.append(time.perf_counter() - started)
    return times, encoding, len(long), aspects


def report_speed(app, descriptions, runs: int) -> None:
    """Print the timing table of `generate`."""
    times, encoding, long, aspects = time_generate(app, descriptions, max(runs, 20))
    print(f"\n### Speed of `generate` ({len(times)} timed runs over the {long} descriptions of "
          f">= {LONG_WORDS} words, {min(aspects)}-{max(aspects)} aspects each, after a warm-up; "
          f"{os.cpu_count()} CPUs)\n")
    print("| what | median | p95 | max | goal |\n| --- | --- | --- | --- | --- |")
    print(f"| `generate` | {statistics.median(times):.3f} s | {p95(times):.3f} s "
          f"| {max(times):.3f} s | p95 <= 1 s |")
    print(f"| of which embedding the aspects (timed apart) | {statistics.median(encoding):.3f} s "
          f"| {p95(encoding):.3f} s | {max(encoding):.3f} s | |")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--descriptions", type=Path, default=DESCRIPTIONS)
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS)
    parser.add_argument("--pool", type=Path, help="Write the blind judging pool here and stop.")
    parser.add_argument("--seed", type=int, default=2101, help="Shuffle seed of the pool.")
    parser.add_argument("--runs", type=int, default=24, help="Timed generate runs (>= 20).")
    parser.add_argument("--experiments", action="store_true",
                        help="Also rerun the briefing with other parameter values.")
    parser.add_argument("--speed-only", action="store_true",
                        help="Only time generate (on a quiet machine: other load skews it).")
    parser.add_argument("--fresh", action="store_true", help="Rebuild the cached corpus copy.")
    parser.add_argument("--wait", type=float, default=3600, help="Seconds to wait for base.done.")
    args = parser.parse_args()
    started = time.perf_counter()
    descriptions = json.loads(args.descriptions.read_text(encoding="utf-8"))
    app = prepare(descriptions, args.fresh, args.wait)
    if args.pool:
        write_pool(app, descriptions, args.pool, args.seed)
        return
    if args.speed_only:
        report_speed(app, descriptions, args.runs)
        print(f"\nWall time: {time.perf_counter() - started:.0f} s")
        return
    raw = json.loads(args.judgments.read_text(encoding="utf-8"))
    judgments = {key: {name: grade for name, grade in grades.items() if not name.startswith("_")}
                 for key, grades in raw.items() if not key.startswith("_")}
    count = sum(len(v) for v in judgments.values())

    from lessons.models import Lesson
    from web.database import db

    with app.app_context():
        nasa = db.session.scalar(select(func.count()).select_from(Lesson).where(
            Lesson.external_id.is_not(None)))
        demo = db.session.scalar(select(func.count()).select_from(Lesson).where(
            Lesson.external_id.is_(None)))
    print("## Kickoff briefing vs plain search\n")
    print(f"Corpus: {nasa} NASA lessons + {demo} demo lessons; {len(descriptions)} kickoff "
          f"descriptions; {count} graded judgments.\n")
    scorers = evaluate(app, descriptions, judgments, per_description=True)
    print("\n### Result (shipped defaults)\n")
    print("| method | nDCG@10 | P@10 | near-duplicate pairs (cos >= 0.85) per top 10 "
          "| mean pairwise cosine | condensed nDCG@10 | condensed P@10 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, scorer in scorers.items():
        n, p, d, c, cn, cp = scorer.means()
        total = sum(row[2] for row in scorer.rows)
        print(f"| {name} | {n:.3f} | {p:.3f} | {d:.2f} (total {total}) | {c:.3f} "
              f"| {cn:.3f} | {cp:.3f} |")
    pairs = list(zip(scorers["briefing"].rows, scorers["plain search"].rows, strict=True))
    wins = sum(b[0] > p[0] for b, p in pairs)
    losses = sum(b[0] < p[0] for b, p in pairs)
    print(f"\nnDCG@10 per description: the briefing is ahead on {wins}, behind on {losses}, "
          f"level on {len(descriptions) - wins - losses}.")
    unjudged = scorers["briefing"].unjudged | scorers["plain search"].unjudged
    print(f"\nUnjudged lessons in these top 10s (counted as 0): {len(unjudged)} "
          f"({len(scorers['briefing'].unjudged)} in the briefings, "
          f"{len(scorers['plain search'].unjudged)} in the plain searches).")

    report_speed(app, descriptions, args.runs)

    if args.experiments:
        import search.briefing as briefing_module

        defaults = ", ".join(f"{n}={getattr(briefing_module, n)}"
                             for n in ("DIVERSITY", "PER_ASPECT", "ASPECT_CHARS", "RRF_K"))
        print(f"\n### Experiments (monkeypatched in this run only; shipped: {defaults})\n")
        print("| briefing variant | nDCG@10 | P@10 | near-dups per top 10 | mean cosine "
              "| unjudged in top 10s (counted 0) | condensed nDCG@10 | condensed P@10 |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, overrides in [("shipped defaults", {})] + EXPERIMENTS:
            scorer = experiment(app, descriptions, judgments, overrides)
            n, p, d, c, cn, cp = scorer.means()
            print(f"| {label} | {n:.3f} | {p:.3f} | {d:.2f} | {c:.3f} | {len(scorer.unjudged)} "
                  f"| {cn:.3f} | {cp:.3f} |", flush=True)
    print(f"\nCommand: .venv/bin/python bench/briefing_quality.py"
          f"{' --experiments' if args.experiments else ''}")
    print(f"Wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
