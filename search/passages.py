"""What of a lesson is embedded: its text fields, cut into passages the model reads whole.

all-MiniLM-L6-v2 reads 256 word pieces and silently drops the rest, while a
NASA lesson runs to thousands of words. So each field is cut into passages
of a few sentences, each led by the title for context; a lesson scores as its
best passage. bench/README.md compares this with one vector per lesson.
"""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lessons.fields import LESSON_TEXT_FIELDS

EMBEDDED_FIELDS = LESSON_TEXT_FIELDS  # what happened, root cause, impact, recommendation
PASSAGE_CHARS = 700  # with the title, about 200 word pieces: under the model's 256
MAX_PASSAGES = 24  # a very long lesson: its tail is still found by keyword search

SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


@dataclass(frozen=True)
class Passage:
    position: int
    field: str
    text: str

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def lesson_passages(
    content: Mapping[str, Any], fields: tuple[str, ...] = EMBEDDED_FIELDS
) -> list[Passage]:
    """The passages of a lesson (`content` as `Lesson.content()` gives it), in order."""
    title = (content.get("title") or "").strip()
    passages: list[Passage] = []
    for field in fields:
        for chunk in chunks(content.get(field) or ""):
            text = f"{title}\n{chunk}" if title else chunk
            passages.append(Passage(len(passages), field, text))
            if len(passages) == MAX_PASSAGES:
                return passages
    return passages or [Passage(0, "title", title)]


def chunks(text: str, limit: int = PASSAGE_CHARS) -> list[str]:
    """`text` cut at sentence ends into pieces of at most about `limit` characters."""
    pieces: list[str] = []
    current = ""
    for sentence in SENTENCE_END.split(text.strip()):
        sentence = sentence.strip()
        while len(sentence) > limit:  # one endless sentence: cut it at a space
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            pieces, current = flush(pieces, current), ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces, current = flush(pieces, current), ""
        current = f"{current} {sentence}".strip()
    return flush(pieces, current)


def flush(pieces: list[str], current: str) -> list[str]:
    return pieces + [current] if current else pieces
