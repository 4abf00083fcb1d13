"""Serving the app, the first admin account, and the instance's status."""

import secrets
import threading
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext

from lessons import db as database
from lessons.services.notifications import delivery_counts
from lessons.services.status import counts
from lessons.services.users import create_user, list_users
from search.embedder import compute_on_request_threads, freeze_heap
from search.vectors import backlog_size
from web import real_app
from web.cli.common import OPERATOR
from web.cli.worker import describe
from web.database import db
from web.engine import engine
from web.queue import last_runs, queue_of

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
        search_engine.embedder.encode(["warm up"])  # the query's runtime exported now too
        freeze_heap()

    threading.Thread(target=warm_up, name="search-warm-up", daemon=True).start()
    click.echo(f"Serving Lessons on http://{host}:{port} (Ctrl+C to stop)")
    waitress.serve(real_app(), host=host, port=port, threads=threads)


def announce_first_admin(host: str, port: int) -> None:
    """On a database without accounts, make admin@localhost with a one-time password and say so."""
    if list_users(db.session):
        return
    password = secrets.token_urlsafe(12)
    create_user(db.session, FIRST_ADMIN, "admin", password, name="Admin",
                must_change_password=True, actor=OPERATOR)
    db.session.commit()
    click.echo(f"First start: sign in at http://{host}:{port}/sign-in as {FIRST_ADMIN} with the "
               f"one-time password {password} (you then choose your own).")


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
    if current == head and (waiting := backlog_size(db.session, app.config["EMBEDDING_MODEL"])):
        click.echo(f"backlog: {waiting} imported lessons found by their leading passage only "
                   "until the worker encodes the rest")
    queue = queue_of(real_app())
    click.echo(f"queue: {describe(queue)}, {queue.pending_count()} waiting, "
               f"{queue.scheduled_count()} scheduled")
    if current == head:
        for name, number in sorted(delivery_counts(db.session).items()):
            click.echo(f"deliveries {name}: {number}")
        for run in last_runs(db.session):
            ended = "failed" if run.error else "ok"
            click.echo(f"periodic {run.name}: last ran {run.started_at:%Y-%m-%d %H:%M:%S} UTC, "
                       f"{ended}")
