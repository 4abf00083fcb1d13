"""Naming a theme: the PMO's words for what its lessons share, kept across recomputes."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.fields import THEME_FIELDS
from lessons.models import Theme
from lessons.services import audit
from lessons.services.common import get_row
from lessons.validation import clean


def rename_theme(session: Session, theme_id: int, data: Mapping[str, Any],
                 actor: Actor | str) -> Theme:
    """Give the theme `data["name"]` (empty: back to the name from its words); audited."""
    theme = get_row(session, Theme, theme_id)
    name = " ".join((clean(THEME_FIELDS, data)["name"] or "").split()) or None
    if name != theme.name:
        audit.record(session, actor, "theme_rename", f"theme {theme.id}",
                     before=theme.name, after=name)
        theme.name = name
        session.flush()
    return theme
