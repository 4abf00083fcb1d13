"""Acronyms in a query, spelled out the way the lessons themselves define them.

The model cuts "SEU" or "LOTO" into word pieces it barely knows, so a search
for an acronym finds little by meaning. Lessons usually define the acronyms
they use, "a single event upset (SEU)": the commonest definition among the
lessons that hold the acronym is added to the text that is embedded, so the
search by meaning reads what the acronym stands for. Keyword search still
looks for the acronym as typed. In a search of up to three words, an acronym
typed in lowercase ("loto") counts too, when the lessons write that word in
capitals more often than not: "fit" is defined somewhere as "failures in time
(FIT)", but written as a plain word far more often. Only the lessons the
viewer may see are read, under the search's filters. A pasted charter is left
as it is: its acronyms are a few words among many that already say what it
is about, and spelling them out there lowered kickoff nDCG@10
(bench/README.md). A definition is recognised as Schwartz and Hearst (2003)
do: the acronym's letters, in order and from the right, in the words before
the parenthesis, its first letter starting a word.
"""

import re
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from lessons.fields import LESSON_TEXT_FIELDS
from lessons.models import Lesson
from search.keyword import lessons_holding, terms

# An acronym as typed: 2 to 6 capitals or digits, starting with a capital ("ITAR", "COTS"); in a
# short search, any word of that length ("loto").
ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b")
WORD = re.compile(r"\b[A-Za-z][A-Za-z0-9]{1,5}\b")
SHORT = 3  # searchable words
MAX_ACRONYMS = 3  # per query
MAX_WORDS = 15  # searchable words: longer is a charter (see above), as `search.ranking` says
SOURCES = 20  # lessons holding the acronym that are read for its definition, any 20
TEXTS = [getattr(Lesson, name) for name in ("title", *LESSON_TEXT_FIELDS)]


def spelled_out(session: Session, text: str, conditions: Sequence[ColumnElement[bool]]) -> str:
    """`text` with each acronym's definition after it, "SEU (single event upset)", as found in
    the lessons under `conditions`; `text` itself when it has none, none is defined, or it
    is a charter."""
    words = terms(text)
    if len(words) > MAX_WORDS:
        return text
    pattern = WORD if len(words) <= SHORT else ACRONYM
    typed = [w for w in pattern.findall(text) if w.lower() in words]  # no stopwords
    meanings = {}
    for acronym in list(dict.fromkeys(typed))[:MAX_ACRONYMS]:
        meaning = definition_of(session, acronym.upper(), conditions,
                                typed_in_capitals=acronym.isupper())
        if meaning:
            meanings[acronym] = meaning
    if not meanings:
        return text
    return pattern.sub(lambda m: f"{m[0]} ({meanings[m[0]]})" if m[0] in meanings else m[0],
                       text)


def definition_of(session: Session, acronym: str, conditions: Sequence[ColumnElement[bool]],
                  typed_in_capitals: bool = True) -> str | None:
    """The commonest definition of `acronym` among the lessons that hold it, lowercase, its
    hyphens and slashes as spaces ("Lock-Out/Tag-Out" and "lock out/tag out" are one). Typed
    in lowercase, it must also be written in capitals more often than not there."""
    holding = lessons_holding(session, acronym, conditions, SOURCES)
    # Only the lessons that write "(ACRONYM)" are read whole: most words have none.
    defining = session.execute(select(*TEXTS).where(Lesson.id.in_(holding), or_(*(
        column.icontains(f"({acronym}{plural})") for column in TEXTS for plural in ("", "s")))))
    found = definitions(acronym, [field for row in defining for field in row if field])
    if not found or not (typed_in_capitals or written_in_capitals(session, acronym, holding)):
        return None
    return found.most_common(1)[0][0]


def definitions(acronym: str, texts: Sequence[str]) -> Counter[str]:
    """How often each definition of `acronym` occurs in `texts`."""
    defined = re.compile(r"\(" + re.escape(acronym) + r"s?\)")
    found: Counter[str] = Counter()
    for text in texts:
        for match in defined.finditer(text):
            before = re.split(r"[()]", text[max(0, match.start() - 200):match.start()])[-1]
            long_form = long_form_of(acronym, before)
            if long_form:
                found[re.sub(r"[\s/-]+", " ", long_form.lower())] += 1
    return found


def written_in_capitals(session: Session, acronym: str, lesson_ids: Sequence[int]) -> bool:
    """Whether these lessons write `acronym` in capitals more often than in any other case."""
    capitals = re.compile(r"\b" + re.escape(acronym) + r"s?\b")
    anyhow = re.compile(r"\b" + re.escape(acronym) + r"s?\b", re.IGNORECASE)
    balance = 0
    for row in session.execute(select(*TEXTS).where(Lesson.id.in_(lesson_ids))):
        for text in filter(None, row):
            balance += 2 * len(capitals.findall(text)) - len(anyhow.findall(text))
    return balance > 0


def long_form_of(acronym: str, before: str) -> str | None:
    """The words at the end of `before` that `acronym` abbreviates, or None (Schwartz and
    Hearst's rule: each letter found from the right, the first at the start of a word)."""
    words = before.split()[-min(len(acronym) + 5, len(acronym) * 2):]
    candidate = " ".join(words)
    at = len(candidate) - 1
    letters = [c.lower() for c in acronym if c.isalnum()]
    for position in range(len(letters) - 1, -1, -1):
        letter = letters[position]
        while at >= 0 and (candidate[at].lower() != letter or (
                position == 0 and at > 0 and candidate[at - 1].isalnum())):
            at -= 1
        if at < 0:
            return None
        at -= 1
    start = candidate.rfind(" ", 0, at + 1) + 1
    long_form = candidate[start:]
    # A definition is longer than what it defines: "(SEU)" after "SEU" is no definition.
    return long_form if len(long_form.split()) > 1 or len(long_form) > len(acronym) + 2 else None
