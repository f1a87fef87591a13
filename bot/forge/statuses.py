"""A CheckResult as a commit status (GitLab; the shape Gitea and Bitbucket share): one state, a short
description and a link. Shared by GitLabForge and tests/fakeforge.py so both write and compare alike."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from bot.core.checks import CheckResult

# GitLab keeps a status description in a 255-character column and answers 400 past it.
# https://docs.gitlab.com/ee/api/commits.html#set-the-pipeline-status-of-a-commit
DESCRIPTION_LIMIT = 255
# https://docs.gitlab.com/ee/api/commits.html#set-the-pipeline-status-of-a-commit: state is one of
# pending, running, success, failed, canceled
_STATES = {"success": "success", "pending": "pending", "failure": "failed", "action_required": "failed",
           "neutral": "success", "skipped": "success", "in_progress": "running", "running": "running"}
# GitLab's status state machine refuses a transition to the state a status is in for these ("Cannot transition
# status via :enqueue from :pending"); a finished status (success, failed) is replaced by a new one instead.
WAITING_STATES = frozenset({"pending", "running"})


@dataclass(frozen=True)
class CommitStatus:
    state: str  # pending | running | success | failed
    description: str
    target_url: str | None


def commit_status(result: CheckResult) -> CommitStatus:
    description = result.title if len(result.title) <= DESCRIPTION_LIMIT else result.title[:DESCRIPTION_LIMIT - 1] + "…"
    return CommitStatus(_STATES.get(result.conclusion.value, "failed"), description, result.details_url)


def status_digest(status: CommitStatus) -> str:
    """What publish compares (Forge.check_digest): while waiting only the state and link count, so a changed
    reason that keeps the status pending is not written as a refused pending -> pending transition."""
    shown = {"state": status.state, "target_url": status.target_url or ""}
    if status.state not in WAITING_STATES:
        shown["description"] = status.description
    return "rcs1-" + hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:40]
