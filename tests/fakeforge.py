"""The one in-memory Forge for handler tests. Kept honest by tests/forge/test_contract.py, which runs the
same behaviours against it and against GitHubForge and GitLabForge over `responses`.

FakeForge(kind="github") behaves like GitHub (check runs: every field is compared; 3,000 files at most);
FakeForge(kind="gitlab") like GitLab (commit statuses: only state, description and link are shown, and a
pending -> pending write is refused as GitLab's state machine refuses it; the summary lives in one note)."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from bot.core.checks import CheckResult, result_digest
from bot.core.promotion import CheckKind, CheckState, CommitCheck
from bot.forge.errors import AlreadyExists, Conflict, ForgeError, NotFound, TeamNotFound
from bot.forge.github import note_marker
from bot.forge.layout import github_layout, github_links, gitlab_layout, gitlab_links
from bot.forge.statuses import WAITING_STATES, commit_status, status_digest
from bot.model import (
    ChangedFile, Commit, Comparison, ExistingCheck, FileContent, MergedPull, Note, Permission, PullFiles, PullRequest,
    Release, Review, Tag, TeamInfo,
)

MAX_PULL_FILES = {"github": 3000, "gitlab": 3000}  # GitHub's list cap; GitLab's diffs `overflow` past its limits


def _blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakeRepo:
    default_branch: str = "main"
    # ref (branch name or commit sha) -> {path: bytes}
    files: dict[str, dict[str, bytes]] = field(default_factory=lambda: defaultdict(dict))
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head sha
    tags: dict[str, Tag] = field(default_factory=dict)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    pull_files: dict[int, tuple[ChangedFile, ...]] = field(default_factory=dict)
    reviews: dict[int, list[Review]] = field(default_factory=lambda: defaultdict(list))
    pull_commits: dict[int, tuple[Commit, ...]] = field(default_factory=dict)
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)
    permissions: dict[str, Permission] = field(default_factory=dict)
    checks: dict[int, tuple[str, CheckResult]] = field(default_factory=dict)  # id -> (head_sha, result)
    replaced: dict[int, int] = field(default_factory=dict)  # check id -> the id of the run replace_check wrote for it
    releases: dict[str, Release] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    requested: dict[int, list[tuple[frozenset[str], frozenset[str]]]] = field(default_factory=lambda: defaultdict(list))
    commits_log: list[tuple[str, str, str]] = field(default_factory=list)  # (branch, path, message) per update_file
    # the promotion gate's reads (ENV-release): statuses / check runs / deployment statuses seeded per sha, tag dates
    commit_checks: dict[str, list[CommitCheck]] = field(default_factory=lambda: defaultdict(list))
    tag_dates: dict[str, dt.datetime] = field(default_factory=dict)
    # commit sha -> the pull requests containing it: (MergedPull, state "merged" | "open" | "closed", base branch)
    commit_pulls: dict[str, list[tuple[MergedPull, str, str]]] = field(default_factory=lambda: defaultdict(list))


class FakeForge:
    """Plain data in, plain data out. `calls` counts every method call, like requests on the wire."""

    def __init__(self, kind: str = "github", *, config_project: str | None = None) -> None:
        assert kind in ("github", "gitlab"), kind
        self.kind = kind
        self.summary_note = kind == "gitlab"
        self.access = FakeAccess()  # the access-audit role (bot.forge.access.AccessRole)
        self.layout = github_layout() if kind == "github" else gitlab_layout(config_project)
        self.links = github_links() if kind == "github" else gitlab_links()
        self.repos: dict[str, FakeRepo] = defaultdict(FakeRepo)
        self.teams: dict[str, frozenset[str]] = {}
        self.team_permissions: dict[tuple[str, str], Permission] = {}  # ("@org/team" lower-case, repo) -> grant
        self.calls: Counter[str] = Counter()
        self._ids = itertools.count(1000)
        self.fail_next: dict[str, Exception] = {}  # method name -> exception raised once

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if name in self.fail_next:
            raise self.fail_next.pop(name)

    # --- set-up helpers for tests (not part of the protocol)
    def add_file(self, repo: str, path: str, content: str | bytes, *, ref: str = "main") -> None:
        self.repos[repo].files[ref][path] = content.encode() if isinstance(content, str) else content

    def add_pull(self, pull: PullRequest, files: list[ChangedFile] | tuple = (), commits: tuple = ()) -> None:
        repo = self.repos[pull.repo]
        repo.pulls[pull.number] = pull
        repo.pull_files[pull.number] = tuple(files)
        repo.pull_commits[pull.number] = tuple(commits)

    def add_commit_pull(self, repo: str, number: int, shas, *, author: str | None = "octocat",
                        merged_at: str | None = "2026-11-20T09:00:00Z", state: str = "merged",
                        base: str | None = None) -> None:
        """Pull request `number` contains these commits (a rebase merge's commits, a squash commit, a pull's
        own commits): merged into `base` (default: the default branch) at merged_at, or still open/closed."""
        state_repo = self.repos[repo]
        for sha in shas:
            state_repo.commit_pulls[sha].append((MergedPull(number, author, merged_at if state == "merged" else None),
                                                 state, base or state_repo.default_branch))

    def add_review(self, repo: str, number: int, review: Review) -> None:
        self.repos[repo].reviews[number].append(review)

    def checks_on(self, repo: str, head_sha: str) -> dict[str, CheckResult]:
        return {result.name: result for sha, result in self.repos[repo].checks.values() if sha == head_sha}

    # --- pull requests
    def get_pull(self, repo, number):
        self._call("get_pull")
        try:
            return self.repos[repo].pulls[number]
        except KeyError:
            raise NotFound(f"{repo}#{number}") from None

    def list_pull_files(self, repo, number, *, head_sha=None, base_sha=None):
        self._call("list_pull_files")
        files = self.repos[repo].pull_files.get(number, ())[:MAX_PULL_FILES[self.kind]]
        return PullFiles(files, truncated=len(files) >= MAX_PULL_FILES[self.kind])

    def changed_since(self, pull, sha):
        """As both adapters answer: the seeded comparison sha...head; None when there is none (the commit is
        gone) or it says diverged/behind; a comparison marked files_truncated adds the pull's files."""
        self._call("changed_since")
        comparison = self.repos[pull.repo].comparisons.get((sha, pull.head_sha))
        if comparison is None or comparison.status in ("diverged", "behind"):
            return None
        paths = {p for f in comparison.files for p in (f.path, f.previous_path) if p}
        if comparison.files_truncated:
            paths |= {p for f in self.repos[pull.repo].pull_files.get(pull.number, ()) for p in (f.path, f.previous_path) if p}
        return frozenset(paths)

    def list_reviews(self, repo, number):
        self._call("list_reviews")
        return tuple(self.repos[repo].reviews.get(number, ()))

    def list_pull_commits(self, repo, number):
        self._call("list_pull_commits")
        return self.repos[repo].pull_commits.get(number, ())

    def list_open_pulls(self, repo, *, base=None):
        self._call("list_open_pulls")
        return tuple(p for p in self.repos[repo].pulls.values() if p.state == "open" and base in (None, p.base_ref))

    def pulls_for_commit(self, repo, sha):
        self._call("pulls_for_commit")
        return tuple(p.number for p in self.repos[repo].pulls.values() if p.head_sha == sha and p.state == "open")

    def merged_pulls_for_commits(self, repo, shas):
        """As both adapters answer: per sha the earliest-merged pull into the default branch; open, closed and
        other-branch pulls do not count; unknown shas are absent; a repository never seeded is NotFound. What the
        real adapters cost on the wire: tests/forge/test_attribution_requests.py."""
        self._call("merged_pulls_for_commits")
        state = self.repos.get(repo)
        if state is None:
            raise NotFound(f"repository {repo}")
        found = {}
        for sha in dict.fromkeys(shas):
            merged = [p for p, st, base in state.commit_pulls.get(sha, ()) if st == "merged" and base == state.default_branch]
            if merged:
                found[sha] = min(merged, key=lambda p: (p.merged_at or "", p.number))
        return found

    def request_reviewers(self, repo, number, *, teams, users=frozenset()):
        self._call("request_reviewers")
        self.repos[repo].requested[number].append((frozenset(teams), frozenset(users)))

    # --- git data
    def compare(self, repo, base, head):
        self._call("compare")
        try:
            return self.repos[repo].comparisons[(base, head)]
        except KeyError:
            raise NotFound(f"compare {base}...{head} in {repo}") from None

    def get_file(self, repo, path, *, ref):
        self._call("get_file")
        content = _files_at(self.repos[repo], ref).get(path)
        return None if content is None else FileContent(content, _blob_sha(content))

    def get_files(self, wanted):
        self._call("get_files")
        found = []
        for want in wanted:
            state = self.repos.get(want.repo)  # .get: asking must not create the repository
            ref = None if state is None else (want.ref if want.ref is not None else state.default_branch)
            content = None if state is None else _files_at(state, ref).get(want.path)
            found.append(None if content is None else FileContent(content, _blob_sha(content)))
        return tuple(found)

    def get_default_branch(self, repo):
        self._call("get_default_branch")
        if repo not in self.repos:  # like GitHub's 404 for a repository nobody created (e.g. an org's .github)
            raise NotFound(f"repository {repo}")
        return self.repos[repo].default_branch

    def get_branch_sha(self, repo, branch):
        self._call("get_branch_sha")
        try:
            return self.repos[repo].branches[branch]
        except KeyError:
            raise NotFound(f"branch {branch} in {repo}") from None

    def get_tag(self, repo, name):
        self._call("get_tag")
        return self.repos[repo].tags.get(name)

    def list_tags(self, repo):
        self._call("list_tags")
        return tuple(replace(t, message=None, tag_sha=None) for t in self.repos[repo].tags.values())

    def list_annotated_tags(self, repo, *, limit=None):
        self._call("list_annotated_tags")
        newest_first = tuple(reversed(self.repos[repo].tags.values()))  # tags are seeded or created oldest first
        return newest_first[:limit] if limit is not None else newest_first

    # --- people
    def team_members(self, team):
        self._call("team_members")
        try:
            return self.teams[team.lower()]
        except KeyError:
            raise TeamNotFound(team) from None

    def get_teams(self, names, *, repo):
        self._call("get_teams")
        found = {}
        for name in names:
            members = self.teams.get(name.lower())
            grant = self.team_permissions.get((name.lower(), repo), Permission.NONE)
            if self.kind == "gitlab":  # as GitLabForge.get_teams: a group grants no role of its own, see there
                grant = Permission.NONE
            found[name] = None if members is None else TeamInfo(members, grant)
        return found

    def permission(self, repo, user):
        self._call("permission")
        return self.repos[repo].permissions.get(user, Permission.NONE)

    # --- checks
    def check_digest(self, result):
        return result_digest(result) if self.kind == "github" else status_digest(commit_status(result))

    def find_check(self, repo, *, head_sha, name):
        self._call("find_check")
        for check_id, (sha, result) in sorted(self.repos[repo].checks.items(), reverse=True):
            if sha == head_sha and result.name == name:
                return ExistingCheck(check_id, self.check_digest(result))
        return None

    def create_check(self, repo, result):
        self._call("create_check")
        self._refuse_same_waiting_state(repo, result)
        check_id = next(self._ids)
        self.repos[repo].checks[check_id] = (result.head_sha, result)
        return check_id

    def update_check(self, repo, check_id, result):
        self._call("update_check")
        self._refuse_same_waiting_state(repo, result)
        self.repos[repo].checks[check_id] = (result.head_sha, result)

    def replace_check(self, repo, check_id, result):
        # the forge's "conclude the old run, then create a fresh one": counted as the create_check it costs
        new_id = self.create_check(repo, result)
        self.repos[repo].replaced[check_id] = new_id
        return new_id

    def _refuse_same_waiting_state(self, repo, result):
        # GitLab's 400 "Cannot transition status via :enqueue from :pending": a status of that name on that sha
        # that is pending (or running) cannot be written pending (running) again.
        if self.kind != "gitlab":
            return
        state = commit_status(result).state
        current = [r for sha, r in self.repos[repo].checks.values() if sha == result.head_sha and r.name == result.name]
        if current and state in WAITING_STATES and commit_status(current[-1]).state == state:
            raise ForgeError(f"400 Cannot transition status via :{'enqueue' if state == 'pending' else 'run'} from :{state}")

    def statuses_on(self, repo, head_sha):
        """GitLab's view: name -> (state, description, target_url) of the latest status per name."""
        return {name: commit_status(result) for name, result in self.checks_on(repo, head_sha).items()}

    def ensure_note(self, repo, number, *, topic, body):
        self._call("ensure_note")
        marker = note_marker(topic)
        thread = self.repos[repo].comments[number]
        for i, existing in enumerate(thread):
            if existing.startswith(marker):
                if existing != f"{marker}\n{body}":
                    self.calls["note_edits"] += 1
                    thread[i] = f"{marker}\n{body}"
                return Note(i + 1, body)
        thread.append(f"{marker}\n{body}")
        return Note(len(thread), body)

    def notes(self, repo, number, *, topic):
        """Bodies (marker line removed) of our notes for topic: one at most, if ensure_note keeps its word."""
        marker = note_marker(topic)
        return [c[len(marker) + 1:] for c in self.repos[repo].comments[number] if c.startswith(marker)]

    # --- writes
    def create_tag(self, repo, *, name, message, sha):
        self._call("create_tag")
        if name in self.repos[repo].tags:
            raise AlreadyExists(f"Reference already exists: refs/tags/{name}")
        tag = Tag(name=name, commit_sha=sha, message=message, tag_sha=hashlib.sha1(message.encode()).hexdigest())
        self.repos[repo].tags[name] = tag
        if self.clock is not None:
            self.repos[repo].tag_dates[name] = self.clock()  # the tagger date GitHub would record
        return tag

    def update_file(self, repo, path, *, content, message, branch, sha):
        self._call("update_file")
        state = self.repos[repo]
        current = state.files[branch].get(path)
        if (None if current is None else _blob_sha(current)) != sha:
            raise Conflict(f"{path} does not match {sha}")
        state.files[branch][path] = content
        new_sha = hashlib.sha1(f"{branch}{path}{message}{len(state.commits_log)}".encode()).hexdigest()
        state.files[new_sha] = dict(state.files[branch])
        state.branches[branch] = new_sha
        state.commits_log.append((branch, path, message))
        return new_sha

    def create_branch(self, repo, *, name, sha):
        self._call("create_branch")
        state = self.repos[repo]
        if name in state.branches:
            raise AlreadyExists(f"Reference already exists: refs/heads/{name}")
        state.branches[name] = sha
        state.files[name] = dict(state.files.get(sha, {}))

    def get_release(self, repo, tag):
        self._call("get_release")
        return self.repos[repo].releases.get(tag)

    def create_release(self, repo, *, tag, name, body):
        self._call("create_release")
        if tag in self.repos[repo].releases:
            raise AlreadyExists(f"release for {tag} already exists")
        release = Release(tag=tag, name=name, body=body, html_url=self.links.release(repo, tag))
        self.repos[repo].releases[tag] = release
        return release

    def create_pull(self, repo, *, title, body, head, base):
        self._call("create_pull")
        state = self.repos[repo]
        if any(p.state == "open" and p.head_ref == head and p.base_ref == base for p in state.pulls.values()):
            raise AlreadyExists(f"A pull request already exists for {head}")  # GitHub's 422
        number = max(state.pulls, default=0) + 1
        pull = PullRequest(
            repo=repo, number=number, title=title, author="release-coordinator[bot]", head_sha=state.branches.get(head, ""),
            head_ref=head, base_ref=base, base_sha=state.branches.get(base, ""), state="open", body=body,
            html_url=self.links.pull(repo, number),
        )
        state.pulls[number] = pull
        return pull

    def comment(self, repo, number, body):
        self._call("comment")
        self.repos[repo].comments[number].append(body)

    # --- verification reads for the promotion gate (ENV-release)
    clock = None  # tests set a callable returning an aware datetime: create_tag records it as the tagger date

    def add_commit_check(self, repo, sha, check: CommitCheck) -> None:
        """A status, check run or deployment status reported on sha by someone else (CI, a deploy tool)."""
        self.repos[repo].commit_checks[sha].append(check)

    def commit_checks(self, repo, sha, *, names=None):
        self._call("commit_checks")
        ours = [CommitCheck(r.name, CheckKind.CHECK_RUN, _CHECK_STATE.get(r.conclusion.value, CheckState.FAILURE),
                            r.conclusion.value) for s, r in self.repos[repo].checks.values() if s == sha]
        latest = {}
        for check in [*ours, *self.repos[repo].commit_checks.get(sha, ())]:  # like GitHub: the latest per name and kind
            latest[(check.kind, check.name)] = check
        return tuple(latest.values())

    def tag_date(self, repo, tag):
        self._call("tag_date")
        return self.repos[repo].tag_dates.get(tag.name)


