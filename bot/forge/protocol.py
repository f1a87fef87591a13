"""The Forge protocol: the only surface handlers use to read and write a forge (GitHubForge, GitLabForge,
tests/fakeforge.py FakeForge). Values come from bot.model; raw JSON never leaves an adapter.

Caching: reads of immutable content (a file at a commit sha, a tag object, a compare of two shas) may be
cached forever by an adapter; who/policy facts (team members, permissions, files on a default branch) for a
short while (GitHubForge: 60 s). A "fresh" adapter (Re-run, /recheck) is a new instance with nothing cached.

Errors (bot.forge.errors): NotFound, PermissionDenied, Conflict, AlreadyExists, TransientError (429/5xx, with
retry_after from Retry-After / RateLimit-Reset). Every adapter maps HTTP statuses onto these and nothing else
escapes it; a message names what is missing ("token lacks Maintainer on acme/releases to push tags").

Each method's docstring is the contract both adapters meet; tests/forge/test_contract.py checks it.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Protocol, Sequence

from bot.core.checks import CheckResult
from bot.core.promotion import CommitCheck
from bot.forge.layout import WebLinks
from bot.model import (
    Commit, Comparison, ExistingCheck, FileContent, FileRef, MergedPull, Note, Permission, PullFiles, PullRequest,
    Release, RepoLayout, Review, Tag, TeamInfo,
)


class Forge(Protocol):
    """What handlers need from a forge. repo is a path ("owner/name", GitLab "group/sub/project"); number is a
    PR number or MR iid; a team is "@org/slug" (GitHub) or a group path "@group/sub" (GitLab)."""

    kind: str  # "github" | "gitlab": names the forge in store keys, links and metrics; never branched on in core
    layout: RepoLayout  # where config and CODEOWNERS live, and where org defaults come from
    links: WebLinks  # web URLs: pull `#N` vs `!N`, commit, compare, tag, release, file#line
    # Capability (renovate's capabilities.ts style): True when a check's full summary cannot live in the check
    # itself (GitLab's commit status has one short description) and is kept in ONE pull request note instead,
    # written with ensure_note. GitHub: False (a check run has its own summary, text and annotations).
    summary_note: bool

    # --- pull requests
    def get_pull(self, repo: str, number: int) -> PullRequest:
        """The pull request / merge request; NotFound when it does not exist. GitLab: state "opened" -> "open",
        "merged"/"closed"/"locked" -> "closed" (merged=True for merged), merge_commit_sha = merge_commit_sha,
        else squash_commit_sha (a fast-forward squash), base_sha = diff_refs.base_sha, labels by name, draft."""
        ...

    def list_pull_files(self, repo: str, number: int, *, head_sha: str | None = None,
                        base_sha: str | None = None) -> PullFiles:
        """Every changed file, renames with previous_path (GitLab: renamed_file/old_path, deleted_file ->
        "removed", new_file -> "added"). truncated=True when the forge stopped listing (GitHub: 3,000 files;
        GitLab: its diff limits / `overflow`). Given head and base shas the answer cannot change: cached."""
        ...

    def list_reviews(self, repo: str, number: int) -> tuple[Review, ...]:
        """Oldest first. GitHub: the PR's reviews. GitLab, read on EVERY call (GitLab sends no hook when a push
        resets approvals): one APPROVED Review per current approver (`approved_by` of .../approvals), with
        commit_id = the MR head sha at the approval's time (from .../versions: the newest version created at
        or before the approval; None when it cannot tell), plus CHANGES_REQUESTED for reviewers whose state is
        "requested_changes" (.../reviewers). user_is_bot for bot users (`bot: true`)."""
        ...

    def list_pull_commits(self, repo: str, number: int) -> tuple[Commit, ...]:
        """Oldest first (GitLab lists newest first: the adapter reverses)."""
        ...

    def list_open_pulls(self, repo: str, *, base: str | None = None) -> tuple[PullRequest, ...]:
        """Open pull requests, every page; `base` = target branch."""
        ...

    def pulls_for_commit(self, repo: str, sha: str) -> tuple[int, ...]:
        """Numbers of OPEN pull requests whose head is sha."""
        ...

    def request_reviewers(self, repo: str, number: int, *, teams: frozenset[str],
                          users: frozenset[str] = frozenset()) -> None:
        """Ask for reviews. GitLab cannot request a group: its adapter requests users (reviewer_ids) only and
        ignores teams (the summary note names who can approve)."""
        ...

    def changed_since(self, pull: PullRequest, sha: str) -> frozenset[str] | None:
        """Paths changed between an approval's head `sha` and pull.head_sha (a rename: both paths), complete
        or a superset, never a subset: what decides whether an approval went stale. None when `sha` is no
        longer an ancestor of the head (a force-push rewrote it; GitHub: compare says diverged/behind; GitLab:
        the MR's versions no longer hold it). Past a forge's compare limit the adapter widens the list itself
        (GitHub: union of each commit's files; at worst the pull's files): never "everything" by guess."""
        ...

    # --- git data
    def compare(self, repo: str, base: str, head: str) -> Comparison:
        """Commits in head not in base (all pages) and files; base/head are shas, branches or tag names.
        NotFound when either does not exist. Immutable for two shas: cached."""
        ...

    def merged_pulls_for_commits(self, repo: str, shas: Sequence[str]) -> dict[str, MergedPull]:
        """For each sha (a commit on the default branch, e.g. from compare), the pull request MERGED into the
        default branch that brought it there, whatever the merge method: squash, rebase (the rebased commits are
        the pull's) or merge commit (the pull's own commits and its merge commit). A sha with none (pushed
        directly, or only in pulls still open, closed unmerged or merged into another branch) is absent. When a
        commit belongs to several merged pulls, the one merged first. Cost: GitHub ONE GraphQL query per 100
        shas (aliased `object(oid:)` -> Commit.associatedPullRequests, plus the repository's defaultBranchRef);
        GitLab one GET repository/commits/:sha/merge_requests per sha. A found answer never changes (a merge is
        not undone): cached by sha for good; a sha with none is asked again once the adapter's short-lived cache
        (fresh_for, 60 s) let it go: its pull may merge yet.
        NotFound when the repository does not exist; a sha the forge does not know is simply absent."""
        ...

    def get_file(self, repo: str, path: str, *, ref: str) -> FileContent | None:
        """The file at ref (branch, tag or sha), None when absent (or a symlink). FileContent.sha is the opaque
        version update_file wants back (GitHub and GitLab: the blob sha; GitLab's update_file then commits with the
        file's last_commit_id, so GitLab itself refuses a concurrent change)."""
        ...

    def get_files(self, wanted: Sequence[FileRef]) -> tuple[FileContent | None, ...]:
        """Many files, repositories and refs at once, in order; None for a missing repo, ref or file (ref None:
        the default branch). GitHub and GitLab: one GraphQL request for every file not cached."""
        ...

    def get_default_branch(self, repo: str) -> str:
        """NotFound when the repository does not exist or cannot be seen."""
        ...

    def get_branch_sha(self, repo: str, branch: str) -> str:
        ...

    def get_tag(self, repo: str, name: str) -> Tag | None:
        """Exactly that tag, peeled to its commit, with message for an annotated tag; None when absent."""
        ...

    def list_tags(self, repo: str) -> tuple[Tag, ...]:
        """Name + commit sha; message not filled."""
        ...

    def list_annotated_tags(self, repo: str, *, limit: int | None = None) -> tuple[Tag, ...]:
        """Every tag WITH its message (None for a lightweight tag), newest first, up to limit: release history.
        GitLab's tags list carries message and target in one page."""
        ...

    # --- verification reads for the promotion gate (ENV-release; bot/forge/github_verification.py, gitlab/verification.py)
    def commit_checks(self, repo: str, sha: str, *, names: Iterable[str] | None = None) -> tuple[CommitCheck, ...]:
        """The latest status per name on sha: GitHub commit statuses, check runs and (for names neither answered)
        deployment statuses by environment; GitLab commit statuses (external and pipeline jobs')."""
        ...

    def tag_date(self, repo: str, tag: Tag) -> dt.datetime | None:
        """When a release was tagged: an annotated tag's tagger date (GitLab: created_at); for a lightweight tag its
        commit's date; None when the forge cannot tell."""
        ...

    # --- people
    def team_members(self, team: str) -> frozenset[str]:
        """Members, child teams' included; TeamNotFound when it does not exist or cannot be seen. GitLab: the
        group's members/all plus every descendant group's members (members/all only adds parents'); blocked
        users never."""
        ...

    def permission(self, repo: str, user: str) -> Permission:
        """The user's effective access on repo; NONE for unknown users. GitLab: access_level of
        projects/:id/members/all/:user_id (30 Developer = WRITE, see Permission)."""
        ...

    def get_teams(self, names: Iterable[str], *, repo: str) -> dict[str, TeamInfo | None]:
        """Many teams at once; None for a team that does not exist or cannot be seen. repo_permission: what the
        team grants on repo (GitLab: the group's shared/owning access on the project; NONE when unknown —
        then each approver's own permission is looked up)."""
        ...

    # --- checks (GitHub: check runs; GitLab: commit statuses + the summary note)
    def check_digest(self, result: CheckResult) -> str:
        """A fingerprint of what this forge SHOWS of result; publish writes only when it changes. GitHub: every
        field (bot.core.checks.result_digest). GitLab: state, description (as cut to its limit) and target_url,
        except that while pending/running the description is left out: GitLab refuses pending -> pending
        ("Cannot transition status via :enqueue from :pending"), so a changed reason while still waiting goes to
        the note, not to a new status."""
        ...

    def find_check(self, repo: str, *, head_sha: str, name: str) -> ExistingCheck | None:
        """Our latest check of that name on head_sha, with its check_digest; None when there is none.
        GitLab: repository/commits/:sha/statuses?name=NAME (all=true not needed: latest per name)."""
        ...

    def create_check(self, repo: str, result: CheckResult) -> int:
        """Write result as a new check; returns its id. GitLab: POST projects/:id/statuses/:sha with state
        (SUCCESS -> success, PENDING -> pending, FAILURE/ACTION_REQUIRED -> failed, NEUTRAL/SKIPPED -> success),
        name, description (title, cut to GitLab's 255), target_url = details_url."""
        ...

    def update_check(self, repo: str, check_id: int, result: CheckResult) -> None:
        """Replace what check_id shows with result (GitHub: a fresh run under the same name; GitLab: a new
        POST for the same name and sha, which moves that status)."""
        ...

    def replace_check(self, repo: str, check_id: int, result: CheckResult) -> int:
        """Write result as a new check in place of check_id (a forced Re-run); returns the new id. GitHub: a run
        that may still be in progress is concluded first, by the rule update_check follows (the successor's
        verdict, or `cancelled` when it waits too), so it does not hold the check suite in progress; then a fresh
        run. GitLab: one status per name and sha, so the same write as update_check."""
        ...

    def ensure_note(self, repo: str, number: int, *, topic: str, body: str) -> Note:
        """The ONE note (comment) of ours on the pull request for `topic`: created when missing, edited when
        its body differs, left alone when equal (renovate's ensureComment). The adapter finds it by a hidden
        marker line it adds for the topic (e.g. `<!-- release-coordinator:summary -->`); `body` excludes it.
        Never a second note for one topic."""
        ...

    # --- writes for releases and rollbacks
    def create_tag(self, repo: str, *, name: str, message: str, sha: str) -> Tag:
        """An annotated tag on commit sha; AlreadyExists when the name is taken (GitLab: 400 "Tag NAME already
        exists"); PermissionDenied naming the role needed when the token may not push tags."""
        ...

    def update_file(self, repo: str, path: str, *, content: bytes, message: str, branch: str, sha: str | None) -> str:
        """Commit content to path on branch; returns the new commit sha. sha is the FileContent.sha read before
        (None: the file must not exist yet); Conflict when it is stale (GitLab: last_commit_id refused)."""
        ...

    def create_branch(self, repo: str, *, name: str, sha: str) -> None:
        """AlreadyExists when taken."""
        ...

    def get_release(self, repo: str, tag: str) -> Release | None:
        ...

    def create_release(self, repo: str, *, tag: str, name: str, body: str) -> Release:
        """AlreadyExists when the tag has a release already (GitLab: 409)."""
        ...

    def create_pull(self, repo: str, *, title: str, body: str, head: str, base: str) -> PullRequest:
        """AlreadyExists when an open one exists for head -> base (GitHub 422, GitLab 409)."""
        ...

    def comment(self, repo: str, number: int, body: str) -> None:
        """A new comment on pull request `number` (GitLab: an MR note). GitHub also takes an issue number."""
        ...
