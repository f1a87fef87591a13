"""One Event type for GitHub and GitLab deliveries: what handlers read instead of raw JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bot.model import PullRequest

# Neutral kinds (INTERFACES.md §5): what happened, on any forge. Each intake maps its own events onto them
# (bot.routing.EVENT_KINDS); handlers register on them. Raw GitHub names keep working for GitHub-only
# handlers (installation, merge_group, branch_protection_rule ...).
PULL_CHANGED = "pull.changed"  # opened, new commits, reopened, edited (title, labels, target), ready for review
PULL_REVIEWED = "pull.reviewed"  # a review / an approval given, changed or taken back
PULL_RECHECK = "pull.recheck"  # re-evaluate from scratch and write even unchanged results (Re-run, /recheck)
PULL_MERGED = "pull.merged"
PULL_CLOSED = "pull.closed"  # closed without merging
COMMENT = "comment"  # a comment / note on a pull request (or, on GitHub, an issue): commands such as /rollback
PUSH = "push"  # commits pushed to a branch (base_ref), new tip head_sha
KINDS = (PULL_CHANGED, PULL_REVIEWED, PULL_RECHECK, PULL_MERGED, PULL_CLOSED, COMMENT, PUSH)


@dataclass(frozen=True)
class Event:
    forge: str  # "github" | "gitlab"
    name: str  # X-GitHub-Event ("pull_request") or X-Gitlab-Event ("Merge Request Hook"); plain str: forges add events
    action: str | None  # payload["action"] (GitLab: object_attributes.action); None for push/ping
    delivery_id: str  # X-GitHub-Delivery; GitLab: Idempotency-Key, else X-Gitlab-Event-UUID
    installation_id: int | None = None  # GitHub App installation; GitLab has none (one token)
    repo: str | None = None  # repository path: "owner/name", GitLab path_with_namespace "group/sub/project"
    default_branch: str | None = None
    sender: str | None = None  # sender.login / user.username
    sender_is_bot: bool = False
    # Pull request events, reviews, check runs/suites that name one, comments on PRs:
    pull_number: int | None = None  # PR number; GitLab MR iid
    head_sha: str | None = None  # PR head, check_run/check_suite head_sha, merge_group head_sha, push "after"
    base_ref: str | None = None  # PR base / MR target branch; push: the branch pushed to
    base_sha: str | None = None  # pull_request.base.sha, merge_group.base_sha
    # The pull request as the delivery describes it (pull_request, pull_request_review): handlers use it
    # instead of asking the API again. None for events that only name a pull request (and on GitLab, whose
    # hooks lack the diff's base sha: handlers read the MR).
    pull: PullRequest | None = field(default=None, repr=False)
    check_name: str | None = None  # check_run.name: a re-run is ours only when it names our check
    merged: bool = False
    merge_commit_sha: str | None = None  # GitLab: the merge commit, else the squash commit (fast-forward squash)
    pull_numbers: tuple[int, ...] = ()  # check_run/check_suite.pull_requests numbers
    # Comments (issue_comment.created, GitLab Note Hook): the thread number (issue or PR) and the text.
    issue_number: int | None = None
    comment_body: str | None = None
    comment_author: str | None = None
    comment_id: int | None = None  # the comment's (GitLab: note's) id: the same on every delivery of that comment
    label: str | None = None  # labeled/unlabeled
    # Push: paths the pushed commits added, modified or removed (GitHub and GitLab list them per commit; a
    # push of more than 20 commits (GitHub) or 20 (GitLab's limit) may list fewer: paths_truncated then).
    pushed_paths: frozenset[str] = frozenset()
    paths_truncated: bool = False
    # The neutral kind (see KINDS) and the account the forge adapter acts for: the installation id on GitHub,
    # None on GitLab (one token). kind is derived from (name, action) when not given on GitHub (bot.routing.kind_of).
    kind: str | None = None
    account: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)  # for replay/debug only

    def __post_init__(self) -> None:
        if self.kind is None and self.forge == "github":  # GitLab's parser sets kind itself (None: unhandled)
            from bot.routing import kind_of

            object.__setattr__(self, "kind", kind_of(self.name, self.action, merged=self.merged))
        if self.account is None and self.installation_id is not None:
            object.__setattr__(self, "account", self.installation_id)
