"""Accounts: users and their roles, passwords, server-side sessions and API tokens.

Passwords are hashed with scrypt (Werkzeug's default). Sessions and tokens
are random secrets handed out once; only their SHA-256 is stored, so a
leaked database reveals neither. Ending a session deletes its row, which is
what makes signing out (and "a password change signs out everywhere else")
real on the server, whatever the browser keeps.

Every account change is audited here, by the `actor` given, in the change's own
transaction: the admin pages, the account page and the command line all pass one.
"""

import functools
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from lessons.actor import Actor
from lessons.errors import Conflict, NotFound, ValidationError
from lessons.fields import Field
from lessons.models import ApiToken, AuditEvent, User, UserSession, utcnow
from lessons.services import audit
from lessons.services.common import find_row
from lessons.validation import clean

ROLES = {"contributor": "Contributor", "pmo": "PMO", "admin": "Admin"}
SCOPES = {"read": "Read", "write": "Read and write"}
MIN_PASSWORD = 10
DISABLE_OWN = "You cannot disable your own account; another admin can."
SESSION_IDLE = timedelta(days=14)  # a session unused this long has ended
SEEN_EVERY = timedelta(minutes=5)  # how often a session's last use is written
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# An account's free text, checked like every other input: too long is refused, not cut.
PROFILE_FIELDS = (Field("name", "Name", "string", max_length=200),
                  Field("business_unit", "Business unit", "string", max_length=200))


@dataclass(frozen=True)
class Account:
    """Who a request acts as: a plain copy of the account, safe to keep past any session."""

    id: int
    email: str
    role: str
    name: str | None
    business_unit: str | None
    must_change_password: bool
    token_scope: str | None = None  # when an API token signed the request

    @classmethod
    def of(cls, user: User, token_scope: str | None = None) -> "Account":
        return cls(user.id, user.email, user.role, user.name, user.business_unit,
                   user.must_change_password, token_scope)

    @property
    def label(self) -> str:
        return self.name or self.email


def create_user(session: Session, email: str, role: str, password: str, *,
                actor: Actor | str, name: str | None = None,
                business_unit: str | None = None, must_change_password: bool = False) -> User:
    """A new account, audited as `actor`'s; the email is its sign-in name, unique whatever its
    letter case."""
    email = normal_email(email)
    errors = {}
    if not EMAIL.fullmatch(email) or len(email) > 254:
        errors["email"] = "Must be an email address."
    elif session.scalar(select(User.id).where(User.email == email)) is not None:
        errors["email"] = "An account with this email exists already."
    if role not in ROLES:
        errors["role"] = "Must be one of: " + ", ".join(ROLES) + "."
    if problem := password_problem(password):
        errors["password"] = problem
    try:
        profile = clean_profile({"name": name, "business_unit": business_unit})
    except ValidationError as error:
        errors.update(error.fields)
    if errors:
        raise ValidationError(errors)
    user = User(email=email, role=role, **profile, password_hash=generate_password_hash(password),
                must_change_password=must_change_password)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user_create", user.email, role=user.role)
    return user


def normal_email(email: str) -> str:
    return email.strip().lower()


def password_problem(password: str) -> str | None:
    """Why a new password is refused, if it is."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        return f"At least {MIN_PASSWORD} characters."
    if len(password) > 500:
        return "At most 500 characters."
    return None


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def get_user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None:
        raise NotFound("user", email)
    return user


@functools.cache
def unknown_user_hash() -> str:
    """Checked against when the email is unknown, so a wrong email costs as long as a wrong
    password. Made on first use: scrypt at import cost every `lessons` command 0.1 s."""
    return generate_password_hash(secrets.token_hex(16))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The enabled account with this email and password, or None."""
    user = session.scalar(select(User).where(User.email == normal_email(email or "")))
    hashed = user.password_hash if user else unknown_user_hash()
    if not check_password_hash(hashed, password or "") or user is None or user.disabled_at:
        return None
    user.last_login_at = utcnow()
    return user


def change_password(session: Session, user: User, current: str, new: str,
                    keep_session: str | None, *, actor: Actor | str) -> None:
    """Set a new password; every other session of the account ends. A wrong current password
    is audited as a failure before the refusal, which the caller commits even so: counted
    like failed sign-ins (`password_change_refused`), a stolen session cannot guess on."""
    errors = {}
    if not check_password_hash(user.password_hash, current or ""):
        errors["current_password"] = "This is not your current password."
        audit.record(session, actor, PASSWORD_FAILED)
    if problem := password_problem(new):
        errors["new_password"] = problem
    elif new == current:
        errors["new_password"] = "Choose a password different from the current one."
    if errors:
        raise ValidationError(errors)
    user.password_hash = generate_password_hash(new)
    user.must_change_password = False
    end_sessions(session, user, keep=keep_session)
    audit.record(session, actor, "password_change")


