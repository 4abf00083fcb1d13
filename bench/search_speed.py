"""How fast capture, search, index rebuilds and bulk embedding are, against the issue's goals.

Four measurements, each printed as it finishes and summed up at the end in a
Markdown table that can be pasted into bench/README.md:

1. Capture → searchable (server side). An app holding the 2,101 NASA LLIS
   lessons (imported and embedded once, then cached under
   /tmp/lessons-bench-cache) takes N `POST /api/v1/lessons` of new lessons
   recombined from real NASA sentences through the Flask test client. The
   app's after_request hook embeds and indexes each lesson before the
   response leaves, so the POST time is the time until the lesson is
   searchable. A `GET /api/v1/search?q=<title>` after each POST checks that
   the new lesson is in the top 5. Goal: p95 ≤ 150 ms.

2. Search latency, query embedding included, at 10k and 100k lessons. Real
   lessons cannot be embedded at that scale on two cores, so the lessons are
   synthetic: real NASA sentences (a sample of them embedded once, cached as
   .npy) recombined 3-8 at a time, each passage vector being the normalised
   mean of its sentences' vectors. Lessons and vectors are bulk-inserted with
   SQLAlchemy Core (the FTS5 triggers still fire, so keyword search is real),
   the index is rebuilt from the stored vectors (`SearchEngine.rebuild()` with
   nothing to embed, timed as a whole and in parts: goal ≤ 10 s at 100k), then
   the full hybrid `search.retrieve.search` is timed over real NASA titles and
   recommendation snippets, with query embedding, FAISS and FTS5 also timed
   alone to show where the time goes, and FAISS under a 50-lesson filter.
   Goals: p95 ≤ 50 ms at 10k, ≤ 100 ms at 100k.

3. IVF recall. Past EXACT_LIMIT lessons the index becomes IVF; its recall@10
   (over lesson ids) against the exact flat index is measured on the largest
   synthetic collection, for the app's nprobe and a range of others.
   Goal: recall@10 ≥ 0.95. Also: how many lessons a filtered search returns
   from IVF against the flat index, and one flat scan at real NASA density
   (6.5 vectors per lesson, where the synthetic lessons have about 1.35).

4. Bulk embedding. Passages of ~600 NASA lessons are encoded (a) by
   sentence-transformers' own `encode()` in one call and (b) through the
   app's `SearchEngine.embed()` (chunking, encoding and storing), alternately,
   twice. Goal: (b) ≥ 90 % of (a)'s passages per second. Between them, (c)
   the app's encode calls without the database, to tell a batching cost from
   a database cost.

Nothing is asserted: the script prints numbers. Timings use time.perf_counter;
the model is loaded and warmed up before anything is timed. Torch computes
on one thread, as `lessons run` serves requests (`--torch-threads 0` keeps
torch's default of every core, which collapses on a shared machine: with one
other busy process on two cores, a one-query encode went from ~15 ms to
~450 ms). FAISS keeps its default. The 1-minute load average is printed with
each part and summed up at the end.

    .venv/bin/python bench/search_speed.py            # the full run, 15-30 minutes
    .venv/bin/python bench/search_speed.py --quick    # a smoke run of a few minutes
"""

import argparse
import csv
import hashlib
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path("/work/shared/data/nasa_llis_2101.csv")
CACHE = Path("/tmp/lessons-bench-cache")
# Bump when what is cached (the NASA app database, synthetic databases, sentence
# vectors) would come out differently. A hash of the migrations and of
# search/passages.py is part of every key as well, so a schema change (even one
# edited into an existing migration) or a chunking change rebuilds the caches.
VERSION = "search-speed-2"
SYNTHETIC_VERSION = "gen2"  # bump when synthetic_lessons() makes different lessons
FIELDS_OF_TEXT = ("Abstract", "Driving Event", "Lesson(s) Learned", "Recommendation(s)")

# Imported after the constants so `--help` stays instant; these pull in torch lazily anyway.
from sqlalchemy import delete, func, insert, select  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from lessons.db import make_engine, upgrade  # noqa: E402
from lessons.fields import DEFAULT_CATEGORIES  # noqa: E402
from lessons.imports.importer import run_import  # noqa: E402
from lessons.imports.mappings import load_mapping  # noqa: E402
from lessons.imports.tables import open_table  # noqa: E402
from lessons.models import Lesson, PassageVector  # noqa: E402
from search import vectors as vector_store  # noqa: E402
from search.embedder import DEFAULT_MODEL, get_embedder  # noqa: E402
from search.engine import SYNC_BATCH, SearchEngine  # noqa: E402
from search.faiss_index import EXACT_LIMIT, FaissIndex, ivf_index  # noqa: E402
from search.keyword import keyword_search  # noqa: E402
from search.passages import MAX_PASSAGES, PASSAGE_CHARS, SENTENCE_END, lesson_passages  # noqa: E402
from search.retrieve import CANDIDATES, live_conditions, search, search_by_vector  # noqa: E402
from search.snapshot import save_snapshot  # noqa: E402

# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(message, flush=True)


def ms(seconds: float) -> float:
    return seconds * 1000.0


