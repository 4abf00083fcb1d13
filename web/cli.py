"""The `lessons` command line: serve, migrate, load the demo, import and export, back up,
search, recompute themes, remind action owners, report status."""

import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import click
from flask import Flask, current_app, url_for
from flask.cli import AppGroup, FlaskGroup, routes_command, shell_command, with_appcontext
from sqlalchemy import select
from tqdm import tqdm

from lessons import db as database
from lessons.archive import archive_in, load_archive, write_archive, write_lessons_csv
from lessons.backup import BackupError, backup, is_sqlite, restore
from lessons.demo import load_demo
from lessons.errors import Conflict, NotFound, ValidationError
from lessons.fields import MAX_ID
from lessons.imports.importer import ImportReport, check_import, run_import
from lessons.imports.mappings import guess, load_mapping, ready_mappings
from lessons.imports.tables import FORMATS, guess_format, json_table, load_json, open_table
from lessons.models import ApiToken, Lesson, ThemeRun, utcnow
from lessons.services import audit
from lessons.services.users import (
    ROLES,
    SCOPES,
    create_token,
    create_user,
    disable_user,
    enable_user,
    get_user_by_email,
    list_users,
    reset_password,
    update_user,
)
from lessons.queries import LESSON_FILTERS, parse_query
from lessons.services.reminders import due_reminders, reminder_message
from lessons.services.status import counts
from search.embedder import compute_on_request_threads
from search.retrieve import search
from search.themes import K_MAX, K_MIN
from search.trends import Windows, theme_views, today
from lessons.wording import plural
from web import create_app
from web.config import _check_links_and_money
from web.database import db
from web.jobs import begin_run, run_recompute
from web.search import engine

FORMAT_NAMES = sorted(set(FORMATS.values()))
FIRST_ADMIN = "admin@localhost"


