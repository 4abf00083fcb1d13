"""`lessons worker`: the queue's consumer and its schedule, in the foreground."""

import logging

import click
from flask.cli import with_appcontext

from web import real_app
from web.queue import queue_of


@click.command("worker")
@with_appcontext
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="Tasks run at once (threads).")
def worker_command(workers: int) -> None:
    """Run the queue's worker: notifications, deliveries, digests, imports, theme recomputes
    and the periodic schedule (SIGTERM stops it after its current tasks, Ctrl+C at once)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = real_app()
    # A task waits for the index another task is building, where a web request is told to
    # come back (a recompute and a catch-up may start together).
    app.extensions["lessons.search"].wait_while_building = True
    queue = queue_of(app)
    click.echo(f"Lessons worker: {workers} thread(s) on the {describe(queue)} queue")
    # Catch up first: what was committed, or claimed by a worker that died, while none ran.
    app.extensions["lessons.queue"][1]["dispatch"]()
    # SIGTERM (systemd, `make run`) lets the tasks under way finish, for up to 50 seconds;
    # Ctrl+C (SIGINT) stops at once.
    queue.create_consumer(workers=workers, periodic=True, worker_type="thread",
                          graceful_signal="TERM", shutdown_timeout=50).run()


def describe(queue: object) -> str:
    """The queue's storage, for people: "SQLite (path)" or "Redis"."""
    storage = getattr(queue, "storage", None)
    filename = getattr(storage, "filename", None)
    return f"SQLite ({filename})" if filename else "Redis"
