"""How fast a bulk import runs, against sentence-transformers' raw `encode()` on the same texts.

The goals: an import's lessons searchable at 30 lessons/s or more (issue 16),
and all their passages embedded at 90% of the raw encode throughput (issue 7).
Three timings, on the same lessons (the NASA LLIS export through the ready
`nasa` mapping, or the first `--lessons` of it):

1. raw: `SentenceTransformer.encode()` of every passage the app embeds for
   those lessons, in one call, as a bare script would. Raw and import runs
   alternate (`--rounds`), and the best of each is compared.
2. import: `run_import()` into a fresh SQLite database with the CLI's and
   the worker's embedding per batch (`SearchEngine.embed_leading`: each
   lesson's leading passage), then the index catch-up: reading and checking
   every row, creating projects, lessons, revisions, change-log rows,
   encoding and storing the leading passages. The lessons are searchable
   then (goal, issue 16: at least 30 lessons/s). Then the backlog of later
   passages completed (`SearchEngine.complete`, which the worker runs after
   an import) and the index caught up again: every passage embedded.
3. check: the dry run alone (what `--dry-run` and the import page's preview
   cost).

With `--rows N`, also a synthetic file of N short rows (say 100,000), checked
and imported whole, to show the cost per row where encoding is cheap.

Nothing is asserted; numbers are printed. The model is loaded and warmed up
before anything is timed; torch keeps its default threads (every core), as
the CLI import does. Run it on an otherwise idle machine.

    .venv/bin/python bench/import_speed.py --lessons 2101 --rounds 1    # ~15 minutes
    .venv/bin/python bench/import_speed.py --lessons 600    # ~12 minutes
    .venv/bin/python bench/import_speed.py --lessons 100 --rounds 1    # a quick run
    .venv/bin/python bench/import_speed.py --lessons 0 --rows 100000
"""

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.orm import sessionmaker  # noqa: E402

from lessons.db import make_engine, upgrade  # noqa: E402
from lessons.fields import DEFAULT_CATEGORIES  # noqa: E402
from lessons.imports.importer import check_import, run_import  # noqa: E402
from lessons.imports.mappings import guess, load_mapping  # noqa: E402
from lessons.imports.tables import open_table  # noqa: E402
from search.embedder import DEFAULT_MODEL, get_embedder  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from search.passages import lesson_passages  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nasa_llis_2101.csv"


def log(message: str) -> None:
    print(message, flush=True)


def nasa_subset(folder: Path, count: int) -> Path:
    """The first `count` rows of the NASA export, as a file of the same format."""
    csv.field_size_limit(sys.maxsize)
    path = folder / "nasa.csv"
    with open(DATA, encoding="utf-8", newline="") as source, \
            open(path, "w", encoding="utf-8", newline="") as target:
        reader, writer = csv.reader(source), csv.writer(target)
        writer.writerow(next(reader))
        for _, row in zip(range(count), reader, strict=False):  # the first `count` rows
            writer.writerow(row)
    return path


def fresh_engine(folder: Path) -> tuple[sessionmaker, SearchEngine]:
    """A migrated SQLite database and a search engine on it, in `folder`."""
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'lessons.db'}")
    upgrade(engine)
    sessions = sessionmaker(engine)
    return sessions, SearchEngine(sessions, folder / "index", DEFAULT_MODEL)


def passages_of(sessions: sessionmaker, path: Path, mapping) -> list[str]:
    """Exactly the passage texts the app embeds for the file's lessons."""
    from lessons.imports.importer import ImportReport, plan_rows

    with sessions() as session:
        rows = plan_rows(session, open_table(path), mapping, ImportReport(), DEFAULT_CATEGORIES)
        return [passage.text for row in rows for passage in lesson_passages(row.values)]


def timed_import(folder: Path, path: Path, mapping) -> tuple[float, float, int]:
    """Seconds until the file's lessons are searchable (check, write, each lesson's leading
    passage, the index caught up) and until every passage is (the backlog completed, as the
    worker does after an import), and lessons created."""
    sessions, search = fresh_engine(folder)
    start = time.perf_counter()
    with sessions() as session:
        report = run_import(session, open_table(path), mapping, actor="bench",
                            on_batch=search.embed_leading)
    search.ready()
    searchable = time.perf_counter() - start
    assert report.stopped is None, report.stopped
    search.complete()
    search.ready()
    return searchable, time.perf_counter() - start, len(report.created)


