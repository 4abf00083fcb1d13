"""Kickoff briefings: the past lessons a new project must read, from its description.

A description of one sentence to several pages is searched whole, as a team
would search it, and cut into aspects (its paragraphs, long ones into a few
sentences each, plus the objectives, vendors, technologies and constraints
fields). Each aspect retrieves its own candidates; a lesson's score adds up
over the whole search and the aspects it matches, so one that answers
several parts of the charter ranks higher. Budget and team size are never
searched for: they describe a project's size, not what can go wrong in it.
Decisions from similar past kickoffs move lessons up (applied) or down (not
applicable). Finally, maximal marginal relevance picks the briefing, so it
covers the different aspects instead of ten near-copies of one lesson.
"""

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.models import Action, Briefing, KickoffDecision, Lesson, Project
from lessons.policy import reads_charter, session_viewer
from lessons.services.briefings import (
    PlannedItem,
    decision_actions,
    distinctive_terms,
    project_decisions,
    store_briefing,
)
from lessons.services.reviews import Feeds
from lessons.services.search_log import record_search
from search.engine import SearchEngine
from search.keyword import terms
from search.passages import chunks
from search.retrieve import (
    CANDIDATES,
    allowed_ids,
    candidates,
    live_conditions,
    query_vector,
    shared_terms,
)
from search.vectors import stored_rows

BRIEFING_SIZE = 15
ASPECT_CHARS = 400
MAX_ASPECTS = 24
PER_ASPECT = 30
RRF_K = 10  # each aspect's ranking adds 1 / (RRF_K + rank); 10 measured best (bench/README.md)
WHOLE_WEIGHT = 1.0  # the whole charter's ranking against all aspects together (bench/README.md)
DIVERSITY = 0.15  # weight of "unlike what is already chosen" against relevance
NEAR_COPY = 0.85  # mean passage vectors this alike: the same lesson logged twice
FEEDBACK = 0.5  # how far decisions on similar projects move a lesson
FEEDBACK_SIMILARITY = 0.3  # projects less alike than this do not count
DECISION_WEIGHTS = {"applied": 1.0, "risk": 0.5, "not_applicable": -1.0}
WATCH_SIMILARITY = 0.3  # all-MiniLM-L6-v2: related texts score 0.3-0.6, unrelated below 0.2
KICKOFF_FIELDS = (("objectives", "Objectives"), ("vendors", "Vendors"),
                  ("technologies", "Technologies"), ("constraints", "Constraints"))


@dataclass(frozen=True)
class Aspect:
    label: str
    text: str


def project_aspects(project: Project) -> list[Aspect]:
    """The parts of a project's kickoff text, each searched on its own."""
    aspects = []
    paragraphs = [p for p in (project.description or "").split("\n\n") if p.strip()]
    for number, paragraph in enumerate(paragraphs, start=1):
        label = "Description" if len(paragraphs) == 1 else f"Description, paragraph {number}"
        aspects += [Aspect(label, piece) for piece in chunks(paragraph, ASPECT_CHARS)]
    for name, label in KICKOFF_FIELDS:
        aspects += [Aspect(label, piece) for piece in chunks(getattr(project, name) or "",
                                                             ASPECT_CHARS)]
    return aspects[:MAX_ASPECTS]


def kickoff_hash(project: Project) -> str:
    """A hash of everything a briefing is computed from: a change means a new briefing."""
    text = "\x1f".join(f"{a.label}\x1e{a.text}" for a in project_aspects(project))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_briefing(engine: SearchEngine, session: Session, project: Project,
                    feeds: Feeds) -> Briefing | None:
    """The project's briefing from the lessons under `feeds`, computed now if there is none or
    its text changed; None without text."""
    briefing = session.scalar(select(Briefing).where(Briefing.project_id == project.id))
    if not project_aspects(project) or project.is_deleted:
        return briefing
    if (briefing is None or briefing.text_hash != kickoff_hash(project)
            or briefing.model != engine.model):
        briefing = generate(engine, session, project, feeds)
        session.commit()
    return briefing


