"""Typed SQLAlchemy models: projects, lessons, their actions, revisions and the change log.

Rows are only written through `lessons.services`. Nothing is hard-deleted:
`deleted_at` marks a soft delete, which a restore clears.

One module per domain; every model is imported here, so `from lessons.models import X`
works for all of them and relationships named by string resolve across modules.
"""

from lessons.models.accounts import ApiToken, User, UserSession
from lessons.models.actions import Action
from lessons.models.audit import AuditEvent
from lessons.models.base import Base, Timestamps, UTCDateTime, iso, utcnow
from lessons.models.briefings import Briefing, BriefingItem, KickoffDecision
from lessons.models.lessons import Lesson, LessonTag, Occurrence, Review, Revision
from lessons.models.notifications import (
    ChatHook,
    Delivery,
    HandledEvent,
    Notification,
    Preference,
    PushCursor,
    SlackAccount,
    SlackRequest,
    Subscription,
    TaskRun,
    Webhook,
)
from lessons.models.projects import Project, ProjectMember, ProjectTag
from lessons.models.runs import ImportRun, ThemeRun
from lessons.models.search import (
    Change,
    DatabaseIdentity,
    PassageBacklog,
    PassageVector,
    SearchLog,
)
from lessons.models.themes import LessonTheme, Theme, ThemeVector, theme_name

__all__ = [
    "Action",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Briefing",
    "BriefingItem",
    "Change",
    "ChatHook",
    "DatabaseIdentity",
    "Delivery",
    "HandledEvent",
    "ImportRun",
    "KickoffDecision",
    "Lesson",
    "LessonTag",
    "LessonTheme",
    "Notification",
    "Occurrence",
    "PassageBacklog",
    "PassageVector",
    "Preference",
    "Project",
    "ProjectMember",
    "ProjectTag",
    "PushCursor",
    "Review",
    "Revision",
    "SearchLog",
    "SlackAccount",
    "SlackRequest",
    "Subscription",
    "TaskRun",
    "Theme",
    "ThemeRun",
    "ThemeVector",
    "Timestamps",
    "UTCDateTime",
    "User",
    "UserSession",
    "Webhook",
    "iso",
    "theme_name",
    "utcnow",
]
