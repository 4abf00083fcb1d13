"""Small charts for the PMO pages, drawn on the server as inline SVG.

No script and no library: they print, work without JavaScript and keep the strict
Content-Security-Policy (classes and presentation attributes, never a style attribute).
Each chart is one image with a title and a description that reads its numbers out, and
the same numbers are in a table beside it. Text is sized in CSS pixels and never scaled
by a viewBox, and widths are percentages of the container, so a chart stays legible on a
390 px phone instead of shrinking to fit.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

SPARK_BAR, SPARK_GAP, SPARK_HEIGHT = 8, 2, 28  # px: 8 windows make an 80 px sparkline
BAR_ROW, BAR_THICKNESS = 38, 10  # px per bar: a label line, then the bar under it
LABEL_CHARS = 32  # a label and an amount side by side fit 366 px, a phone's content width
COLUMNS_HEIGHT, COLUMN_TOP = 120, 18  # px: the tallest column, room for its number above
LEGEND_ROW = 20  # px: the legend over columns of more than one series
LEGEND_CHAR = 7  # px: a generous width of one character of a label, to space the legend


@dataclass(frozen=True)
class Bar:
    """One bar: what it is, its size, and the figure as people read it ("EUR 18,500")."""

    label: str
    value: float
    shown: str
    tip: str = ""  # the full label, when `label` had to be cut


def svg(uid: str, title: str, desc: str, body: str, width: str, height: int,
        css: str) -> Markup:
    """The chart's frame: an image named by its title and described by its numbers."""
    return Markup(
        f'<svg class="chart {css}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(desc)}</desc>{body}</svg>')


def cut(label: str, chars: int = LABEL_CHARS) -> str:
    """`label` on one line of at most `chars` characters."""
    return label if len(label) <= chars else label[:chars - 1].rstrip() + "…"


def sparkline(uid: str, title: str, counts: Sequence[int], peak: int, spans: Sequence[str],
              bar: int = SPARK_BAR, height: int = SPARK_HEIGHT) -> Markup:
    """Lessons per window, oldest first, on a scale shared with the other sparklines
    (`peak`), so small multiples compare; the latest window is highlighted."""
    peak, step = max(peak, 1), bar + SPARK_GAP
    rects = []
    for i, (count, span) in enumerate(zip(counts, spans, strict=True)):
        tall = max(round(count / peak * height), 2)  # a zero still shows its slot
        css = "bar latest" if i == len(counts) - 1 else "bar" if count else "bar zero"
        rects.append(f'<rect class="{css}" x="{i * step}" y="{height - tall}" width="{bar}" '
                     f'height="{tall}"><title>{escape(span)}: {count}</title></rect>')
    desc = "Oldest first: " + ", ".join(str(c) for c in counts) + "."
    return svg(uid, title, desc, "".join(rects), f"{len(counts) * step - SPARK_GAP}", height,
               "sparkline")


def bars(uid: str, title: str, rows: Sequence[Bar]) -> Markup:
    """Horizontal bars, largest value the full width, each labelled above with its figure at
    the right: labels never sit on the bars, so every bar can be read at any width."""
    peak = max((row.value for row in rows), default=0) or 1
    body = []
    for i, row in enumerate(rows):
        top = i * BAR_ROW
        share = max(row.value, 0) / peak * 100
        tip = f"<title>{escape(row.tip or row.label)}: {escape(row.shown)}</title>"
        body.append(
            f'<g>{tip}<text class="label" x="0" y="{top + 14}">{escape(cut(row.label))}</text>'
            f'<text class="figure" x="100%" y="{top + 14}" text-anchor="end">'
            f'{escape(row.shown)}</text>'
            f'<rect class="track" x="0" y="{top + 20}" width="100%" height="{BAR_THICKNESS}"/>'
            f'<rect class="bar" x="0" y="{top + 20}" width="{share:.2f}%" '
            f'height="{BAR_THICKNESS}"/></g>')
    desc = "; ".join(f"{row.tip or row.label}: {row.shown}" for row in rows) + "."
    return svg(uid, title, desc, "".join(body), "100%", max(len(rows), 1) * BAR_ROW, "bars")


def columns(uid: str, title: str, rows: Sequence[Bar], *more: Sequence[Bar],
            names: Sequence[str] = ()) -> Markup:
    """Vertical columns side by side across the width (months, windows), each with its number
    above and its short label under it. With `more` series (one name each in `names`, the
    first's too), each slot holds a column per series, told apart by a legend on top."""
    series = [rows, *more]
    count, width = max(len(rows), 1), 70 / max(len(rows), 1) / len(series)  # % of the width
    peak = max((bar.value for one in series for bar in one), default=0) or 1
    slot, top = 100 / count, LEGEND_ROW if more else 0
    floor = top + COLUMNS_HEIGHT
    body, tips = [legend(names)] if more else [], []
    for i, group in enumerate(zip(*series, strict=True)):
        first = group[0]
        tips.append(f"{first.tip or first.label}: " + (", ".join(
            f"{name} {bar.shown}" for name, bar in zip(names, group, strict=True))
            if more else first.shown))
        parts = []
        for k, bar in enumerate(group):
            height = round(max(bar.value, 0) / peak * (COLUMNS_HEIGHT - COLUMN_TOP))
            left = i * slot + slot * 0.15 + k * width
            parts.append(f'<rect class="bar series-{k}" x="{left:.3f}%" y="{floor - height}" '
                         f'width="{width:.3f}%" height="{height}"/>')
            if bar.value:
                parts.append(f'<text class="figure" x="{left + width / 2:.3f}%" '
                             f'y="{floor - height - 4}" text-anchor="middle">'
                             f'{escape(bar.shown)}</text>')
        body.append(
            f'<g><title>{escape(tips[-1])}</title>{"".join(parts)}'
            f'<text class="label" x="{(i + 0.5) * slot:.3f}%" y="{floor + 14}" '
            f'text-anchor="middle">{escape(first.label)}</text></g>')
    body.append(f'<line class="axis" x1="0" x2="100%" y1="{floor + 0.5}" y2="{floor + 0.5}"/>')
    return svg(uid, title, "; ".join(tips) + ".", "".join(body), "100%", floor + 20, "columns")


def legend(names: Sequence[str]) -> str:
    """A row of swatches naming the series, one after the other from the left (spread over
    the width, two names read as labels of the two halves)."""
    parts, x = [], 0
    for k, name in enumerate(names):
        parts.append(f'<rect class="bar series-{k}" x="{x}" y="3" width="10" height="10"/>'
                     f'<text class="label" x="{x + 14}" y="12">'
                     f'{escape(name[:1].upper() + name[1:])}</text>')
        x += 14 + LEGEND_CHAR * len(name) + 16
    return "".join(parts)
