"""One small exception hierarchy, mapped from HTTP status codes in one place (the adapters)."""
from __future__ import annotations


class ForgeError(Exception):
    """The forge failed us. Subclasses tell the queue whether a retry can help."""


class TransientError(ForgeError):
    """5xx, timeouts, connection errors, rate limits: retry later (after retry_after seconds if known)."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """403/429 primary or secondary rate limit; retry_after from Retry-After or x-ratelimit-reset."""


class NotFound(ForgeError):
    """404: the object does not exist, or the app cannot see it."""


class PermissionDenied(ForgeError):
    """403 that is not a rate limit: the app lacks a permission; the message names it when GitHub says."""


class Conflict(ForgeError):
    """409, or 422 for a stale sha: someone else wrote first; re-read and try again."""


class AlreadyExists(ForgeError):
    """422 "Reference already exists" and friends."""


class TeamNotFound(NotFound):
    def __init__(self, team: str, message: str = ""):
        super().__init__(message or f"team {team} does not exist or the app cannot see it")
        self.team = team
