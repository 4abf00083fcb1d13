"""Notifications in the app: the bell, the list, following things, and how each channel tells.

The bell in the header links to the list with the unread count and asks
`/notifications/bell` for it again every minute. That endpoint is public
(web.auth): when the session has ended meanwhile it answers htmx's 286, which
stops the polling, instead of a sign-in redirect that would take away the page
someone is typing in. Opening a notification marks it read and goes to its
link, a path in this app and nothing else (no open redirect).

Follow buttons sit on the project, theme and search pages, the lesson list
filtered by a category and a lesson's page; with htmx a button swaps itself and
a status beside it says what changed, without JavaScript it posts and comes back.
"""

from dataclasses import dataclass, replace
from typing import TypeVar
from zlib import crc32

from flask import Blueprint, Response, abort, current_app, flash, request, url_for
from sqlalchemy.orm import Session

from lessons.errors import NotFound, ValidationError
from lessons.models import Notification, Project, ProjectMember, Theme, User
from lessons.services.common import find_row
from lessons.services.notifications import DIGEST, held, inbox, mark_read, unread_count
from lessons.services.subscriptions import (
    CADENCES,
    CHANNELS,
    KINDS,
    MAX_SEARCH,
    cadences,
    follow,
    follows,
    set_cadences,
    subscriptions,
    team_projects,
    unfollow,
)
from web.auth import current_user, signed_in_account
from web.database import db
from web.engine import engine
from web.htmx import is_htmx, local_url, redirect_after_post, render
from web.views.forms import categories

bp = Blueprint("notifications", __name__)

PER_PAGE = 25
STOP_POLLING = 286  # htmx ends an `every 60s` trigger on this status
MAX_PAGE = 10**9
KIND_ORDER = tuple(KINDS)  # the settings page lists projects, themes, categories, searches
Row = TypeVar("Row", Project, Theme)


# Who is reading


def reader() -> User | None:
    """The signed-in account's row; None for a visitor reading anonymously."""
    user = current_user()
    return db.session.get(User, user.id) if user is not None and user.id else None


def signed_in_reader() -> User:
    """The signed-in account's row, in a view web.auth lets no visitor into (PERSONAL)."""
    return db.session.get_one(User, signed_in_account().id)


@bp.app_template_global()
def unread_notifications() -> int:
    """The bell's count: the signed-in account's unread notifications (0 for a visitor)."""
    user = reader()
    return unread_count(db.session, user) if user is not None else 0


# The bell and the list


@bp.get("/notifications/bell")
def bell() -> Response:
    """The bell alone, asked for every minute; a change of count goes to #bell-status (a live
    region outside the bell), which the count the page showed (`shown`) tells."""
    user = reader()
    if user is None:
        return Response(status=STOP_POLLING)
    unread = unread_count(db.session, user)
    return render("notifications/_bell.html", bell_unread=unread, bell_polled=True,
                  bell_current=request.args.get("current") == "1",
                  bell_changed=request.args.get("shown") != str(unread))


@bp.get("/notifications")
def index() -> Response:
    """The account's notifications, the newest first, the unread ones marked."""
    user = signed_in_reader()
    page = inbox(db.session, user, page_number(request.args.get("page")), PER_PAGE)
    return render("notifications/index.html", page=page, args=request.args,
                  unread=unread_count(db.session, user))


def page_number(raw: str | None) -> int:
    """The `page` argument as a page number; anything else is the first page."""
    return int(raw) if raw and raw.isdecimal() and 0 < int(raw) <= MAX_PAGE else 1