_CHECK_STATE = {"success": CheckState.SUCCESS, "pending": CheckState.PENDING}


def _files_at(state: FakeRepo, ref: str) -> dict[str, bytes]:
    """Files at a branch or commit sha as seeded; a tag name reads its commit's files unless seeded itself."""
    if ref not in state.files and ref in state.tags:
        ref = state.tags[ref].commit_sha
    return state.files.get(ref, {})


class DictStore:
    """In-memory KeyValue store for handler tests; the real ones (SQLite, Redis) live in bot/store.py."""

    def __init__(self, *, clock=None) -> None:
        import time

        self.data: dict[str, object] = {}
        self.expires_at: dict[str, float] = {}  # key -> clock() time it stops being visible, as in SqliteStore
        self.clock = clock or time.time

    def get_json(self, key):
        if key in self.expires_at and self.expires_at[key] <= self.clock():
            return None
        return self.data.get(key)

    def set_json(self, key, value, *, ttl=None):
        import json

        from bot.store import check_ttl

        check_ttl(ttl)
        self.data[key] = json.loads(json.dumps(value))  # same round-trip as the real stores
        self.expires_at.pop(key, None)
        if ttl is not None:
            self.expires_at[key] = self.clock() + ttl


class FakeAccess:
    """The access-audit role over plain values: seed `branches` (the installation's repositories and their
    default branches) and `states` (bot.core.access.RepoState per repository); `applied` records enforce's writes,
    `after_apply` is the state a repository reads as once a write went through; `issues` are the repo's issues."""

    def __init__(self) -> None:
        self.branches: dict[str, str] = {}
        self.hidden: set[str] = set()  # managed repositories the app is not installed on
        self.states: dict = {}
        self.after_apply: dict = {}
        self.applied: list[tuple[str, str, object]] = []
        self.refuse_writes = False  # the App lacks Administration: write
        self.issues: dict[str, list[dict]] = defaultdict(list)
        self.calls: Counter[str] = Counter()

    def installation_repos(self):
        self.calls["installation_repos"] += 1
        return tuple(sorted((r, b) for r, b in self.branches.items() if r not in self.hidden))

    def default_branch(self, repo):
        self.calls["default_branch"] += 1
        return None if repo in self.hidden else self.branches.get(repo)

    def read_repo(self, repo, *, branch):
        from bot.core.access import RepoState

        self.calls["read_repo"] += 1
        return self.states.get(repo) or RepoState(repo, branch, api=f"/repos/{repo}")

    def find_issue(self, repo, *, title, number=None):
        from bot.core.access_render import ISSUE_MARKER, IssueView

        self.calls["find_issue"] += 1
        mine = [i for i in self.issues[repo] if i["title"] == title and ISSUE_MARKER in i["body"]]
        if not mine:
            return None
        issue = mine[-1]
        return IssueView(issue["number"], issue["state"], issue["body"])

    def create_issue(self, repo, *, title, body):
        from bot.core.access_render import IssueView

        self.calls["create_issue"] += 1
        number = len(self.issues[repo]) + 1
        self.issues[repo].append({"number": number, "title": title, "body": body, "state": "open"})
        return IssueView(number, "open", body)

    def edit_issue(self, repo, number, *, body=None, state=None):
        self.calls["edit_issue"] += 1
        issue = next(i for i in self.issues[repo] if i["number"] == number)
        issue.update({k: v for k, v in (("body", body), ("state", state)) if v is not None})

    def apply(self, method, path, body):
        from bot.forge.errors import PermissionDenied

        self.calls["apply"] += 1
        if self.refuse_writes:
            raise PermissionDenied(f"{method} {path}: 403 Resource not accessible by integration")
        self.applied.append((method, path, body))
        repo = path.split("/")[2] + "/" + path.split("/")[3] if path.startswith("/repos/") else None
        if repo in self.after_apply:
            self.states[repo] = self.after_apply[repo]
