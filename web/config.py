"""Settings: the defaults here, then `LESSONS_*` environment variables, then a test config.

Each key below is read from the environment as `LESSONS_<KEY>`. README.md
documents every one of them, and a test fails when one is missing there.
"""

import os
import re
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from lessons.fields import DEFAULT_CATEGORIES
from lessons.wording import CURRENCY_CODE
from push.email import parse_smtp_url

ENV_PREFIX = "LESSONS"

DEFAULTS: dict[str, Any] = {
    # SQLAlchemy URL; empty means a SQLite file in the instance folder.
    "DATABASE_URL": "",
    # Signs session cookies; empty means a random key kept in the instance folder.
    "SECRET_KEY": "",
    # Largest request body accepted, in bytes (larger gets 413).
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    # Largest file accepted by the import page, in bytes.
    "IMPORT_MAX_LENGTH": 200 * 1024 * 1024,
    # Let visitors who are not signed in read organisation-wide lessons.
    "ANONYMOUS_READ": False,
    # Only approved lessons feed kickoff briefings and themes (false: every lesson not deleted).
    "APPROVED_ONLY": True,
    # Let a reviewer approve their own lesson (a single-PMO organisation); the approval says so.
    "ALLOW_SELF_APPROVAL": False,
    # How many reverse proxies in front set X-Forwarded-For/-Proto (0: none, trust no header).
    "TRUSTED_PROXIES": 0,
    # The lesson categories offered and accepted, as a JSON list or comma-separated.
    "CATEGORIES": list(DEFAULT_CATEGORIES),
    # A sentence-transformers model name or path for semantic search.
    "EMBEDDING_MODEL": "all-MiniLM-L6-v2",
    # The vector index behind semantic search (search.index.VECTOR_INDEXES); faiss is the one.
    "VECTOR_INDEX": "faiss",
    # ISO 4217 code of the currency every cost is entered in (one per instance, never converted).
    "CURRENCY": "EUR",
    # The address people open the app at, for links in Markdown exports (empty: the request's)
    # and in emails, Slack, Teams and webhooks (empty: http://127.0.0.1:5000).
    "BASE_URL": "",
    # The task queue: empty for SQLite in the instance folder, or redis://host:port/db.
    "QUEUE_URL": "",
    # Email: smtp://user:password@host:587?starttls=true (smtps:// for TLS from the start);
    # empty turns email off.
    "SMTP_URL": "",
    # The From of every email.
    "MAIL_FROM": "Lessons <lessons@localhost>",
    # Days a lesson may wait for review before the PMO is told.
    "REVIEW_SLA_DAYS": 5,
    # Seconds before a failed delivery is tried again; doubled after each failure, for a day.
    "RETRY_SECONDS": 30,
    # Seconds a delivery may take (SMTP, Slack, Teams, webhook) before it counts as failed.
    "SEND_TIMEOUT": 30,
    # Let webhooks and chat hooks reach loopback and private addresses (tests, closed networks).
    "WEBHOOK_ALLOW_PRIVATE": False,
    # Slack's signing secret for the /lesson slash command; empty turns the command off.
    "SLACK_SIGNING_SECRET": "",
}
# What an on/off setting may say in the environment.
SWITCH_WORDS = {"true": True, "1": True, "yes": True, "on": True,
                "false": False, "0": False, "no": False, "off": False}


def instance_path() -> str | None:
    """The instance folder from `LESSONS_INSTANCE_PATH`, if set (Flask needs it up front)."""
    path = os.environ.get(f"{ENV_PREFIX}_INSTANCE_PATH")
    return str(Path(path).resolve()) if path else None


def load_settings(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill `app.config`: defaults, then the environment, then `overrides`."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.from_mapping(overrides or {})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'lessons.db'}"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    categories = app.config["CATEGORIES"]
    if isinstance(categories, str):
        categories = categories.split(",")
    app.config["CATEGORIES"] = [c.strip() for c in categories if c.strip()]
    _check_links_and_money(app)
    _read_switches(app)
    if app.config["SMTP_URL"]:  # a typo found at start-up, not on every email's delivery
        parse_smtp_url(str(app.config["SMTP_URL"]))


def _read_switches(app: Flask) -> None:
    """Settings that are on or off, read strictly: the environment gives "False" as text,
    which Python would take for true (LESSONS_ALLOW_SELF_APPROVAL=False turning it on)."""
    for name, default in DEFAULTS.items():
        value = app.config[name]
        if not isinstance(default, bool) or isinstance(value, bool):
            continue
        word = str(value).strip().lower()
        if word not in SWITCH_WORDS:
            raise ValueError(f"{ENV_PREFIX}_{name} must be true or false, not {value!r}.")
        app.config[name] = SWITCH_WORDS[word]


def _check_links_and_money(app: Flask) -> None:
    """Refuse to start with a currency or base URL that would print wrong on every page."""
    currency = str(app.config["CURRENCY"]).strip().upper()
    if not CURRENCY_CODE.fullmatch(currency):
        raise ValueError(f"{ENV_PREFIX}_CURRENCY must be an ISO 4217 code such as EUR or USD, "
                         f"not {app.config['CURRENCY']!r}.")
    app.config["CURRENCY"] = currency
    base = str(app.config["BASE_URL"]).strip().rstrip("/")
    # Pasted into Markdown links: a space, bracket or quote would end the link early.
    if base and not re.fullmatch(r"https?://[^\s()<>\[\]\"'`]+", base, re.IGNORECASE):
        raise ValueError(f"{ENV_PREFIX}_BASE_URL must be an http:// or https:// address "
                         f"such as https://lessons.example.org.")
    app.config["BASE_URL"] = base


def _instance_secret(path: Path) -> str:
    """A random key made once and kept, so sessions survive a restart."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32))
    return path.read_text().strip()
