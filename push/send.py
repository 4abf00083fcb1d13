"""Sending deliveries: claim one, hand it to its channel, record how it went.

A delivery is claimed for a lease in its own committed transaction, so two
workers never send the same one, and a worker killed mid-send leaves a claim
that lapses and is tried again; a sender whose lease lapsed mid-send cannot
record its outcome over the new claim's. An email its reader no longer wants
(email turned off, a lesson they may no longer see) is cancelled, not sent.
A channel's sender raises on failure; the delivery then waits (exponential
backoff) and is tried again until it gives up after a day, when it shows on
the admin page with its error and a Retry button.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from lessons.models import Delivery, utcnow
from lessons.services.notifications import (
    cancel,
    claim,
    due_deliveries,
    mark_failed,
    mark_sent,
    next_due,
)
from push import chat, email, webhooks
from push.config import PushSettings

log = logging.getLogger(__name__)

Sender = Callable[[Delivery, PushSettings], None]
SENDERS: dict[str, Sender] = {"email": email.send, "slack": chat.post, "teams": chat.post,
                              "webhook": webhooks.post}


def lease(settings: PushSettings) -> timedelta:
    """How long a claim holds: longer than any one send may take (a send is a few network
    steps, each within the timeout)."""
    return timedelta(seconds=3 * settings.send_timeout)


def send_one(sessions: sessionmaker[Session], settings: PushSettings, delivery_id: int) -> bool:
    """Try one delivery if it is due and free; whether it went out."""
    with sessions() as session:
        delivery = claim(session, delivery_id, utcnow(), lease(settings))
        if delivery is None:
            return False
        if delivery.channel == "email" and (reason := email.unwanted(session, delivery)):
            cancel(session, delivery, reason)
            return False
        try:
            SENDERS[delivery.channel](delivery, settings)
        except Exception as error:  # the receiver's fault or the network's: tried again
            log.warning("Delivery %s (%s) failed: %s", delivery.id, delivery.channel, error)
            gave_up = mark_failed(session, delivery, f"{type(error).__name__}: {error}",
                                  settings.retry_seconds)
            if gave_up and delivery.channel == "webhook":
                webhooks.mark_failing(session, delivery.hook_id)
            return False
        mark_sent(session, delivery)
        return True


def send_due(sessions: sessionmaker[Session], settings: PushSettings) -> int:
    """Send every delivery that is due now, one after the other; how many went out."""
    sent = 0
    while True:
        with sessions() as session:
            due = due_deliveries(session, utcnow())
        tried = [send_one(sessions, settings, delivery_id) for delivery_id in due]
        sent += sum(tried)
        if not any(tried):  # nothing due, or all failed or were taken: wait for the next
            return sent


def seconds_to_next(sessions: sessionmaker[Session]) -> float | None:
    """How long until the next delivery falls due (a retry, or a dead sender's claim
    lapsing), if any will."""
    with sessions() as session:
        upcoming = next_due(session)
    return None if upcoming is None else max((upcoming - utcnow()).total_seconds(), 0.0)
