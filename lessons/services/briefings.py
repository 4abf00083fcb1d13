"""Kickoff briefings and the team's decisions on them: storing what search computed, and
verdicts."""

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lessons.actor import Actor, as_actor
from lessons.errors import ValidationError
from lessons.fields import DECISIONS, Field
from lessons.models import (
    Action,
    Briefing,
    BriefingItem,
    KickoffDecision,
    Lesson,
    Project,
    utcnow,
)
from lessons.services import audit
from lessons.services.actions import create_action, reassign_action, update_action
from lessons.services.common import get_live_row, record_change
from lessons.validation import clean

DECISION_FIELDS = (
    Field("lesson_id", "Lesson", "ref", required=True),
    Field("decision", "Decision", "choice", required=True, choices=DECISIONS),
    Field("note", "Note", "text", max_length=10_000),
    # The action a risk opens: who owns it (an account's email; the person deciding if
    # blank), its title (the lesson's if blank) and when it is due.
    Field("owner", "Risk owner", "string", max_length=200),
    Field("title", "Risk title", "string", max_length=500),
    Field("due_on", "Risk due date", "date"),
)
RISK_ONLY = ("owner", "title", "due_on")  # they describe the action only a risk opens
RARE_SHARE = 0.05  # a word in more of the live lessons than this explains no match
RARE_FLOOR = 2  # ...but one in this many is rare in any collection, however small
MAX_FREQUENCY_WORDS = 300  # a page's briefing shares far fewer; the rest are not counted


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
    """Replace the project's briefing with a freshly computed one.

    Every lesson the team decided on stays in it: a regeneration once dropped a
    lesson marked "not applicable" with its note, and the team's record with it.
    Those the new ranking no longer has follow the ranked ones, marked `kept`.
    """
    briefing = session.scalar(select(Briefing).where(Briefing.project_id == project.id))
    if briefing is None:
        briefing = Briefing(project_id=project.id)
        session.add(briefing)
    previous = {item.lesson_id: item.rank for item in briefing.items}
    briefing.text_hash, briefing.model, briefing.vector = text_hash, model, vector
    briefing.aspects, briefing.generated_at = aspects, utcnow()
    ranked = [
        BriefingItem(lesson_id=item.lesson_id, rank=rank, score=item.score, aspects=item.aspects,
                     aspect_text=item.aspect_text, terms=item.terms)
        for rank, item in enumerate(items, start=1)
    ]
    chosen = {item.lesson_id for item in items}
    decided = [d for d in session.scalars(select(KickoffDecision).where(
        KickoffDecision.project_id == project.id)) if d.lesson_id not in chosen]
    # In the order the team last saw them; those never shown (decided through the API) last.
    decided.sort(key=lambda d: (previous.get(d.lesson_id, len(previous) + 1), d.lesson_id))
    kept = [
        BriefingItem(lesson_id=d.lesson_id, rank=rank, score=0.0, aspects=[], aspect_text="",
                     terms=[], kept=True)
        for rank, d in enumerate(decided, start=len(ranked) + 1)
    ]
    briefing.items = ranked + kept
    session.flush()
    record_change(session, "briefing", briefing.id, "create")
    return briefing


@dataclass
class BriefingChanges:
    """What a regeneration changed in the briefing, as one viewer sees it."""

    added: list[Lesson]
    dropped: list[Lesson]
    kept: int  # lessons decided on, still there (ranked again or pinned)

    def summary(self, most: int = 3) -> str:
        """One sentence for the team: the lessons that came and went, and the decisions kept."""
        parts = []
        for lessons, word in ((self.added, "new"), (self.dropped, "dropped")):
            if lessons:
                titles = "; ".join(f"“{lesson.title}”" for lesson in lessons[:most])
                more = f" and {len(lessons) - most} more" if len(lessons) > most else ""
                noun = "lesson" if len(lessons) == 1 else "lessons"
                parts.append(f"{len(lessons)} {word} {noun} ({titles}{more})")
        changed = ", ".join(parts) if parts else "the same lessons as before"
        if self.kept:
            changed += (f"; the {self.kept} lesson{'' if self.kept == 1 else 's'} the team "
                        f"decided on {'is' if self.kept == 1 else 'are'} kept")
        return f"{changed[0].upper()}{changed[1:]}."


def briefing_changes(
    before: Sequence[Lesson], after: Sequence[Lesson], decided: Collection[int]
) -> BriefingChanges:
    """Compare the lessons of a briefing before and after it was computed again."""
    old, new = {lesson.id for lesson in before}, {lesson.id for lesson in after}
    return BriefingChanges(added=[lesson for lesson in after if lesson.id not in old],
                           dropped=[lesson for lesson in before if lesson.id not in new],
                           kept=len(new & set(decided)))


def distinctive_terms(session: Session, words: Iterable[str]) -> set[str]:
    """The `words` rare enough in the collection to explain a match.

    "Shared words" listed every word a lesson had in common with the
    description, "project" and "team" included, which explains nothing. A
    word is distinctive when at most RARE_SHARE of the live lessons hold it
    (or RARE_FLOOR, so a small collection keeps some); a word the full-text
    index does not know (a PostgreSQL stopword) is not.
    """
    frequency = term_frequencies(session, words)
    live = frequency.pop("", 0)
    limit = max(RARE_SHARE * live, RARE_FLOOR)
    return {word for word, count in frequency.items() if 0 < count <= limit}


