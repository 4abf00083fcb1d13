"""What push needs from the app's settings, as one value the worker and the web share."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PushSettings:
    """The app's push settings (web.config documents each `LESSONS_*` name)."""

    base_url: str  # links in messages are absolute: https://lessons.example.org
    secret_key: str  # signs unsubscribe links
    smtp_url: str = ""  # empty: email is off
    mail_from: str = "lessons@localhost"
    review_sla_days: int = 5
    retry_seconds: float = 30.0  # the first wait after a failed delivery; doubled each time
    send_timeout: float = 30.0  # a delivery attempt's network timeout, in seconds
    allow_private: bool = False  # webhooks and chat hooks to loopback or private addresses
    model: str = "all-MiniLM-L6-v2"  # the embedding model followed searches are matched with

    @property
    def email_on(self) -> bool:
        return bool(self.smtp_url)

    def link(self, path: str) -> str:
        """An absolute link to a path of the app."""
        return f"{self.base_url.rstrip('/')}{path}"
