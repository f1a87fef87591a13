"""One Event type for GitHub and GitLab deliveries: what handlers read instead of raw JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bot.forge.base import PullRequest


@dataclass(frozen=True)
class Event:
    forge: str  # "github" | "gitlab"
    name: str  # X-GitHub-Event, e.g. "pull_request"; plain str because GitHub adds events
    action: str | None  # payload["action"]; None for push/ping
    delivery_id: str  # X-GitHub-Delivery
    installation_id: int | None = None
    repo: str | None = None  # repository.full_name, "owner/name"
    default_branch: str | None = None
    sender: str | None = None  # sender.login
    sender_is_bot: bool = False
    # Pull request events, reviews, check runs/suites that name one, comments on PRs:
    pull_number: int | None = None
    head_sha: str | None = None  # PR head, check_run/check_suite head_sha, merge_group head_sha
    base_ref: str | None = None
    base_sha: str | None = None  # pull_request.base.sha, merge_group.base_sha
    # The pull request as the delivery describes it (pull_request, pull_request_review): handlers use it
    # instead of asking the API again. None for events that only name a pull request.
    pull: PullRequest | None = field(default=None, repr=False)
    check_name: str | None = None  # check_run.name: a re-run is ours only when it names our check
    merged: bool = False
    merge_commit_sha: str | None = None
    pull_numbers: tuple[int, ...] = ()  # check_run/check_suite.pull_requests numbers
    # Comments (issue_comment.created): the thread number (issue or PR) and the text.
    issue_number: int | None = None
    comment_body: str | None = None
    comment_author: str | None = None
    label: str | None = None  # labeled/unlabeled
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)  # for replay/debug only
