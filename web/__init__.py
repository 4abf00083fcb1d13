"""The Flask app: pages with htmx, the JSON API and the `lessons` CLI."""

from functools import partial
from typing import Any

from flask import Flask, current_app

from lessons import wording
from web.config import instance_path, load_settings
from web.database import db

HTMX_FILE = "vendor/htmx-2.0.11.min.js"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then `LESSONS_*` environment variables, then `config`."""
    app = Flask(__name__, instance_path=instance_path(), instance_relative_config=True)
    load_settings(app, config)
    db.init_app(app)

    from web import auth, cli, engine, errors, queue, security
    from web.api.blueprint import api  # its package, web.api, adds every route to it
    from web.views import (
        account,
        actions,
        admin,
        briefings,
        exports,
        home,
        imports,
        integrations,
        lessons,
        mail,
        notifications,
        pmo,
        projects,
        reviews,
        themes,
    )
    from web.views import search as search_views

    errors.init_app(app)
    cli.init_app(app)
    auth.init_app(app)  # first: who is asking, before any body is read
    security.init_app(app)
    engine.init_app(app)
    queue.init_app(app)
    for blueprint in (home.bp, search_views.bp, projects.bp, briefings.bp, lessons.bp, actions.bp,
                      reviews.bp, themes.bp, pmo.bp, exports.bp, imports.bp, account.bp, admin.bp,
                      notifications.bp, integrations.bp, mail.bp, api):
        app.register_blueprint(blueprint)
    app.jinja_env.globals.update(template_globals())
    # Every amount on every page in the instance's currency ("EUR 18,500").
    app.jinja_env.globals["money"] = partial(wording.money, currency=app.config["CURRENCY"])
    return app


def real_app() -> Flask:
    """The app behind `current_app`, for a thread or a server that outlives the request."""
    # The proxy's own method, which Flask's annotation of `current_app` as `Flask` hides.
    return current_app._get_current_object()  # type: ignore[attr-defined]


def template_globals() -> dict[str, Any]:
    """Names every template can use: the vocabularies, the date range and the vendored htmx
    file."""
    from lessons import fields
    from web.text import highlight

    return {
        "highlight": highlight,
        "plural": wording.plural,
        "KINDS": fields.KINDS,
        "SEVERITIES": fields.SEVERITIES,
        "PHASES": fields.PHASES,
        "PROJECT_STATUSES": fields.PROJECT_STATUSES,
        "ACTION_STATUSES": fields.ACTION_STATUSES,
        "DECISIONS": fields.DECISIONS,
        "LESSON_STATUSES": fields.LESSON_STATUSES,
        "EARLIEST_DATE": fields.EARLIEST_DATE,
        "LATEST_DATE": fields.LATEST_DATE,
        "HTMX_FILE": HTMX_FILE,
    }
