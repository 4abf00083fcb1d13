"""Links in emails: the signed one-click unsubscribe."""

from flask import Blueprint

bp = Blueprint("mail", __name__)
