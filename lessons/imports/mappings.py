"""Where each lesson field comes from in a file's columns: guessed, ready-made, or given.

A mapping names, for each target (a lesson field, or `project` and
`business_unit` for the lesson's project), its source:

- a column name: `"title": "Summary"`;
- a template with columns in braces: `"external_id": "LLIS-{Lesson ID}"`,
  `"title": "{company}: {summary|first_sentence}"` (a template whose columns
  are all empty gives nothing, so no lone "LLIS-" appears);
- a list of those, joined: paragraphs for long text, commas for tags.

`defaults` fill targets a row leaves empty (text, or a template of other
columns: a fallback), `values` translate a column's
words into the allowed ones ("To improve" → went_wrong), and `date_format`
reads dates that are not YYYY-MM-DD. Mapping files are this same JSON.
"""

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lessons.errors import ValidationError
from lessons.fields import DEFAULT_CATEGORIES, LESSON_FIELDS
from lessons.imports.tables import cell_text
from lessons.services.lessons import category_choices
from lessons.validation import Invalid, parse_json

READY_FOLDER = Path(__file__).parent / "mappings"
PROJECT_TARGETS = ("project", "business_unit")
TARGETS = tuple(f.name for f in LESSON_FIELDS if f.name != "project_id") + PROJECT_TARGETS
TEXT_TARGETS = {f.name for f in LESSON_FIELDS if f.type == "text"}
PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|(\w+))?\}")
MONEY_SIGNS = re.compile(r"[\s$€£¥]|\b(USD|EUR|GBP|CHF)\b")
HEADLINE = 160  # characters of a title made from a longer text

Source = str | list[str]


@dataclass
class ColumnMap:
    """How to turn one row of a file into a lesson and its project."""

    name: str = "guessed"
    description: str = ""
    fields: dict[str, Source] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    date_format: str | None = None

    def columns(self) -> set[str]:
        """Every column the mapping reads."""
        fallbacks = [value for value in self.defaults.values() if "{" in value]
        return {column for source in [*self.fields.values(), *fallbacks]
                for column in source_columns(source)}

    def missing(self, headers: list[str]) -> list[str]:
        """Columns the mapping reads that the file does not have."""
        return sorted(self.columns() - set(headers))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def apply(self, cells: dict[str, Any]) -> dict[str, Any]:
        """The row as lesson input (with `project` and `business_unit` by name)."""
        return self.finish(self.read_row(cells))

    def read_row(self, cells: dict[str, Any]) -> dict[str, Any]:
        """The row's values as its columns and defaults give them, before `values` translates."""
        data: dict[str, Any] = {}
        for target, source in self.fields.items():
            value = self.read(target, source, cells)
            if value not in (None, ""):
                data[target] = value
        for target, value in self.defaults.items():
            if data.get(target) in (None, ""):
                data[target] = fill(value, cells) if "{" in value else value
        return data

    def finish(self, read: dict[str, Any]) -> dict[str, Any]:
        """`read_row`'s values with the file's words translated, and a title if none."""
        data = dict(read)
        for target in self.values:
            if isinstance(data.get(target), str):
                data[target] = self.translate(target, data[target]) or data[target]
        if "title" not in data and data.get("what_happened"):
            data["title"] = first_sentence(data["what_happened"])  # a file with no title column
        return data

    def translate(self, target: str, word: str) -> str | None:
        """The allowed value `values` maps a file's word to (any letter case), or None."""
        lowered = {k.strip().casefold(): v for k, v in self.values.get(target, {}).items()}
        return lowered.get(word.strip().casefold())

    def sources(self, target: str) -> list[str]:
        """The columns a target is read from (its default's, when no column is chosen)."""
        if target in self.fields:
            return source_columns(self.fields[target])
        default = self.defaults.get(target, "")
        return source_columns(default) if "{" in default else []

    def read(self, target: str, source: Source, cells: dict[str, Any]) -> Any:
        """One target's value from the row's cells."""
        pieces = source if isinstance(source, list) else [source]
        if target == "occurred_on" and len(pieces) == 1 and "{" not in pieces[0]:
            return self.read_date(cells.get(pieces[0]))
        texts = [t for t in (fill(piece, cells) for piece in pieces) if t]
        if target == "impact_cost":
            texts = [MONEY_SIGNS.sub("", t) for t in texts]  # "$1,200" and "1 200 €" are amounts
        joiner = "\n\n" if target in TEXT_TARGETS else ", " if target == "tags" else " "
        return joiner.join(texts)

    def read_date(self, value: Any) -> Any:
        """A date cell: Excel dates and timestamps as dates; text by `date_format` if set."""
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        text = cell_text(value)
        if self.date_format and text:
            try:
                return datetime.strptime(text, self.date_format).date().isoformat()
            except ValueError:
                return text  # validation says what is wrong with it
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ][\d:.]+(Z|[+-][\d:]+)?", text):
            return text[:10]  # an ISO timestamp, as Jira and most APIs write
        return text


