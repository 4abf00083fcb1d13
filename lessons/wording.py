"""Numbers and text as people read them: an amount with its currency, a count with the
right noun, how long a review has waited, a text cut to one line.

Pages, the PMO report, every export and every message write figures through these, so
"EUR 18,500", "1 kickoff briefing" and "waiting 3 days" read the same everywhere.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

CURRENCY_CODE = re.compile(r"[A-Z]{3}")  # ISO 4217: three capital letters


def money(amount: Any, currency: str, whole: bool = False) -> str:
    """`amount` with its ISO currency code in front ("EUR 18,500"): cents only when it has
    some, and never with `whole` (sums, where cents are noise). None is an empty string."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    # The code, not a symbol: "$" is also CAD, AUD and a dozen others, and a code needs no
    # locale tables. A no-break space keeps it on the figure's line.
    if whole or value == value.to_integral_value():
        return f"{currency}\u00a0{value:,.0f}"
    return f"{currency}\u00a0{value:,.2f}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`count` and the noun that agrees with it: "1 kickoff briefing", "2 kickoff briefings"."""
    noun = singular if count == 1 else plural_form or f"{singular}s"
    return f"{count:,} {noun}"


def days_waiting(since: datetime | None) -> str:
    """How long one lesson has waited for review since `since` (aware, UTC), in whole days:
    "waiting 3 days"."""
    if since is None:
        return "waiting"
    days = (datetime.now(UTC) - since).days
    return "waiting since today" if days < 1 else f"waiting {plural(days, 'day')}"


def longest_wait(days: int | None) -> str:
    """How long the oldest lesson awaiting review has waited, from its count of whole days,
    in words that stay true at 0: "the longest for 3 days"."""
    if days is None:
        return ""
    return "all submitted today" if days == 0 else f"the longest for {plural(days, 'day')}"


def one_line(text: str, most: int) -> str:
    """`text` on one line, its whitespace collapsed, cut to `most` characters with an
    ellipsis: a subject line, a list item, a message's heading."""
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[:most - 1] + "…"
