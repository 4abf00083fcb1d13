"""Keyword search per dialect: SQLite FTS5 ranked by bm25, PostgreSQL tsvector with ts_rank_cd.

Both answer the same question, the best `k` live lessons for the words of a
query under the same filters, so retrieval can fuse them with dense results.
"""

import bisect
import functools
import re
import sqlite3
import threading
from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement, Select, Text, cast, column, func, literal_column, select, table, text,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from lessons.models import Lesson, LessonTag

MAX_TERMS = 64
POSTINGS_BUDGET = 50_000  # lessons holding each matched word, summed (bench/README.md)
OVERFETCH = 2  # ranked in FTS5 alone per result wanted, before the filters apply
FTS = table("lessons_fts", column("rowid"))  # the FTS5 table of migration 0002 (SQLite)
VOCABULARY = table("lessons_fts_vocab", column("term"), column("doc"), schema="temp")
# Per connection, made on first use (SQLite keeps temp tables per connection); DDL, so it
# opens no transaction.
VOCABULARY_DDL = ("CREATE VIRTUAL TABLE IF NOT EXISTS temp.lessons_fts_vocab "
                  "USING fts5vocab(main, lessons_fts, row)")
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
    """The best `k` lessons for the words of `query` as (lesson id, score), best first."""
    words = terms(query)
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_postgresql(query).where(*conditions).limit(k))
        return [(row[0], float(row[1])) for row in rows]
    return _sqlite(session, rarest(session, words), conditions, k)


def lessons_tagged(session: Session, tags: Sequence[str],
                   conditions: Sequence[ColumnElement[bool]], k: int) -> list[int]:
    """Up to `k` lessons under `conditions` with any of these tags."""
    if not tags:
        return []
    return list(session.scalars(select(Lesson.id).join(LessonTag).where(
        LessonTag.tag.in_(list(tags)), *conditions).distinct().order_by(Lesson.id).limit(k)))


def rarest(session: Session, words: list[str]) -> list[str]:
    """The words worth matching, rarest first, within POSTINGS_BUDGET.

    FTS5 computes bm25 for every lesson that holds any query word, so its time
    grows with the words' document frequencies: on 100k lessons that was most
    of a search's time. A word in more than half of the lessons adds nothing
    to bm25 (its weight is clamped to zero) and is dropped; past the budget,
    the commonest remaining words are too. On the 2,101 NASA lessons the budget
    is never reached (bench/README.md). Frequencies come from FTS5's own
    vocabulary, looked up by each word's stem as its tokenizer makes it.
    """
    stem_of = _stems(words)
    session.execute(text(VOCABULARY_DDL))
    counts = dict(session.execute(
        select(VOCABULARY.c.term, VOCABULARY.c.doc)
        .where(VOCABULARY.c.term.in_(set(stem_of.values())))).all())
    frequency = {word: counts.get(stem_of.get(word), 0) for word in words}
    by_rarity = sorted(words, key=lambda word: frequency[word])
    half = session.scalar(select(func.count()).select_from(Lesson)) / 2
    useful = [word for word in by_rarity if 0 < frequency[word] <= half] or by_rarity[-1:]
    chosen, postings = [], 0
    for word in useful:
        if chosen and postings + frequency[word] > POSTINGS_BUDGET:
            break
        chosen.append(word)
        postings += frequency[word]
    return chosen


def _stems(words: list[str]) -> dict[str, str]:
    """Each word's first token as FTS5 indexes it ("failures" → "failur").

    SQLite has no SQL function to run a tokenizer, so the words go through an
    FTS5 table with the tokenizer of `lessons_fts` (migration 0002), one row
    per word, and its vocabulary says what they became. The table lives in a
    private in-memory database: writing it on the request's connection would
    open a transaction there, pinning an old snapshot that later writes of
    the request could not commit on.
    """
    with _tokenizer_lock:
        connection = _tokenizer()
        connection.executemany("INSERT INTO words(rowid, word) VALUES (?, ?)", enumerate(words))
        tokens = connection.execute(
            "SELECT doc, term FROM words_vocab ORDER BY doc, offset").fetchall()
        connection.execute("DELETE FROM words")
    stem_of: dict[str, str] = {}
    for row, term in tokens:
        stem_of.setdefault(words[row], term)
    return stem_of


_tokenizer_lock = threading.Lock()


@functools.cache
def _tokenizer() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    connection.execute("CREATE VIRTUAL TABLE words USING fts5(word, "
                       "tokenize='porter unicode61 remove_diacritics 2')")
    connection.execute("CREATE VIRTUAL TABLE words_vocab USING fts5vocab(words, instance)")
    return connection


def _sqlite(
    session: Session, words: list[str], conditions: Sequence[ColumnElement[bool]], k: int
) -> list[tuple[int, float]]:
    match, score = _match(words), _bm25()
    # Ranking inside FTS5 first and filtering the best few costs half of joining every
    # match to its lesson (bench/README.md). Only when the filters reject too many of
    # those does the ranking run again, joined, so a filtered search still fills its page.
    fetch = k * OVERFETCH
    best = session.execute(select(FTS.c.rowid, score).where(match)
                           .order_by(score.desc(), FTS.c.rowid).limit(fetch)).all()
    allowed = set(session.scalars(
        select(Lesson.id).where(Lesson.id.in_([row[0] for row in best]), *conditions)))
    found = [(row[0], float(row[1])) for row in best if row[0] in allowed]
    if len(found) < k and len(best) == fetch:
        found = [(row[0], float(row[1])) for row in session.execute(
            select(Lesson.id, score).join(FTS, FTS.c.rowid == Lesson.id)
            .where(match, *conditions).order_by(score.desc(), Lesson.id).limit(k))]
    return found[:k]


def _match(words: list[str]) -> ColumnElement[bool]:
    # Each word is quoted, so nothing in the query is read as FTS5 syntax.
    return literal_column("lessons_fts").op("MATCH")(
        " OR ".join('"' + word.replace('"', '""') + '"' for word in words))


def _bm25() -> ColumnElement[float]:
    return literal_column("-bm25(lessons_fts, 4.0, 1.0, 1.0, 1.0, 2.0)").label("score")


def _postgresql(query: str) -> Select:
    # PostgreSQL parses the query as it parsed the documents ("K-7741" included);
    # its AND of the words becomes an OR, so a long query still finds partial matches.
    words = func.plainto_tsquery("english", query)
    tsquery = cast(func.replace(cast(words, Text), "&", "|"), TSQUERY)
    vector = literal_column("lessons.search_vector")
    score = func.ts_rank_cd(vector, tsquery)
    return (
        select(Lesson.id, score.label("score"))
        .where(vector.op("@@")(tsquery))
        .order_by(score.desc(), Lesson.id)
    )
