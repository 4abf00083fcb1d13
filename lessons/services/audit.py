"""The audit log: sign-ins (failed ones too), sign-outs, edits, deletes, visibility changes,
exports and account changes, with who, when and from where. Admins read it."""

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lessons.models import AuditEvent, utcnow
from lessons.queries import Page
from lessons.services.common import paginate


def record(session: Session, actor: str, action: str, target: str | None = None,
           ip: str | None = None, **detail: Any) -> None:
    """Append one event, in the caller's transaction."""
    session.add(AuditEvent(actor=actor[:254], action=action, target=(target or None) and target[:500],
                           ip=ip, detail=detail or None))


def failures(session: Session, action: str, within: timedelta, *, email: str | None = None,
             ip: str | None = None) -> int:
    """Events `action` (a failed sign-in, say) in the last `within`, for this email or from
    this address."""
    who = AuditEvent.actor == email[:254] if email is not None else AuditEvent.ip == ip
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.at >= utcnow() - within, who)) or 0


def events(session: Session, page: int, per_page: int = 100) -> Page[AuditEvent]:
    """The newest events first."""
    return paginate(session, select(AuditEvent).order_by(AuditEvent.id.desc()), page, per_page)