def fill(piece: str, cells: dict[str, Any]) -> str:
    """A column's text, or a template filled in ("" when all its columns are empty)."""
    if "{" not in piece:
        return cell_text(cells.get(piece))
    filled_any = False

    def replace(match: re.Match[str]) -> str:
        nonlocal filled_any
        text = cell_text(cells.get(match.group(1)))
        filled_any = filled_any or bool(text)
        return FILTERS[match.group(2)](text) if match.group(2) and text else text

    text = PLACEHOLDER.sub(replace, piece)
    return text.strip() if filled_any else ""


def first_sentence(text: str, limit: int = HEADLINE) -> str:
    """The first sentence of `text`, cut at a word if it runs past `limit` characters."""
    text = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s", text)
    sentence = text[:match.start()] if match else text
    if len(sentence) <= limit:
        return sentence
    return sentence[:sentence.rfind(" ", 0, limit - 1)].rstrip(",;:") + "…"


FILTERS = {"first_sentence": first_sentence}


def source_columns(source: Source) -> list[str]:
    """The columns a source reads."""
    pieces = source if isinstance(source, list) else [source]
    columns: list[str] = []
    for piece in pieces:
        found = [m.group(1) for m in PLACEHOLDER.finditer(piece)] if "{" in piece else [piece]
        columns.extend(found)
    return columns


# Guessing from the headers

# Header words that name each target, most telling first; a column serves one target.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": ("external id", "lesson id", "lesson number", "issue key", "key", "id",
                    "reference", "ref", "number", "item id"),
    "title": ("title", "lesson title", "subject", "headline", "lesson", "name", "summary"),
    "what_happened": ("what happened", "description", "details", "abstract", "observation",
                      "driving event", "event", "situation", "what went wrong", "problem",
                      "issue", "card", "text", "body", "comment", "summary"),
    "root_cause": ("root cause", "root causes", "cause", "causes", "why", "reason",
                   "lessons learned", "lesson learned"),
    "impact": ("impact", "effect", "consequence", "consequences", "impact description"),
    "impact_cost": ("cost impact", "impact cost", "cost", "cost overrun", "extra cost"),
    "impact_days": ("schedule slip", "schedule slip days", "delay", "delay days", "slip days",
                    "days late", "schedule impact"),
    "recommendation": ("recommendation", "recommendations", "what to do",
                       "what should we do differently", "next time", "suggestion",
                       "mitigation", "action", "action items", "actions"),
    "category": ("category", "area", "theme"),
    "phase": ("phase", "project phase", "stage"),
    "kind": ("kind", "lesson type", "type", "column", "went well wrong", "sentiment"),
    "severity": ("severity", "priority", "criticality", "impact level"),
    "tags": ("tags", "labels", "keywords", "topics", "tag", "label"),
    "author": ("author", "submitted by", "reporter", "created by", "raised by", "logged by",
               "owner"),
    "occurred_on": ("date it happened", "date lesson occurred", "occurred on", "date occurred",
                    "occurred", "event date", "incident date", "date", "created", "created date",
                    "created at", "when"),
    "project": ("project", "project name", "project program", "program", "programme",
                "initiative", "board", "retrospective"),
    "business_unit": ("business unit", "department", "organization", "organisation",
                      "division", "unit"),
}


