"""Errors that domain and service code raise; the web layer maps them to HTTP statuses.

Pure Python: domain modules may import this without pulling in Flask or SQLAlchemy.
"""

from __future__ import annotations


class NuanliuError(Exception):
    status = 400

    def __init__(self, message: str, field: str | None = None, location: str = "json") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Where the field was sent, as in flask-smorest's errors: json, query, headers or files.
        self.location = location


class InvalidInput(NuanliuError):
    """Input that passed the schema but breaks a field rule (e.g. an unknown parent org): 422."""

    status = 422


class Conflict(NuanliuError):
    """A rule or state conflict: wrong stage, already decided, task full: 409."""

    status = 409


class PreconditionFailed(NuanliuError):
    """A conditional request whose precondition (If-Match) no longer holds: 412."""

    status = 412


class PreconditionRequired(NuanliuError):
    """A change that must be conditional (If-Match) came without its condition: 428."""

    status = 428


class NotFound(NuanliuError):
    status = 404


class Forbidden(NuanliuError):
    status = 403


class Unauthorized(NuanliuError):
    status = 401


class Unavailable(NuanliuError):
    """A dependency (database, broker, Temporal, another service) is down: 503."""

    status = 503
