"""The Forge protocol: the only surface handlers use to read and write GitHub (and later GitLab).

Values in and out are plain frozen dataclasses; raw JSON never leaves the adapters. Reads of
immutable content (a file at a commit sha, a tag object) may be cached forever by an adapter; who/policy
facts (team members, permissions, files on a default branch) for a short while (GitHubForge: 60 s).
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

from bot.core.checks import CheckResult


class ReviewState(enum.Enum):
    APPROVED = "APPROVED"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    COMMENTED = "COMMENTED"
    DISMISSED = "DISMISSED"
    PENDING = "PENDING"


@dataclass(frozen=True)
class PullRequest:
    repo: str
    number: int
    title: str
    author: str
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    state: str  # "open" | "closed"
    merged: bool = False
    merge_commit_sha: str | None = None
    draft: bool = False
    labels: frozenset[str] = frozenset()
    requested_teams: frozenset[str] = frozenset()  # "@org/slug"
    requested_users: frozenset[str] = frozenset()
    html_url: str = ""
    body: str = ""


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | modified | removed | renamed | copied | changed | unchanged
    previous_path: str | None = None  # set for renames: both paths count (SPEC §5)


@dataclass(frozen=True)
class Review:
    id: int
    user: str
    state: ReviewState
    commit_id: str | None  # the head sha the reviewer saw; None when GitHub lost it (force-push)
    submitted_at: dt.datetime | None
    user_is_bot: bool = False


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    author: str | None = None  # login when GitHub knows it
    html_url: str = ""


@dataclass(frozen=True)
class Comparison:
    """GET /repos/{o}/{r}/compare/{base}...{head}: commits in head not in base, and files changed."""

    base: str
    head: str
    status: str  # ahead | behind | identical | diverged
    commits: tuple[Commit, ...]
    files: tuple[ChangedFile, ...]


@dataclass(frozen=True)
class FileContent:
    content: bytes
    sha: str  # blob sha, needed to update the file


@dataclass(frozen=True)
class FileRef:
    """A file to read: at a ref (a commit sha is cached for good), or at the repository's default branch (None)."""

    repo: str
    path: str
    ref: str | None = None


@dataclass(frozen=True)
class Tag:
    name: str
    commit_sha: str  # the commit it points to, peeled through annotated tag objects
    message: str | None = None  # annotated tags only
    tag_sha: str | None = None  # the tag object sha (annotated tags only)


@dataclass(frozen=True)
class Release:
    tag: str
    name: str
    body: str
    html_url: str = ""


@dataclass(frozen=True)
class ExistingCheck:
    id: int
    digest: str | None  # result_digest() of what we last wrote (GitHub's external_id); None if not ours


class Permission(enum.IntEnum):
    # https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user
    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


@dataclass(frozen=True)
class TeamInfo:
    """A team as the approvals evaluation needs it: who is in it and what the team grants on one repository."""

    members: frozenset[str]  # logins, child teams' members included
    repo_permission: Permission  # what the team (or a parent team) grants on the repository asked about


class Forge(Protocol):
    """What handlers need from a forge. repo is always "owner/name"; team is "@org/slug"."""

    # --- pull requests
    def get_pull(self, repo: str, number: int) -> PullRequest: ...
    # Up to GitHub's 3,000. Given the pull request's head and base shas, the answer cannot change: cached.
    def list_pull_files(self, repo: str, number: int, *, head_sha: str | None = None,
                        base_sha: str | None = None) -> tuple[ChangedFile, ...]: ...
    def list_reviews(self, repo: str, number: int) -> tuple[Review, ...]: ...  # oldest first
    def list_pull_commits(self, repo: str, number: int) -> tuple[Commit, ...]: ...  # oldest first
    def list_open_pulls(self, repo: str, *, base: str | None = None) -> tuple[PullRequest, ...]: ...
    def pulls_for_commit(self, repo: str, sha: str) -> tuple[int, ...]: ...  # open PR numbers with that head
    def request_reviewers(self, repo: str, number: int, *, teams: frozenset[str], users: frozenset[str] = frozenset()) -> None: ...

    # --- git data
    def compare(self, repo: str, base: str, head: str) -> Comparison: ...  # paginated; immutable for two shas
    def get_file(self, repo: str, path: str, *, ref: str) -> FileContent | None: ...  # None when absent
    # Many files, repositories and refs at once (one request on GitHub); None for a missing repo, ref or file.
    # A symlink is None too, in get_file as well: GitHub is reported not to follow a symlinked CODEOWNERS; nor do we.
    def get_files(self, wanted: Sequence[FileRef]) -> tuple[FileContent | None, ...]: ...
    def get_default_branch(self, repo: str) -> str: ...
    def get_branch_sha(self, repo: str, branch: str) -> str: ...
    def get_tag(self, repo: str, name: str) -> Tag | None: ...
    def list_tags(self, repo: str) -> tuple[Tag, ...]: ...  # name + commit sha; message not filled
    # Every tag WITH its message (None for a lightweight tag), peeled commit sha and tag object sha, newest
    # commit first, up to `limit`: what release history is read from. GitHub: one request per 100 tags.
    def list_annotated_tags(self, repo: str, *, limit: int | None = None) -> tuple[Tag, ...]: ...

    # --- people
    def team_members(self, team: str) -> frozenset[str]: ...  # child teams included; raises TeamNotFound
    def permission(self, repo: str, user: str) -> Permission: ...
    # Many teams at once (one request on GitHub); None for a team that does not exist or the app cannot see.
    def get_teams(self, names: Iterable[str], *, repo: str) -> dict[str, TeamInfo | None]: ...

    # --- checks
    def find_check(self, repo: str, *, head_sha: str, name: str) -> ExistingCheck | None: ...
    def create_check(self, repo: str, result: CheckResult) -> int: ...  # stores result_digest as external_id
    def update_check(self, repo: str, check_id: int, result: CheckResult) -> None: ...

    # --- writes for releases and rollbacks
    def create_tag(self, repo: str, *, name: str, message: str, sha: str) -> Tag: ...  # AlreadyExists if taken
    def update_file(self, repo: str, path: str, *, content: bytes, message: str, branch: str, sha: str | None) -> str: ...  # new commit sha; Conflict if sha is stale
    def create_branch(self, repo: str, *, name: str, sha: str) -> None: ...  # AlreadyExists if taken
    def get_release(self, repo: str, tag: str) -> Release | None: ...
    def create_release(self, repo: str, *, tag: str, name: str, body: str) -> Release: ...
    def create_pull(self, repo: str, *, title: str, body: str, head: str, base: str) -> PullRequest: ...
    def comment(self, repo: str, number: int, body: str) -> None: ...
