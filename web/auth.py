"""Who is asking and what their role lets them do: checked before every request.

A request is signed in by an API bearer token (under /api/ only) or by the
session cookie, whose secret must match a live server-side session. Then:

- an endpoint outside PUBLIC needs an account, except reading when the
  ANONYMOUS_READ setting is on;
- ENDPOINT_ROLES names the endpoints that need the PMO or admin role (a
  prefix ending in "." covers a whole blueprint); the rest need any account;
- a read-scoped token may only read;
- a state-changing request needs the CSRF token unless a bearer token signs
  it (`web.security.check_csrf`, run once the body may be read).

Changing a lesson is checked per row: its owner, or the PMO (`can_change`). An action
is changed by its lesson's author, its own owner, the lesson's project team, the team of
the project that raised it at kickoff, or the PMO (`can_change_action`); a kickoff
briefing's decisions and regeneration are the project team's and the PMO's
(`check_project_team`). Every path (page, htmx, API) asks these.
"""

from flask import Flask, Response, abort, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from lessons.models import Action, Lesson, ProjectMember
from lessons.policy import SEES_EVERYTHING, restrict
from lessons.services import get_action, get_lesson
from lessons.services.users import ROLES as ROLE_NAMES
from lessons.services.users import Account, session_user, token_owner
from web.database import db
from web.htmx import redirect_after_post
from web.security import READING

# The unsubscribe link and the Slack command carry their own signatures (web.security); the
# bell's poll answers a visitor itself (htmx's "stop polling"), never with a sign-in redirect.
PUBLIC = {"static", "account.sign_in", "api.openapi", "mail.unsubscribe",
          "integrations.slack_command", "notifications.bell"}
ROLE_RANK = {"contributor": 1, "pmo": 2, "admin": 3}
ENDPOINT_ROLES = {
    "admin.": "admin",
    "integrations.": "admin",  # Slack and Teams hooks, webhooks, deliveries
    "exports.archive": "admin",  # everything, whoever may see it
    "pmo.": "pmo",
    "api.report": "pmo",
    "themes.recompute": "pmo",
    "api.recompute_themes": "pmo",
    "themes.rename": "pmo",
    "api.rename_theme": "pmo",
    "reviews.approve": "pmo",
    "reviews.send_back": "pmo",
    "api.approve_lesson": "pmo",
    "api.send_back_lesson": "pmo",
    "imports.": "pmo",
    "projects.delete": "pmo",
    "projects.restore": "pmo",
    "api.delete_project": "pmo",
    "api.restore_project": "pmo",
}
VISITOR = Account(0, "", "visitor", None, None, False)  # not signed in (ANONYMOUS_READ)
# Pages about one's own account and work, which a visitor reading anonymously has not got.
PERSONAL = {"account", "reviews", "notifications"}


def init_app(app: Flask) -> None:
    """Check every request before its view runs (and before its body is read)."""
    app.before_request(sign_in_request)
    app.before_request(authorize)
    app.jinja_env.globals.update(current_user=current_user, can_change=can_change,
                                 can_change_action=can_change_action, is_reviewer=is_reviewer,
                                 ROLES=ROLE_NAMES)


def current_user() -> Account | None:
    """The signed-in account of this request, if any."""
    return g.get("user")


def signed_in_account() -> Account:
    """The signed-in account, in a view that `authorize` lets in with an account only."""
    user = current_user()
    if user is None:  # a view missing from PERSONAL or ENDPOINT_ROLES: a bug, so a 500
        raise RuntimeError(f"{request.endpoint} needs a signed-in account")
    return user


def sign_in_request() -> None:
    """Find the account behind the request: a bearer token on the API, else the session."""
    g.user = None
    if request.endpoint == "static":
        return
    header = request.headers.get("Authorization", "")
    if request.path.startswith("/api/") and header[:7].lower() == "bearer ":
        token = token_owner(db.session, header[7:].strip())
        if token is None:
            abort(401, "The API token is not valid: it is unknown, revoked, or its account "
                       "is disabled.")
        g.user = Account.of(token.user, token.scope)
    elif user := session_user(db.session, session.get("sid")):
        g.user = Account.of(user)
    if db.session.dirty:  # a session's or token's last use, written every few minutes
        db.session.commit()
    restrict(db.session, g.user or VISITOR)  # from here on, the request sees what it may


def authorize() -> BaseResponse | None:
    """Refuse what the request's account (or lack of one) may not do."""
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC or endpoint == "":
        return None
    user = current_user()
    reading = request.method in READING
    if user is None:
        if (reading and current_app.config["ANONYMOUS_READ"]
                and required_role(endpoint) == "contributor" and request.blueprint not in PERSONAL):
            return None
        return sign_in_first()
    if user.token_scope == "read" and not reading:
        abort(403, "This API token can only read; create a write token to change things.")
    if user.must_change_password and endpoint not in ("account.password", "account.sign_out"):
        if request.path.startswith("/api/"):
            abort(403, "Choose your own password first, at /account/password.")
        return redirect(url_for("account.password"))
    needed = required_role(endpoint)
    if ROLE_RANK[user.role] < ROLE_RANK[needed]:
        abort(403, f"This needs the {ROLE_NAMES[needed]} role.")
    return None