def timed_check(folder: Path, path: Path, mapping) -> float:
    sessions, _ = fresh_engine(folder)
    start = time.perf_counter()
    with sessions() as session:
        check_import(session, open_table(path), mapping)
    return time.perf_counter() - start


def bench_nasa(work: Path, count: int, rounds: int) -> None:
    """Raw encode and the whole import, alternately, so a change in the machine's load
    shows up in both instead of favouring one."""
    path = nasa_subset(work, count)
    mapping = load_mapping("nasa")
    sessions, _ = fresh_engine(work / "texts")
    texts = passages_of(sessions, path, mapping)
    embedder = get_embedder(DEFAULT_MODEL)
    log(f"{count} NASA lessons, {len(texts)} passages "
        f"({sum(map(len, texts)) / len(texts):.0f} characters on average)")
    raws, imports, searchables = [], [], []
    for round_ in range(1, rounds + 1):
        start = time.perf_counter()
        embedder.model.encode(texts, normalize_embeddings=True,  # the library's batch size
                              convert_to_numpy=True, show_progress_bar=False)
        raws.append(time.perf_counter() - start)
        log(f"round {round_} raw encode(): {raws[-1]:7.1f} s  {count / raws[-1]:6.2f} lessons/s  "
            f"{len(texts) / raws[-1]:6.1f} passages/s  (load {os.getloadavg()[0]:.2f})")
        searchable, seconds, created = timed_import(work / f"import-{round_}", path, mapping)
        imports.append(seconds)
        searchables.append(created / searchable)
        log(f"round {round_} searchable:   {searchable:7.1f} s  {created / searchable:6.2f} "
            f"lessons/s  (goal: at least 30)")
        log(f"round {round_} all passages: {seconds:7.1f} s  {created / seconds:6.2f} lessons/s  "
            f"{len(texts) / seconds:6.1f} passages/s  (load {os.getloadavg()[0]:.2f})")
    log(f"to searchable, best of {rounds}: {max(searchables):.1f} lessons/s")
    log(f"all passages / raw, best of {rounds}: {min(raws) / min(imports):.1%} of the raw "
        "throughput (goal: at least 90%)")
    check = timed_check(work / "check", path, mapping)
    log(f"dry run alone: {check:7.2f} s  ({count / check:,.0f} rows/s)")


def bench_rows(work: Path, rows: int) -> None:
    path = work / "rows.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Ref", "Title", "What happened", "Project"])
        for n in range(rows):
            writer.writerow([f"R{n}", f"Lesson {n}: supplier {n % 97} delivered late",
                             f"Case {n}: the parts for work package {n % 13} arrived "
                             f"{n % 40 + 1} days late, and testing slipped.", f"Project {n % 50}"])
    mapping = guess(["Ref", "Title", "What happened", "Project"])
    check = timed_check(work / "rows-check", path, mapping)
    log(f"{rows:,} short rows: dry run {check:.1f} s ({rows / check:,.0f} rows/s)")
    searchable, seconds, created = timed_import(work / "rows-import", path, mapping)
    log(f"{rows:,} short rows: searchable in {searchable:.1f} s "
        f"({created / searchable:,.0f} lessons/s), every passage in {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=600, help="NASA lessons (0: skip)")
    parser.add_argument("--rounds", type=int, default=2, help="raw/import pairs (default 2)")
    parser.add_argument("--rows", type=int, default=0, help="also a synthetic file of N rows")
    args = parser.parse_args()
    embedder = get_embedder(DEFAULT_MODEL)
    embedder.encode(["warm-up sentence"] * 64)
    log(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="lessons-import-bench-") as folder:
        if args.lessons:
            bench_nasa(Path(folder), args.lessons, args.rounds)
        if args.rows:
            bench_rows(Path(folder), args.rows)
    log(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
