"""Downloads: the lessons list as CSV, and everything as the lossless JSON archive, streamed.

An export carries data away, so each is audited, by its URL, before it is sent."""

from collections.abc import Callable, Iterator

from flask import Blueprint, Response, current_app, request
from sqlalchemy.orm import Session

from lessons.exports.archive import archive_pieces, csv_pieces
from lessons.models import utcnow
from lessons.queries import LESSON_FILTERS, parse_query
from lessons.services import audit
from lessons.services.lessons import category_choices
from web.auth import VISITOR, current_user
from web.database import db
from web.htmx import is_htmx
from web.identity import current_actor
from web.views.forms import categories

bp = Blueprint("exports", __name__)


@bp.get("/lessons/export.csv")
def lessons_csv() -> Response:
    """Every lesson the list shows for the same filters (all pages), as CSV."""
    if is_htmx():  # the list's filter form asked: let the browser itself download the file
        return Response(status=204, headers={"HX-Redirect": request.full_path})
    query = parse_query(LESSON_FILTERS, request.args, category_choices(categories()))
    viewer = current_user() or VISITOR
    return download(lambda session: csv_pieces(session, query, viewer), "text/csv",
                    "lessons.csv")


@bp.get("/export/archive.json")
def archive() -> Response:
    """Every project, lesson and decision, deleted ones too, to load into another instance."""
    name = f"lessons-archive-{utcnow():%Y%m%d-%H%M%S}.json"
    return download(archive_pieces, "application/json", name)


def download(pieces: Callable[[Session], Iterator[str]], mimetype: str, filename: str) -> Response:
    """An attachment sent while it is written, audited first: the download is the act."""
    audit.record(db.session, current_actor(), "export", request.full_path)
    db.session.commit()
    sessions = current_app.extensions["lessons.db"][1]

    def stream() -> Iterator[str]:
        # A session of its own, closed after the last piece (or when the client goes away):
        # the request's session is closed when the view returns, before the body is sent.
        with sessions() as session:
            yield from pieces(session)

    return Response(stream(), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
