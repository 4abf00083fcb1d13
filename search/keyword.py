"""Keyword search per dialect: SQLite FTS5 ranked by bm25, PostgreSQL tsvector with ts_rank_cd.

Both answer the same question, the best `k` live lessons for the words of a
query under the same filters, so retrieval can fuse them with dense results.

On SQLite, the bm25 scores are computed here over the live lessons the
session may see (lessons.policy), not taken from FTS5: FTS5 weighs each word
by how many rows of the whole table hold it and averages lengths over them
all, so the scores a viewer was shown told whether (and roughly how often) a
word occurs in lessons hidden from them. FTS5 still finds the words and
counts their occurrences per lesson (see `_occurrences`). A session that may
see every lesson keeps FTS5's own ranking, which then counts no row hidden
from it and is many times faster. PostgreSQL's ts_rank_cd uses no statistics
of other rows.
"""

import bisect
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from lessons.models import Lesson, LessonTag
from lessons.policy import session_viewer

MAX_TERMS = 64
POSTINGS_BUDGET = 50_000  # lessons holding each matched word, summed (bench/README.md)
# bm25 as FTS5 computes it (k1, b, and the column weights the ranking was tuned with), over the
# columns of migration 0002's FTS5 table.
K1, B = 1.2, 0.75
# Whole numbers: a row's weighted count of a word is then whole too (see `_occurrences`).
COLUMN_WEIGHTS = {"title": 4, "what_happened": 1, "root_cause": 1, "impact": 1,
                  "recommendation": 2}