def normalise(header: str) -> str:
    """A header as words: 'Lesson(s) Learned' → 'lessons learned', 'Project / Program' →
    'project program', 'what_happened' → 'what happened', a nested JSON field
    'fields.summary' → 'summary'."""
    header = re.sub(r"\(s\)", "s", header.rsplit(".", 1)[-1].casefold())
    return " ".join(re.sub(r"[\W_]+", " ", header).split())


def own_names() -> dict[str, str]:
    """Lessons' own names for its targets, as words: the field names its CSV export writes
    ('impact_cost', 'visibility') and the labels its forms show ('Who may see it')."""
    names = {normalise(target): target for target in TARGETS}
    for f in LESSON_FIELDS:
        names.setdefault(normalise(f.label), "project" if f.name == "project_id" else f.name)
    return names


# Checked before the synonyms, so a file Lessons exported maps back field for field.
OWN_NAMES = own_names()


def guess(headers: list[str], sample: Sequence[dict[str, Any]] = (),
          categories: Sequence[str] = DEFAULT_CATEGORIES) -> ColumnMap:
    """A mapping from the header names, checked against a sample of the rows.

    Each column goes to the target that names it best ("Summary" is a title
    beside "Description", but what happened when it is the only text); long
    text targets take every column that names them, joined. A column of
    words that are mostly not allowed values (half or more) (an incident list's own
    categories) becomes tags instead of failing every row.
    """
    fields: dict[str, Source] = {}
    for column, target in best_targets(headers):
        if target in TEXT_TARGETS and target in fields:
            fields[target] = [*source_columns(fields[target]), column]
        else:
            fields.setdefault(target, column)
    if "what_happened" not in fields and "title" in fields:
        fields["what_happened"] = fields.pop("title")  # one text: the title is its first sentence
    mapping = ColumnMap(fields=fields)
    for target, choices in allowed_values(categories).items():
        source = fields.get(target)
        if isinstance(source, str) and not mostly(
                sample, source, lambda v: allowed_word(v, choices)):  # noqa: B023  (mostly() calls it at once)
            del fields[target]
            fields.setdefault("tags", source)
    dates = fields.get("occurred_on")
    if isinstance(dates, str):
        mapping.date_format = date_format_of([cell_text(row.get(dates)) for row in sample])
    return mapping


def best_targets(headers: list[str]) -> list[tuple[str, str]]:
    """(column, target) for each column some target names, by the best-named target."""
    pairs = []
    for column in headers:
        words = normalise(column)
        if words in OWN_NAMES:  # ranked before every synonym
            pairs.append(((-1, OWN_NAMES[words]), column))
            continue
        ranks = [(names.index(words), target) for target, names in SYNONYMS.items()
                 if words in names]
        if ranks:
            pairs.append((min(ranks), column))
    # The best-named first, so a single-valued target keeps its best column.
    return [(column, target) for (_, target), column in sorted(pairs, key=lambda p: p[0][0])]


def mostly(sample: Sequence[dict[str, Any]], column: str, test: Callable[[Any], bool]) -> bool:
    """Whether at least half the column's filled cells in the sample pass `test`."""
    values = [row.get(column) for row in sample if cell_text(row.get(column))]
    return not values or sum(map(test, values)) >= 0.5 * len(values)


