"""The search index from the command line: rebuild it, and search it."""

import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lessons.errors import ValidationError
from lessons.models import Lesson
from search.retrieve import search
from web.cli.common import progress_bar
from web.database import db
from web.engine import engine


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Embed every lesson whose vectors are missing or stale, then rebuild the index.

    Vectors are committed batch by batch and unchanged passages are never
    encoded again, so an interrupted run resumes where it stopped.
    """
    search = engine()
    # First what imports left half-encoded, logged so that running processes take it in.
    with progress_bar("Completing imports") as on_progress:
        search.complete(on_progress=on_progress)
    with db.session as session:
        ids = list(session.scalars(select(Lesson.id).where(Lesson.deleted_at.is_(None))))
    with progress_bar("Embedding") as on_progress:
        search.embed(ids, on_progress=on_progress)
    search.rebuild()
    click.echo(f"Index rebuilt: {search.status()}")


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