def p50_p95(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds, of durations in seconds."""
    p50, p95 = np.percentile(np.asarray(samples) * 1000.0, [50, 95])
    return float(p50), float(p95)


def fmt_pair(samples: Sequence[float]) -> str:
    p50, p95 = p50_p95(samples)
    return f"{p50:.1f} / {p95:.1f} ms"


LOADS: list[float] = []  # 1-minute load averages seen, for the report


def load() -> str:
    """The 1-minute load average: a busy machine (another benchmark) inflates every timing."""
    LOADS.append(os.getloadavg()[0])
    return f"{LOADS[-1]:.2f}"


@contextmanager
def section(title: str) -> Iterator[None]:
    log(f"\n## {title}  (load {load()})")
    start = time.perf_counter()
    yield
    log(f"   … {time.perf_counter() - start:.1f} s  (load {load()})")


def cache_key(*parts: Any) -> str:
    """A folder name that changes when the schema, the chunking or the script's VERSION does."""
    from lessons.db import MIGRATIONS
    from search import passages

    digest = hashlib.sha256()
    for path in [*sorted((MIGRATIONS / "versions").glob("*.py")), Path(passages.__file__)]:
        digest.update(path.read_bytes())
    return "-".join(str(p) for p in (VERSION, digest.hexdigest()[:10],
                                     f"p{PASSAGE_CHARS}x{MAX_PASSAGES}", DEFAULT_MODEL, *parts))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def checkpoint_and_dispose(engine) -> None:
    """Fold the WAL into the main file so the database can be copied as one file."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def copy_database(source: Path, target: Path) -> None:
    for file in source.parent.glob(source.name + "*"):  # the -wal / -shm files, if any
        shutil.copy2(file, target.parent / file.name.replace(source.name, target.name))


def publish(build: Path, final: Path) -> None:
    """Move a finished cache folder into place; a half-built one never looks finished."""
    (build / "complete").write_text(datetime.now(UTC).isoformat())
    if final.exists():
        shutil.rmtree(final)
    build.rename(final)


# --------------------------------------------------------------------------- NASA text


def nasa_rows() -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)  # some LLIS fields exceed csv's 128 KiB default
    with open(DATA, encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def nasa_sentences(rows: Sequence[dict[str, str]]) -> list[str]:
    """Distinct sentences of the NASA texts, split as search.passages splits them.

    Only sentences that end in punctuation and fit a passage are kept, so a
    run of them joined by spaces is cut by `lesson_passages` at exactly the
    same places; that is what lets each synthetic passage vector be built from
    the sentences the passage really contains.
    """
    seen: dict[str, None] = {}
    for row in rows:
        for column in FIELDS_OF_TEXT:
            for sentence in SENTENCE_END.split(row.get(column) or ""):
                sentence = " ".join(sentence.split())
                if 30 <= len(sentence) <= 300 and sentence[-1] in ".!?;:":
                    seen.setdefault(sentence, None)
    return list(seen)


def nasa_queries(rows: Sequence[dict[str, str]], count: int, seed: int) -> list[str]:
    """Real NASA titles and recommendation snippets (≤ 300 characters, cut at a word),
    alternately."""
    rng = random.Random(seed)
    titles = [" ".join(r["Title"].split()) for r in rows if r["Title"].strip()]
    snippets = []
    for row in rows:
        recommendation = " ".join((row.get("Recommendation(s)") or "").split())
        if len(recommendation) >= 40:
            cut = recommendation[:300]
            if len(recommendation) > 300 and " " in cut:
                cut = cut[:cut.rfind(" ")]
            snippets.append(cut)
    rng.shuffle(titles)
    rng.shuffle(snippets)
    queries = []
    # As many pairs as the shorter list has: the rest of the longer one is not wanted.
    for title, snippet in zip(titles, snippets, strict=False):
        queries += [title, snippet]
    return queries[:count]


def embed_sentences(sentences: list[str]) -> np.ndarray:
    """Unit vectors of `sentences`, cached as .npy keyed by the sentences' own hash."""
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:16]
    path = CACHE / f"sentences-{cache_key(len(sentences), digest)}.npy"
    if path.exists():
        matrix = np.load(path)
        log(f"   sentence vectors: {len(sentences):,} from cache {path.name}")
        return matrix
    embedder = get_embedder(DEFAULT_MODEL)
    start = time.perf_counter()
    # One call, so sentence-transformers sorts the whole list by length: the fastest way.
    matrix = embedder.encode(sentences, batch_size=64)
    elapsed = time.perf_counter() - start
    log(f"   embedded {len(sentences):,} sentences in {elapsed:.1f} s "
        f"({len(sentences) / elapsed:.0f}/s)")
    CACHE.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp.npy")
    np.save(temp, matrix)
    temp.rename(path)
    return matrix


# --------------------------------------------------------------------------- 1. capture