def allowed_values(categories: Sequence[str] = DEFAULT_CATEGORIES
                   ) -> dict[str, Mapping[str, str]]:
    """Each choice target's allowed values and their labels, categories as configured."""
    return {**{f.name: f.choices for f in LESSON_FIELDS if f.choices},
            **category_choices(categories)}


def allowed_word(value: Any, choices: Mapping[str, str]) -> bool:
    """Whether a cell is an allowed value or its label, in any letter case."""
    text = cell_text(value).strip().casefold()
    return any(text in (key.casefold(), label.casefold()) for key, label in choices.items())


DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%d %b %Y",
                "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%d/%m/%y", "%m/%d/%y")


def date_format_of(texts: list[str]) -> str | None:
    """The format that reads every sampled date, when they are not already YYYY-MM-DD.

    Day first wins when both orders read them all, as in most of the world;
    the mapping shown before importing says which was chosen.
    """
    texts = [t for t in texts if t]
    if not texts or all(re.match(r"\d{4}-\d{2}-\d{2}", t) for t in texts):
        return None
    for form in DATE_FORMATS:
        try:
            for text in texts:
                datetime.strptime(text, form)
        except ValueError:
            continue
        return form
    return None


# Ready mappings and mapping files

def ready_mappings() -> dict[str, ColumnMap]:
    """The mappings shipped with Lessons, by name."""
    return {path.stem: parse_mapping(json.loads(path.read_text()), path.stem)
            for path in sorted(READY_FOLDER.glob("*.json"))}


def load_mapping(name_or_path: str) -> ColumnMap:
    """A ready mapping by name, or a mapping file's."""
    ready = ready_mappings()
    if name_or_path in ready:
        return ready[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ValidationError({"mapping": "No such mapping."},
                              f"No mapping {name_or_path!r}: use one of "
                              f"{', '.join(ready)}, or the path of a mapping file.")
    try:
        document = parse_json(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, Invalid) as error:
        raise ValidationError({"mapping": str(error)},
                              f"The mapping file {path} is not valid JSON: {error}") from None
    return parse_mapping(document, path.stem)


def parse_mapping(document: Any, name: str) -> ColumnMap:
    """A mapping from its JSON form, every part checked."""
    errors = {}
    if not isinstance(document, dict):
        raise ValidationError({"mapping": "Must be an object."}, "The mapping must be an object.")
    known = {"fields", "defaults", "values", "date_format", "name", "description"}
    errors.update({key: "Unknown key." for key in document if key not in known})
    fields = document.get("fields", {})
    defaults = document.get("defaults", {})
    values = document.get("values", {})
    for part, entries in (("fields", fields), ("defaults", defaults), ("values", values)):
        if not isinstance(entries, dict):
            errors[part] = "Must be an object."
            continue
        for target, entry in entries.items():
            if target not in TARGETS:
                errors[f"{part}.{target}"] = "Not a lesson field; use one of: " + ", ".join(TARGETS)
            elif not valid_entry(part, entry):
                errors[f"{part}.{target}"] = ENTRY_RULES[part]
    date_format = document.get("date_format")
    if date_format is not None and not (isinstance(date_format, str) and "%" in date_format):
        errors["date_format"] = "Must be a strptime format such as %d/%m/%Y."
    if errors:
        raise ValidationError(errors, "The mapping is not valid.")
    return ColumnMap(name=document.get("name", name), description=document.get("description", ""),
                     fields=fields, defaults=defaults, values=values, date_format=date_format)


ENTRY_RULES = {
    "fields": "Must be a column name, a template, or a list of them.",
    "defaults": "Must be text.",
    "values": "Must map words in the file to allowed values.",
}


def valid_entry(part: str, entry: Any) -> bool:
    if part == "fields":
        pieces = entry if isinstance(entry, list) else [entry]
        return bool(pieces) and all(isinstance(p, str) and p.strip() for p in pieces)
    if part == "defaults":
        return isinstance(entry, str)
    return isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())
