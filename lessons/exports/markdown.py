"""User text in Markdown that wikis and mail clients will not run as HTML or as a script link.

Every Markdown export puts user text through `markdown_text`, and writes a
lesson by `lesson_markdown`, so a lesson reads the same in every export.
"""

import re
from collections.abc import Sequence
from typing import Any

import nh3

from lessons.fields import KINDS, PHASES, SEVERITIES
from lessons.models import Lesson
from lessons.wording import money, plural

# Where user text could open a link: `](target)` (inline links and images) and
# `]: target` (a reference definition). Only http(s) targets are left as they are.
UNSAFE_LINK = re.compile(r"\]([(:])(?!\s*https?://)", re.IGNORECASE)


def markdown_text(value: Any, inline: bool = True) -> str:
    """User text for a Markdown document, with every HTML tag stripped (nh3): most Markdown
    renderers pass HTML through, so a title like `<img onerror=…>` would run in a wiki.
    A link whose target is not http(s) (`[x](javascript:…)`) is broken with a backslash, so
    it shows as the text typed. Inline text is also kept on one line, so it cannot open a
    heading or a list of its own."""
    text = nh3.clean("" if value is None else str(value), tags=set())
    # After nh3, which has decoded entities such as `&#58;`: the target is read as a renderer will.
    text = UNSAFE_LINK.sub(r"]\\\1", text)
    return " ".join(text.split()) if inline else text.strip()


def lesson_markdown(lesson: Lesson, link: str, currency: str, rank: int | None = None,
                    notes: Sequence[str] = ()) -> list[str]:
    """One lesson as a Markdown section, readable away from the app: its id and `link` (an
    absolute http(s) address of its page), its project, severity, category and impact, what
    happened and the recommendation. `notes` (Markdown already made safe, such as a
    briefing's match and decision) are listed after the facts."""
    md = markdown_text
    title = md(lesson.title)
    lines = [f"## {rank}. {title}" if rank is not None else f"## {title}", "",
             f"- Lesson [#{lesson.id}]({link})"
             + (f" · external id {md(lesson.external_id)}" if lesson.external_id else ""),
             f"- Project: {source_project(lesson)}",
             "- " + " · ".join(lesson_facts(lesson))]
    impact = [money(lesson.impact_cost, currency)] if lesson.impact_cost is not None else []
    if lesson.impact_days is not None:
        impact.append(f"{plural(lesson.impact_days, 'day')} of slip")
    if impact:
        lines.append(f"- Impact: {' · '.join(impact)}")
    lines += [f"- {note}" for note in notes]
    lines += ["", f"**What happened:** {md(lesson.what_happened, inline=False)}"]
    if lesson.recommendation:
        lines += ["", f"**Recommendation:** {md(lesson.recommendation, inline=False)}"]
    return lines + [""]


def source_project(lesson: Lesson) -> str:
    """The project a lesson was learned on, as Markdown."""
    if lesson.project is None:
        return "none"
    deleted = " (deleted project)" if lesson.project.is_deleted else ""
    return markdown_text(lesson.project.name) + deleted


def lesson_facts(lesson: Lesson) -> list[str]:
    """Severity, category, kind and phase, the way the lesson page labels them."""
    facts = [f"Severity: {SEVERITIES.get(lesson.severity, lesson.severity)}"]
    if lesson.category:
        facts.append(f"Category: {markdown_text(lesson.category)}")
    facts.append(f"Kind: {KINDS.get(lesson.kind, lesson.kind)}")
    if lesson.phase:
        facts.append(f"Phase: {PHASES.get(lesson.phase, lesson.phase)}")
    return facts