def nasa_app_cache(rows_wanted: int) -> Path:
    """A folder with bench.db (the NASA lessons, embedded) and instance/ (its index snapshot).

    Importing and embedding 2,101 lessons takes minutes on two cores, so it is
    done once; every run works on a copy, because captures add lessons.
    """
    final = CACHE / f"nasa-{cache_key(rows_wanted)}"
    if (final / "complete").exists():
        log(f"   NASA app database from cache {final}")
        return final
    from web import create_app
    from web.database import db
    from web.engine import engine as app_engine

    CACHE.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="nasa-build-", dir=CACHE))
    source = DATA
    if rows_wanted < 2101:  # --quick: a smaller export, so a smoke run stays short
        source = build / "subset.csv"
        write_llis_subset(source, rows_wanted, seed=1)
    url = sqlite_url(build / "bench.db")
    upgrade(make_engine(url))
    os.environ["LESSONS_INSTANCE_PATH"] = str(build / "instance")
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        start = time.perf_counter()
        report = import_nasa(db.session, source)
        log(f"   imported {len(report.created)} lessons ({len(report.rejected)} rejected) "
            f"in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        app_engine().ready()  # embeds every passage, builds the index, writes the snapshot
        log(f"   embedded and indexed them in {time.perf_counter() - start:.1f} s "
            f"({app_engine().index.count:,} passage vectors)")
        db.session.close()
        checkpoint_and_dispose(db.engine)
    publish(build, final)
    return final


def import_nasa(session: Any, path: Path) -> Any:
    """`lessons import PATH --mapping nasa`, without embedding (the caller times that)."""
    return run_import(session, open_table(path), load_mapping("nasa"), actor="bench")


def write_llis_subset(path: Path, count: int, seed: int) -> list[dict[str, str]]:
    """A CSV of `count` random LLIS rows, with the export's own header (read by import_nasa)."""
    csv.field_size_limit(sys.maxsize)
    with open(DATA, encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        header, rows = reader.fieldnames, list(reader)
    chosen = sorted(random.Random(seed).sample(range(len(rows)), min(count, len(rows))))
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows[i] for i in chosen)
    return [rows[i] for i in chosen]


def capture_payloads(sentences: list[str], rows: Sequence[dict[str, str]], count: int,
                     seed: int) -> list[dict[str, Any]]:
    """New lessons as a person would type them, made of real NASA sentences.

    The title is a short sentence found in only one NASA lesson and not in
    capitals (boilerplate headings such as "FINDINGS, OBSERVATIONS AND
    RECOMMENDATIONS" recur in dozens of lessons: a title nobody would type, and
    one that many lessons match better), nor a fragment ("others are software
    or programs", cut off at a colon);
    the body fields hold 2-5, 1-3 and 1-3 other sentences, as in a filled-in
    capture form.
    """
    rng = random.Random(seed)
    lessons_with: dict[str, int] = {}
    for row in rows:
        for sentence in set(nasa_sentences([row])):
            lessons_with[sentence] = lessons_with.get(sentence, 0) + 1
    # A title reads like one: a whole sentence (capitalised, five words or more).
    short = [s for s in sentences
             if len(s) <= 100 and lessons_with.get(s) == 1 and any(c.islower() for c in s)
             and s[0].isupper() and len(s.split()) >= 5]
    titles = rng.sample(short, count)
    topics = sorted({t.strip() for r in rows for t in (r.get("Topics") or "").split(",")
                     if t.strip() and len(t.strip()) <= 50})
    payloads = []
    for title in titles:
        payloads.append({
            "title": title.rstrip(".;:"),
            "what_happened": " ".join(rng.sample(sentences, rng.randint(2, 5))),
            "root_cause": " ".join(rng.sample(sentences, rng.randint(1, 3))),
            "recommendation": " ".join(rng.sample(sentences, rng.randint(1, 3))),
            "category": rng.choice(DEFAULT_CATEGORIES),
            "severity": rng.choice(["low", "medium", "high"]),
            "kind": "went_wrong",
            "tags": rng.sample(topics, rng.randint(1, 3)),
            "author": "bench",
        })
    return payloads


def bench_capture(args, sentences: list[str], rows) -> dict[str, Any]:
    from web import create_app
    from web.engine import engine as app_engine

    cached = nasa_app_cache(args.nasa_lessons)
    work = Path(tempfile.mkdtemp(prefix="lessons-bench-capture-"))
    try:
        copy_database(cached / "bench.db", work / "bench.db")
        shutil.copytree(cached / "instance", work / "instance")
        os.environ["LESSONS_INSTANCE_PATH"] = str(work / "instance")
        app = create_app({"DATABASE_URL": sqlite_url(work / "bench.db")})
        with app.app_context():  # load the snapshot and the model: not part of a capture
            engine = app_engine().ready()
            engine.embedder.encode(["warm up the model"] * 8)
            existing = engine.index.count
        # Requests run outside that context, so each gets its own session, as in production.
        client = app.test_client()
        payloads = capture_payloads(sentences, rows, args.captures + 3, seed=args.seed + 1)
        posts, gets, misses, ranks = [], [], [], []
        for number, payload in enumerate(payloads):
            start = time.perf_counter()
            response = client.post("/api/v1/lessons", json=payload, headers={"X-Actor": "bench"})
            posted = time.perf_counter()
            if response.status_code != 201:
                raise RuntimeError(f"POST failed: {response.status_code} {response.get_data(True)}")
            lesson_id = response.get_json()["id"]
            found = client.get("/api/v1/search", query_string={"q": payload["title"]})
            searched = time.perf_counter()
            if found.status_code != 200:
                raise RuntimeError(f"search failed: {found.status_code} {found.get_data(True)}")
            ids = [hit["id"] for hit in found.get_json()["items"]]
            if number < 3:
                continue  # warm-up captures: first-request costs, not counted
            posts.append(posted - start)
            gets.append(searched - posted)
            ranks.append(ids.index(lesson_id) + 1 if lesson_id in ids else None)
            if lesson_id not in ids[:5]:
                misses.append((lesson_id, payload["title"], ids[:5]))
        with app.app_context():
            from web.database import db

            db.session.close()
            db.engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"   {len(posts)} captures on {existing:,} passage vectors: POST p50/p95 "
        f"{fmt_pair(posts)}; search by title p50/p95 {fmt_pair(gets)}; "
        f"not in top 5: {len(misses)}")
    for miss in misses[:5]:
        log(f"   missed: lesson {miss[0]} {miss[1]!r}, top 5 were {miss[2]}")
    return {"posts": posts, "gets": gets, "misses": len(misses), "count": len(posts),
            "lessons": args.nasa_lessons, "vectors": existing,
            "rank1": sum(1 for r in ranks if r == 1)}


