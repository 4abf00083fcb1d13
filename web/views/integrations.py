"""Admin: Slack and Teams hooks, outbound webhooks, deliveries; and Slack's /lesson command."""

from flask import Blueprint

bp = Blueprint("integrations", __name__)
