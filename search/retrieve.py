"""Hybrid retrieval: candidates by meaning, words and tags, ranked, filtered and explained.

Dense search finds a lesson that shares no word with the query; keyword
search pins down exact names and codes; a tag close to the query in meaning
says what a lesson is about (`search.tags`). The candidates of all three are ranked together by
`search.ranking` (bench/README.md measures it against each side alone and
against reciprocal rank fusion, on queries people type). Filters apply to
every side before the cut, and every hit is checked against the database at
the end, so a deleted lesson never shows.
"""

import functools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.fields import LESSON_TEXT_FIELDS
from lessons.models import Lesson, LessonTag
from lessons.policy import session_viewer
from lessons.services.lessons import lesson_conditions
from search.acronyms import spelled_out
from search.embedder import Embedder
from search.engine import SearchEngine
from search.index import AllowedIds
from search.keyword import keyword_search, lessons_tagged, starting_words, terms
from search.passages import Passage, chunks, lesson_passages
from search.ranking import Candidate, phrase_of, rank
from search.vectors import stored_rows

MAX_QUERY_CHARS = 5_000
CANDIDATES = 100  # per side, before fusion
QUERY_PIECE_CHARS = 400  # a longer query is embedded in pieces of about this size
QUERY_CACHE = 1_000  # query vectors remembered per process
TAG_MATCH = 0.6  # a tag this close to the query brings its lessons in (see search.tags)
FACETS = ("category", "kind", "severity", "project_id")


@dataclass
class Hit:
    """One lesson found, with why: its closest passage and the words it shares with the query."""

    lesson: Lesson
    score: float
    similarity: float  # cosine of the closest passage, 0..1
    passage: str
    terms: list[str]
    matched_by: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.lesson.id,
            "external_id": self.lesson.external_id,
            "title": self.lesson.title,
            "project_id": self.lesson.project_id,
            "project_name": self.lesson.project.name if self.lesson.project else None,
            "category": self.lesson.category,
            "kind": self.lesson.kind,
            "severity": self.lesson.severity,
            "status": self.lesson.status,
            "occurred_on": self.lesson.occurred_on.isoformat() if self.lesson.occurred_on else None,
            "score": round(self.score, 6),
            "similarity": round(self.similarity, 4),
            "why": {"passage": self.passage, "terms": self.terms, "matched_by": self.matched_by},
        }


@dataclass
class Results:
    hits: list[Hit]
    candidates: int
    facets: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)
    meant: str = ""  # what a search looked for by meaning: its query, acronyms spelled out


