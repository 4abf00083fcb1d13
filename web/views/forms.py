"""What the page views share: reading forms and the configured choices."""

from typing import Any

from flask import current_app, request

from lessons.fields import Field


def form_values(fields: tuple[Field, ...]) -> dict[str, str]:
    """The submitted values of `fields`, as typed (other form keys are ignored)."""
    return {f.name: request.form[f.name] for f in fields if f.name in request.form}


def form_defaults(fields: tuple[Field, ...]) -> dict[str, str]:
    """The values a new form starts with: each field's default, where it has one."""
    return {f.name: field_value(f.default) for f in fields if f.default is not None}


def categories() -> list[str]:
    """The configured lesson categories."""
    return current_app.config["CATEGORIES"]


def field_value(value: Any) -> str:
    """A stored value as a form input shows it."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
