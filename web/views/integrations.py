"""Admin: Slack and Teams hooks, outbound webhooks, Slack users linked to accounts, and the
deliveries that failed, with a Retry; and Slack's `/lesson` command, which Slack signs.

Every page and form here is the admins' (web.auth); every change is audited
by the push functions it calls, in the change's transaction. The command is
public and carries no CSRF token: Slack's signature proves where it came from.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, current_app, flash, jsonify, request, url_for
from sqlalchemy.orm import Session

from lessons import services
from lessons.errors import ValidationError
from lessons.models import User, Webhook
from lessons.policy import restrict
from lessons.services import audit
from lessons.services.notifications import deliveries, delivery_counts, retry
from lessons.services.users import Account
from push import chat, slack, webhooks
from push.http import masked
from web.auth import client_ip
from web.database import db
from web.engine import engine
from web.htmx import redirect_after_post, render
from web.identity import current_actor
from web.queue import push_settings
from web.views.forms import categories

bp = Blueprint("integrations", __name__, url_prefix="/integrations")

FAILED_PER_PAGE = 25
STATUSES = ("pending", "sending", "sent", "failed")


@bp.get("/")
def index() -> Response:
    """The hooks, webhooks, linked Slack users, email's state and the deliveries."""
    return integrations_page()


def integrations_page(form: str | None = None, errors: dict[str, str] | None = None,
                      status: int = 200, created: Webhook | None = None) -> Response:
    """The page; `form` names the form whose `errors` to show with what was typed, and
    `created` is the webhook just added, whose secret is shown this once."""
    settings = push_settings(current_app)
    page = request.args.get("page", "1")
    number = int(page) if page.isdecimal() and 0 < int(page) < 100_000 else 1
    counts = delivery_counts(db.session)
    return render(
        "integrations/index.html", status=status, hooks=chat.hooks(db.session),
        kinds=chat.KINDS, projects=services.project_choices(db.session),
        webhooks=webhooks.registered(db.session), events=webhooks.EVENT_LABELS,
        links=slack.links(db.session), email_on=settings.email_on,
        command_on=bool(current_app.config["SLACK_SIGNING_SECRET"]),
        command_url=settings.link(url_for(".slack_command")),
        counts={name: counts.get(name, 0) for name in STATUSES},
        failed=deliveries(db.session, ["failed"], number, FAILED_PER_PAGE),
        queued=deliveries(db.session, ["pending", "sending"], 1, FAILED_PER_PAGE),
        form=form, errors=errors or {}, values=request.form if errors else {}, created=created,
        masked=masked)


def refused(form: str, error: ValidationError) -> Response:
    """The page again, the form as typed with what is wrong; nothing was saved."""
    db.session.rollback()
    return integrations_page(form, error.fields, status=422)


def allow_private() -> bool:
    """Whether hooks may be aimed at private addresses (LESSONS_WEBHOOK_ALLOW_PRIVATE)."""
    return push_settings(current_app).allow_private


@bp.post("/chat-hooks")
def add_hook() -> Response:
    """A Slack or Teams incoming webhook for the organisation or one project."""
    form = request.form
    try:
        hook = chat.add_hook(db.session, current_actor(), form.get("kind", ""),
                             form.get("url", ""), form.get("project_id", ""), allow_private())
    except ValidationError as error:
        return refused("hook", error)
    db.session.commit()
    heard = ("every organisation-wide lesson approved, and the PMO's weekly digest"
             if hook.project_id is None else "the project's organisation-wide lessons as they "
             "are approved, and those matching its kickoff")
    flash(f"{chat.KINDS[hook.kind]} hook added: it hears of {heard}.")
    return redirect_after_post(url_for(".index"))


@bp.post("/chat-hooks/<int:hook_id>/delete")
def delete_hook(hook_id: int) -> Response:
    """Stop posting to a hook, and drop what still waits to go there."""
    hook = chat.delete_hook(db.session, current_actor(), hook_id)
    db.session.commit()
    flash(f"{chat.KINDS.get(hook.kind, hook.kind)} hook removed; nothing more is posted there.")
    return redirect_after_post(url_for(".index"))


@bp.post("/webhooks")
def add_webhook() -> Response:
    """A webhook for the events ticked, with a new secret shown this once."""
    try:
        hook = webhooks.add_webhook(db.session, current_actor(), request.form.get("url", ""),
                                    request.form.getlist("events"), allow_private())
    except ValidationError as error:
        return refused("webhook", error)
    db.session.commit()
    return integrations_page(status=201, created=hook)


