"""Readable differences between two revisions of a lesson."""

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from lessons.fields import LESSON_FIELDS

MAX_DIFF_WORK = 25_000_000
LABELS = {f.name: f.label for f in LESSON_FIELDS}


@dataclass
class FieldChange:
    """One field's old and new value, and a word-level diff between them."""

    field: str
    label: str
    before: str
    after: str
    segments: list[tuple[str, str]]  # ("same" | "del" | "ins", text)


def revision_changes(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[FieldChange]:
    """What changed from `previous` to `current` (everything set, for a first revision)."""
    changes = []
    for name, label in LABELS.items():
        before = as_text((previous or {}).get(name))
        after = as_text(current.get(name))
        if before != after:
            changes.append(FieldChange(name, label, before, after, word_diff(before, after)))
    return changes


def as_text(value: Any) -> str:
    """A field value as the history page shows it."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Runs of kept, deleted and inserted text, split on word boundaries."""
    old, new = re.findall(r"\s+|[^\s]+", before), re.findall(r"\s+|[^\s]+", after)
    if len(old) * len(new) > MAX_DIFF_WORK:
        # Matching cost grows with the product of the lengths: show a whole replacement.
        return [("del", before), ("ins", after)]
    segments: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            segments.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            segments.append(("del", "".join(old[i1:i2])))
        if j2 > j1:
            segments.append(("ins", "".join(new[j1:j2])))
    return segments
