"""Domain values shared by bot/core, bot/forge and the handlers, for every forge (GitHub and GitLab alike).

Plain frozen dataclasses; raw JSON never leaves the adapters. The neutral vocabulary (INTERFACES.md §2):
- a repository is its path: "acme/infra" on GitHub, "group/sub/project" on GitLab;
- a pull request's `number` is GitHub's PR number or GitLab's merge request iid;
- a team is "@org/slug" on GitHub, a group path "@group/sub" on GitLab;
- a user is a login (GitHub) or a username (GitLab).
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Iterable


class ReviewState(enum.Enum):
    APPROVED = "APPROVED"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    COMMENTED = "COMMENTED"
    DISMISSED = "DISMISSED"
    PENDING = "PENDING"


@dataclass(frozen=True)
class PullRequest:
    repo: str
    number: int  # GitHub PR number; GitLab MR iid
    title: str
    author: str
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str  # GitLab: diff_refs.base_sha (the merge base the MR's diff is against)
    state: str  # "open" | "closed" (GitLab "opened" is "open"; "merged" is "closed" with merged=True)
    merged: bool = False
    # The commit the target branch got: GitHub's merge_commit_sha; GitLab's merge_commit_sha (also when squashed
    # by a "Merge commit" method), else squash_commit_sha (fast-forward, squashed), else the head sha itself.
    merge_commit_sha: str | None = None
    draft: bool = False
    labels: frozenset[str] = frozenset()
    requested_teams: frozenset[str] = frozenset()  # "@org/slug"; GitLab requests users only: always empty
    requested_users: frozenset[str] = frozenset()
    html_url: str = ""
    body: str = ""


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | modified | removed | renamed | copied | changed | unchanged
    previous_path: str | None = None  # set for renames: both paths count (SPEC §5)


class PullFiles(tuple):
    """A pull request's changed files (a tuple of ChangedFile, so it iterates and compares like one) and whether
    the forge listed them all. `truncated` is True when the forge stopped at its maximum (GitHub: 3,000 files;
    GitLab: the diffs API's limit): the owners of the files past it are unknown, so approvals never pass."""

    truncated: bool

    def __new__(cls, files: Iterable[ChangedFile] = (), truncated: bool = False) -> "PullFiles":
        self = super().__new__(cls, tuple(files))
        self.truncated = bool(truncated)
        return self

    @property
    def files(self) -> tuple[ChangedFile, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return f"PullFiles({tuple(self)!r}, truncated={self.truncated})"


@dataclass(frozen=True)
class Review:
    """An approval (or a change request) as the approvals rules need it, on every forge.

    GitHub: one pull request review. GitLab: an approval from the MR approvals API (state APPROVED), or a
    reviewer whose state is "requested_changes" (CHANGES_REQUESTED); `commit_id` is then the head the MR had
    when the approval was given (from the MR's diff versions and the approval's time), None when unknown."""

    id: int
    user: str
    state: ReviewState
    commit_id: str | None  # the reviewed head sha; None when the forge lost it (force-push) or cannot tell
    submitted_at: dt.datetime | None
    user_is_bot: bool = False

    @property
    def reviewed_sha(self) -> str | None:
        return self.commit_id


Approval = Review  # the neutral name (FORGES.md); one type, so bot/core and the tests keep one vocabulary


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    author: str | None = None  # login/username when the forge knows it
    html_url: str = ""
    parents: tuple[str, ...] = ()  # parent shas, first parent first (a merge commit has two), when listed


@dataclass(frozen=True)
class MergedPull:
    """The pull request (GitLab: merge request) merged into the default branch that brought a commit there
    (Forge.merged_pulls_for_commits): a squash, rebase or merge-commit merge alike."""

    number: int
    author: str | None = None  # login/username of who opened it
    merged_at: str | None = None  # ISO 8601, as the forge gave it


@dataclass(frozen=True)
class Comparison:
    """Commits in head not in base (oldest first), and the files changed between them.

    status: "ahead" | "behind" | "identical" | "diverged" where the forge says (GitHub); GitLab's compare API
    does not say, so its adapter reports "ahead" when base is an ancestor of head, else "diverged".
    files_truncated: the forge listed fewer files than changed (GitHub's compare stops at 300)."""

    base: str
    head: str
    status: str
    commits: tuple[Commit, ...]
    files: tuple[ChangedFile, ...]
    files_truncated: bool = False


@dataclass(frozen=True)
class FileContent:
    content: bytes
    # An opaque version of the file, handed back to update_file so a concurrent change is refused:
    # The blob sha on GitHub and GitLab (GitLab's update_file checks it, then commits with the file's last_commit_id).
    sha: str


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
    tag_sha: str | None = None  # the tag object sha (annotated tags only; GitLab: target when annotated)


@dataclass(frozen=True)
class Release:
    tag: str
    name: str
    body: str
    html_url: str = ""


@dataclass(frozen=True)
class ExistingCheck:
    """A check we wrote before, as the forge shows it: GitHub a check run (digest in its external_id), GitLab
    a commit status (digest recomputed from its state, description and target_url: see Forge.check_digest)."""

    id: int
    digest: str | None  # the adapter's check_digest of what is there; None if not ours / unknown


class Permission(enum.IntEnum):
    # https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user
    # GitLab access levels map: Guest 10 -> READ, Reporter 20 -> TRIAGE, Developer 30 -> WRITE,
    # Maintainer 40 -> MAINTAIN, Owner 50 -> ADMIN (https://docs.gitlab.com/ee/api/members.html#roles)
    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


@dataclass(frozen=True)
class TeamInfo:
    """A team as the approvals evaluation needs it: who is in it and what the team grants on one repository."""

    members: frozenset[str]  # logins, child teams' (GitLab: subgroups') members included
    repo_permission: Permission  # what the team (or a parent team) grants on the repository asked about


@dataclass(frozen=True)
class Note:
    """The one comment the bot keeps in place on a pull request for a topic (GitLab: the summary note)."""

    id: int
    body: str


@dataclass(frozen=True)
class RepoLayout:
    """Where a forge keeps the files that judge a repository (SPEC §3, §5).

    config_path: the bot's config file in a repository.
    codeowners_paths: where CODEOWNERS is searched, first found wins.
    codeowners_dialect: "github" | "gitlab" (sections) for bot.core.codeowners.parse(platform=...).
    org_config_repo: the repository whose config_path (default branch) holds org-wide defaults for `repo`,
        or None (GitLab without GITLAB_CONFIG_PROJECT). GitHub: OWNER/.github (probot's convention)."""

    config_path: str
    codeowners_paths: tuple[str, ...]
    codeowners_dialect: str
    org_config_project: str | None = None  # a fixed project (GitLab's GITLAB_CONFIG_PROJECT)
    org_config_per_owner: str | None = None  # a repository name under each owner (GitHub: ".github")

    def org_config_repo(self, repo: str) -> str | None:
        if self.org_config_project:
            return self.org_config_project
        if self.org_config_per_owner:
            return f"{repo.split('/', 1)[0]}/{self.org_config_per_owner}"
        return None

    @property
    def rule_files(self) -> tuple[str, ...]:
        """Paths whose change on a base branch changes how its open pull requests are judged."""
        return (self.config_path, *self.codeowners_paths)
