"""Hybrid retrieval: dense and keyword results fused, filtered, and explained.

Dense search finds a lesson that shares no word with the query; keyword
search pins down exact names and codes. Their scores, each normalised per
query, are combined with fixed weights (bench/README.md measures this
against each side alone and against reciprocal rank fusion). Filters apply
to both sides before the cut, and every hit is checked against the database
at the end, so a deleted lesson never shows.
"""

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.models import Lesson
from lessons.services.lessons import lesson_conditions
from search.engine import SearchEngine
from search.keyword import keyword_search, terms
from search.passages import Passage, lesson_passages
from search.vectors import stored_rows

MAX_QUERY_CHARS = 5_000
CANDIDATES = 100  # per side, before fusion
DENSE_WEIGHT = 0.4  # of the fused score; the rest is keyword (chosen in bench/README.md)
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
    vector = engine.embedder.encode([text])[0]
    return search_by_vector(engine, session, vector, text, filters, limit, exclude)


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


def live_conditions(filters: Mapping[str, Any] | None, exclude: Sequence[int] = ()) -> list:
    """The list filters, on live lessons only, leaving out `exclude`."""
    conditions = lesson_conditions({**(filters or {}), "state": "active"})
    if exclude:
        conditions.append(Lesson.id.not_in(list(exclude)))
    return conditions


@dataclass
class Candidates:
    """Fused candidates (best first) and which side found each."""

    fused: dict[int, float]
    meaning: set[int]
    words: set[int]
    closest: float = 0.0  # cosine of the closest passage: how well the collection answers

    def matched_by(self, lesson_id: int) -> list[str]:
        return [name for name, ids in (("meaning", self.meaning), ("words", self.words))
                if lesson_id in ids]


def allowed_ids(session: Session, conditions: Sequence[Any]) -> np.ndarray | None:
    """The lessons a vector search may return, when that is not simply every live one.

    More than "not deleted", or a viewer who may not see every lesson
    (lessons.policy): the vector search is narrowed up front, so excluded
    lessons take no candidate's place.
    """
    if len(conditions) > 1 or session.info.get("restricted"):
        return np.fromiter(session.scalars(select(Lesson.id).where(*conditions)), dtype=np.int64)
    return None


def candidates(
    engine: SearchEngine,
    session: Session,
    vector: np.ndarray,
    text: str,
    conditions: Sequence[Any],
    allowed: np.ndarray | None,
    depth: int = CANDIDATES,
) -> Candidates:
    """Dense candidates among `allowed` (`allowed_ids`) and keyword candidates under
    `conditions`, fused."""
    engine.ready()
    dense = engine.dense(vector, depth, allowed)
    keyword = keyword_search(session, text, conditions, depth)
    return Candidates(fuse(dense, keyword), {i for i, _ in dense}, {i for i, _ in keyword},
                      max((score for _, score in dense), default=0.0))


def fuse(dense: Sequence[tuple[int, float]], keyword: Sequence[tuple[int, float]],
         dense_weight: float = DENSE_WEIGHT) -> dict[int, float]:
    """A convex combination of each side's scores, min-max normalised per query; best first.

    On the NASA benchmark this beats reciprocal rank fusion, which throws the
    score gaps away (bench/README.md).
    """
    scores: dict[int, float] = defaultdict(float)
    for weight, ranking in ((dense_weight, dense), (1 - dense_weight, keyword)):
        if not ranking:
            continue
        values = [score for _, score in ranking]
        low, high = min(values), max(values)
        for lesson_id, score in ranking:
            scores[lesson_id] += weight * ((score - low) / (high - low) if high > low else 1.0)
    return dict(sorted(scores.items(), key=lambda item: -item[1]))


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
    haystack = " ".join(str(content.get(f) or "") for f in (
        "title", "what_happened", "root_cause", "impact", "recommendation")).lower()
    return [w for w in words if re.search(rf"\b{re.escape(w)}", haystack)][:12]


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