# --------------------------------------------------------------------------- 2. synthetic scale


def synthetic_lessons(size: int, sentences: list[str], matrix: np.ndarray,
                      seed: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(lesson row, passage vector rows) for lessons 1..size, recombined from real sentences.

    Each passage vector is the normalised mean of the vectors of the sentences
    the passage holds (its title included, as the title leads every passage).
    The text_hash is the real `Passage.text_hash` of `lesson_passages(content)`
    at that position, so `explain()` treats the vectors as current and picks
    the closest passage for "why", exactly as for embedded lessons. Titles may
    repeat across lessons (they are drawn from ~5k short sentences): harmless
    for timing, as search ranks by the whole text.
    """
    rng = random.Random(seed)
    position_of = {sentence: i for i, sentence in enumerate(sentences)}
    # Titles: capitalised sentences of a few words (never a run of dots, which
    # would strip to an empty title).
    short = [i for i, s in enumerate(sentences)
             if len(s) <= 100 and s[0].isupper() and len(s.split()) >= 4]
    now = datetime.now(UTC)
    for lesson_id in range(1, size + 1):
        title_index = rng.choice(short)
        title = sentences[title_index].rstrip(".;:")
        body = [i for i in rng.sample(range(len(sentences)), rng.randint(2, 7)) if i != title_index]
        while True:
            content = {"title": title, "what_happened": " ".join(sentences[i] for i in body)}
            passages = lesson_passages(content)
            if len(passages) <= 3 or len(body) == 1:  # 1-3 passage vectors per lesson
                break
            body.pop()
        lesson = {
            "id": lesson_id, "title": title, "what_happened": content["what_happened"],
            "category": rng.choice(DEFAULT_CATEGORIES), "kind": "went_wrong",
            "severity": rng.choice(["low", "medium", "high", "critical"]),
            "created_at": now, "updated_at": now,
        }
        vectors = []
        for passage in passages:
            chunk = passage.text.split("\n", 1)[1]
            members = [title_index] + [position_of[s] for s in SENTENCE_END.split(chunk)]
            mean = matrix[members].mean(axis=0)
            mean /= max(float(np.linalg.norm(mean)), 1e-9)
            vectors.append({
                "lesson_id": lesson_id, "model": DEFAULT_MODEL, "position": passage.position,
                "dim": matrix.shape[1], "text_hash": passage.text_hash,
                "vector": mean.astype(np.float32).tobytes(),
                # These lessons have no change-log rows (they were not written through
                # the services), so position 0 is "up to date": a rebuild finds nothing stale.
                "seq": 0,
            })
        yield lesson, vectors


def synthetic_database(size: int, sentences: list[str], matrix: np.ndarray, seed: int) -> Path:
    """A cached SQLite database of `size` synthetic lessons with their passage vectors."""
    digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:12]
    final = CACHE / f"synthetic-{cache_key(SYNTHETIC_VERSION, size, len(sentences), digest, seed)}"
    if (final / "complete").exists():
        log(f"   {size:,} synthetic lessons from cache {final.name}")
        return final / "bench.db"
    CACHE.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="synthetic-build-", dir=CACHE))
    engine = make_engine(sqlite_url(build / "bench.db"))
    upgrade(engine)
    start = time.perf_counter()
    lessons, vectors, vector_count = [], [], 0
    batch = 5_000

    def flush() -> None:
        # Core executemany: no ORM objects, no revisions or change log; FTS5 triggers still fire.
        with engine.begin() as connection:
            connection.execute(insert(Lesson.__table__), lessons)
            connection.execute(insert(PassageVector.__table__), vectors)
        lessons.clear()
        vectors.clear()

    for lesson, passage_rows in synthetic_lessons(size, sentences, matrix, seed):
        lessons.append(lesson)
        vectors.extend(passage_rows)
        vector_count += len(passage_rows)
        if len(lessons) == batch:
            flush()
    if lessons:
        flush()
    checkpoint_and_dispose(engine)
    log(f"   built {size:,} synthetic lessons, {vector_count:,} passage vectors, "
        f"in {time.perf_counter() - start:.1f} s")
    publish(build, final)
    return final / "bench.db"


def time_rebuild(engine: SearchEngine) -> dict[str, float]:
    """`SearchEngine.rebuild()` from stored vectors (nothing to embed), and its parts."""
    start = time.perf_counter()
    engine.rebuild()
    total = time.perf_counter() - start
    # The parts again, one by one, to show where the rebuild spends its time.
    parts = {"rebuild": total}
    with engine.sessions() as session:
        start = time.perf_counter()
        stale = vector_store.stale_lessons(session, engine.model)
        parts["find stale"] = time.perf_counter() - start
        assert not stale, f"{len(stale)} synthetic lessons have missing or stale vectors"
        start = time.perf_counter()
        ids, matrix = vector_store.all_vectors(session, engine.model, engine.embedder.dim)
        parts["read vectors"] = time.perf_counter() - start
    start = time.perf_counter()
    index = FaissIndex.build(engine.embedder.dim, ids, matrix)
    parts["build index"] = time.perf_counter() - start
    start = time.perf_counter()
    save_snapshot(index, engine.folder, engine.model, engine.last_seq, engine.database)
    parts["write snapshot"] = time.perf_counter() - start
    return parts


def bench_scale(args, size: int, sentences, matrix, queries: list[str]) -> dict[str, Any]:
    path = synthetic_database(size, sentences, matrix, args.seed)
    work = Path(tempfile.mkdtemp(prefix="lessons-bench-scale-"))
    db_engine = make_engine(sqlite_url(path))
    sessions = sessionmaker(db_engine)
    engine = SearchEngine(sessions, work / "index", DEFAULT_MODEL)
    embedder = engine.embedder  # model load: not part of any timing
    embedder.encode(["warm up the model"] * 8)
    try:
        rebuild = time_rebuild(engine)
        vectors = engine.index.count
        log(f"   {size:,} lessons, {vectors:,} vectors: rebuild {rebuild['rebuild']:.2f} s ("
            + ", ".join(f"{k} {v:.2f} s" for k, v in rebuild.items() if k != "rebuild") + ")")
        active = live_conditions(None)  # what search applies with no filter

        for query in queries[:10]:  # warm-up: SQLite page cache, FAISS and torch first calls
            with sessions() as session:
                search(engine, session, query, None, limit=10)

        full, no_embed, embed, dense, keyword, hits = [], [], [], [], [], []
        query_vectors = []
        for query in queries:
            with sessions() as session:
                start = time.perf_counter()
                results = search(engine, session, query, None, limit=10)
                full.append(time.perf_counter() - start)
                hits.append(len(results.hits))
        for query in queries:
            start = time.perf_counter()
            vector = embedder.encode([query])[0]
            embed.append(time.perf_counter() - start)
            query_vectors.append(vector)
        for vector in query_vectors:
            start = time.perf_counter()
            engine.dense(vector, CANDIDATES, None)
            dense.append(time.perf_counter() - start)
        for query in queries:
            with sessions() as session:
                start = time.perf_counter()
                keyword_search(session, query, active, CANDIDATES)
                keyword.append(time.perf_counter() - start)
        for query, vector in zip(queries, query_vectors, strict=True):
            with sessions() as session:
                start = time.perf_counter()
                search_by_vector(engine, session, vector, query, None, 10)
                no_embed.append(time.perf_counter() - start)
        # A filter leaving fewer lessons than CANDIDATES: FaissIndex.search widens its
        # fetch until it has CANDIDATES lessons, which it never gets, so it scans again and again.
        allowed = frozenset(random.Random(args.seed).sample(range(1, size + 1), 50))
        filtered = []
        for vector in query_vectors[:50]:
            start = time.perf_counter()
            engine.dense(vector, CANDIDATES, allowed)
            filtered.append(time.perf_counter() - start)
        # The queries alternate: real titles (a few words) and recommendation snippets
        # (up to 300 characters, so twenty-odd OR-ed terms for FTS5).
        log(f"   FTS5 by query kind: titles {fmt_pair(keyword[0::2])}, "
            f"snippets {fmt_pair(keyword[1::2])}; hybrid: titles {fmt_pair(full[0::2])}, "
            f"snippets {fmt_pair(full[1::2])}")
        log(f"   hybrid search p50/p95 {fmt_pair(full)} (embedding {fmt_pair(embed)}, "
            f"FAISS {fmt_pair(dense)}, FTS5 {fmt_pair(keyword)}, hybrid without embedding "
            f"{fmt_pair(no_embed)}); FAISS with a 50-lesson filter {fmt_pair(filtered)}; "
            f"mean hits {statistics.mean(hits):.1f}")
        result = {"size": size, "vectors": vectors, "rebuild": rebuild, "full": full,
                  "embed": embed, "dense": dense, "keyword": keyword, "no_embed": no_embed,
                  "filtered": filtered, "queries": len(queries)}
        if size == max(args.sizes):
            with sessions() as session:
                result["all_vectors"] = vector_store.all_vectors(session, DEFAULT_MODEL,
                                                                 embedder.dim)
            result["query_vectors"] = np.vstack(query_vectors)
        return result
    finally:
        db_engine.dispose()
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- 3. IVF recall


def bench_ivf(args, ids: np.ndarray, matrix: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    import faiss

    dim = matrix.shape[1]
    exact = FaissIndex(faiss.IndexIDMap(faiss.IndexFlatIP(dim)), "flat")
    exact.add(ids, matrix)
    start = time.perf_counter()
    raw = ivf_index(dim, matrix)  # the app's own construction: nlist, training sample, nprobe
    trained = time.perf_counter() - start
    approximate = FaissIndex(raw, "ivf")
    start = time.perf_counter()
    approximate.add(ids, matrix)
    added = time.perf_counter() - start
    default_nprobe = int(raw.nprobe)
    truth, exact_times = [], []
    for vector in queries:
        start = time.perf_counter()
        truth.append({lesson for lesson, _ in exact.search(vector, 10)})
        exact_times.append(time.perf_counter() - start)
    probes = sorted({1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 384, 512, 768, 1024, default_nprobe})
    probes = [n for n in probes if n <= raw.nlist]
    rows = []
    for nprobe in probes:
        approximate.index.nprobe = nprobe
        recalls, times = [], []
        for vector, expected in zip(queries, truth, strict=True):
            start = time.perf_counter()
            got = {lesson for lesson, _ in approximate.search(vector, 10)}
            times.append(time.perf_counter() - start)
            recalls.append(len(got & expected) / max(len(expected), 1))
        rows.append({"nprobe": nprobe, "recall": float(np.mean(recalls)), "times": times,
                     "default": nprobe == default_nprobe})
        log(f"   nprobe {nprobe:>4}{' (app)' if nprobe == default_nprobe else '      '}: "
            f"recall@10 {np.mean(recalls):.4f}, p50/p95 {fmt_pair(times)}")
    approximate.index.nprobe = default_nprobe
    enough = next((r["nprobe"] for r in rows if r["recall"] >= 0.95), None)
    # A filtered search (say, one project's 50 lessons) asks for CANDIDATES lessons
    # among those allowed. The flat index scans everything and returns all 50; IVF
    # only looks in nprobe lists, so it finds the allowed lessons that happen to lie
    # there, and FaissIndex.search keeps widening its fetch in vain.
    allowed = frozenset(random.Random(args.seed).sample(sorted(set(ids.tolist())), 50))
    filtered: dict[str, dict[str, list[float]]] = {}
    for name, index in (("exact", exact), ("ivf", approximate)):
        found, times = [], []
        for vector in queries[:50]:
            start = time.perf_counter()
            found.append(len(index.search(vector, CANDIDATES, allowed)))
            times.append(time.perf_counter() - start)
        filtered[name] = {"found": found, "times": times}
    # The synthetic lessons hold 1-3 passages (about 1.35 on average); a real NASA
    # lesson has about 6.5. A flat scan costs the same whatever the vectors say, so
    # the matrix tiled to 6.5 vectors per lesson shows the exact search at real density.
    copies = max(1, round(6.5 * len(np.unique(ids)) / len(ids)))
    dense_index = faiss.IndexFlatIP(dim)
    for _ in range(copies):
        dense_index.add(np.ascontiguousarray(matrix))
    density_times = []
    for vector in queries[:100]:
        start = time.perf_counter()
        dense_index.search(vector.reshape(1, -1), 4 * CANDIDATES)  # FaissIndex's first fetch
        density_times.append(time.perf_counter() - start)
    density = {"vectors": int(dense_index.ntotal), "times": density_times}
    del dense_index
    log(f"   one flat scan over {density['vectors']:,} vectors (6.5 per lesson): "
        f"{fmt_pair(density_times)}")
    log(f"   50-lesson filter, {CANDIDATES} asked: exact returns "
        f"{np.mean(filtered['exact']['found']):.1f} "
        f"lessons in {fmt_pair(filtered['exact']['times'])}, IVF (nprobe {default_nprobe}) "
        f"{np.mean(filtered['ivf']['found']):.1f} in {fmt_pair(filtered['ivf']['times'])}")
    log(f"   {len(ids):,} vectors, {len(np.unique(ids)):,} lessons, nlist {raw.nlist}; "
        f"train {trained:.1f} s, add {added:.1f} s; exact p50/p95 {fmt_pair(exact_times)}; "
        f"smallest nprobe with recall ≥ 0.95: {enough}")
    return {"rows": rows, "nlist": int(raw.nlist), "default": default_nprobe, "train": trained,
            "add": added, "exact": exact_times, "enough": enough, "vectors": len(ids),
            "lessons": int(len(np.unique(ids))), "queries": len(queries), "filtered": filtered,
            "density": density}


# --------------------------------------------------------------------------- 4. bulk embedding


def bench_bulk(args, out: dict[str, Any]) -> None:
    """Fill `out` as it goes (lessons, passages, then each run), so a killed run keeps what it
    had."""
    work = Path(tempfile.mkdtemp(prefix="lessons-bench-bulk-"))
    try:
        write_llis_subset(work / "subset.csv", args.bulk_lessons, seed=args.seed + 2)
        db_engine = make_engine(sqlite_url(work / "bench.db"))
        upgrade(db_engine)
        sessions = sessionmaker(db_engine)
        with sessions() as session:
            import_nasa(session, work / "subset.csv")
            lessons = session.scalars(select(Lesson).order_by(Lesson.id)).all()
            lesson_ids = [lesson.id for lesson in lessons]
            # Exactly the passages the app embeds, lesson by lesson, in its order.
            per_lesson = [[p.text for p in lesson_passages(lesson.content())] for lesson in lessons]
            texts = [text for lesson_texts in per_lesson for text in lesson_texts]
        engine = SearchEngine(sessions, work / "index", DEFAULT_MODEL)
        embedder = engine.embedder
        embedder.model.encode(texts[:128], batch_size=64, show_progress_bar=False)  # warm-up
        out.update({"runs": [], "lessons": len(lesson_ids), "passages": len(texts)})
        runs = out["runs"]
        for run in (1, 2):
            start = time.perf_counter()
            embedder.model.encode(texts, batch_size=64, normalize_embeddings=True,
                                  show_progress_bar=False)
            library = len(texts) / (time.perf_counter() - start)
            # A diagnostic between the two: the app's grouping (one encode call per
            # SYNC_BATCH lessons) without the database, to split a gap into the cost of
            # grouping (sentence-transformers length-sorts only within one call) and the
            # cost of reading lessons and storing vectors.
            start = time.perf_counter()
            for first in range(0, len(per_lesson), SYNC_BATCH):
                group = [t for lesson_texts in per_lesson[first:first + SYNC_BATCH]
                         for t in lesson_texts]
                embedder.encode(group)
            batched = len(texts) / (time.perf_counter() - start)
            with db_engine.begin() as connection:
                connection.execute(delete(PassageVector))  # so the app path encodes everything
            start = time.perf_counter()
            engine.embed(lesson_ids)
            app = len(texts) / (time.perf_counter() - start)
            with sessions() as session:
                stored = session.scalar(select(func.count()).select_from(PassageVector))
            assert stored == len(texts), f"stored {stored} vectors for {len(texts)} passages"
            runs.append({"library": library, "app": app, "ratio": app / library,
                         "batched": batched})
            log(f"   run {run}: sentence-transformers {library:.1f} passages/s, "
                f"SearchEngine.embed {app:.1f} passages/s, ratio {app / library:.1%} "
                f"(the app's encode calls without the database: "
                f"{batched:.1f} passages/s = {batched / library:.1%})")
        db_engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- report


def goal_for(size: int) -> float | None:
    if size <= 10_000:
        return 50.0
    if size <= 100_000:
        return 100.0
    return None


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def report(args, results: dict[str, Any], wall: float) -> str:
    lines = ["| Measure | Goal | Result | Met |", "|---|---|---|---|"]
    add = lambda *cells: lines.append("| " + " | ".join(cells) + " |")  # noqa: E731
    if "capture" in results:
        c = results["capture"]
        p50, p95 = p50_p95(c["posts"])
        add(f"Capture → searchable: `POST /api/v1/lessons` incl. index sync "
            f"({c['lessons']:,} NASA lessons, {c['vectors']:,} vectors; {c['count']} captures)",
            "p95 ≤ 150 ms", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", verdict(p95 <= 150))
        add("… then found by its title in the top 5 (`GET /api/v1/search`)", "all",
            f"{c['count'] - c['misses']}/{c['count']} (rank 1: {c['rank1']}); "
            f"GET p50/p95 {fmt_pair(c['gets'])}", verdict(c["misses"] == 0))
    for s in results.get("scale", []):
        goal = goal_for(s["size"])
        p50, p95 = p50_p95(s["full"])
        label = f"{s['size']:,} lessons ({s['vectors']:,} vectors)"
        add(f"Hybrid search incl. query embedding, {label}, {s['queries']} queries",
            f"p95 ≤ {goal:.0f} ms" if goal else "—", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
            verdict(p95 <= goal if goal else None))
        add(f"… where the time goes, {s['size']:,} (p50 / p95 each)", "",
            f"query embedding {fmt_pair(s['embed'])}; FAISS flat {fmt_pair(s['dense'])}; "
            f"FTS5 {fmt_pair(s['keyword'])}", "")
        add(f"… hybrid without embedding (`search_by_vector`), {s['size']:,}", "",
            fmt_pair(s["no_embed"]), "")
        add(f"… by query kind, {s['size']:,}: titles / recommendation snippets (≤ 300 chars)",
            "", f"hybrid {fmt_pair(s['full'][0::2])} / {fmt_pair(s['full'][1::2])}; "
            f"FTS5 {fmt_pair(s['keyword'][0::2])} / {fmt_pair(s['keyword'][1::2])}", "")
        add(f"… FAISS with a filter leaving 50 lessons, {s['size']:,}", "",
            fmt_pair(s["filtered"]), "")
        r = s["rebuild"]
        add(f"Index rebuild from stored vectors, {s['size']:,} lessons",
            "≤ 10 s at 100k" if s["size"] >= 100_000 else "—",
            f"{r['rebuild']:.2f} s (read {r['read vectors']:.2f}, build {r['build index']:.2f}, "
            f"snapshot {r['write snapshot']:.2f}, stale check {r['find stale']:.2f})",
            verdict(r["rebuild"] <= 10) if s["size"] >= 100_000 else "—")
    if "ivf" in results:
        v = results["ivf"]
        row = next(r for r in v["rows"] if r["default"])
        add(f"IVF recall@10 vs exact, app's nprobe {v['default']} (nlist {v['nlist']}, "
            f"{v['lessons']:,} lessons, {v['vectors']:,} vectors, {v['queries']} queries)",
            "≥ 0.95", f"{row['recall']:.4f}; query p50/p95 {fmt_pair(row['times'])} "
            f"(exact {fmt_pair(v['exact'])}); train {v['train']:.1f} s",
            verdict(row["recall"] >= 0.95))
        add("… smallest nprobe reaching recall@10 ≥ 0.95", "", str(v["enough"]), "")
        d = v["density"]
        add(f"… one flat scan at real NASA density ({d['vectors']:,} vectors, "
            f"6.5 per lesson; the synthetic lessons have ~1.35)", "",
            fmt_pair(d["times"]), "")
        f = v["filtered"]
        add(f"… filtered to 50 lessons ({CANDIDATES} asked): lessons returned, exact vs IVF", "",
            f"{np.mean(f['exact']['found']):.1f} in {fmt_pair(f['exact']['times'])} vs "
            f"{np.mean(f['ivf']['found']):.1f} in {fmt_pair(f['ivf']['times'])}", "")
    if results.get("bulk", {}).get("runs"):
        b = results["bulk"]
        for i, run in enumerate(b["runs"], start=1):
            add(f"Bulk embedding, run {i}: `SearchEngine.embed` vs `model.encode` "
                f"({b['passages']:,} passages of {b['lessons']} NASA lessons)", "≥ 90 %",
                f"{run['app']:.1f} vs {run['library']:.1f} passages/s = {run['ratio']:.1%} "
                f"(its encode calls alone, no DB: {run['batched'] / run['library']:.1%})",
                verdict(run["ratio"] >= 0.9))
    table = "\n".join(lines)
    extra = []
    if "ivf" in results:
        v = results["ivf"]
        extra += ["", "| nprobe | recall@10 | query p50 / p95 |", "|---|---|---|"]
        for r in v["rows"]:
            extra.append(f"| {r['nprobe']}{' (app)' if r['default'] else ''} | "
                         f"{r['recall']:.4f} | {fmt_pair(r['times'])} |")
    return table + "\n" + "\n".join(extra)


def machine() -> str:
    import faiss
    import torch

    return (f"{os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), "
            f"faiss {faiss.__version__}, Python {platform.python_version()}")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="synthetic collection sizes, in lessons (default: 10000 100000)")
    parser.add_argument("--captures", type=int, default=100, help="timed POSTs (default 100)")
    parser.add_argument("--queries", type=int, default=200,
                        help="search queries per size and for recall (default 200)")
    parser.add_argument("--sentences", type=int, default=20_000,
                        help="NASA sentences embedded for the synthetic lessons (default 20000)")
    parser.add_argument("--nasa-lessons", type=int, default=2101,
                        help="NASA lessons in the capture app (default all 2101)")
    parser.add_argument("--bulk-lessons", type=int, default=600,
                        help="NASA lessons whose passages the bulk test embeds (default 600)")
    parser.add_argument("--only", nargs="+", choices=["capture", "search", "ivf", "bulk"],
                        help="run only these parts (ivf needs search)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch.set_num_threads(N) before anything runs (default 1, as "
                             "`lessons run` serves requests; 0 leaves torch's own choice)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: small sizes, few captures and queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.captures, args.queries = [1_000, 3_000], 10, 30
        args.sentences, args.nasa_lessons, args.bulk_lessons = 3_000, 150, 40
    parts = set(args.only or ["capture", "search", "ivf", "bulk"])
    if "ivf" in parts:
        parts.add("search")  # recall is measured on the largest synthetic collection
    args.parts = parts
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # A benchmark killed from outside should say so in its output, not just stop.
    signal.signal(signal.SIGTERM, lambda number, _frame: sys.exit(f"killed by signal {number}"))
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    command = " ".join([".venv/bin/python", "bench/search_speed.py", *sys.argv[1:]])
    wall_start = time.perf_counter()
    log(f"# search_speed: {command}")
    log(f"   {machine()}; load {load()}; cache {CACHE}")
    rows = nasa_rows()
    all_sentences = nasa_sentences(rows)
    results: dict[str, Any] = {}
    finished = False
    try:
        run_parts(args, rows, all_sentences, results)
        finished = True
    finally:
        # Killed or failed half-way, the parts that did finish still get their table.
        wall = time.perf_counter() - wall_start
        log("\n## Results" + ("" if finished else " (partial: the run stopped early)") + "\n")
        log(f"Command: `{command}`  ")
        load()
        log(f"Machine: {machine()}; wall time {wall / 60:.1f} min; 1-minute load average "
            f"min {min(LOADS):.2f}, max {max(LOADS):.2f} over the run (this run alone keeps it "
            "near 2; well above that, the machine was shared and timings are inflated)\n")
        log(report(args, results, wall))


def run_parts(args, rows, all_sentences: list[str], results: dict[str, Any]) -> None:
    """Each part in turn, its results stored as soon as it finishes."""
    if "capture" in args.parts:
        with section(f"1. Capture → searchable ({args.captures} POSTs)"):
            results["capture"] = bench_capture(args, all_sentences, rows)

    if "search" in args.parts:
        with section(f"2. Search at {', '.join(f'{s:,}' for s in args.sizes)} lessons"):
            # A fixed random sample, so the cache key (and the lessons) stay the same run to run.
            pool = random.Random(args.seed).sample(all_sentences,
                                                   min(args.sentences, len(all_sentences)))
            matrix = embed_sentences(pool)
            queries = nasa_queries(rows, args.queries, args.seed)
            results["scale"] = []
            for size in sorted(args.sizes):
                results["scale"].append(bench_scale(args, size, pool, matrix, queries))

    if "ivf" in args.parts:
        largest = results["scale"][-1]
        ids, matrix = largest.pop("all_vectors")
        with section(f"3. IVF recall@10 on {largest['size']:,} lessons "
                     f"(the app switches to IVF above {EXACT_LIMIT:,})"):
            results["ivf"] = bench_ivf(args, ids, matrix, largest.pop("query_vectors"))
        del ids, matrix

    if "bulk" in args.parts:
        with section(f"4. Bulk embedding ({args.bulk_lessons} NASA lessons)"):
            results["bulk"] = {"runs": []}
            bench_bulk(args, results["bulk"])


if __name__ == "__main__":
    main()