@bp.post("/webhooks/<int:hook_id>/reset")
def reset_webhook(hook_id: int) -> Response:
    """Clear the failing mark, once the receiver is mended."""
    webhooks.reset_webhook(db.session, current_actor(), hook_id)
    db.session.commit()
    flash("The webhook is no longer marked failing; retry its failed deliveries below.")
    return redirect_after_post(url_for(".index"))


@bp.post("/webhooks/<int:hook_id>/delete")
def delete_webhook(hook_id: int) -> Response:
    """Stop calling a webhook, and drop what still waits to go there."""
    hook = webhooks.delete_webhook(db.session, current_actor(), hook_id)
    db.session.commit()
    flash(f"Webhook to {hook.url} removed; its deliveries not sent yet are dropped.")
    return redirect_after_post(url_for(".index"))


@bp.post("/slack-users")
def link_slack_user() -> Response:
    """Write a Slack user's `/lesson` drafts as an account."""
    try:
        link = slack.link_user(db.session, current_actor(),
                               request.form.get("slack_user_id", ""), request.form.get("email", ""))
    except ValidationError as error:
        return refused("slack", error)
    db.session.commit()
    flash(f"Slack user {link.slack_user_id} linked: their /lesson drafts are now saved.")
    return redirect_after_post(url_for(".index"))


@bp.post("/slack-users/<slack_user_id>/delete")
def unlink_slack_user(slack_user_id: str) -> Response:
    """Refuse the Slack user's `/lesson` from now on."""
    slack.unlink_user(db.session, current_actor(), slack_user_id)
    db.session.commit()
    flash(f"Slack user {slack_user_id} unlinked: their /lesson is refused from now on.")
    return redirect_after_post(url_for(".index"))


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry_delivery(delivery_id: int) -> Response:
    """Send a failed delivery again, now, with a new day of tries."""
    delivery = retry(db.session, delivery_id)
    audit.record(db.session, current_actor(), "delivery_retry", f"delivery {delivery.id}",
                 channel=delivery.channel)
    db.session.commit()
    flash(f"“{delivery.subject}” goes out again within a minute.")
    return redirect_after_post(url_for(".index"))


# Slack's /lesson command

OFF = "The /lesson command is off: an admin sets LESSONS_SLACK_SIGNING_SECRET to turn it on."
UNLINKED = ("Your Slack user ({}) is not linked to a Lessons account: ask an admin to link it "
            "on the Integrations page. Nothing was saved.")
USAGE = ("Type what happened after the command, e.g. /lesson The vendor changed their API "
         "without notice, and our release slipped two weeks.")
REPLAYED = "This request was answered already; nothing more was saved."


@bp.post("/slack/command")
def slack_command() -> Response:
    """`/lesson <what happened>`: a draft for the linked account, a link to it, and the three
    lessons most like it that the account may read. Slack shows the answer to them only."""
    secret = current_app.config["SLACK_SIGNING_SECRET"]
    if not secret:
        return slack_answer(OFF, 404)
    signature = request.headers.get("X-Slack-Signature", "")
    refusal = slack.refusal(secret, request.headers.get("X-Slack-Request-Timestamp", ""),
                                 signature, request.get_data(), time.time())
    if refusal:
        return slack_answer(refusal, 401)
    slack_user_id = request.form.get("user_id", "")
    user = slack.linked_account(db.session, slack_user_id)
    if user is None:
        return slack_answer(UNLINKED.format(slack_user_id[:50] or "no id"))
    text = slack.command_text(request.form.get("text", ""))
    if not text:
        return slack_answer(USAGE)
    with session_of(user) as session:
        if not slack.first_time(session, signature):
            return slack_answer(REPLAYED, 409)
        try:
            lesson = slack.save_draft(session, user, text, client_ip(), categories())
        except ValidationError as error:
            return slack_answer(f"Not saved: {error.message} {' '.join(error.fields.values())}")
        session.commit()
        alike = slack.similar(engine(), session, text, lesson.id)
        return jsonify(slack.draft_reply(push_settings(current_app), lesson, alike))


def slack_answer(text: str, status: int = 200) -> Response:
    """A reply only the person who typed the command sees (Slack shows it on a 200 only)."""
    response = jsonify(slack.ephemeral(text))
    response.status_code = status
    return response


@contextmanager
def session_of(user: User) -> Iterator[Session]:
    """A session that sees what `user` may see. The request's own sees what a visitor does:
    nobody signs in to send a command."""
    with current_app.extensions["lessons.db"][1]() as session:
        restrict(session, Account.of(user))
        yield session
