"""Notifications in the app: the bell, the list, following things, and how each channel tells."""

from flask import Blueprint

bp = Blueprint("notifications", __name__)
