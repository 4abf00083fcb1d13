"""Links in emails: the signed one-click unsubscribe (RFC 8058).

No sign-in: the link's signature (push.email) proves which account it is for.
A GET only asks, because mail scanners open links; the POST turns email off,
from the page's button or from a mail client's one-click `List-Unsubscribe=One-Click`.
"""

from flask import Blueprint, Response, current_app, request

from lessons.models import User
from lessons.services.subscriptions import set_cadence
from push.email import PREFERENCES_PATH, unsubscribing_account
from web.database import db
from web.htmx import render
from web.queue import push_settings

bp = Blueprint("mail", __name__)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Response:
    """Ask, then stop every email to the account the link was signed for."""
    user_id = unsubscribing_account(push_settings(current_app).secret_key, token)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        return render("mail/bad_link.html", status=400, preferences=PREFERENCES_PATH)
    if request.method == "POST":
        set_cadence(db.session, user.id, "email", "off")
        db.session.commit()
        return render("mail/unsubscribed.html", preferences=PREFERENCES_PATH)
    return render("mail/unsubscribe.html", token=token, email=user.email)
