"""Administration: accounts (create, edit, disable and enable, reset a password) and the
audit log. Admins only (web.auth); every change to an account is audited."""

import secrets
from typing import Any

from flask import Blueprint, Response, flash, request, url_for

from lessons.errors import Conflict, ValidationError
from lessons.models import AuditEvent, User
from lessons.services import audit
from lessons.services.common import get_row
from lessons.services.users import (
    DISABLE_OWN,
    ROLES,
    create_user,
    disable_user,
    enable_user,
    list_users,
    reset_password,
    update_user,
)
from web.auth import signed_in_account
from web.database import db
from web.htmx import redirect_after_post, render
from web.identity import current_actor

bp = Blueprint("admin", __name__, url_prefix="/admin")
ACCOUNT_FIELDS = ("name", "role", "business_unit")
OWN_PASSWORD = ("Your own password is changed at /account/password, with the current one: a "
                "reset would sign you out.")


@bp.get("/users")
def users() -> Response:
    """Every account, and the form that creates one."""
    return users_page({}, {})


def users_page(errors: dict[str, str], values: dict[str, str], status: int = 200,
               created: tuple[User, str] | None = None) -> Response:
    """The accounts page: the create form with its `errors` and `values`, and the account just
    `created` with its one-time password."""
    return render("admin/users.html", status=status, users=list_users(db.session), roles=ROLES,
                  errors=errors, values=values, created=created)


@bp.post("/users")
def create() -> Response:
    """A new account with a one-time password, shown once; they choose their own at sign-in."""
    values = {key: request.form.get(key, "") for key in ("email", "name", "role", "business_unit")}
    password = secrets.token_urlsafe(12)
    try:
        user = create_user(db.session, values["email"], values["role"], password,
                           name=values["name"], business_unit=values["business_unit"],
                           must_change_password=True, actor=current_actor())
    except ValidationError as error:
        db.session.rollback()
        return users_page(error.fields, values, status=422)
    db.session.commit()
    return users_page({}, {}, status=201, created=(user, password))


@bp.get("/users/<int:user_id>")
def edit_user(user_id: int) -> Response:
    """One account: its role, name and business unit, and what may be done to it."""
    return user_page(get_row(db.session, User, user_id))


def user_page(user: User, errors: dict[str, str] | None = None, status: int = 200,
              password: str | None = None) -> Response:
    """One account's page: the form as typed when it has `errors`, and a new one-time
    `password` to show once."""
    values = {key: request.form.get(key, "") for key in ACCOUNT_FIELDS} if errors else {}
    return render("admin/user.html", status=status, user=user, roles=ROLES, errors=errors or {},
                  values=values, password=password, own=user.id == signed_in_account().id)


@bp.post("/users/<int:user_id>")
def save_user(user_id: int) -> Response:
    """Change the account's role, name or business unit; takes effect on its next request."""
    user = get_row(db.session, User, user_id)
    try:
        changes = update_user(db.session, user, {key: request.form.get(key, "")
                                                 for key in ACCOUNT_FIELDS},
                              actor=current_actor())
    except ValidationError as error:
        db.session.rollback()
        return user_page(user, error.fields, status=422)
    db.session.commit()
    flash(f"{user.email} saved." if changes else "Nothing changed.")
    return redirect_after_post(url_for("admin.users"))


@bp.get("/users/<int:user_id>/disable")
def confirm_disable(user_id: int) -> Response:
    """Ask before disabling: it ends the account's sessions and revokes its tokens."""
    user = get_row(db.session, User, user_id)
    check_not_own(user, DISABLE_OWN)
    return render("admin/disable.html", user=user)


@bp.post("/users/<int:user_id>/disable")
def disable(user_id: int) -> Response:
    """The account can no longer sign in; its sessions and tokens end now."""
    user = get_row(db.session, User, user_id)
    disable_user(db.session, user, actor=current_actor())  # never the admin's own account
    db.session.commit()
    flash(f"{user.email} is disabled.")
    return redirect_after_post(url_for("admin.users"))


@bp.post("/users/<int:user_id>/enable")
def enable(user_id: int) -> Response:
    """Let a disabled account sign in again."""
    user = get_row(db.session, User, user_id)
    enable_user(db.session, user, actor=current_actor())
    db.session.commit()
    flash(f"{user.email} can sign in again; its old API tokens stay revoked.")
    return redirect_after_post(url_for("admin.edit_user", user_id=user.id))


@bp.post("/users/<int:user_id>/reset-password")
def new_password(user_id: int) -> Response:
    """A new one-time password, shown this once; the account chooses its own at sign-in."""
    user = get_row(db.session, User, user_id)
    check_not_own(user, OWN_PASSWORD)
    password = reset_password(db.session, user, actor=current_actor())
    db.session.commit()
    return user_page(user, password=password)


def check_not_own(user: User, refusal: str) -> None:
    """Conflict if `user` is the admin's own account: nobody locks themselves out here."""
    if user.id == signed_in_account().id:
        raise Conflict(refusal)


@bp.get("/audit")
def audit_log() -> Response:
    """Who did what, newest first, filtered by the URL's arguments. A filter that is not
    understood is named on the page and left out, the others still apply."""
    page = request.args.get("page", "1")
    number = int(page) if page.isdecimal() and 0 < int(page) < 100_000 else 1
    known = audit.actions(db.session)
    filters, errors = audit.parse_filters(request.args, known)
    events = audit.events(db.session, number, filters)
    return render("admin/audit.html", "admin/_audit_results.html", page=events, filters=filters,
                  errors=errors, actions=known, links=target_links(events.items),
                  args={f.name: request.args[f.name] for f in audit.AUDIT_FILTERS
                        if request.args.get(f.name)})


# The page of each kind of row an audit target names (lessons.services.audit.target_pages).
TARGET_PAGES = {"lesson": ("lessons.show", "lesson_id"), "project": ("projects.show", "project_id"),
                "theme": ("themes.show", "theme_id"), "user": ("admin.edit_user", "user_id"),
                "import": ("imports.show", "run_id")}


def target_links(events: list[AuditEvent]) -> dict[int, str]:
    """The address of each event's target, by event id, for those whose row exists."""
    links = {}
    for event_id, (kind, row_id) in audit.target_pages(db.session, events).items():
        endpoint, argument = TARGET_PAGES[kind]
        values: dict[str, Any] = {argument: row_id}
        links[event_id] = url_for(endpoint, **values)
    return links