def required_role(endpoint: str) -> str:
    """The least role that may use `endpoint`."""
    if endpoint in ENDPOINT_ROLES:
        return ENDPOINT_ROLES[endpoint]
    blueprint = endpoint.split(".")[0] + "."
    return ENDPOINT_ROLES.get(blueprint, "contributor")


def sign_in_first() -> Response:
    """To the sign-in page (htmx follows too), or 401 for the API."""
    if request.path.startswith("/api/"):
        response = current_app.make_response(({"error": "Sign in, or send an API token as "
                                                         "'Authorization: Bearer <token>'.",
                                               "fields": {}}, 401))
        response.headers["WWW-Authenticate"] = 'Bearer realm="lessons"'
        return response
    target = url_for("account.sign_in", next=request.full_path if request.method in READING
                     else None)
    return redirect_after_post(target)


def can_change(lesson: Lesson) -> bool:
    """Whether the signed-in account may edit, delete or restore this lesson."""
    user = current_user()
    return user is not None and (user.role in SEES_EVERYTHING or lesson.owner_id == user.id)


def is_reviewer() -> bool:
    """Whether the signed-in account reviews lessons: the PMO and admins."""
    user = current_user()
    return user is not None and user.role in SEES_EVERYTHING


def changeable_lesson(lesson_id: int) -> Lesson:
    """The lesson, or 404; 403 unless the signed-in account may change it."""
    lesson = get_lesson(db.session, lesson_id)
    if not can_change(lesson):
        abort(403, "Only the lesson's author or the PMO can change it.")
    return lesson


def on_team(project_id: int | None) -> bool:
    """Whether the signed-in account is the PMO, or on the project's team."""
    user = current_user()
    if user is None:
        return False
    if user.role in SEES_EVERYTHING:
        return True
    return (project_id is not None
            and db.session.get(ProjectMember, (project_id, user.id)) is not None)


def check_project_manager(project_id: int) -> None:
    """403 unless the signed-in account is on the project's team, or the PMO. Who is on a
    team, and the project's business unit, decide who sees its lessons: nobody may widen
    their own view."""
    check_project_team(project_id, "change the project or its team")


def check_project_team(project_id: int, what: str) -> None:
    """403 unless the signed-in account is on the project's team, or the PMO; `what` says
    what only they may do."""
    if not on_team(project_id):
        abort(403, f"Only the project's team or the PMO can {what}.")


def can_change_actions_of(lesson: Lesson) -> bool:
    """Whether the signed-in account may change the actions of `lesson`, or move one onto
    it: its author, its project's team, or the PMO."""
    user = current_user()
    return user is not None and (lesson.owner_id == user.id or on_team(lesson.project_id))


def owns_action(action: Action) -> bool:
    """Whether the signed-in account owns the action: its owner account, or (for an owner
    typed before owners were accounts) free text naming it by name or email."""
    user = current_user()
    if user is None:
        return False
    if action.owner_id is not None:
        return action.owner_id == user.id
    owner = (action.owner or "").strip().casefold()
    return bool(owner) and owner in {(user.name or "").strip().casefold(), user.email.casefold()}


def can_change_action(action: Action) -> bool:
    """Whether the signed-in account may edit, close, drop, delete, restore or move it; an
    action a project raised at kickoff is its team's too."""
    return (owns_action(action) or can_change_actions_of(action.lesson)
            or (action.project_id is not None and on_team(action.project_id)))


ACTION_RIGHTS = "Only the action's owner, its lesson's author, the project's team or the PMO"


def changeable_action(action_id: int) -> Action:
    """The action (deleted or not), or 404; 403 unless the signed-in account may change it."""
    action = get_action(db.session, action_id)
    if not can_change_action(action):
        abort(403, f"{ACTION_RIGHTS} can change this action.")
    return action


def check_action_move(action: Action, from_lesson_id: int) -> None:
    """After a change to `action`: 403 (the error handler rolls the change back) if it moved
    onto a lesson whose actions the signed-in account may not change."""
    if action.lesson_id != from_lesson_id and not can_change_actions_of(
            get_lesson(db.session, action.lesson_id)):
        abort(403, "Only the lesson's author, the project's team or the PMO can move an action "
                   "onto that lesson.")


def client_ip() -> str | None:
    """The client's address: the socket's peer, or with TRUSTED_PROXIES set, the address
    that many proxies back in X-Forwarded-For (werkzeug's ProxyFix, in web.security). A
    forged header can be any length: cut to the audit log's column."""
    return request.remote_addr[:64] if request.remote_addr else None