def check_query(text: Any) -> str:
    """The query text, or a `ValidationError` saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"q": "Type something to search for."}, "The query is empty.")
    if len(text) > MAX_QUERY_CHARS:
        raise ValidationError({"q": f"At most {MAX_QUERY_CHARS:,} characters."},
                              "The query is too long.")
    if "\x00" in text:
        raise ValidationError({"q": "Contains a NUL character."}, "The query is not valid.")
    return text.strip()


def search(
    engine: SearchEngine,
    session: Session,
    text: str,
    filters: Mapping[str, Any] | None = None,
    limit: int = 20,
    exclude: Sequence[int] = (),
) -> Results:
    """The best `limit` live lessons for `text` under `filters`, fused and explained."""
    text = check_query(text)
    # Searched by meaning with its acronyms spelled out as the lessons define them.
    meant = spelled_out(session, text, live_conditions(filters, exclude))
    results = search_by_vector(engine, session, query_vector(engine.embedder, meant), text,
                               filters, limit, exclude)
    results.meant = meant
    return results


def query_vector(embedder: Embedder, text: str) -> np.ndarray:
    """The query's vector; a long one (a charter pasted whole) as the mean of its pieces, since
    the model reads only its first 256 word pieces.

    Recent queries are remembered: paging, a facet click or htmx asking again as someone
    types repeats the query, and embedding is most of a search's time.
    """
    return _query_vector(embedder, text)


@functools.lru_cache(maxsize=QUERY_CACHE)
def _query_vector(embedder: Embedder, text: str) -> np.ndarray:
    mean = embedder.encode(query_pieces(text)).mean(axis=0)
    vector = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
    vector.setflags(write=False)  # shared by every later search for the same text
    return vector


def query_pieces(text: str) -> list[str]:
    """The pieces a query is embedded in: itself, or a long one cut where the model reads."""
    return chunks(text, QUERY_PIECE_CHARS) if len(text) > QUERY_PIECE_CHARS else [text]


def search_by_vector(
    engine: SearchEngine,
    session: Session,
    vector: np.ndarray,
    text: str,
    filters: Mapping[str, Any] | None,
    limit: int,
    exclude: Sequence[int] = (),
) -> Results:
    """`search` with the query already embedded (a lesson's own vector, for "similar")."""
    conditions = live_conditions(filters, exclude)
    found = candidates(engine, session, vector, text, conditions,
                       allowed_ids(session, conditions))
    # Facets need four columns of every candidate; whole lessons are loaded for the page only.
    facts = {row.id: row for row in session.execute(
        select(Lesson.id, *(getattr(Lesson, name) for name in FACETS))
        .where(Lesson.id.in_(list(found.fused)), *conditions))}
    ranked = [(lesson_id, score) for lesson_id, score in found.fused.items() if lesson_id in facts]
    top = ranked[:limit]
    lessons = {lesson.id: lesson for lesson in session.scalars(
        select(Lesson).where(Lesson.id.in_([lesson_id for lesson_id, _ in top])))}
    explained = explain(session, engine.model, vector, [lessons[i] for i, _ in top], text)
    hits = [Hit(lessons[lesson_id], score, *explained[lesson_id], found.matched_by(lesson_id))
            for lesson_id, score in top]
    return Results(hits, len(ranked), count_facets(list(facts.values())))


def live_conditions(filters: Mapping[str, Any] | None,
                    exclude: Sequence[int] = ()) -> list[ColumnElement[bool]]:
    """The list filters, on live lessons only, leaving out `exclude`."""
    conditions = lesson_conditions({**(filters or {}), "state": "active"})
    if exclude:
        conditions.append(Lesson.id.not_in(list(exclude)))
    return conditions


@dataclass
class Candidates:
    """Ranked candidates (best first) and which side found each."""

    fused: dict[int, float]
    meaning: set[int]
    words: set[int]
    tags: set[int]
    closest: float = 0.0  # cosine of the closest passage: how well the collection answers
    pool: dict[int, Candidate] = field(default_factory=dict)  # what the ranking saw

    def matched_by(self, lesson_id: int) -> list[str]:
        return [name for name, ids in (("meaning", self.meaning), ("words", self.words),
                                       ("tags", self.tags)) if lesson_id in ids]


def allowed_ids(session: Session, conditions: Sequence[Any]) -> AllowedIds | None:
    """The lessons a vector search may return, when that is not simply every live one.

    More than "not deleted", or a viewer who may not see every lesson
    (lessons.policy): the vector search is narrowed up front, so excluded
    lessons take no candidate's place.
    """
    if len(conditions) > 1 or session_viewer(session) is not None:
        return frozenset(session.scalars(select(Lesson.id).where(*conditions)))
    return None


def candidates(
    engine: SearchEngine,
    session: Session,
    vector: np.ndarray,
    text: str,
    conditions: Sequence[Any],
    allowed: AllowedIds | None,
    depth: int = CANDIDATES,
) -> Candidates:
    """The lessons found by meaning (among `allowed`, see `allowed_ids`), by words or by tag
    under `conditions`, ranked by the second stage (`search.ranking`)."""
    engine.ready()
    dense = dict(engine.dense(vector, depth, allowed))
    words = dict(keyword_search(session, text, conditions, depth))
    tag_scores = engine.tag_scores(session, vector)
    tagged = lessons_tagged(session, [t for t, s in tag_scores.items() if s >= TAG_MATCH],
                            conditions, depth)
    found = list({**dict.fromkeys(tagged), **dense, **words})
    headings = lesson_headings(session, found)
    pool = gather(engine, vector, found, words, tag_scores, headings)
    return Candidates(rank(pool, terms(text), phrase_of(text)), set(dense), set(words),
                      set(tagged), max(dense.values(), default=0.0), pool)


def gather(engine: SearchEngine, vector: np.ndarray, found: list[int], words: dict[int, float],
           tag_scores: dict[str, float], headings: dict[int, tuple[str, list[str]]]
           ) -> dict[int, Candidate]:
    """What the ranking needs of each found lesson, its passages scored against `vector`.

    Each side scored only what it found: this looks at every candidate, and all its
    passages. A lesson outside the keyword top `depth` scores below all of it: counted as no
    match, since scoring it exactly would cost FTS5 a lookup per query word per lesson.
    """
    passages = engine.passage_scores(vector, found)
    pool = {}
    for i in found:
        title, tags = headings.get(i, ("", []))
        scores = passages.get(i, [0.0])
        # A plain mean: NumPy's on a short list cost a millisecond a search (167 candidates).
        pool[i] = Candidate(max(scores), math.fsum(scores) / len(scores), words.get(i, 0.0),
                            max((tag_scores.get(t, 0.0) for t in tags), default=0.0), title, tags)
    return pool


def lesson_headings(session: Session, lesson_ids: list[int]) -> dict[int, tuple[str, list[str]]]:
    """Each lesson's title and tags."""
    headings: dict[int, tuple[str, list[str]]] = {}
    for start in range(0, len(lesson_ids), 500):
        batch = lesson_ids[start:start + 500]
        for lesson_id, title in session.execute(
                select(Lesson.id, Lesson.title).where(Lesson.id.in_(batch))):
            headings[lesson_id] = (title, [])
        for lesson_id, tag in session.execute(
                select(LessonTag.lesson_id, LessonTag.tag).where(LessonTag.lesson_id.in_(batch))):
            headings[lesson_id][1].append(tag)
    return headings


def explain(
    session: Session, model: str, vector: np.ndarray, lessons: Sequence[Lesson], text: str
) -> dict[int, tuple[float, str, list[str]]]:
    """For each lesson: its closest passage's similarity and text, and the shared words."""
    rows = stored_rows(session, model, [lesson.id for lesson in lessons])
    words = terms(text)
    result = {}
    for lesson in lessons:
        passages: list[Passage] = lesson_passages(lesson.content())
        best, best_passage = 0.0, passages[0]
        for passage in passages:
            row = rows[lesson.id].get(passage.position)
            if row is not None and row.text_hash == passage.text_hash:
                score = float(np.frombuffer(row.vector, dtype=np.float32) @ vector)
                if score > best:
                    best, best_passage = score, passage
        body = best_passage.text.split("\n", 1)[-1]
        result[lesson.id] = (max(best, 0.0), body, shared_terms(words, lesson))
    return result


def shared_terms(words: Sequence[str], lesson: Lesson) -> list[str]:
    """The query words that occur in the lesson (by word start, so "test" finds "testing")."""
    content = lesson.content()
    haystack = " ".join(str(content.get(f) or "") for f in ("title", *LESSON_TEXT_FIELDS)).lower()
    return starting_words(words, haystack)[:12]


def count_facets(lessons: Sequence[Any]) -> dict[str, list[tuple[Any, int]]]:
    """How many of the candidates (rows with the FACETS columns) fall in each value."""
    facets = {}
    for name in FACETS:
        counts = Counter(getattr(lesson, name) for lesson in lessons)
        counts.pop(None, None)
        facets[name] = counts.most_common()
    return facets


def similar_lessons(
    engine: SearchEngine, session: Session, lesson: Lesson, limit: int = 10
) -> Results:
    """Lessons most like `lesson` (its own vectors as the query), itself left out."""
    engine.ready()
    rows = stored_rows(session, engine.model, [lesson.id])[lesson.id]
    text = " ".join(filter(None, (lesson.title, lesson.what_happened)))[:MAX_QUERY_CHARS]
    if rows:
        mean = np.mean([np.frombuffer(r.vector, dtype=np.float32) for r in rows.values()], axis=0)
        vector = (mean / max(np.linalg.norm(mean), 1e-9)).astype(np.float32)
    else:
        vector = engine.embedder.encode([text])[0]
    return search_by_vector(engine, session, vector, text, None, limit, exclude=[lesson.id])
