"""Who makes a change: the name recorded on revisions and in the audit log, the account
behind it and the address it came from. The web builds one per request (web.identity), the
CLI one for its operator (web.cli.common), and a background run gets its starter's."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """One person or process making changes: `name` is what revisions and the audit log show
    (an account's email, "cli", "system"), `user_id` its account if any, `ip` where from."""

    name: str
    user_id: int | None = None
    ip: str | None = None


SYSTEM = Actor("system")  # a change no person asked for: demo data, scripts, tests


def as_actor(who: Actor | str) -> Actor:
    """`who` as an Actor; a bare name (scripts, benches and tests pass one) has no account or
    address."""
    return who if isinstance(who, Actor) else Actor(who)
