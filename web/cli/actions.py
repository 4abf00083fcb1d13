"""Actions on lessons: reminders to their owners, as an email would say them."""

from datetime import date, datetime
from typing import Any

import click
from flask import Flask, current_app, url_for
from flask.cli import AppGroup

from lessons.services.reminders import DUE_THIS_WEEK, due_reminders, reminder_message
from lessons.wording import plural
from web.config import _check_links_and_money
from web.database import db


@click.group("actions", cls=AppGroup)
def actions_group() -> None:
    """Actions on lessons: reminders to their owners."""


@actions_group.command("remind")
@click.option("--days", default=DUE_THIS_WEEK, show_default=True, type=click.IntRange(0, 365),
              help="Remind of open actions due within this many days, and every overdue one.")
@click.option("--today", "on", default=None, type=click.DateTime(["%Y-%m-%d"]),
              help="The day to judge by (default: today).")
@click.option("--base-url", default=None, help="The address in the links (default: "
              "LESSONS_BASE_URL if set, else http://127.0.0.1:5000).")
def actions_remind_command(days: int, on: datetime | None, base_url: str | None) -> None:
    """Print one reminder per owner of open actions overdue or due soon, as an email would
    say it (no mail is sent); actions no account owns are listed after them."""
    today = on.date() if on else date.today()
    base = checked_base_url(base_url)
    found = due_reminders(db.session, today, days)
    with current_app.test_request_context(base_url=base):
        def link(endpoint: str, **values: Any) -> str:
            return url_for(endpoint, _external=True, **values)

        for reminder in found.reminders:
            message = reminder_message(reminder, today, days, link)
            click.echo(f"To: {message.to}\nSubject: {message.subject}\n\n{message.body}\n")
            click.echo("-" * 72)
    click.echo(f"{plural(len(found.reminders), 'reminder')} for {today:%Y-%m-%d}, actions due "
               f"within {plural(days, 'day')} or overdue.")
    for action in found.unowned:
        owner = action.owner or "no owner"
        click.echo(f"Not sent (no active account owns it: {owner}): action {action.id}, "
                   f"due {action.due_on:%Y-%m-%d}: {action.description[:80]}")


def checked_base_url(given: str | None) -> str:
    """The address reminders link to: `given` held to the rule LESSONS_BASE_URL is held to
    (web.config), else the configured one, else the development server's."""
    if given is None:
        return current_app.config.get("BASE_URL") or "http://127.0.0.1:5000"
    # The settings check reads an app's config: a scratch one, so nothing else changes.
    scratch = Flask(__name__)
    scratch.config.update(CURRENCY=current_app.config["CURRENCY"], BASE_URL=given)
    try:
        _check_links_and_money(scratch)
    except ValueError as error:
        raise click.ClickException(f"--base-url {given!r} is not valid: {error}") from None
    return scratch.config["BASE_URL"] or "http://127.0.0.1:5000"