def term_frequencies(session: Session, words: Iterable[str]) -> dict[str, int]:
    """How many live lessons hold each word (stemmed as the full-text index stems it),
    plus the number of live lessons under the key "".

    One statement, a count per word through the index (FTS5 on SQLite, the
    tsvector's GIN index on PostgreSQL). It runs on the connection, not the
    ORM, so the frequencies are the collection's, whoever is looking.
    """
    chosen = sorted(set(words))[:MAX_FREQUENCY_WORDS]
    if session.get_bind().dialect.name == "postgresql":
        count = ("(SELECT count(*) FROM lessons WHERE deleted_at IS NULL "
                 "AND search_vector @@ plainto_tsquery('english', :w{0}))")
        params = {f"w{i}": word for i, word in enumerate(chosen)}
    else:
        count = ("(SELECT count(*) FROM lessons_fts JOIN lessons ON lessons.id = lessons_fts.rowid "
                 "WHERE lessons_fts MATCH :w{0} AND lessons.deleted_at IS NULL)")
        # Quoted, so no word is read as FTS5 syntax (as search.keyword does).
        params = {f"w{i}": '"' + word.replace('"', '""') + '"' for i, word in enumerate(chosen)}
    columns = ["(SELECT count(*) FROM lessons WHERE deleted_at IS NULL)"]
    columns += [count.format(i) for i in range(len(chosen))]
    row = session.connection().execute(text("SELECT " + ", ".join(columns)), params).one()
    return {"": row[0], **dict(zip(chosen, row[1:], strict=True))}


def decide(
    session: Session, project_id: int, data: Mapping[str, Any], *, actor: Actor | str
) -> KickoffDecision:
    """Record (or change) the team's decision on one lesson surfaced for the project, and
    audit it. Who may decide is the caller's check (web.auth `check_project_team`).

    "Raised as a risk" opens an action on the project's side (`raise_risk`) with `owner`,
    `title` and `due_on` if given; given for a lesson that has one, they change it. Any of
    them with another decision is refused (they would describe no action). Deciding
    otherwise later leaves that action as it is: work may have started on it, and the pages
    say it stays open until someone closes or drops it."""
    get_live_row(session, Project, project_id)
    values = clean(DECISION_FIELDS, data)
    stray = {f.name: f"{f.label} goes with “Raised as a risk” only: leave it out for another "
                     "decision." for f in DECISION_FIELDS if f.name in RISK_ONLY and values[f.name]}
    if stray and values["decision"] != "risk":
        raise ValidationError(stray, "A risk's details were sent with a decision that opens "
                                     "no action.")
    lesson = session.get(Lesson, values["lesson_id"])
    if lesson is None or lesson.is_deleted:
        raise ValidationError({"lesson_id": "No such lesson."})
    decision = session.scalar(select(KickoffDecision).where(
        KickoffDecision.project_id == project_id, KickoffDecision.lesson_id == lesson.id))
    if decision is None:
        decision = KickoffDecision(project_id=project_id, lesson_id=lesson.id)
        session.add(decision)
    before = decision.decision
    actor = as_actor(actor)
    decision.decision, decision.note = values["decision"], values["note"]
    decision.actor = actor.name
    session.flush()
    record_change(session, "decision", decision.id, "update")
    audit.record(session, actor, "decision", f"project {project_id}", lesson_id=lesson.id,
                 before=before, after=decision.decision)
    if decision.decision == "risk":
        raise_risk(session, project_id, lesson, actor=actor,
                   **{name: values[name] for name in RISK_ONLY})
    return decision


def raise_risk(session: Session, project_id: int, lesson: Lesson, *, actor: Actor,
               owner: str | None = None, title: str | None = None,
               due_on: date | None = None) -> Action:
    """The project's action on a lesson raised as a risk: the one it has (open or not, never
    a second), given to `owner` and retitled or rescheduled if those are given, or a new
    one owned by `owner` (else `actor`), titled `title` (else the lesson's title), due
    `due_on`, its text (the mitigation) the lesson's recommendation."""
    action = decision_actions(session, project_id).get(lesson.id)
    due = due_on.isoformat() if due_on else None  # as the action's fields take it
    if action is not None:
        if owner:
            action = reassign_action(session, action.id, owner, actor=actor)
        changes = {name: value for name, value in (("title", title), ("due_on", due)) if value}
        if changes:
            action = update_action(session, action.id, changes, actor=actor)
        return action
    text = lesson.recommendation or f"Manage the risk: {lesson.title}"
    # The person deciding owns it by default; one without an account (a script's actor
    # name) stays as text, but an owner someone chose must be an account.
    return create_action(session, {"lesson_id": lesson.id, "title": title or lesson.title[:500],
                                   "description": text[:10_000], "due_on": due,
                                   "owner": owner or actor.name}, actor=actor,
                         accounts_only=bool(owner), project_id=project_id)


def decision_actions(session: Session, project_id: int) -> dict[int, Action]:
    """The live actions the project raised, by lesson id (the latest, if a lesson has
    several), whether or not the lesson is deleted: a risk never opens a second one."""
    rows = session.scalars(select(Action).where(
        Action.project_id == project_id, Action.deleted_at.is_(None)).order_by(Action.id))
    return {action.lesson_id: action for action in rows}  # a later id overwrites an earlier


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