def generate(engine: SearchEngine, session: Session, project: Project,
             feeds: Feeds) -> Briefing:
    """Compute and store the project's briefing from the lessons under `feeds` (the caller
    commits)."""
    aspects = project_aspects(project)
    vectors = engine.embedder.encode([aspect.text for aspect in aspects])
    own = list(session.scalars(select(Lesson.id).where(Lesson.project_id == project.id)))
    conditions = [*live_conditions(None, exclude=own), *feeds]
    scores: dict[int, float] = defaultdict(float)
    matched: dict[int, list[tuple[int, Aspect]]] = defaultdict(list)
    closest = 0.0
    allowed = allowed_ids(session, conditions)  # the same for every aspect: read once
    project_vector = unit(vectors.mean(axis=0))
    # The charter as one query (the plain search a team would run, as deep) anchors the
    # briefing; each aspect then adds the lessons that answer it, so it covers the charter.
    whole = Aspect("Description", "\n\n".join(aspect.text for aspect in aspects))
    share = 1.0 / len(aspects)  # the aspects together weigh as much as one search
    searches = [(whole, query_vector(engine.embedder, whole.text), WHOLE_WEIGHT, CANDIDATES)]
    if len(aspects) > 1:  # one aspect is the whole charter: searched once
        searches += [(aspect, vector, share, PER_ASPECT)
                     for aspect, vector in zip(aspects, vectors, strict=True)]
    for aspect, vector, weight, depth in searches:
        found = candidates(engine, session, vector, aspect.text, conditions, allowed, depth=depth)
        closest = max(closest, found.closest)
        for rank, lesson_id in enumerate(list(found.fused)[:PER_ASPECT], start=1):
            scores[lesson_id] += weight / (RRF_K + rank)
            if aspect is not whole:
                matched[lesson_id].append((rank, aspect))
    apply_feedback(session, project.id, project_vector, scores)
    lessons = {lesson.id: lesson for lesson in session.scalars(
        select(Lesson).where(Lesson.id.in_(list(scores)), *conditions))}
    chosen = diverse(session, engine.model, {i: s for i, s in scores.items() if i in lessons})
    items = []
    for lesson_id in chosen:
        matched[lesson_id] = matched[lesson_id] or [(PER_ASPECT, whole)]
        best = min(matched[lesson_id], key=lambda pair: pair[0])[1]
        labels = list(dict.fromkeys(aspect.label for _, aspect in sorted(
            matched[lesson_id], key=lambda pair: pair[0])))
        items.append(PlannedItem(lesson_id, scores[lesson_id], labels, best.text,
                                 shared_terms(terms(best.text), lessons[lesson_id])))
    record_search(session, "kickoff", f"{project.name}: {project.description or ''}", closest,
                  actor="kickoff", project_id=project.id)
    return store_briefing(
        session, project, text_hash=kickoff_hash(project), model=engine.model,
        vector=project_vector.tobytes(),
        aspects=[{"label": a.label, "text": a.text} for a in aspects], items=items,
    )


def apply_feedback(session: Session, project_id: int, vector: np.ndarray,
                   scores: dict[int, float]) -> None:
    """Raise lessons applied on similar projects, lower those judged not applicable there."""
    rows = session.execute(
        select(KickoffDecision.lesson_id, KickoffDecision.decision, Briefing.vector)
        .join(Briefing, Briefing.project_id == KickoffDecision.project_id)
        .where(KickoffDecision.lesson_id.in_(list(scores)),
               KickoffDecision.project_id != project_id)
    ).all()
    adjustment: dict[int, float] = defaultdict(float)
    for lesson_id, decision, other in rows:
        other_vector = np.frombuffer(other, dtype=np.float32)
        if other_vector.shape != vector.shape:
            continue  # made with another model
        similarity = float(other_vector @ vector)
        if similarity >= FEEDBACK_SIMILARITY:
            adjustment[lesson_id] += similarity * DECISION_WEIGHTS[decision]
    for lesson_id, value in adjustment.items():
        scores[lesson_id] *= math.exp(FEEDBACK * max(-2.0, min(2.0, value)))


def diverse(session: Session, model: str, scores: dict[int, float]) -> list[int]:
    """Maximal marginal relevance: relevant lessons, each unlike those already chosen; a
    near-copy of a chosen lesson only once nothing else is left."""
    pool = sorted(scores, key=lambda i: -scores[i])[: BRIEFING_SIZE * 4]
    if not pool:
        return []
    rows = stored_rows(session, model, pool)
    lesson_vectors = {
        i: unit(np.mean([np.frombuffer(r.vector, dtype=np.float32) for r in rows[i].values()],
                        axis=0))
        for i in pool if rows[i]
    }
    top = scores[pool[0]]
    chosen: list[int] = []

    def overlap(lesson_id: int) -> float:
        vector = lesson_vectors.get(lesson_id)
        return max((float(vector @ lesson_vectors[c]) for c in chosen
                    if vector is not None and c in lesson_vectors), default=0.0)

    while pool and len(chosen) < BRIEFING_SIZE:
        best = max(pool, key=lambda i: (overlap(i) < NEAR_COPY,
                                        (1 - DIVERSITY) * scores[i] / top - DIVERSITY * overlap(i)))
        chosen.append(best)
        pool.remove(best)
    return chosen


