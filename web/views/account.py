"""Signing in and out, changing one's password, and one's API tokens.

Failed sign-ins are logged in the audit log, which is also what limits them:
MAX_FAILURES for one email, or MAX_FAILURES_FROM_ADDRESS from one address
(an office behind one address shares it), within FAILURE_WINDOW; each attempt is
counted before its password is checked (lessons.services.users), so parallel guesses
cannot slip past the limit. Wrong current passwords on the password page are limited
the same way, so a stolen session cannot guess its way to the account.
"""

from flask import Blueprint, Response, flash, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from lessons.errors import ValidationError
from lessons.models import User
from lessons.services.users import (
    SCOPES,
    authenticate,
    change_password,
    create_token,
    end_session,
    note_sign_in_attempt,
    password_change_refused,
    revoke_token,
    sign_in_refused,
    sign_in_succeeded,
    sign_out_session,
    start_session,
    user_tokens,
)
from web.auth import client_ip, current_user, signed_in_account
from web.database import db
from web.htmx import local_url, redirect_after_post, render
from web.identity import current_actor

bp = Blueprint("account", __name__)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> BaseResponse:
    """The sign-in form; a success starts a new server-side session."""
    target = local_url(request.values.get("next"))
    if request.method == "GET":
        return render("account/sign_in.html", email="", target=target, error=None)
    email = (request.form.get("email") or "").strip().lower()[:254]
    attempt = note_sign_in_attempt(db.session, email, client_ip())
    db.session.commit()  # counted before it is evaluated, where parallel attempts see it
    if sign_in_refused(db.session, attempt):
        db.session.commit()
        return render("account/sign_in.html", status=429, email=email, target=target,
                      error="Too many failed sign-ins; wait 15 minutes and try again.")
    user = authenticate(db.session, email, request.form.get("password") or "")
    if user is None:
        db.session.commit()  # the attempt stays counted as a failure
        return render("account/sign_in.html", status=401, email=email, target=target,
                      error="Wrong email or password, or the account is disabled.")
    end_session(db.session, session.get("sid"))  # a session this browser had ends
    session.clear()  # a fresh cookie: nothing from before the sign-in carries over
    session["sid"] = start_session(db.session, user)
    sign_in_succeeded(attempt, user)
    db.session.commit()
    return redirect(target or url_for("home.index"), code=303)


def signed_in_user() -> User:
    """The signed-in account's row, for the pages that change it."""
    return db.session.get_one(User, signed_in_account().id)


@bp.post("/sign-out")
def sign_out() -> Response:
    """End this session on the server, not only in the browser."""
    if current_user() is not None:
        sign_out_session(db.session, session.get("sid"), actor=current_actor())
    else:
        end_session(db.session, session.get("sid"))
    db.session.commit()
    session.clear()
    return redirect_after_post(url_for("account.sign_in"))


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> Response:
    """Change one's password; every other session of the account ends."""
    user = signed_in_user()
    errors: dict[str, str] = {}
    if request.method == "POST":
        if password_change_refused(db.session, user):
            return render("account/password.html", status=429, user=user, errors={
                "current_password": "Too many wrong passwords; wait 15 minutes."})
        try:
            if request.form.get("new_password") != request.form.get("repeat_password"):
                raise ValidationError({"repeat_password": "The two new passwords differ."})
            change_password(db.session, user, request.form.get("current_password", ""),
                            request.form.get("new_password", ""), keep_session=session.get("sid"),
                            actor=current_actor())
            db.session.commit()
            flash("Password changed; your other sessions have been signed out.")
            return redirect_after_post(url_for("account.show"))
        except ValidationError as error:
            # Refused before changing anything; a wrong current password's audit row stays,
            # counted as failed sign-ins are.
            db.session.commit()
            errors = error.fields
    return render("account/password.html", status=422 if errors else 200, errors=errors,
                  user=user)


@bp.get("/account")
def show() -> Response:
    """One's account and API tokens."""
    return account_page(signed_in_user())


def account_page(user: User, secret: str | None = None, status: int = 200) -> Response:
    return render("account/show.html", status=status, user=user, scopes=SCOPES, secret=secret,
                  tokens=user_tokens(db.session, user))


@bp.post("/account/tokens")
def new_token() -> Response:
    """Create an API token and show its secret, this once (it is stored only as a hash)."""
    user = signed_in_user()
    _, secret = create_token(db.session, user, request.form.get("scope", ""),
                             request.form.get("name"), actor=current_actor())
    db.session.commit()
    return account_page(user, secret, status=201)


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke(token_id: int) -> Response:
    user = signed_in_user()
    revoke_token(db.session, user, token_id, actor=current_actor())
    db.session.commit()
    flash(f"Token {token_id} revoked.")
    return redirect_after_post(url_for("account.show"))
