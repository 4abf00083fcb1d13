"""The `lessons` command line: serve, migrate, load the demo, import and export, back up,
search, recompute themes, remind action owners, run the queue's worker, report status.

One module per group of commands; this one registers them on the app and is
the `lessons` console script's entry point.
"""

from flask import Flask
from flask.cli import FlaskGroup, routes_command, shell_command

from web import create_app
from web.cli.actions import actions_group
from web.cli.db import backup_command, db_group, restore_command
from web.cli.demo import demo_group
from web.cli.exports import export_command
from web.cli.imports import import_command
from web.cli.index import reindex_command, search_command
from web.cli.serve import run_command, status_command
from web.cli.themes import themes_command
from web.cli.users import tokens_group, users_group
from web.cli.worker import worker_command


def init_app(app: Flask) -> None:
    """Register the commands on the app, so `app.test_cli_runner()` reaches them."""
    for command in (run_command, db_group, demo_group, status_command, reindex_command,
                    search_command, import_command, themes_command, backup_command,
                    users_group, tokens_group, actions_group,
                    restore_command, export_command, worker_command):
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