def password_change_refused(session: Session, user: User) -> bool:
    """Whether too many wrong current passwords were given for `user` lately; waiting helps."""
    return audit.failures(session, PASSWORD_FAILED, FAILURE_WINDOW,
                          email=user.email) >= MAX_FAILURES


def disable_user(session: Session, user: User, *, actor: Actor) -> None:
    """The account can no longer sign in or use its tokens; its sessions end now. The
    actor's own account may not be the one disabled (an Actor, not a bare name: the rule
    needs its account)."""
    if actor.user_id == user.id:
        raise Conflict(DISABLE_OWN)
    check_not_last_admin(session, user)
    user.disabled_at = user.disabled_at or utcnow()
    end_sessions(session, user)
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id,
                                           ApiToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    audit.record(session, actor, "user_disable", user.email)


def enable_user(session: Session, user: User, *, actor: Actor | str) -> bool:
    """Let a disabled account sign in again (its revoked tokens stay revoked); whether it
    was disabled. Enabling an enabled account is no event."""
    was_disabled = user.disabled_at is not None
    user.disabled_at = None
    if was_disabled:
        audit.record(session, actor, "user_enable", user.email)
    return was_disabled


def update_user(session: Session, user: User, data: Mapping[str, Any], *,
                actor: Actor | str) -> dict[str, list[Any]]:
    """Change an account's role, name or business unit, from the untrusted `data` (keys left
    out stay as they are); what changed, as {field: [before, after]}. Saving without a
    change is no event."""
    wanted: dict[str, Any] = {}
    if "role" in data:
        if data["role"] not in ROLES:
            raise ValidationError({"role": "Must be one of: " + ", ".join(ROLES) + "."})
        wanted["role"] = data["role"]
    wanted.update(clean_profile(data))
    changes: dict[str, Any] = {key: [getattr(user, key), value] for key, value in wanted.items()
                               if getattr(user, key) != value}
    if "role" in changes and user.role == "admin":
        check_not_last_admin(session, user)
    for key, (_, value) in changes.items():
        setattr(user, key, value)
    if changes:
        audit.record(session, actor, "user_update", user.email, **changes)
    return changes


def clean_profile(data: Mapping[str, Any]) -> dict[str, str | None]:
    """The name and business unit given in `data`, trimmed (empty is None); refused with a
    message naming each bad one, since the command line shows only the message."""
    given = {field.name: data[field.name] for field in PROFILE_FIELDS if field.name in data}
    try:
        return clean(PROFILE_FIELDS, given, partial=True)
    except ValidationError as error:
        labels = {field.name: field.label for field in PROFILE_FIELDS}
        raise ValidationError(error.fields, " ".join(
            f"{labels[key]}: {message}" for key, message in error.fields.items())) from None


def reset_password(session: Session, user: User, *, actor: Actor | str) -> str:
    """A new one-time password for `user`, to be changed at the next sign-in; every session
    of the account ends, since whoever had the old password may be signed in with it."""
    password = secrets.token_urlsafe(12)
    user.password_hash = generate_password_hash(password)
    user.must_change_password = True
    end_sessions(session, user)
    audit.record(session, actor, "password_reset", user.email)
    return password


def check_not_last_admin(session: Session, user: User) -> None:
    """Conflict if `user` is the only enabled admin: demoted or disabled, nobody could
    manage accounts any more. The enabled admins' rows are locked (on PostgreSQL) so that
    two admins demoting each other at once cannot both pass."""
    if user.role != "admin" or user.disabled_at is not None:
        return
    admins = session.scalars(select(User.id).where(User.role == "admin",
                                                   User.disabled_at.is_(None))
                             .with_for_update()).all()
    if list(admins) == [user.id]:
        raise Conflict("This is the last enabled admin; make another admin first.")


# The sign-in throttle

MAX_FAILURES = 5  # failed sign-ins for one email within FAILURE_WINDOW
MAX_FAILURES_FROM_ADDRESS = 30  # ...or from one address (an office behind one address shares it)
FAILURE_WINDOW = timedelta(minutes=15)
FAILED = "sign_in_failed"
PASSWORD_FAILED = "password_change_failed"  # a wrong current password, limited the same way


