"""Push: lessons reach people where they work.

The dispatcher reads the audit log (every change is audited in its own
transaction, so it is the outbox) and turns what matters into notifications
for the accounts concerned and deliveries for the channels outside: email,
Slack, Teams and webhooks. Periodic work adds reminders, review-backlog
warnings and digests. Every piece is idempotent (unique keys), so the queue
(`web.queue`) may run any of it twice. Depends on `lessons`, `search` and
`insights`, never on `web`.
"""
