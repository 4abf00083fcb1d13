"""Reminders of open actions that are overdue or due soon: one message per owner.

The words are made here, apart from any channel: `lessons actions remind` prints them
(no mail server is configured), and an email or push channel can later send the same
`Message`, made by the same `reminder_message`. A reminder never names or quotes a
lesson its recipient may not see (DESIGN, invariant 10): such actions are counted, not
described. Owners who are not active accounts cannot be reminded; `due_reminders` lists
those actions apart, so whoever runs it can give them an owner.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import formataddr

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from lessons.models import Action, Lesson, User
from lessons.policy import visible
from lessons.wording import one_line, plural

DUE_THIS_WEEK = 7  # days: how far ahead a reminder, and the home page, looks

# How a message links back: (endpoint, values) -> absolute URL; the web layer knows the URLs.
Link = Callable[..., str]


@dataclass(frozen=True)
class Message:
    """What a channel sends: the recipient, a subject line and a plain-text body."""

    to: str  # "Name <email>", a header value: one line, quoted as RFC 5322 needs
    subject: str
    body: str


@dataclass
class Reminder:
    """One owner's open actions that need them: overdue, and due within the window."""

    owner: User
    overdue: list[Action] = field(default_factory=list)
    due_soon: list[Action] = field(default_factory=list)
    hidden: int = 0  # of those, on lessons the owner may not see: counted, never described
    hidden_overdue: int = 0


@dataclass
class Reminders:
    """Every owner's reminder, and the actions no active account owns."""

    reminders: list[Reminder]
    unowned: list[Action]


def due_reminders(session: Session, today: date, days: int) -> Reminders:
    """The open actions overdue or due by `today + days`, grouped by owner (by email)."""
    actions = session.scalars(_due_by(today + timedelta(days=days))).all()
    by_owner: dict[int, Reminder] = {}
    unowned = []
    for action in actions:
        owner = action.owner_account
        if owner is None or owner.disabled_at is not None:
            unowned.append(action)
            continue
        reminder = by_owner.setdefault(owner.id, Reminder(owner))
        assert action.due_on is not None  # the query picks dated actions only
        (reminder.overdue if action.due_on < today else reminder.due_soon).append(action)
    for reminder in by_owner.values():
        _hide_unseen(session, reminder)
    return Reminders(sorted(by_owner.values(), key=lambda r: r.owner.email), unowned)


def owner_reminder(session: Session, owner_id: int, today: date, days: int) -> Reminder:
    """One account's reminder, as `due_reminders` makes it: what its home page shows them."""
    reminder = Reminder(session.get_one(User, owner_id))
    for action in session.scalars(_due_by(today + timedelta(days=days))
                                  .where(Action.owner_id == owner_id)):
        assert action.due_on is not None  # the query picks dated actions only
        (reminder.overdue if action.due_on < today else reminder.due_soon).append(action)
    _hide_unseen(session, reminder)
    return reminder


def _due_by(horizon: date) -> Select[Action]:
    """The live open actions due by `horizon`, overdue ones included, the earliest first."""
    return (select(Action).where(Action.status == "open", Action.deleted_at.is_(None),
                                 Action.due_on.is_not(None), Action.due_on <= horizon,
                                 Action.lesson.has(Lesson.deleted_at.is_(None)))
            .order_by(Action.due_on, Action.id)
            .options(selectinload(Action.lesson)))  # each shows its lesson's title


def _hide_unseen(session: Session, reminder: Reminder) -> None:
    """Take out the actions on lessons the owner may not see, keeping only their count."""
    ids = {a.lesson_id for a in reminder.overdue + reminder.due_soon}
    seen = set(session.scalars(select(Lesson.id).where(Lesson.id.in_(ids),
                                                       visible(reminder.owner))))
    late, soon = reminder.overdue, reminder.due_soon
    reminder.overdue = [a for a in late if a.lesson_id in seen]
    reminder.due_soon = [a for a in soon if a.lesson_id in seen]
    reminder.hidden_overdue = len(late) - len(reminder.overdue)
    reminder.hidden = reminder.hidden_overdue + len(soon) - len(reminder.due_soon)


def reminder_message(reminder: Reminder, today: date, days: int, link: Link) -> Message:
    """The reminder as an email would say it, whatever channel carries it."""
    owner = reminder.owner
    late, soon = len(reminder.overdue), len(reminder.due_soon)
    total = late + soon + reminder.hidden
    all_late = late + reminder.hidden_overdue
    subject = f"{plural(total, 'open action')} need{'s' if total == 1 else ''} you"
    subject += f": {all_late} overdue" if all_late else f", due within {plural(days, 'day')}"
    lines = [f"Hello {owner.label},", "",
             f"On {today:%A %d %B %Y}, these actions are yours and still open.", ""]
    for title, actions in ((f"Overdue ({late})", reminder.overdue),
                           (f"Due within {plural(days, 'day')} ({soon})", reminder.due_soon)):
        if actions:
            lines += [title, ""] + [line for a in actions for line in _item(a, today, link)]
    if reminder.hidden:
        noun = "more action" if late + soon else "action"
        lines += [f"{plural(reminder.hidden, noun)} of yours "
                  f"({reminder.hidden_overdue} overdue) {'is' if reminder.hidden == 1 else 'are'}"
                  " on lessons you cannot open; ask the PMO about them.", ""]
    lines += ["Close them, or give them to someone else, on your actions page:",
              link("actions.mine"), "",
              "You get this because you own these actions in Lessons."]
    # A name is typed by people: a CR or LF in it would start a header of its own.
    to = formataddr((" ".join((owner.name or "").split()), owner.email))
    return Message(to, subject, "\n".join(lines))


def _item(action: Action, today: date, link: Link) -> list[str]:
    """One action: what, when, from which lesson (and project), and where to open it."""
    assert action.due_on is not None  # due_reminders picks dated actions only
    gap = (action.due_on - today).days
    when = (f"{plural(-gap, 'day')} late" if gap < 0 else "today" if gap == 0
            else f"in {plural(gap, 'day')}")
    lesson = action.lesson
    origin = f"Lesson: {lesson.title}"
    if action.project is not None:
        origin += f" (raised as a risk at the kickoff of {action.project.name})"
    return [f"- {one_line(action.description, 200)}", f"  Due {action.due_on:%d %b %Y} ({when}).",
            f"  {origin}", f"  {link('lessons.show', lesson_id=action.lesson_id)}", ""]