def note_sign_in_attempt(session: Session, email: str, ip: str | None) -> AuditEvent:
    """Count a sign-in as failed before its password is checked; the caller commits at once.

    Counting after the check let parallel guesses all read the count before any of them
    was written: 20 at once got 9 evaluated against a limit of 5. Written and committed
    first, every attempt is seen by each one that counts after it, so at most the limit
    are ever evaluated (`sign_in_refused`). A success turns its row into the sign-in.
    """
    attempt = AuditEvent(actor=(email or "(no email)")[:254], action=FAILED, ip=ip)
    session.add(attempt)
    session.flush()
    return attempt


def sign_in_refused(session: Session, attempt: AuditEvent) -> bool:
    """Whether too many attempts for the email, or from the address, come before this one's
    evaluation (its own row counted); a refused attempt is forgotten, so waiting helps."""
    since = utcnow() - FAILURE_WINDOW
    recent = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == FAILED, AuditEvent.at >= since)
    refused = ((session.scalar(recent.where(AuditEvent.actor == attempt.actor)) or 0)
               > MAX_FAILURES
               or (attempt.ip is not None and (session.scalar(recent.where(
                   AuditEvent.ip == attempt.ip)) or 0) > MAX_FAILURES_FROM_ADDRESS))
    if refused:
        session.delete(attempt)
    return refused


def sign_in_succeeded(attempt: AuditEvent, user: User) -> None:
    """The attempt was the right password: audited as the sign-in, no longer a failure."""
    attempt.action, attempt.actor = "sign_in", user.email


# Sessions

def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start_session(session: Session, user: User) -> str:
    """A new session for `user`; its secret, for the browser's cookie."""
    secret = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=secret_hash(secret), user_id=user.id))
    return secret


def session_user(session: Session, secret: str | None) -> User | None:
    """The enabled account a session secret belongs to, while the session lasts."""
    if not secret:
        return None
    row = session.scalar(select(UserSession).where(UserSession.token_hash == secret_hash(secret)))
    if row is None or row.user.disabled_at is not None:
        return None
    now = utcnow()
    if now - row.last_seen_at > SESSION_IDLE:
        session.delete(row)
        return None
    if now - row.last_seen_at > SEEN_EVERY:
        row.last_seen_at = now
    return row.user


def end_session(session: Session, secret: str | None) -> None:
    """Sign one browser out, on the server."""
    if secret:
        session.execute(delete(UserSession).where(UserSession.token_hash == secret_hash(secret)))


def sign_out_session(session: Session, secret: str | None, *, actor: Actor | str) -> None:
    """End the session with this secret, audited as `actor`'s (its account's) sign-out."""
    end_session(session, secret)
    audit.record(session, actor, "sign_out")


def end_sessions(session: Session, user: User, keep: str | None = None) -> None:
    """End every session of `user` but the one whose secret is `keep`."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep:
        query = query.where(UserSession.token_hash != secret_hash(keep))
    session.execute(query)


# API tokens

def create_token(session: Session, user: User, scope: str, name: str | None = None, *,
                 actor: Actor | str) -> tuple[ApiToken, str]:
    """A new API token and its secret, which is shown this once and never stored; audited as
    `actor`'s."""
    if scope not in SCOPES:
        raise ValidationError({"scope": "Must be read or write."})
    if user.disabled_at:
        raise Conflict(f"{user.email} is disabled.")
    secret = "lsn_" + secrets.token_urlsafe(32)
    token = ApiToken(token_hash=secret_hash(secret), user_id=user.id, scope=scope,
                     name=(name or "").strip()[:200] or None)
    session.add(token)
    session.flush()
    audit.record(session, actor, "token_create", f"token {token.id}", scope=token.scope)
    return token, secret


def token_owner(session: Session, secret: str) -> ApiToken | None:
    """The live token with this secret, whose account is enabled, or None."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == secret_hash(secret)))
    if token is None or token.revoked_at or token.user.disabled_at:
        return None
    if token.last_used_at is None or utcnow() - token.last_used_at > SEEN_EVERY:
        token.last_used_at = utcnow()
    return token


def user_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id.desc())))


def revoke_token(session: Session, user: User | None, token_id: int, *,
                 actor: Actor | str) -> ApiToken:
    """Revoke one of `user`'s tokens (an admin may revoke anyone's, and so may the command
    line, which passes no user); each revocation asked for is audited, even a repeat."""
    token = find_row(session, ApiToken, token_id)
    if token is None or (user is not None and token.user_id != user.id
                         and user.role != "admin"):
        raise NotFound("token", token_id)
    token.revoked_at = token.revoked_at or utcnow()
    audit.record(session, actor, "token_revoke", f"token {token_id}")
    return token
