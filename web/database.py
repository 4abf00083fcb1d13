"""The database bound to the Flask app: one engine per app, one session per request."""

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lessons.db import make_engine


class Database:
    """Created unbound at import; `init_app` gives each app its engine."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["lessons.db"] = (engine, sessionmaker(engine))
        app.teardown_appcontext(self._close_session)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["lessons.db"][0]

    @property
    def session(self) -> Session:
        """This request's (or CLI command's) session, opened on first use."""
        if "db_session" not in g:
            g.db_session = current_app.extensions["lessons.db"][1]()
        return g.db_session

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        # Closing rolls back whatever was not committed.
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


db = Database()
