"""Kickoff briefings and the team's decisions on them: storing what search computed, and verdicts."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.fields import DECISIONS, Field
from lessons.models import Briefing, BriefingItem, KickoffDecision, Lesson, Project, utcnow
from lessons.services.common import get_live_row, record_change
from lessons.validation import clean

DECISION_FIELDS = (
    Field("lesson_id", "Lesson", "ref", required=True),
    Field("decision", "Decision", "choice", required=True, choices=DECISIONS),
    Field("note", "Note", "text", max_length=10_000),
)


@dataclass
class PlannedItem:
    """A lesson search chose for a briefing, before it is stored."""

    lesson_id: int
    score: float
    aspects: list[str]
    aspect_text: str
    terms: list[str]


def store_briefing(
    session: Session,
    project: Project,
    *,
    text_hash: str,
    model: str,
    vector: bytes,
    aspects: list[dict[str, str]],
    items: Sequence[PlannedItem],
) -> Briefing:
    """Replace the project's briefing with a freshly computed one (decisions are kept apart)."""
    briefing = session.scalar(select(Briefing).where(Briefing.project_id == project.id))
    if briefing is None:
        briefing = Briefing(project_id=project.id)
        session.add(briefing)
    briefing.text_hash, briefing.model, briefing.vector = text_hash, model, vector
    briefing.aspects, briefing.generated_at = aspects, utcnow()
    briefing.items = [
        BriefingItem(lesson_id=item.lesson_id, rank=rank, score=item.score, aspects=item.aspects,
                     aspect_text=item.aspect_text, terms=item.terms)
        for rank, item in enumerate(items, start=1)
    ]
    session.flush()
    record_change(session, "briefing", briefing.id, "create")
    return briefing


def decide(
    session: Session, project_id: int, data: Mapping[str, Any], *, actor: str
) -> KickoffDecision:
    """Record (or change) the team's decision on one lesson surfaced for the project."""
    get_live_row(session, Project, project_id)
    values = clean(DECISION_FIELDS, data)
    lesson = session.get(Lesson, values["lesson_id"])
    if lesson is None or lesson.is_deleted:
        raise ValidationError({"lesson_id": "No such lesson."})
    decision = session.scalar(select(KickoffDecision).where(
        KickoffDecision.project_id == project_id, KickoffDecision.lesson_id == lesson.id))
    if decision is None:
        decision = KickoffDecision(project_id=project_id, lesson_id=lesson.id)
        session.add(decision)
    decision.decision, decision.note, decision.actor = values["decision"], values["note"], actor
    session.flush()
    record_change(session, "decision", decision.id, "update")
    return decision


def project_decisions(session: Session, project_id: int) -> dict[int, KickoffDecision]:
    """The project's decisions, by lesson id."""
    rows = session.scalars(select(KickoffDecision).where(KickoffDecision.project_id == project_id))
    return {row.lesson_id: row for row in rows}


def lesson_decisions(session: Session, lesson_id: int) -> list[KickoffDecision]:
    """Every kickoff's decision on a lesson, newest first."""
    query = (select(KickoffDecision).where(KickoffDecision.lesson_id == lesson_id)
             .order_by(KickoffDecision.decided_at.desc()))
    return list(session.scalars(query))


def decision_counts(decisions: Sequence[KickoffDecision]) -> dict[str, int]:
    """How many kickoffs applied, dismissed or raised the lesson as a risk."""
    counts = Counter(d.decision for d in decisions)
    return {key: counts.get(key, 0) for key in DECISIONS}