def new_since_kickoff(
    engine: SearchEngine, session: Session, project: Project, briefing: Briefing, feeds: Feeds,
    limit: int = 10,
) -> list[tuple[Lesson, float | None, str]]:
    """Lessons under `feeds` logged (or approved) on other projects after the briefing that
    match the project's aspects, with how closely (None for a viewer who may not read the
    charter: the number would let them probe its text with lessons of their own)."""
    since: datetime = briefing.generated_at
    entered = Lesson.created_at > since
    if feeds:  # only approved lessons feed briefings: one approved since is new too
        entered |= Lesson.status_since > since
    fresh = list(session.scalars(select(Lesson.id).where(
        entered, Lesson.deleted_at.is_(None), *feeds,
        (Lesson.project_id != project.id) | Lesson.project_id.is_(None))))
    if not fresh:
        return []
    aspects = [Aspect(a["label"], a["text"]) for a in briefing.aspects]
    vectors = engine.embedder.encode([a.text for a in aspects])
    best: dict[int, tuple[float, str]] = {}
    engine.ready()
    for aspect, vector in zip(aspects, vectors, strict=True):
        for lesson_id, similarity in engine.dense(vector, limit, frozenset(fresh)):
            if similarity >= WATCH_SIMILARITY and similarity > best.get(lesson_id, (0, ""))[0]:
                best[lesson_id] = (similarity, aspect.label)
    lessons = {lesson.id: lesson for lesson in session.scalars(
        select(Lesson).where(Lesson.id.in_(list(best))))}
    ranked = sorted(best.items(), key=lambda pair: -pair[1][0])[:limit]
    shown = charter_shown(briefing)
    return [(lessons[i], similarity if shown else None, label)
            for i, (similarity, label) in ranked]


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(np.float32)


WHY_ASPECTS = 2  # the parts of the description a line names: more read as "everything"


@dataclass
class Row:
    """One briefing line as people read it."""

    rank: int  # among the rows this viewer sees
    score: float | None  # None unless the viewer sees every lesson (it counts them all)
    lesson: Lesson
    aspects: list[str]  # every aspect it matched, best first
    aspect_text: str  # the text of the best one ("" unless the viewer reads the charter)
    terms: list[str]  # every word it shares with that text (as aspect_text)
    projects_hit: int
    decision: KickoffDecision | None
    kept: bool = False  # no longer ranked, pinned because the team decided on it
    words: list[str] = field(default_factory=list)  # the shared words rare enough to explain
    risk_action: Action | None = None  # the project's action on it (raised as a risk)

    @property
    def why(self) -> list[str]:
        """The aspects it answers best, for the "why" line."""
        return self.aspects[:WHY_ASPECTS]

    @property
    def category(self) -> str:
        return self.lesson.category or "other"


def briefing_rows(project: Project, briefing: Briefing | None) -> list[Row]:
    """The briefing's lessons in rank order, with their decisions and how many projects hit each.

    Read in the session the briefing was loaded in: the viewer's, which shows
    only the lessons they may see (`lessons.policy`). Every output of a briefing
    (page, PDF, API, Markdown, CSV) is made of these rows, so what they leave out
    for this viewer no output shows: the charter text a row quotes and the words
    it shares, unless the viewer reads the charter (`charter_shown`); the score,
    unless the viewer sees every lesson, since it was computed over all of them
    and would tell whether hidden lessons match the charter.
    """
    if briefing is None:
        return []
    session = Session.object_session(briefing)
    assert session is not None  # a briefing here was read through a session
    decisions = project_decisions(session, project.id)
    actions = decision_actions(session, project.id)
    exact = session_viewer(session) is None
    charter = charter_shown(briefing)
    rare = distinctive_terms(session, {term for item in briefing.items for term in item.terms})
    rows: list[Row] = []
    for item in briefing.items:
        lesson = item.lesson  # None when the viewer may not see it (lessons.policy)
        if lesson is None or lesson.is_deleted:
            continue
        hit = {lesson.project_id} | {o.project_id for o in lesson.occurrences}
        shared = item.terms if charter else []
        # Ranked among what this viewer sees: a gap would hint at a lesson they may not.
        rows.append(Row(len(rows) + 1, item.score if exact else None, lesson, item.aspects,
                        item.aspect_text if charter else "", shared, len(hit - {None}),
                        decisions.get(lesson.id), item.kept,
                        [term for term in shared if term in rare], actions.get(lesson.id)))
    return rows


def charter_shown(briefing: Briefing) -> bool:
    """Whether the viewer the briefing was read for reads its project's charter, which the
    briefing quotes (`lessons.policy.reads_charter`)."""
    session = Session.object_session(briefing)
    assert session is not None  # a briefing here was read through a session
    return reads_charter(session, session_viewer(session), briefing.project_id)


def shown_aspects(briefing: Briefing) -> list[dict[str, str]]:
    """The parts of the charter the briefing was computed from, as its viewer may read them:
    their labels only unless they read the charter (`charter_shown`)."""
    shown = charter_shown(briefing)
    return [{"label": aspect["label"], "text": aspect["text"] if shown else ""}
            for aspect in briefing.aspects]