@click.command("run")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
def run_command(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (a production WSGI server)."""
    import waitress

    current, head = database.schema_state(db.engine)
    if current != head:
        raise click.ClickException("The database is not up to date: run `lessons db upgrade`.")
    announce_first_admin(host, port)
    search_engine = engine()

    def warm_up() -> None:
        # Load the model and the index now, so the first search does not wait for them;
        # a first build embeds on every core, then requests get one each.
        try:
            search_engine.ready()
        finally:
            compute_on_request_threads()

    threading.Thread(target=warm_up, name="search-warm-up", daemon=True).start()
    click.echo(f"Serving Lessons on http://{host}:{port} (Ctrl+C to stop)")
    waitress.serve(current_app._get_current_object(), host=host, port=port, threads=threads)


def announce_first_admin(host: str, port: int) -> None:
    """On a database without accounts, make admin@localhost with a one-time password and say so."""
    if list_users(db.session):
        return
    password = secrets.token_urlsafe(12)
    create_user(db.session, FIRST_ADMIN, "admin", password, name="Admin",
                must_change_password=True)
    audit.record(db.session, "cli", "user_create", FIRST_ADMIN, role="admin")
    db.session.commit()
    click.echo(f"First start: sign in at http://{host}:{port}/sign-in as {FIRST_ADMIN} with the "
               f"one-time password {password} (you then choose your own).")


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
def upgrade_command() -> None:
    """Apply every migration not yet applied."""
    database.upgrade(db.engine)
    current, _ = database.schema_state(db.engine)
    click.echo(f"Database {database.safe_url(current_app.config['DATABASE_URL'])} "
               f"is at revision {current}.")


@click.group("demo", cls=AppGroup)
def demo_group() -> None:
    """Demo data."""


@demo_group.command("load")
def demo_load_command() -> None:
    """Load the demo projects and lessons (projects already present are skipped), then
    embed them and compute the themes, so the PMO pages have something to show."""
    result = load_demo(db.session)
    db.session.commit()
    if result.projects == 0:
        click.echo("Demo data already loaded; nothing added.")
        return
    click.echo(f"Loaded {result.projects} projects, {result.lessons} lessons and "
               f"{result.actions} actions.")
    run = recompute_themes(None)
    click.echo(f"Grouped the lessons into {run.themes} themes.")


@click.command("status")
@with_appcontext
def status_command() -> None:
    """Counts, the database, the schema, the embedding model and the index."""
    app = current_app
    current, head = database.schema_state(db.engine)
    click.echo(f"database: {database.safe_url(app.config['DATABASE_URL'])}")
    click.echo(f"schema: {current or 'empty'} (newest: {head})")
    if current == head:
        for name, number in counts(db.session, date.today()).items():
            click.echo(f"{name}: {number}")
    click.echo(f"embedding model: {app.config['EMBEDDING_MODEL']}")
    click.echo(f"index: {engine().status()}")


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Embed every lesson whose vectors are missing or stale, then rebuild the index.

    Vectors are committed batch by batch and unchanged passages are never
    encoded again, so an interrupted run resumes where it stopped.
    """
    search = engine()
    with db.session as session:
        ids = list(session.scalars(select(Lesson.id).where(Lesson.deleted_at.is_(None))))
    with progress_bar("Embedding") as on_progress:
        search.embed(ids, on_progress=on_progress)
    search.rebuild()
    click.echo(f"Index rebuilt: {search.status()}")


@click.command("themes")
@click.option("--themes", "count", type=click.IntRange(K_MIN, K_MAX), default=None,
              help="How many themes (default: chosen from the number of lessons).")
@with_appcontext
def themes_command(count: int | None) -> None:
    """Recompute the recurring themes from every live lesson, keeping their ids."""
    recompute_themes(count)
    for view in theme_views(db.session, Windows(today())):
        click.echo(f"{view.theme.id:>5}  {len(view.lessons):>5} lessons  "
                   f"{len(view.projects):>3} projects  {view.theme.label}")


@click.command("backup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write it (default: <instance>/backups/lessons-<time>.<ext>).")
@with_appcontext
def backup_command(output: Path | None) -> None:
    """Back the database up while the app keeps running (SQLite's backup API, or pg_dump)."""
    url = current_app.config["DATABASE_URL"]
    if output is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        suffix = "db" if is_sqlite(url) else "dump"
        output = Path(current_app.instance_path) / "backups" / f"lessons-{stamp}.{suffix}"
    try:
        backup(url, output)
    except BackupError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Backed up {database.safe_url(url)} to {output}")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(source: Path, yes: bool) -> None:
    """Replace the whole database by a backup, then rebuild the search index.

    Stop the app first: a running process would keep serving its old index.
    """
    url = current_app.config["DATABASE_URL"]
    if not yes:
        click.confirm(f"Replace everything in {database.safe_url(url)} by {source}?",
                      abort=True)
    db.session.close()
    try:
        restore(url, source, db.engine)
    except BackupError as error:
        raise click.ClickException(error.message) from None
    search = engine()
    with progress_bar("Embedding") as on_progress:
        search.rebuild(on_progress)
    click.echo(f"Restored {source}; index rebuilt: {search.status()}")


@click.command("export")
@click.option("--format", "file_format", type=click.Choice(["json", "csv"]), required=True,
              help="json: everything, deleted rows too, to load elsewhere with `lessons import`; "
                   "csv: the live lessons, for spreadsheets.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@with_appcontext
def export_command(file_format: str, output: Path, force: bool) -> None:
    """Export the lessons to OUTPUT: the whole lossless archive (json) or a spreadsheet (csv)."""
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists already; choose another file or add --force.")
    output.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed at the end: an interrupted export leaves no half file.
    part = output.with_name(f".{output.name}.part")
    try:
        with open(part, "w", encoding="utf-8", newline="") as out:
            if file_format == "json":
                count = write_archive(db.session, out)
            else:
                count = write_lessons_csv(db.session, out, parse_query(LESSON_FILTERS, {}))
            out.flush()
            os.fsync(out.fileno())
        part.replace(output)
    finally:
        part.unlink(missing_ok=True)
    audit.record(db.session, "cli", "export", str(output), format=file_format, lessons=count)
    db.session.commit()
    click.echo(f"Exported {count} lessons to {output}")


@click.command("search")
@click.argument("text")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@with_appcontext
def search_command(text: str, limit: int, as_json: bool) -> None:
    """Search the lessons by meaning and by words."""
    try:
        results = search(engine(), db.session, text, limit=limit)
    except ValidationError as error:
        raise click.UsageError(error.message + " " + " ".join(error.fields.values())) from None
    if as_json:
        click.echo(json.dumps([hit.as_dict() for hit in results.hits], indent=2,
                              ensure_ascii=False))
        return
    for rank, hit in enumerate(results.hits, start=1):
        source = f" [{hit.lesson.external_id}]" if hit.lesson.external_id else ""
        click.echo(f"{rank:>2}. {hit.lesson.title} (#{hit.lesson.id}{source}, "
                   f"{hit.similarity:.0%} alike)")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", default=None, metavar="NAME|FILE",
              help="A ready mapping (" + ", ".join(ready_mappings()) + ") or a mapping file; "
                   "default: guessed from the headers.")
@click.option("--format", "file_format", type=click.Choice(FORMAT_NAMES), default=None,
              help="The file's format (default: from its name).")
@click.option("--encoding", default=None, help="A CSV's text encoding (default: UTF-8).")
@click.option("--sheet", default=None, help="The Excel sheet to read (default: the first).")
@click.option("--dry-run", is_flag=True, help="Report what would be created and every row "
                                              "that would be rejected; write nothing.")
@click.option("--show-mapping", is_flag=True,
              help="Print the mapping as JSON (to save and edit as a mapping file) and stop.")
@with_appcontext
def import_command(file: Path, mapping: str | None, file_format: str | None,
                   encoding: str | None, sheet: str | None, dry_run: bool,
                   show_mapping: bool) -> None:
    """Import lessons from a CSV, Excel or JSON FILE; rows already imported are skipped.

    A JSON file written by `lessons export --format json` is restored whole,
    with its ids, revisions, actions and decisions.
    """
    try:
        if (file_format or guess_format(file)) == "json":  # read once: an archive, or records
            document = load_json(file)
            if archive := archive_in(document):
                return import_archive(archive, dry_run)
            table = json_table(document)
        else:
            table = open_table(file, file_format, encoding, sheet)
        columns = (load_mapping(mapping) if mapping else
                   guess(table.headers, table.sample(), current_app.config["CATEGORIES"]))
    except ValidationError as error:
        raise click.ClickException(problem(error)) from None
    if show_mapping:
        click.echo(json.dumps(columns.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(f"Mapping ({columns.name}): " + "; ".join(
        f"{target} <- {source}" for target, source in columns.fields.items()))
    categories = current_app.config["CATEGORIES"]
    search = engine()
    with tqdm(unit="row", desc="Checking") as bar:
        def on_progress(stage: str, done: int, total: int) -> None:
            bar.set_description(stage)
            bar.total, bar.n = total or None, done
            bar.refresh()

        try:
            if dry_run:
                report = check_import(db.session, table, columns, categories=categories,
                                      on_progress=on_progress)
            else:
                report = run_import(db.session, table, columns, actor="import",
                                    categories=categories, on_progress=on_progress,
                                    on_batch=search.embed)
        except ValidationError as error:
            raise click.ClickException(problem(error)) from None
    print_report(report)
    if not dry_run:
        # Also what a killed run committed but never embedded: a rerun leaves nothing to embed.
        with progress_bar("Embedding") as on_embed:
            missing = search.embed_missing(on_progress=on_embed)
        if report.created or missing:
            with progress_bar("Indexing") as on_index:
                search.ready(on_progress=on_index)
    if report.stopped:
        raise click.exceptions.Exit(1)


def import_archive(archive: dict, dry_run: bool) -> None:
    """Restore an export of Lessons, then bring the search index up to date."""
    if dry_run:
        raise click.ClickException("--dry-run is for tables; an export is restored whole.")
    with progress_bar("Restoring") as on_progress:
        report = load_archive(db.session, archive, actor="import", on_progress=on_progress)
    click.echo(report.summary())
    for what, why in report.rejected:
        click.echo(f"  {what}: {why}")
    with progress_bar("Indexing") as on_progress:
        engine().ready(on_progress=on_progress)


def print_report(report: ImportReport) -> None:
    """The import's outcome, with every rejected row and why."""
    click.echo(report.summary())
    if report.created and not report.dry_run:
        click.echo(f"Rows taken: {report.taken()}")
    for row, fields in report.rejected:
        click.echo(f"  row {row} rejected: " + " ".join(f"{k}: {v}" for k, v in fields.items()))
    for row, note in report.adjusted:
        click.echo(f"  row {row}: {note}")
    if report.skipped:
        click.echo(f"  {len(report.skipped)} rows skipped, e.g. row {report.skipped[0][0]}: "
                   f"{report.skipped[0][1]}")


def problem(error: ValidationError) -> str:
    """A validation error as one line."""
    details = [f"{key}: {text}" for key, text in error.fields.items()
               if text not in error.message and key not in ("file",)]
    return " ".join([error.message, *details])


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar driven by the services' `on_progress(done, total)` callbacks."""
    with tqdm(unit="lesson", desc=description) as bar:
        def on_progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield on_progress


def recompute_themes(count: int | None) -> ThemeRun:
    """A theme recompute recorded as a run (one at a time, as from the web), with a tqdm bar."""
    try:
        run = begin_run(db.session, count, "cli")
    except Conflict as error:
        raise click.ClickException(error.message) from None
    with tqdm(unit="step") as bar:
        def on_progress(stage: str, done: int, total: int) -> None:
            bar.set_description(stage)
            bar.total, bar.n = total, done
            bar.refresh()

        run = run_recompute(current_app.extensions["lessons.db"][1], engine(), run.id, count,
                            on_progress)
    if run.status != "done":
        raise click.ClickException(f"The recompute failed: {run.message}")
    return run


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Accounts: create, list, update, disable, enable, reset a password."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--password", default=None, help="Prompted for (hidden) when not given.")
@click.option("--name", default=None)
@click.option("--business-unit", default=None)
def users_create_command(email: str, role: str, password: str | None, name: str | None,
                         business_unit: str | None) -> None:
    """Create an account that signs in with EMAIL."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(db.session, email, role, password, name=name,
                           business_unit=business_unit)
    except ValidationError as error:
        raise click.ClickException(problem(error)) from None
    audit.record(db.session, "cli", "user_create", user.email, role=role)
    db.session.commit()
    click.echo(f"Created {user.email} ({ROLES[role]}).")


@users_group.command("list")
def users_list_command() -> None:
    """Every account, its role and state."""
    for user in list_users(db.session):
        state = "disabled" if user.disabled_at else "enabled"
        click.echo(f"{user.email}\t{user.role}\t{state}\t{user.business_unit or ''}")


@users_group.command("disable")
@click.argument("email")
def users_disable_command(email: str) -> None:
    """Stop EMAIL signing in; its sessions and tokens end at once."""
    try:
        user = get_user_by_email(db.session, email)
        disable_user(db.session, user)
    except (NotFound, Conflict) as error:
        raise click.ClickException(error.message) from None
    audit.record(db.session, "cli", "user_disable", user.email)
    db.session.commit()
    click.echo(f"Disabled {user.email}.")


@users_group.command("enable")
@click.argument("email")
def users_enable_command(email: str) -> None:
    """Let a disabled EMAIL sign in again (its old API tokens stay revoked)."""
    try:
        user = get_user_by_email(db.session, email)
    except NotFound as error:
        raise click.ClickException(error.message) from None
    if enable_user(db.session, user):
        audit.record(db.session, "cli", "user_enable", user.email)
    db.session.commit()
    click.echo(f"Enabled {user.email}.")


@users_group.command("update")
@click.argument("email")
@click.option("--role", type=click.Choice(list(ROLES)), default=None)
@click.option("--name", default=None)
@click.option("--business-unit", default=None, help="An empty value clears it.")
def users_update_command(email: str, role: str | None, name: str | None,
                         business_unit: str | None) -> None:
    """Change the role, name or business unit of EMAIL (the options given)."""
    given = {"role": role, "name": name, "business_unit": business_unit}
    try:
        user = get_user_by_email(db.session, email)
        changes = update_user(db.session, user, {k: v for k, v in given.items() if v is not None})
    except (NotFound, Conflict, ValidationError) as error:
        raise click.ClickException(error.message) from None
    if changes:
        audit.record(db.session, "cli", "user_update", user.email, **changes)
    db.session.commit()
    click.echo(f"Updated {user.email}: " + (", ".join(changes) or "nothing changed") + ".")


@users_group.command("reset-password")
@click.argument("email")
def users_reset_password_command(email: str) -> None:
    """Give EMAIL a new one-time password (printed once, alone on the last line), to change
    at the next sign-in; its sessions end. The way back in for a lost admin password."""
    try:
        user = get_user_by_email(db.session, email)
    except NotFound as error:
        raise click.ClickException(error.message) from None
    password = reset_password(db.session, user)
    audit.record(db.session, "cli", "password_reset", user.email)
    db.session.commit()
    state = " (the account is disabled: `lessons users enable` it too)" if user.disabled_at else ""
    click.echo(f"New one-time password for {user.email}{state}; it is shown only now, and is "
               "changed at the next sign-in:")
    click.echo(password)


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """API tokens: create, revoke."""


@tokens_group.command("create")
@click.argument("email")
@click.option("--scope", type=click.Choice(list(SCOPES)), required=True)
@click.option("--name", default=None, help="What the token is for.")
def tokens_create_command(email: str, scope: str, name: str | None) -> None:
    """Create an API token for EMAIL; the token is printed once, alone on the last line."""
    try:
        token, secret = create_token(db.session, get_user_by_email(db.session, email), scope, name)
    except (NotFound, Conflict, ValidationError) as error:
        raise click.ClickException(error.message) from None
    audit.record(db.session, "cli", "token_create", f"token {token.id}", scope=scope)
    db.session.commit()
    click.echo(f"Token {token.id} ({SCOPES[scope].lower()}) for {email}; it is shown only now:")
    click.echo(secret)


@tokens_group.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_ID))
def tokens_revoke_command(token_id: int) -> None:
    """Revoke the API token TOKEN_ID."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"No token {token_id}.")
    token.revoked_at = token.revoked_at or utcnow()
    audit.record(db.session, "cli", "token_revoke", f"token {token_id}")
    db.session.commit()
    click.echo(f"Revoked token {token_id}.")


@click.group("actions", cls=AppGroup)
def actions_group() -> None:
    """Actions on lessons: reminders to their owners."""


@actions_group.command("remind")
@click.option("--days", default=7, show_default=True, type=click.IntRange(0, 365),
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
        def link(endpoint: str, **values: object) -> str:
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


def init_app(app: Flask) -> None:
    """Register the commands on the app, so `app.test_cli_runner()` reaches them."""
    for command in (run_command, db_group, demo_group, status_command, reindex_command,
                    search_command, import_command, themes_command, backup_command,
                    users_group, tokens_group, actions_group,
                    restore_command, export_command):
        app.cli.add_command(command)


cli = FlaskGroup(
    create_app=create_app,
    add_default_commands=False,
    help="Lessons: a lessons-learned knowledge base with semantic search.",
)
cli.add_command(shell_command)
cli.add_command(routes_command)


def main() -> None:
    """Entry point of the `lessons` command."""
    cli.main(prog_name="lessons")