WEIGHTS_SQL = ", ".join(str(w) for w in COLUMN_WEIGHTS.values())
LIVE = Lesson.deleted_at.is_(None)
MIN_IDF = 1e-6  # FTS5's floor for a word in over half of the rows
IDS_PER_QUERY = 5_000  # bound parameters per IN list, well under SQLite's limit
OVERFETCH = 2  # ranked in FTS5 alone per result wanted, before the filters apply
# The FTS5 table of migration 0002 (SQLite) and two of its shadow tables: tokens per column of
# each row, and (record 1) the row count and total tokens per column.
FTS = table("lessons_fts", column("rowid"))
DOCSIZE = table("lessons_fts_docsize", column("id"), column("sz"))
FTS_DATA = table("lessons_fts_data", column("id"), column("block"))
# PostgreSQL's tsvector column of migration 0002.
SEARCH_VECTOR: ColumnElement[Any] = literal_column("lessons.search_vector")
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just me more
most my no nor not now of off on once only or other our ours out over own same she should so
some such than that the their theirs them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you
your yours also may might must shall us via per etc
""".split())


def terms(query: str) -> list[str]:
    """The distinct searchable words of `query`, lowercase, in order, stopwords dropped."""
    seen: dict[str, None] = {}
    for word in re.findall(r"\w+", query.lower()):
        if word not in STOPWORDS and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def starting_words(words: Sequence[str], text: str) -> list[str]:
    """The `words` that start a word of `text` ("test" starts "testing"), in their order.

    One pass over the text and a binary search per word: a 64-word charter against a
    long lesson took milliseconds as one regular expression per word.
    """
    vocabulary = sorted(set(re.findall(r"\w+", text.lower())))
    found = []
    for word in words:
        at = bisect.bisect_left(vocabulary, word)
        if at < len(vocabulary) and vocabulary[at].startswith(word):
            found.append(word)
    return found


def keyword_search(
    session: Session, query: str, conditions: Sequence[ColumnElement[bool]], k: int
) -> list[tuple[int, float]]:
    """The best `k` lessons under `conditions` for the words of `query` as (lesson id, score),
    best first.

    On SQLite the scores are computed over the live lessons the session may see (in a
    restricted session, the viewer's), so no lesson hidden from the viewer changes a score
    or an order; the filters choose among them without changing their weights.
    """
    words = terms(query)
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_postgresql(query).where(*conditions).limit(k))
        return [(row[0], float(row[1])) for row in rows]
    if session_viewer(session) is None:  # sees every lesson: FTS5's counts hide nothing
        return _fts5_ranked(session, words, conditions, k)
    return _allowed(session, bm25(matches(session, words)), conditions, k)


def lessons_holding(session: Session, word: str, conditions: Sequence[ColumnElement[bool]],
                    k: int) -> list[int]:
    """Up to `k` lessons under `conditions` that hold `word`, in no particular order: the
    index stops at the `k`th, where a ranking would score every lesson holding it."""
    if session.get_bind().dialect.name == "postgresql":
        found = select(Lesson.id).where(SEARCH_VECTOR.op("@@")(_words(word)), *conditions)
    else:
        found = select(Lesson.id).join(FTS, FTS.c.rowid == Lesson.id).where(
            _match([word]), *conditions)
    return list(session.scalars(found.limit(k)))


def lessons_tagged(session: Session, tags: Sequence[str],
                   conditions: Sequence[ColumnElement[bool]], k: int) -> list[int]:
    """Up to `k` lessons under `conditions` with any of these tags."""
    if not tags:
        return []
    return list(session.scalars(select(Lesson.id).join(LessonTag).where(
        LessonTag.tag.in_(list(tags)), *conditions).distinct().order_by(Lesson.id).limit(k)))


@dataclass
class Matches:
    """The words worth matching, rarest first, with where they occur among the `corpus`
    live lessons the session may see (lesson id → occurrences weighted by column), and the
    length in tokens of each lesson that holds one."""

    corpus: int
    postings: dict[str, dict[int, int]]
    lengths: dict[int, int]
    average: float  # tokens per lesson the session may see


def rarest(session: Session, words: list[str]) -> list[str]:
    """The words worth matching among the live lessons the session may see, rarest first."""
    return list(matches(session, words).postings)


def matches(session: Session, words: list[str]) -> Matches:
    """The words worth matching and their occurrences, within POSTINGS_BUDGET.

    A word in more than half of the lessons the session may see adds nothing to bm25 (its
    weight is clamped to almost zero) and is dropped, unless no word is left: then the
    commonest is matched. Reading a word's occurrences takes time in proportion to the
    lessons that hold it, so words are read rarest first (by FTS5's count over every row,
    the only count known before reading) until the lessons holding them, summed, would
    pass the budget: on 100k lessons unbounded reads were most of a search's time. On the
    2,101 NASA lessons the budget is never reached (bench/README.md).
    """
    read, everywhere = _affordable(session, words)
    totals = _totals(session)
    lengths: dict[int, int] = {}
    found = {word: _occurrences(session, word, everywhere[word], totals, lengths)
             for word in read}
    seen = _seen(session, lengths)
    found = {word: {i: f for i, f in postings.items() if i in seen}
             for word, postings in found.items()}
    corpus = session.scalar(select(func.count()).select_from(Lesson).where(LIVE)) or 0
    # Ties in the query's order: the order read in follows counts over hidden rows too.
    by_rarity = sorted((w for w in found if found[w]), key=lambda w: (len(found[w]),
                                                                      words.index(w)))
    useful = [w for w in by_rarity if len(found[w]) <= corpus / 2] or by_rarity[-1:]
    return Matches(corpus, {word: found[word] for word in useful},
                   {i: n for i, n in lengths.items() if i in seen},
                   _average_length(session, totals))


def _affordable(session: Session, words: list[str]) -> tuple[list[str], dict[str, int]]:
    """The words found in any row, rarest first, until the rows holding them, summed, would
    pass POSTINGS_BUDGET; and how many rows hold each word (FTS5's count over every row)."""
    everywhere = {word: _rows_holding(session, word) for word in words}
    read: list[str] = []
    spent = 0
    for word in sorted((w for w in words if everywhere[w]), key=lambda w: everywhere[w]):
        if read and spent + everywhere[word] > POSTINGS_BUDGET:
            break
        read.append(word)
        spent += everywhere[word]
    return read, everywhere


def _fts5_ranked(session: Session, words: list[str], conditions: Sequence[ColumnElement[bool]],
                 k: int) -> list[tuple[int, float]]:
    """FTS5's own bm25, for a session that may see every lesson: it ranks inside FTS5 and
    reads only the best few, many times faster than `bm25` (bench/README.md), with the same
    scores, since every row it counts is one the session may see."""
    read, everywhere = _affordable(session, words)
    half = _totals(session)[0] / 2
    useful = [word for word in read if everywhere[word] <= half] or read[-1:]
    if not useful:
        return []
    match, score = _match(useful), _bm25()
    # Ranking inside FTS5 first and filtering the best few costs half of joining every
    # match to its lesson. Only when the filters reject too many of those does the ranking
    # run again, joined, so a filtered search still fills its page.
    fetch = k * OVERFETCH
    best = session.execute(select(FTS.c.rowid, score).where(match)
                           .order_by(score.desc(), FTS.c.rowid).limit(fetch)).all()
    found = _allowed(session, [(row[0], float(row[1])) for row in best], conditions, k)
    if len(found) < k and len(best) == fetch:
        found = [(row[0], float(row[1])) for row in session.execute(
            select(Lesson.id, score).join(FTS, FTS.c.rowid == Lesson.id)
            .where(match, *conditions).order_by(score.desc(), Lesson.id).limit(k))]
    return found


def bm25(found: Matches) -> list[tuple[int, float]]:
    """Every lesson holding a matched word, with its bm25 over `found.corpus`, best first.

    FTS5's formula, with its column weights, except that counts and the average length
    come from the lessons the session may see.
    """
    lengths, average = found.lengths, found.average
    scores: dict[int, float] = defaultdict(float)
    for postings in found.postings.values():
        held = len(postings)
        idf = max(math.log((found.corpus - held + 0.5) / (held + 0.5)), MIN_IDF)
        for lesson_id, weighted in postings.items():
            norm = K1 * (1 - B + B * lengths[lesson_id] / average)
            scores[lesson_id] += idf * weighted * (K1 + 1) / (weighted + norm)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _rows_holding(session: Session, word: str) -> int:
    """How many rows of the FTS5 table hold `word`, hidden ones included: what FTS5's bm25 saw."""
    return session.connection().scalar(
        select(func.count()).select_from(FTS).where(_match([word]))) or 0


def _average_length(session: Session, totals: tuple[int, int]) -> float:
    """Tokens per lesson among those the session may see: FTS5's own average when it may see
    every lesson, else summed over the live lessons it may see.

    The sum reads every such lesson's length: bm25 was tuned with the collection's own
    average (one over the lessons holding the query's words lost 0.03 nDCG@10 on keyword
    searches, bench/README.md).
    """
    if session_viewer(session) is None:
        rows, tokens = totals
        return tokens / rows if rows else 1.0
    count, tokens = 0, 0
    for sizes in session.scalars(select(DOCSIZE.c.sz).join(Lesson, Lesson.id == DOCSIZE.c.id)
                                 .where(LIVE)):
        count, tokens = count + 1, tokens + sum(_varints(sizes))
    return tokens / count if count else 1.0


def _seen(session: Session, lesson_ids: Iterable[int]) -> set[int]:
    """The live lessons among `lesson_ids` that the session may see (lessons.policy).

    Asked once for all the words: joined to each word's rows, the lessons table cost
    twice the FTS5 query (its long texts come before the columns the policy reads).
    """
    ids = list(lesson_ids)
    seen: set[int] = set()
    for start in range(0, len(ids), IDS_PER_QUERY):
        seen.update(session.scalars(select(Lesson.id).where(
            Lesson.id.in_(ids[start:start + IDS_PER_QUERY]), LIVE)))
    return seen


def _totals(session: Session) -> tuple[int, int]:
    """FTS5's own count of rows and of tokens in them (its "averages" record)."""
    block = session.connection().scalar(select(FTS_DATA.c.block).where(FTS_DATA.c.id == 1))
    counts = _varints(block or b"")
    return (counts[0], sum(counts[1:])) if counts else (0, 0)


def _occurrences(session: Session, word: str, held: int, totals: tuple[int, int],
                 lengths: dict[int, int]) -> dict[int, int]:
    """The rows holding `word`: lesson id → occurrences weighted by column (and each one's
    length in tokens, into `lengths`), hidden lessons included (`_seen` leaves them out).

    FTS5 has no function that returns a count of occurrences, but its bm25 of one word is
    a known function of it, of the row's length and of table-wide counts, which are all
    read here: so the count is solved for, exactly (it is a whole number).
    """
    rows, tokens = totals
    idf = max(math.log((rows - held + 0.5) / (held + 0.5)), MIN_IDF)
    average = tokens / rows if rows else 1.0
    found = {}
    for lesson_id, score, sizes in session.connection().execute(
            select(FTS.c.rowid, _bm25(), DOCSIZE.c.sz)
            .join_from(FTS, DOCSIZE, DOCSIZE.c.id == FTS.c.rowid).where(_match([word]))).all():
        if lesson_id not in lengths:
            lengths[lesson_id] = sum(_varints(sizes))
        norm = K1 * (1 - B + B * lengths[lesson_id] / average)
        found[lesson_id] = round(score * norm / (idf * (K1 + 1) - score))
    return found


def _allowed(session: Session, ranked: list[tuple[int, float]],
             conditions: Sequence[ColumnElement[bool]], k: int) -> list[tuple[int, float]]:
    """The first `k` of `ranked` under `conditions`, read a batch at a time."""
    found: list[tuple[int, float]] = []
    size = max(2 * k, 500)
    for start in range(0, len(ranked), size):
        batch = ranked[start:start + size]
        allowed = set(session.scalars(select(Lesson.id).where(
            Lesson.id.in_([lesson_id for lesson_id, _ in batch]), *conditions)))
        found += [row for row in batch if row[0] in allowed]
        if len(found) >= k:
            break
    return found[:k]


def _varints(blob: bytes) -> list[int]:
    """SQLite's variable-length integers, as FTS5 stores its counts of tokens."""
    values, value = [], 0
    for byte in blob:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(value)
            value = 0
    return values


def _match(words: list[str]) -> ColumnElement[bool]:
    # Each word is quoted, so nothing in the query is read as FTS5 syntax.
    return literal_column("lessons_fts").op("MATCH")(
        " OR ".join('"' + word.replace('"', '""') + '"' for word in words))


def _bm25() -> ColumnElement[float]:
    return literal_column(f"-bm25(lessons_fts, {WEIGHTS_SQL})").label("score")


def _words(query: str) -> ColumnElement[Any]:
    # PostgreSQL parses the query as it parsed the documents ("K-7741" included), as an AND.
    return func.plainto_tsquery("english", query)


def _postgresql(query: str) -> Select[int, float]:
    # Its AND of the words becomes an OR, so a long query still finds partial matches.
    words = _words(query)
    tsquery = cast(func.replace(cast(words, Text), "&", "|"), TSQUERY)
    score = func.ts_rank_cd(SEARCH_VECTOR, tsquery)
    return (
        select(Lesson.id, score.label("score"))
        .where(SEARCH_VECTOR.op("@@")(tsquery))
        .order_by(score.desc(), Lesson.id)
    )
