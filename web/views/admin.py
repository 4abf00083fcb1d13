"""Administration: accounts (create, disable) and the audit log. Admins only (web.auth)."""

import secrets

from flask import Blueprint, Response, flash, request, url_for

from lessons.errors import ValidationError
from lessons.models import User
from lessons.services import audit
from lessons.services.common import get_row
from lessons.services.users import ROLES, create_user, disable_user, list_users
from web.auth import client_ip, current_user
from web.database import db
from web.htmx import redirect_after_post, render

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
def users() -> Response:
    return users_page({}, {})


def users_page(errors: dict[str, str], values: dict[str, str], status: int = 200,
               created: tuple[User, str] | None = None) -> Response:
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
                           must_change_password=True)
    except ValidationError as error:
        db.session.rollback()
        return users_page(error.fields, values, status=422)
    audit.record(db.session, current_user().email, "user_create", user.email, ip=client_ip(),
                 role=user.role)
    db.session.commit()
    return users_page({}, {}, status=201, created=(user, password))


@bp.post("/users/<int:user_id>/disable")
def disable(user_id: int) -> Response:
    """The account can no longer sign in; its sessions and tokens end now."""
    user = get_row(db.session, User, user_id)
    disable_user(db.session, user)
    audit.record(db.session, current_user().email, "user_disable", user.email, ip=client_ip())
    db.session.commit()
    flash(f"{user.email} is disabled.")
    return redirect_after_post(url_for("admin.users"))


@bp.get("/audit")
def audit_log() -> Response:
    """Who did what, newest first."""
    page = request.args.get("page", "1")
    number = int(page) if page.isdecimal() and 0 < int(page) < 100_000 else 1
    return render("admin/audit.html", page=audit.events(db.session, number))
