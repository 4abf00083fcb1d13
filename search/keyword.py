"""Keyword search per dialect: SQLite FTS5 ranked by bm25, PostgreSQL tsvector with ts_rank_cd.

Both answer the same question, the best `k` live lessons for the words of a
query under the same filters, so retrieval can fuse them with dense results.
"""

import re
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, Text, cast, column, func, literal_column, select, table
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from lessons.models import Lesson

MAX_TERMS = 64
FTS = table("lessons_fts", column("rowid"))  # the FTS5 table of migration 0002 (SQLite)
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


def keyword_search(
    session: Session, query: str, conditions: Sequence[ColumnElement[bool]], k: int
) -> list[tuple[int, float]]:
    """The best `k` lessons for the words of `query` as (lesson id, score), best first."""
    words = terms(query)
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        stmt = _postgresql(query)
    else:
        stmt = _sqlite(words)
    rows = session.execute(stmt.where(*conditions).limit(k))
    return [(row[0], float(row[1])) for row in rows]


def _sqlite(words: list[str]) -> Select:
    # Each word is quoted, so nothing in the query is read as FTS5 syntax.
    match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
    score = literal_column("-bm25(lessons_fts, 4.0, 1.0, 1.0, 1.0, 2.0)")
    return (
        select(Lesson.id, score.label("score"))
        .join(FTS, FTS.c.rowid == Lesson.id)
        .where(literal_column("lessons_fts").op("MATCH")(match))
        .order_by(score.desc(), Lesson.id)
    )


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