@bp.get("/notifications/<int:notification_id>/open")
def open_notification(notification_id: int) -> Response:
    """Mark the notification read and go where it points: a path in this app only, else
    back to the list."""
    user = signed_in_reader()
    notification = find_row(db.session, Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        abort(404)
    mark_read(db.session, user, notification.id)
    db.session.commit()
    return Response(status=303, headers={
        "Location": local_url(notification.link) or url_for(".index")})


@bp.get("/notifications/<int:notification_id>/digest")
def digest(notification_id: int) -> Response:
    """What an in-app digest gathered, each linked to what it is about; only what the
    account may still see."""
    user = signed_in_reader()
    notice = find_row(db.session, Notification, notification_id)
    if notice is None or notice.user_id != user.id or notice.kind != DIGEST:
        abort(404)
    return render("notifications/digest.html", digest=notice,
                  items=held(db.session, user, notice))


@bp.post("/notifications/read")
def read() -> Response:
    """Mark one notification (the form's `id`) or every one read, and go back."""
    user = signed_in_reader()
    raw = request.form.get("id", "").strip()
    if raw and not (raw.isdecimal() and len(raw) < 12):
        abort(400, "The form names no notification.")
    marked = mark_read(db.session, user, int(raw) if raw else None)
    db.session.commit()
    if not raw:
        flash(f"Marked {'all ' if marked > 1 else ''}{plural_notifications(marked)} as read.")
    return redirect_after_post(local_url(request.form.get("next")) or url_for(".index"))


def plural_notifications(count: int) -> str:
    return f"{count} notification{'' if count == 1 else 's'}"


# Settings


@bp.route("/notifications/settings", methods=["GET", "POST"])
def settings() -> Response:
    """How each channel tells the account, and what it follows, each with Unfollow."""
    user = signed_in_reader()
    chosen = cadences(db.session, user.id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        chosen = {channel: request.form.get(channel, "") for channel in CHANNELS}
        try:
            set_cadences(db.session, user.id, chosen)
            db.session.commit()
            flash("Notification settings saved.")
            return redirect_after_post(url_for(".settings"))
        except ValidationError as error:
            db.session.rollback()
            errors = error.fields
    return render("notifications/settings.html", status=422 if errors else 200, chosen=chosen,
                  errors=errors, channels=CHANNELS, cadences=CADENCES,
                  email_on=email_on(), followed=following(db.session, user))


def email_on() -> bool:
    """Whether this server sends email at all (an admin sets LESSONS_SMTP_URL)."""
    return bool(str(current_app.config["SMTP_URL"]).strip())


@dataclass(frozen=True)
class Followed:
    """One thing an account follows, as the settings page and the API show it."""

    kind: str
    target: str
    label: str
    link: str | None
    team: bool = False  # a project followed as one of its team, without asking
    on: bool = True  # False: a team's project its member turned off


def following(session: Session, user: User) -> list[Followed]:
    """What `user` follows by choice, and their team's projects (followed unless turned off),
    by kind then name."""
    team = {str(project.id): project for project in team_projects(session, user)}
    rows = [described(session, row.kind, row.target) for row in subscriptions(session, user)]
    rows = [replace(row, team=row.kind == "project" and row.target in team) for row in rows]
    chosen = {row.target for row in rows if row.kind == "project"}
    rows += [replace(described(session, "project", target), team=True,
                     on=follows(session, user, "project", target))
             for target in team if target not in chosen]
    return sorted(rows, key=lambda row: (KIND_ORDER.index(row.kind), row.label.casefold()))


def described(session: Session, kind: str, target: str) -> Followed:
    """A followed thing's name and page."""
    if kind == "project" and (project := row_of(session, Project, target)) is not None:
        deleted = " (deleted)" if project.is_deleted else ""
        return Followed(kind, target, project.name + deleted,
                        url_for("projects.show", project_id=project.id))
    if kind == "theme" and (theme := row_of(session, Theme, target)) is not None:
        return Followed(kind, target, theme.label, url_for("themes.show", theme_id=theme.id))
    if kind == "category":
        return Followed(kind, target, target.capitalize(),
                        url_for("lessons.index", category=target))
    if kind == "search":
        return Followed(kind, target, f"“{target}”", url_for("search.index", q=target))
    return Followed(kind, target, f"{KINDS.get(kind, kind)} {target}", None)


def row_of(session: Session, model: type[Row], target: str) -> Row | None:
    """The project or theme a target names, if there is one."""
    return find_row(session, model, int(target)) if target.isdecimal() and len(target) < 12 \
        else None


# Following


@dataclass(frozen=True)
class FollowState:
    """A Follow button: what it follows, whether the account does, and its element's id."""

    kind: str
    target: str
    following: bool
    team: bool  # the account is on the project's team, so follows it by default

    @property
    def what(self) -> str:
        """What the button names: "this project", or a category by its name."""
        if self.kind == "category":
            return f"category “{self.target.capitalize()}”"
        return f"this {self.kind}"

    @property
    def dom_id(self) -> str:
        """The same id before and after a swap, so htmx keeps the focus on the button."""
        return f"follow-{self.kind}-{crc32(self.target.encode()):08x}"

    @property
    def page(self) -> str:
        """The page of what is followed, where the button goes back to without `next`."""
        return described(db.session, self.kind, self.target).link or url_for(".settings")


@bp.app_template_global()
def follow_state(kind: str, target: object) -> FollowState | None:
    """The Follow button's state for the signed-in account; None (no button) for a visitor,
    for a search that is empty or too long to follow, or a category no longer offered."""
    user = reader()
    words = " ".join(str(target or "").split())
    if user is None or not words or (kind == "search" and len(words) > MAX_SEARCH) or (
            kind == "category" and words not in categories()):
        return None
    return state_of(user, kind, words)


def state_of(user: User, kind: str, target: str) -> FollowState:
    team = kind == "project" and target.isdecimal() and len(target) < 12 and db.session.get(
        ProjectMember, (int(target), user.id)) is not None
    return FollowState(kind, target, follows(db.session, user, kind, target), team)


@bp.post("/follow")
def follow_view() -> Response:
    """Follow a project, a theme, a category or a search (the form's `kind` and `target`)."""
    return toggle(True)


@bp.post("/unfollow")
def unfollow_view() -> Response:
    """Stop following it; a team member stops their own project's news."""
    return toggle(False)


def toggle(on: bool) -> Response:
    """Follow or unfollow; the button again (htmx) or back to `next`: 404 for a project or
    theme that does not exist, 400 for an empty search or an unknown kind or category."""
    user = signed_in_reader()
    kind = request.form.get("kind", "")
    target = " ".join(request.form.get("target", "").split())
    try:
        check_target(kind, target, following=on)
        if on:
            follow(db.session, user, kind, target, encode=encode_search)
        else:
            unfollow(db.session, user, kind, target)
    except ValidationError as error:
        db.session.rollback()
        return refused(error)
    db.session.commit()
    state = state_of(user, kind, target)
    message = (f"You follow {state.what} now." if on
               else f"You no longer follow {state.what}.")
    back = local_url(request.form.get("next"))
    if is_htmx():
        return render("notifications/_follow_swap.html", state=state, back=back,
                      message=message)
    flash(message)
    return redirect_after_post(back or state.page)


def check_target(kind: str, target: str, following: bool = True) -> None:
    """`NotFound` for a project or theme that does not exist; `ValidationError` for an unknown
    kind and, to follow one, an unknown category or a search that is empty or too long (what
    is followed already can always be unfollowed)."""
    if kind not in KINDS:
        raise ValidationError({"kind": f"Choose one of: {', '.join(KINDS)}."},
                              f"Follow one of: {', '.join(KINDS)}.")
    if (kind == "project" and row_of(db.session, Project, target) is None) or (
            kind == "theme" and row_of(db.session, Theme, target) is None):
        raise NotFound(kind, target or "none")
    if not following:
        return
    if kind == "category" and target not in categories():
        raise ValidationError({"target": "No such category."},
                              f"There is no category “{target}” to follow.")
    if kind == "search" and not target:
        raise ValidationError({"target": "Type the words to follow."},
                              "A search to follow needs words: type some first.")
    if kind == "search" and len(target) > MAX_SEARCH:
        raise ValidationError({"target": f"At most {MAX_SEARCH} characters."},
                              f"A followed search is at most {MAX_SEARCH} characters.")


def refused(error: ValidationError) -> Response:
    """400 with what was wrong: beside the button (htmx), or as an error page."""
    if is_htmx():
        return render("notifications/_follow_error.html", status=400, message=error.message)
    abort(400, error.message)


def encode_search(words: str) -> tuple[bytes, str]:
    """A followed search's words as the vector new lessons are matched on, and its model."""
    vector = engine().embedder.encode([words])[0]
    return vector.astype("float32").tobytes(), current_app.config["EMBEDDING_MODEL"]
