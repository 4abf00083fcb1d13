"""Email: one notification at once, or a digest; SMTP, multipart, one-click unsubscribe.

(Being written: the contract the dispatcher and the sender rely on is below.)
"""

from sqlalchemy.orm import Session

from lessons.models import Delivery, Notification, User
from push.config import PushSettings


def queue_email(session: Session, settings: PushSettings, user: User,
                notification: Notification) -> Delivery | None:
    """If email is on and `user` wants it immediately, write the email delivery for this
    notification (and link it: `notification.delivery_id`); else None."""
    return None


def send(delivery: Delivery, settings: PushSettings) -> None:
    """Send an email delivery over SMTP; raise on failure."""
    raise NotImplementedError


def queue_digests(session: Session, settings: PushSettings, now: object) -> int:
    """Write the daily and weekly digest emails that are due; how many."""
    return 0
