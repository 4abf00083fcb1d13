"""A lesson's history as a reader may see it: which revisions, and what each one changed.

Each revision keeps the audience it was written for. Text written while the
lesson was a draft and replaced before it was submitted stays its author's
(and the PMO's); text written while the lesson was team-only, or for its
business unit, stays with that team or unit after the lesson is widened. So a
revision is shown to who could see the lesson when it was written (its
visibility and project then, by today's teams and units) and can see it now,
and each shown revision is compared with the one before it that the reader
may see, never with one they may not. Values read as the forms show them:
the project's name, "Went wrong", "Everyone in the organisation".
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lessons.fields import LESSON_FIELDS, Field
from lessons.models import Lesson, Project, Review, Revision
from lessons.policy import Viewer, sees
from lessons.wording import money

MAX_DIFF_WORK = 25_000_000
FIELDS = {f.name: f for f in LESSON_FIELDS}
LABELS = {f.name: f.label for f in LESSON_FIELDS}
WORDED = {"string", "text", "tags"}  # field types whose changes are shown word by word


@dataclass
class FieldChange:
    """One field's old and new value, and a word-level diff between them."""

    field: str
    label: str
    before: str
    after: str
    segments: list[tuple[str, str]]  # ("same" | "del" | "ins", text)


@dataclass
class Entry:
    """One revision the reader may see, and what it changed since the one before it that they
    may see; `whole` when there is none (it is then shown in full)."""

    revision: Revision
    changes: list[FieldChange]
    whole: bool


@dataclass
class History:
    """The revisions a reader may see, oldest first, and how many others there are."""

    entries: list[Entry]
    hidden: int


def lesson_history(session: Session, viewer: Viewer | None, lesson: Lesson,
                   currency: str | None = None) -> History:
    """`lesson`'s history as `viewer`, who may see the lesson now, may read it; amounts in
    `currency` when given (the page), as stored otherwise (the API)."""
    revisions = list(lesson.revisions)
    shown = readable(session, viewer, lesson, revisions)
    names = project_names(session, shown)
    entries, previous = [], None
    for revision in shown:
        changes = revision_changes(previous.content if previous else None, revision.content,
                                   names, currency)
        entries.append(Entry(revision, changes, previous is None))
        previous = revision
    return History(entries, len(revisions) - len(shown))


def readable(session: Session, viewer: Viewer | None, lesson: Lesson,
             revisions: Sequence[Revision]) -> list[Revision]:
    """The revisions `viewer` could have seen when they were written (lessons.policy.sees)."""
    drafts = draft_texts(session, lesson, revisions)
    return [revision for revision in revisions if sees(
        session, viewer, visibility=revision.content.get("visibility") or "organisation",
        project_id=revision.content.get("project_id"), draft=revision.number in drafts,
        owner_id=lesson.owner_id)]


def draft_texts(session: Session, lesson: Lesson, revisions: Sequence[Revision]) -> set[int]:
    """The numbers of the revisions replaced while the lesson was still a draft.

    The last text before it was submitted is what its audience then got; a lesson never
    goes back to draft (lessons.services.reviews). A lesson with no review step that is not
    a draft never was one (imported, or older than review).
    """
    submitted = first_step(session, lesson.id)
    if submitted is None:
        return {r.number for r in revisions} if lesson.status == "draft" else set()
    return {r.number for r, after in pairwise(revisions) if after.created_at < submitted}


def first_step(session: Session, lesson_id: int) -> datetime | None:
    """When the lesson's first review step (its submission, or approval) was taken.

    Read in Core: the viewer's policy shows review steps to the author and the PMO only,
    and this time says nothing a reader of the history could not tell anyway.
    """
    reviews = Review.__table__
    return session.connection().scalar(
        select(func.min(reviews.c.created_at)).where(reviews.c.lesson_id == lesson_id))


def project_names(session: Session, revisions: Sequence[Revision]) -> dict[int, str]:
    """The name of each project the revisions name."""
    ids = {r.content.get("project_id") for r in revisions} - {None}
    return dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(ids))).all())


def revision_changes(previous: dict[str, Any] | None, current: dict[str, Any],
                     projects: Mapping[int, str] | None = None,
                     currency: str | None = None) -> list[FieldChange]:
    """What changed from `previous` to `current` (everything set, for a first revision).

    Tags are a set: the same tags in another order are no change.
    """
    changes = []
    for name, field in FIELDS.items():
        old, new = (previous or {}).get(name), current.get(name)
        if comparable(old) == comparable(new):
            continue
        before = as_text(field, old, projects, currency)
        after = as_text(field, new, projects, currency)
        changes.append(FieldChange(name, field.label, before, after, segments(field, before,
                                                                              after)))
    return changes


def segments(field: Field, before: str, after: str) -> list[tuple[str, str]]:
    """How a change reads: words diffed in text; a figure, date or choice replaced whole, a
    space between the old and the new ("14 20" with 14 struck, not "1420")."""
    if field.type in WORDED:
        return word_diff(before, after)
    parts = [("del", before)] if before else []
    if before and after:
        parts.append(("gap", " "))
    return parts + ([("ins", after)] if after else [])


def comparable(value: Any) -> Any:
    """A value as compared for a change: tags in order, blanks alike."""
    if isinstance(value, list):
        return sorted(value)
    return None if value in (None, "") else value


def as_text(field: Field, value: Any, projects: Mapping[int, str] | None = None,
            currency: str | None = None) -> str:
    """A field value as the forms show it: a choice's label, the project's name, an amount
    with its currency."""
    if value is None or value == "":
        return ""
    if field.type == "money" and currency:
        return money(value, currency)
    if isinstance(value, list):
        return ", ".join(str(v) for v in sorted(value))
    if field.name == "project_id":
        return (projects or {}).get(value, "A project that no longer exists")
    if field.choices:
        return field.choices.get(value, str(value))
    return str(value)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Runs of kept, deleted and inserted text, split on word boundaries."""
    old, new = re.findall(r"\s+|[^\s]+", before), re.findall(r"\s+|[^\s]+", after)
    if len(old) * len(new) > MAX_DIFF_WORK:
        # Matching cost grows with the product of the lengths: show a whole replacement.
        return [("del", before), ("ins", after)]
    segments: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            segments.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            segments.append(("del", "".join(old[i1:i2])))
        if j2 > j1:
            segments.append(("ins", "".join(new[j1:j2])))
    return segments
