"""Text helpers for templates: highlighting matched words safely."""

import re
from collections.abc import Sequence

from markupsafe import Markup, escape


def highlight(text: str | None, terms: Sequence[str]) -> Markup:
    """`text`, escaped, with each word starting with one of `terms` wrapped in <mark>."""
    safe = str(escape(text or ""))
    words = [re.escape(str(escape(term))) for term in terms if term]
    if not words:
        return Markup(safe)
    pattern = re.compile(rf"\b({'|'.join(words)})(\w*)", re.IGNORECASE)
    # Only text between tags is touched, so an entity like &amp; is never split.
    parts = re.split(r"(&[#\w]+;)", safe)
    marked = "".join(
        part if part.startswith("&") and part.endswith(";")
        else pattern.sub(r"<mark>\1\2</mark>", part)
        for part in parts
    )
    return Markup(marked)
