"""A small stateful GitLab (REST v4 + the GraphQL fields the adapter reads) on `responses`.

Shapes follow GitLab's documented examples (docs.gitlab.com/api/...: merge_requests, merge_request_approvals,
commits, repository_files, tags, releases, members, groups, notes) and GitLab's own behaviour where the docs
are thin: the commit-status state machine (app/models/commit_status.rb, Ci::CreateCommitStatusService:
pending -> pending is a 400 "Cannot transition status via :enqueue from :pending"), last_commit_id checks,
"Tag X already exists", 409 for a second release or open MR, offset pagination with Link and X-Next-Page.

It serves tests/forge/test_gitlab.py, the contract suite (tests/forge/test_contract.py) and
bench/api_calls_gitlab.py. Seed with the add_*/approve/push helpers; inspect `calls`, `statuses_of`, `notes_of`.

    gl = FakeGitLab().register(rsps)
    base = gl.add_commit("acme/app", {"CODEOWNERS": "* @acme/infra"}, branch="main")
    gl.add_group("acme/infra", {"alice": 30}); gl.add_group("acme/infra/sre", {"bob": 30})
    head = gl.add_commit("acme/app", {"src/x.py": "x"}, branch="feature", parent=base)
    gl.add_mr("acme/app", 1, author="carol", source_branch="feature", target_branch="main")
    gl.approve("acme/app", 1, "alice")
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import responses

from tests.forge.fakegithub import Call  # one recorded request (GitLab: path below /api/v4, or /graphql)
from tests.forge.fakegraphql import execute

GITLAB_URL = "https://gitlab.example.com"
SYMLINK = "120000"


class Symlink(bytes):
    """A file whose content is a symbolic link's target path (git mode 120000)."""


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakeCommit:
    sha: str
    files: dict[str, bytes]
    parent: str | None
    message: str
    date: dt.datetime


@dataclass
class FakeMR:
    iid: int
    author: str
    title: str
    source_branch: str
    target_branch: str
    state: str = "opened"  # opened | closed | merged
    description: str = ""
    labels: list[str] = field(default_factory=list)
    draft: bool = False
    diffs: list[dict] | None = None  # explicit diffs (renames); None: computed from the commits
    versions: list[dict] = field(default_factory=list)  # oldest first
    approvals: list[tuple[str, dt.datetime]] = field(default_factory=list)
    reviewers: dict[str, dict] = field(default_factory=dict)  # username -> {"state", "created_at"}
    notes: list[dict] = field(default_factory=list)
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    id: int = 0
    merged_at: str | None = None


@dataclass
class FakeProject:
    id: int
    path: str
    default_branch: str = "main"
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict] = field(default_factory=dict)  # name -> {"target", "commit", "message", "date"}
    mrs: dict[int, FakeMR] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)  # direct project members: username -> access level
    jobs: list[dict] = field(default_factory=list)  # commit statuses ("external jobs")
    releases: dict[str, dict] = field(default_factory=dict)
    reset_approvals_on_push: bool = True


@dataclass
class FakeGroup:
    id: int
    path: str
    members: dict[str, int] = field(default_factory=dict)  # direct members


@dataclass
class Paged:
    items: list


class FakeGitLab:
    def __init__(self, url: str = GITLAB_URL) -> None:
        self.url = url.rstrip("/")
        self.prefix = urlsplit(self.url).path  # "" or a self-managed path prefix such as "/gitlab"
        self.api = self.prefix + "/api/v4"
        self.graphql_path = self.prefix + "/api/graphql"
        self.projects: dict[str, FakeProject] = {}
        self.groups: dict[str, FakeGroup] = {}
        self.users: dict[str, dict] = {}
        self.token_user = "release-bot"
        self.calls: list[Call] = []
        self.failures: list[tuple[str, re.Pattern, int, dict, Any, list[int]]] = []
        self.now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
        self._ids = itertools.count(100)
        self._routes: list[tuple[str, re.Pattern, Callable]] = []
        self.add_user(self.token_user, bot=True)
        self._route_table()

    # --- wiring
    def register(self, rsps: responses.RequestsMock) -> "FakeGitLab":
        host = re.escape(f"{urlsplit(self.url).scheme}://{urlsplit(self.url).netloc}")
        for method in ("GET", "POST", "PUT", "DELETE"):
            rsps.add_callback(method, re.compile(host + r"/.*"), callback=self._dispatch)
        return self

    def fail(self, method: str, path_regex: str, status: int, *, headers: dict | None = None, body: Any = None,
             times: int = 1) -> None:
        """The next `times` matching requests answer `status` instead (e.g. a 429 with Retry-After once)."""
        self.failures.append((method, re.compile(path_regex), status, headers or {},
                              body if body is not None else {"message": f"{status} boom"}, [times]))

    def requests(self) -> int:
        return len(self.calls)

    def tick(self, minutes: int = 1) -> dt.datetime:
        self.now += dt.timedelta(minutes=minutes)
        return self.now

    # --- seeding
    def add_user(self, username: str, *, bot: bool | None = None, state: str | None = None) -> int:
        """A user (made once; a later call changes only what it names)."""
        if username not in self.users:
            uid = next(self._ids)
            self.users[username] = {"id": uid, "username": username, "name": username.title(), "state": "active",
                                    "locked": False, "bot": False,
                                    "avatar_url": f"https://secure.gravatar.com/avatar/{uid}?s=80&d=identicon",
                                    "web_url": f"{self.url}/{username}"}
        if state is not None:
            self.users[username].update(state=state, locked=state != "active")
        if bot is not None:
            self.users[username]["bot"] = bot
        return self.users[username]["id"]

    def project(self, path: str) -> FakeProject:
        if path not in self.projects:
            self.projects[path] = FakeProject(id=next(self._ids), path=path)
        return self.projects[path]

    add_project = project

    def add_commit(self, project: str, files: dict[str, bytes | str], *, branch: str | None = None,
                   parent: str | None = None, message: str = "a change", remove: tuple[str, ...] = (),
                   sha: str | None = None) -> str:
        """A commit whose tree is parent's (default: the branch head) with `files` written and `remove` gone;
        `sha` names it (default: a hash of its content)."""
        st = self.project(project)
        parent = parent if parent is not None else st.branches.get(branch) if branch else None
        tree = dict(st.commits[parent].files) if parent else {}
        tree.update({p: c.encode() if isinstance(c, str) else c for p, c in files.items()})
        for path in remove:
            tree.pop(path, None)
        sha = sha or fake_sha(project, len(st.commits), sorted(tree.items()), message)
        st.commits[sha] = FakeCommit(sha, tree, parent, message, self.tick())
        if branch:
            st.branches[branch] = sha
        return sha

    def add_file(self, project: str, path: str, content: bytes | str, *, ref: str = "main") -> str:
        """Add a file on a branch (a new commit) or at an existing commit sha; returns the commit sha."""
        st = self.project(project)
        if ref in st.commits:
            st.commits[ref].files[path] = content.encode() if isinstance(content, str) else content
            return ref
        return self.add_commit(project, {path: content}, branch=ref)

    def add_symlink(self, project: str, path: str, target: str, *, ref: str = "main") -> str:
        return self.add_file(project, path, Symlink(target.encode()), ref=ref)

    def add_tag(self, project: str, name: str, *, sha: str, message: str | None = None,
                created: dt.datetime | None = None) -> None:
        """`date` is the commit's (what order_by=updated sorts by); `created` the tag object's tagger date (an
        annotated tag's own time, by default its commit's), which GitLab 16.11+ answers as `created_at`."""
        st = self.project(project)
        target = fake_sha(project, "tag", name, message) if message else sha
        st.tags[name] = {"target": target, "commit": sha, "message": message or "", "date": st.commits[sha].date,
                         "created": created or st.commits[sha].date}

    def add_group(self, path: str, members: dict[str, int] | None = None) -> FakeGroup:
        """A group (its parents are made too); members: username -> access level (30 Developer)."""
        parent = path.rsplit("/", 1)[0] if "/" in path else None
        if parent and parent not in self.groups:
            self.add_group(parent)
        group = self.groups.setdefault(path, FakeGroup(id=next(self._ids), path=path))
        for user, level in (members or {}).items():
            self.add_user(user)
            group.members[user] = level
        return group

    def set_access(self, project: str, user: str, level: int) -> None:
        """A direct project member with that access level (0 removes)."""
        self.add_user(user)
        if level:
            self.project(project).members[user] = level
        else:
            self.project(project).members.pop(user, None)

    def add_mr(self, project: str, iid: int, *, author: str = "author", source_branch: str, target_branch: str = "main",
               title: str = "A change", diffs: list[dict] | None = None, state: str = "opened", description: str = "") -> FakeMR:
        st = self.project(project)
        self.add_user(author)
        mr = FakeMR(iid=iid, author=author, title=title, source_branch=source_branch, target_branch=target_branch,
                    state=state, diffs=diffs, description=description, id=next(self._ids))
        st.mrs[iid] = mr
        self._new_version(st, mr)
        return mr

    def push(self, project: str, iid: int, files: dict[str, bytes | str], *, message: str = "more") -> str:
        """A push to the MR's source branch: a new diff version; approvals reset when the project says so
        (https://docs.gitlab.com/user/project/merge_requests/approvals/settings/#remove-all-approvals-when-commits-are-added-to-the-source-branch)."""
        st = self.project(project)
        mr = st.mrs[iid]
        sha = self.add_commit(project, files, branch=mr.source_branch, message=message)
        self._new_version(st, mr)
        if st.reset_approvals_on_push:
            mr.approvals.clear()
        return sha

    def force_push(self, project: str, iid: int, files: dict[str, bytes | str]) -> str:
        """Rewrite the source branch from the target branch's head: older versions' heads leave the branch, but
        GitLab keeps those versions (and their commits) for comparing."""
        st = self.project(project)
        mr = st.mrs[iid]
        sha = self.add_commit(project, files, branch=mr.source_branch, parent=st.branches[mr.target_branch], message="rewritten")
        self._new_version(st, mr)
        return sha

    def _new_version(self, st: FakeProject, mr: FakeMR) -> None:
        head = st.branches[mr.source_branch]
        target = st.branches[mr.target_branch]
        base = self._merge_base(st, head, target) or target
        mr.versions.append({"id": next(self._ids), "head_commit_sha": head, "base_commit_sha": base,
                            "start_commit_sha": target, "created_at": _iso(self.tick()), "merge_request_id": mr.id,
                            "state": "collected", "real_size": str(len(self._mr_diffs(st, mr, head, base)))})

    def approve(self, project: str, iid: int, user: str, *, bot: bool | None = None) -> None:
        self.add_user(user, bot=bot)
        mr = self.project(project).mrs[iid]
        mr.approvals = [(u, t) for u, t in mr.approvals if u != user] + [(user, self.tick())]
        if user in mr.reviewers:  # an approving reviewer's state becomes "approved"
            mr.reviewers[user]["state"] = "approved"

    def unapprove(self, project: str, iid: int, user: str) -> None:
        mr = self.project(project).mrs[iid]
        mr.approvals = [(u, t) for u, t in mr.approvals if u != user]

    def request_changes(self, project: str, iid: int, user: str) -> None:
        self.add_user(user)
        mr = self.project(project).mrs[iid]
        self.unapprove(project, iid, user)  # requesting changes takes one's approval back
        mr.reviewers[user] = {"state": "requested_changes", "created_at": _iso(self.tick())}

    def merge(self, project: str, iid: int, *, squash: bool = False, fast_forward: bool = False,
              message: str | None = None, merge_commit: bool = False) -> str:
        """Merge the MR into its target: a new commit on the target's head carrying the MR's changes (its head
        against the merge base; no conflicts modelled: a path both sides changed takes the MR's) (`message`, default
        "Merge branch 'x'"; GitLab's default squash commit message is the MR title, with no "See merge request"
        trailer), or with fast_forward the target moved to the source head, the MR's own (rebased) commits
        landing as they are (https://docs.gitlab.com/user/project/merge_requests/methods/)."""
        st = self.project(project)
        mr = st.mrs[iid]
        mr.state, mr.merged_at = "merged", _iso(self.tick())
        if fast_forward:
            st.branches[mr.target_branch] = st.branches[mr.source_branch]
            return st.branches[mr.target_branch]
        head = st.commits[st.branches[mr.source_branch]]
        base = self._merge_base(st, head.sha, st.branches[mr.target_branch])
        before = st.commits[base].files if base else {}
        sha = self.add_commit(project, {p: c for p, c in head.files.items() if before.get(p) != c},
                              remove=tuple(p for p in before if p not in head.files), branch=mr.target_branch,
                              message=message if message is not None else f"Merge branch '{mr.source_branch}'")
        if squash:
            mr.squash_commit_sha = sha
            if merge_commit:
                # The "Merge commit" methods squash the MR into one commit, then merge THAT with a merge commit
                # (https://gitlab.com/gitlab-org/gitlab/-/issues/150, docs .../merge_requests/squash_and_merge/):
                # the target branch is at the merge commit, merge_commit_sha; the squash commit is its second
                # parent (one parent here). Without merge_commit: a fast-forward method, the squash commit alone.
                sha = self.add_commit(project, {}, branch=mr.target_branch,
                                      message=f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n"
                                              f"{mr.title}\n\nSee merge request {st.path}!{mr.iid}")
                mr.merge_commit_sha = sha
        else:
            mr.merge_commit_sha = sha
        return sha

    def set_job(self, project: str, sha: str, name: str, status: str, *, ref: str | None = None,
                target_url: str | None = None) -> dict:
        """A CI job of sha's pipeline moving to `status` (created, pending, running, success, failed, canceled,
        skipped, manual): the runner moves the same job along; a job that had finished is retried as a new one
        (the old one marked retried). GitLab lists jobs among the commit's statuses, the latest per name.
        https://docs.gitlab.com/api/commits/#list-the-statuses-of-a-commit"""
        st = self.project(project)
        ref = ref or next((br for br, head in sorted(st.branches.items()) if sha in self._ancestors(st, head)), st.default_branch)
        now = _iso(self.tick())
        job = next((j for j in reversed(st.jobs) if j["sha"] == sha and j["name"] == name and not j["retried"]
                    and j["status"] in ("created", "pending", "running", "manual")), None)
        if job is None:
            for older in st.jobs:
                if older["sha"] == sha and older["name"] == name:
                    older["retried"] = True
            job = {"id": next(self._ids), "sha": sha, "ref": ref, "name": name, "status": "created", "retried": False,
                   "allow_failure": False, "author": self.user_json(self.token_user), "pipeline_id": 2,
                   "created_at": now, "started_at": None, "finished_at": None,
                   "target_url": target_url or f"{self.url}/{st.path}/-/jobs/{len(st.jobs) + 1}", "description": None}
            st.jobs.append(job)
        job["status"] = status
        if status == "running":
            job["started_at"] = now
        if status in ("success", "failed", "canceled", "skipped"):
            job["started_at"] = job["started_at"] or now
            job["finished_at"] = now
        return job

    # --- inspection
    def statuses_of(self, project: str, sha: str) -> dict[str, dict]:
        """name -> the latest status job (status, description, target_url) on sha."""
        latest: dict[str, dict] = {}
        for job in self.project(project).jobs:
            if job["sha"] == sha and not job["retried"]:
                latest[job["name"]] = job
        return latest

    def notes_of(self, project: str, iid: int) -> list[str]:
        return [n["body"] for n in self.project(project).mrs[iid].notes if not n["system"]]

    # --- dispatch
    def _dispatch(self, request):
        url = urlsplit(request.url)
        raw_path = url.path
        assert raw_path.startswith(self.api + "/") or raw_path == self.graphql_path, f"outside the API: {request.url}"
        path = "/graphql" if raw_path == self.graphql_path else raw_path[len(self.api):]
        query = {k: (v if k.endswith("[]") else v[-1]) for k, v in parse_qs(url.query).items()}
        body = json.loads(request.body) if request.body else None
        shown = path + (f"?{url.query}" if url.query else "")
        assert request.headers.get("PRIVATE-TOKEN") or request.headers.get("Authorization"), "no token sent"
        for method, pattern, status, headers, failure_body, left in self.failures:
            if method == request.method and pattern.search(path) and left[0] > 0:
                left[0] -= 1
                self.calls.append(Call(request.method, shown, status, body, dict(request.headers)))
                return status, {"Content-Type": "application/json", **headers}, json.dumps(failure_body)
        status, payload, headers = 404, {"message": "404 Not Found"}, {}
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if method == request.method and match:
                status, payload, *extra = handler(query, body, *map(unquote, match.groups()))
                headers = extra[0] if extra else {}
                break
        headers = {"Content-Type": "application/json", "RateLimit-Limit": "2000", "RateLimit-Remaining": "1999", **headers}
        if isinstance(payload, Paged):
            payload, page_headers = self._page(payload.items, query, raw_path)
            headers.update(page_headers)
        if request.method == "GET" and status == 200:
            # Rails' Rack::ETag: a weak ETag over the body; If-None-Match on it answers 304 with no body.
            etag = 'W/"%s"' % hashlib.md5(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
            headers["ETag"] = etag
            if request.headers.get("If-None-Match") == etag:
                self.calls.append(Call(request.method, shown, 304, body, dict(request.headers)))
                return 304, headers, ""
        self.calls.append(Call(request.method, shown, status, body, dict(request.headers)))
        return status, headers, json.dumps(payload, default=str)

    def _page(self, items: list, query: dict, raw_path: str) -> tuple[list, dict]:
        """Offset pagination: https://docs.gitlab.com/api/rest/#pagination (per_page at most 100, default 20)."""
        per_page = max(1, min(int(query.get("per_page", 20)), 100))
        page = int(query.get("page", 1))
        pages = max(1, -(-len(items) // per_page))
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(items)), "X-Total-Pages": str(pages),
                   "X-Next-Page": str(page + 1) if page < pages else "", "X-Prev-Page": str(page - 1) if page > 1 else ""}
        if page < pages:
            origin = f"{urlsplit(self.url).scheme}://{urlsplit(self.url).netloc}"

            def link(n):
                return f"{origin}{raw_path}?{urlencode({**query, 'page': n}, doseq=True)}"
            headers["Link"] = f'<{link(page + 1)}>; rel="next", <{link(1)}>; rel="first", <{link(pages)}>; rel="last"'
        return items[(page - 1) * per_page: page * per_page], headers

    # --- JSON shapes
    def user_json(self, username: str) -> dict:
        if username not in self.users:
            self.add_user(username)
        u = self.users[username]
        return {k: u[k] for k in ("id", "username", "name", "state", "locked", "avatar_url", "web_url")}

    def member_json(self, username: str, level: int) -> dict:
        return {**self.user_json(username), "access_level": level, "created_at": "2026-01-01T00:00:00.000Z",
                "expires_at": None, "membership_state": "active"}

    def commit_json(self, st: FakeProject, sha: str) -> dict:
        c = st.commits[sha]
        return {"id": sha, "short_id": sha[:8], "title": c.message.splitlines()[0] if c.message else "", "message": c.message,
                "author_name": "Someone", "author_email": "someone@example.com", "authored_date": _iso(c.date),
                "committer_name": "Someone", "committer_email": "someone@example.com", "committed_date": _iso(c.date),
                "created_at": _iso(c.date), "parent_ids": [c.parent] if c.parent else [],
                "web_url": f"{self.url}/{st.path}/-/commit/{sha}"}

    def mr_json(self, st: FakeProject, mr: FakeMR) -> dict:
        latest = mr.versions[-1]
        return {
            "id": mr.id, "iid": mr.iid, "project_id": st.id, "title": mr.title, "description": mr.description,
            "state": mr.state, "created_at": mr.versions[0]["created_at"], "updated_at": latest["created_at"],
            "target_branch": mr.target_branch, "source_branch": mr.source_branch, "author": self.user_json(mr.author),
            "assignees": [], "reviewers": [self.user_json(u) for u in mr.reviewers], "source_project_id": st.id,
            "target_project_id": st.id, "labels": list(mr.labels), "draft": mr.draft, "work_in_progress": mr.draft,
            "merge_when_pipeline_succeeds": False, "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
            "sha": latest["head_commit_sha"], "merge_commit_sha": mr.merge_commit_sha, "squash_commit_sha": mr.squash_commit_sha,
            "squash": mr.squash_commit_sha is not None, "user_notes_count": len(mr.notes), "merged_at": mr.merged_at,
            "web_url": f"{self.url}/{st.path}/-/merge_requests/{mr.iid}",
            "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}", "full": f"{st.path}!{mr.iid}"},
            "diff_refs": {"base_sha": latest["base_commit_sha"], "head_sha": latest["head_commit_sha"],
                          "start_sha": latest["start_commit_sha"]},
            "changes_count": self._changes_count(st, mr),
        }

    DIFF_LIMIT = 1000  # https://docs.gitlab.com/administration/instance_limits/#diff-limits (max files)

    def _changes_count(self, st: FakeProject, mr: FakeMR) -> str:
        n = len(self._mr_diffs(st, mr))
        return f"{self.DIFF_LIMIT}+" if n > self.DIFF_LIMIT else str(n)

    def _mr_diffs(self, st: FakeProject, mr: FakeMR, head: str | None = None, base: str | None = None) -> list[dict]:
        if mr.diffs is not None:
            return mr.diffs
        head = head or mr.versions[-1]["head_commit_sha"]
        base = base or mr.versions[-1]["base_commit_sha"]
        return _tree_diff(st.commits[base].files, st.commits[head].files)

    # --- git helpers
    def _ancestors(self, st: FakeProject, sha: str) -> list[str]:
        seen = []
        while sha:
            seen.append(sha)
            sha = st.commits[sha].parent
        return seen

    def _merge_base(self, st: FakeProject, a: str, b: str) -> str | None:
        of_b = set(self._ancestors(st, b))
        return next((s for s in self._ancestors(st, a) if s in of_b), None)

    def _resolve(self, st: FakeProject, ref: str | None) -> str | None:
        ref = ref or st.default_branch
        if ref == "HEAD":
            ref = st.default_branch
        if ref in st.commits:
            return ref
        if ref in st.branches:
            return st.branches[ref]
        if ref in st.tags:
            return st.tags[ref]["commit"]
        return None

    def _last_commit(self, st: FakeProject, sha: str, path: str) -> str:
        content = st.commits[sha].files.get(path)
        while st.commits[sha].parent and st.commits[st.commits[sha].parent].files.get(path) == content:
            sha = st.commits[sha].parent
        return sha

    def _effective_access(self, st: FakeProject, user: str) -> int:
        """Direct project membership or membership of any group above the project (inherited)."""
        levels = [st.members.get(user, 0)]
        parts = st.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            group = self.groups.get("/".join(parts[:i]))
            if group:
                levels.append(group.members.get(user, 0))
        return max(levels)

    def _group(self, ident: str) -> FakeGroup | None:
        if ident.isdigit():
            return next((g for g in self.groups.values() if g.id == int(ident)), None)
        return next((g for p, g in self.groups.items() if p.lower() == ident.lower()), None)

    def _members_all(self, group: FakeGroup) -> dict[str, int]:
        """Direct and inherited (ancestor groups') members, the highest level each."""
        found: dict[str, int] = {}
        parts = group.path.split("/")
        for i in range(1, len(parts) + 1):
            for user, level in self.groups.get("/".join(parts[:i]), FakeGroup(0, "")).members.items():
                found[user] = max(found.get(user, 0), level)
        return found

    def _descendants(self, group: FakeGroup) -> list[FakeGroup]:
        return [g for p, g in sorted(self.groups.items()) if p.lower().startswith(group.path.lower() + "/")]

    # --- routes
    def _route(self, method: str, pattern: str):
        def decorate(fn):
            self._routes.append((method, re.compile(pattern), fn))
            return fn
        return decorate

    def _route_table(self) -> None:  # noqa: C901 - one table, read top to bottom
        R = self._route
        P = r"/projects/([^/]+)"
        MR = P + r"/merge_requests/(\d+)"

        def nf(what="Not"):
            return 404, {"message": f"404 {what} Not Found"}

        def bad(message):
            return 400, {"message": message}

        def proj(ident):
            return self.projects.get(ident) or next((p for p in self.projects.values() if str(p.id) == ident), None)

        def get_mr(ident, iid):
            st = proj(ident)
            return (st, st.mrs.get(int(iid))) if st else (None, None)

        @R("POST", r"/graphql")
        def graphql(q, b):
            return 200, execute(b["query"], b.get("variables") or {}, self.graphql_resolvers())

        @R("GET", r"/users")
        def users(q, b):
            name = (q.get("username") or "").lower()
            return 200, [self.user_json(u) for u in self.users if u.lower() == name]

        @R("GET", P)
        def get_project(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            return 200, {"id": st.id, "path_with_namespace": st.path, "path": st.path.rsplit("/", 1)[-1],
                         "default_branch": st.default_branch, "web_url": f"{self.url}/{st.path}", "visibility": "private"}

        @R("GET", P + r"/merge_requests")
        def list_mrs(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            wanted = q.get("state", "all")
            mrs = [self.mr_json(st, m) for m in sorted(st.mrs.values(), key=lambda m: -m.iid)
                   if wanted in ("all", m.state) and q.get("target_branch") in (None, m.target_branch)]
            return 200, Paged(mrs)

        @R("POST", P + r"/merge_requests")
        def create_mr(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            if b["source_branch"] not in st.branches:
                return bad({"source_branch": ["is invalid"]})
            taken = [m for m in st.mrs.values() if m.state == "opened" and m.source_branch == b["source_branch"]
                     and m.target_branch == b["target_branch"]]
            if taken:
                return 409, {"message": [f"Another open merge request already exists for this source branch: !{taken[0].iid}"]}
            mr = self.add_mr(st.path, max(st.mrs, default=0) + 1, author=self.token_user, source_branch=b["source_branch"],
                             target_branch=b["target_branch"], title=b["title"], description=b.get("description") or "")
            return 201, self.mr_json(st, mr)

        @R("GET", MR)
        def one_mr(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            return (200, self.mr_json(st, mr)) if mr else nf()

        @R("PUT", MR)
        def update_mr(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            if not mr:
                return nf()
            if "reviewer_ids" in b:
                by_id = {u["id"]: name for name, u in self.users.items()}
                kept = {u: r for u, r in mr.reviewers.items() if self.users[u]["id"] in b["reviewer_ids"]}
                for uid in b["reviewer_ids"]:
                    kept.setdefault(by_id[uid], {"state": "unreviewed", "created_at": _iso(self.now)})
                mr.reviewers = kept
            return 200, self.mr_json(st, mr)

        @R("GET", MR + r"/diffs")
        def mr_diffs(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            return (200, Paged(self._mr_diffs(st, mr)[:self.DIFF_LIMIT])) if mr else nf()

        @R("GET", MR + r"/commits")
        def mr_commits(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            if not mr:
                return nf()
            latest = mr.versions[-1]
            base = set(self._ancestors(st, latest["base_commit_sha"]))
            shas = [s for s in self._ancestors(st, latest["head_commit_sha"]) if s not in base]  # newest first
            return 200, Paged([self.commit_json(st, s) for s in shas])

        @R("GET", MR + r"/versions")
        def versions(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            return (200, Paged(list(reversed(mr.versions)))) if mr else nf()  # newest first

        @R("GET", MR + r"/approvals")
        def approvals(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            if not mr:
                return nf()
            return 200, {"id": mr.id, "iid": mr.iid, "project_id": st.id, "title": mr.title, "state": mr.state,
                         "approvals_required": 0, "approvals_left": 0, "approved": bool(mr.approvals),
                         "approved_by": [{"user": self.user_json(u), "approved_at": _iso(t)} for u, t in mr.approvals]}

        @R("GET", MR + r"/reviewers")
        def reviewers(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            if not mr:
                return nf()
            return 200, [{"user": self.user_json(u), "updated_state_by": self.user_json(u), "state": r.get("state", "unreviewed"),
                          "created_at": r["created_at"]} for u, r in mr.reviewers.items()]

        @R("GET", MR + r"/notes")
        def list_notes(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            if not mr:
                return nf()
            notes = sorted(mr.notes, key=lambda n: n["id"], reverse=q.get("sort", "desc") == "desc")
            return 200, Paged(notes)

        @R("POST", MR + r"/notes")
        def add_note(q, b, ident, iid):
            st, mr = get_mr(ident, iid)
            if not mr:
                return nf()
            note = {"id": next(self._ids), "body": b["body"], "author": self.user_json(self.token_user), "system": False,
                    "noteable_type": "MergeRequest", "noteable_iid": mr.iid, "created_at": _iso(self.tick()),
                    "updated_at": _iso(self.now), "resolvable": False}
            mr.notes.append(note)
            return 201, note

        @R("PUT", MR + r"/notes/(\d+)")
        def edit_note(q, b, ident, iid, note_id):
            st, mr = get_mr(ident, iid)
            note = next((n for n in (mr.notes if mr else ()) if n["id"] == int(note_id)), None)
            if not note:
                return nf("Note")
            note.update(body=b["body"], updated_at=_iso(self.tick()))
            return 200, note

        @R("GET", P + r"/repository/commits/([0-9a-f]{40})/merge_requests")
        def commit_mrs(q, b, ident, sha):
            st = proj(ident)
            if not st:
                return nf("Project")
            if sha not in st.commits:
                return nf("Commit")
            # The MRs that hold the commit: among the commits of the MR's latest diff version (head's ancestors
            # not the base's: a rebased-and-fast-forwarded MR's commits too), or its merge or squash commit.
            # https://docs.gitlab.com/api/commits/#list-merge-requests-associated-with-a-commit
            def holds(m: FakeMR) -> bool:
                latest = m.versions[-1]
                own = set(self._ancestors(st, latest["head_commit_sha"])) - set(self._ancestors(st, latest["base_commit_sha"]))
                return sha in own or sha in (m.merge_commit_sha, m.squash_commit_sha)
            return 200, Paged([self.mr_json(st, m) for m in st.mrs.values() if holds(m)])

        @R("GET", P + r"/repository/commits/([^/]+)")
        def one_commit(q, b, ident, ref):
            st = proj(ident)
            sha = self._resolve(st, ref) if st else None
            return (200, self.commit_json(st, sha)) if sha else nf("Commit")

        @R("POST", P + r"/repository/commits")
        def create_commit(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            head = st.branches.get(b["branch"])
            if head is None:
                return bad("You can only create or edit files when you are on a branch")
            tree = st.commits[head].files
            writes = {}
            for action in b["actions"]:
                path = action["file_path"]
                if action["action"] == "create" and path in tree:
                    return bad("A file with this name already exists")
                if action["action"] == "update":
                    if path not in tree:
                        return bad("A file with this name doesn't exist")
                    if action.get("last_commit_id") and action["last_commit_id"] != self._last_commit(st, head, path):
                        return bad("You are attempting to update a file that has changed since you started editing it.")
                content = action["content"]
                writes[path] = base64.b64decode(content) if action.get("encoding") == "base64" else content.encode()
            sha = self.add_commit(st.path, writes, branch=b["branch"], message=b["commit_message"])
            return 201, self.commit_json(st, sha)

        @R("GET", P + r"/repository/commits/([0-9a-f]{40})/statuses")
        def list_statuses(q, b, ident, sha):
            st = proj(ident)
            if not st or sha not in st.commits:
                return nf("Commit")
            jobs = [j for j in st.jobs if j["sha"] == sha and (q.get("all") == "true" or not j["retried"])
                    and q.get("name") in (None, j["name"]) and q.get("ref") in (None, j["ref"])]
            return 200, Paged([self._status_json(j) for j in jobs])

        @R("POST", P + r"/statuses/([0-9a-f]{40})")
        def post_status(q, b, ident, sha):
            st = proj(ident)
            if not st or sha not in st.commits:
                return nf("Commit")
            return self._post_status(st, sha, b)

        @R("GET", P + r"/repository/compare")
        def compare(q, b, ident):
            st = proj(ident)
            old, new = (self._resolve(st, q.get("from")), self._resolve(st, q.get("to"))) if st else (None, None)
            if not old or not new:
                return nf("Ref")
            # straight=false (the default): the diff from the merge base (from...to); straight=true: from's tree
            # to to's tree directly (from..to)
            base = old if q.get("straight") == "true" else self._merge_base(st, old, new) or old
            shas = [s for s in self._ancestors(st, new) if s not in set(self._ancestors(st, base))]
            return 200, {"commit": self.commit_json(st, new), "commits": [self.commit_json(st, s) for s in reversed(shas)],
                         "diffs": _tree_diff(st.commits[base].files, st.commits[new].files), "compare_timeout": False,
                         "compare_same_ref": old == new, "web_url": f"{self.url}/{st.path}/-/compare/{old}...{new}"}

        @R("GET", P + r"/repository/merge_base")
        def merge_base(q, b, ident):
            st = proj(ident)
            refs = [self._resolve(st, r) for r in q.get("refs[]", [])] if st else []
            if len(refs) < 2 or not all(refs):
                return bad("Provide at least 2 refs")
            found = self._merge_base(st, refs[0], refs[1])
            return (200, self.commit_json(st, found)) if found else nf("Merge Base")

        @R("GET", P + r"/repository/files/([^/]+)")
        def get_file(q, b, ident, path):
            st = proj(ident)
            sha = self._resolve(st, q.get("ref")) if st else None
            if not sha or path not in st.commits[sha].files:
                return nf("File")
            content = st.commits[sha].files[path]
            return 200, {"file_name": path.rsplit("/", 1)[-1], "file_path": path, "size": len(content), "encoding": "base64",
                         "content": base64.b64encode(content).decode(), "content_sha256": hashlib.sha256(content).hexdigest(),
                         "ref": q.get("ref"), "blob_id": blob_sha(content), "commit_id": sha,
                         "last_commit_id": self._last_commit(st, sha, path)}

        @R("GET", P + r"/repository/branches/([^/]+)")
        def branch(q, b, ident, name):
            st = proj(ident)
            if not st or name not in st.branches:
                return nf("Branch")
            return 200, {"name": name, "commit": self.commit_json(st, st.branches[name]), "merged": False,
                         "protected": name == st.default_branch, "default": name == st.default_branch}

        @R("POST", P + r"/repository/branches")
        def create_branch(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            if b["branch"] in st.branches:
                return bad("Branch already exists")
            sha = self._resolve(st, b["ref"])
            if not sha:
                return bad("Invalid reference name")
            st.branches[b["branch"]] = sha
            return 201, {"name": b["branch"], "commit": self.commit_json(st, sha)}

        @R("GET", P + r"/repository/tags")
        def tags(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            names = sorted(st.tags, key=lambda n: (st.tags[n]["date"], n), reverse=q.get("sort", "desc") == "desc")
            if q.get("order_by") == "name":
                names = sorted(st.tags, reverse=q.get("sort", "desc") == "desc")
            return 200, Paged([self._tag_json(st, n) for n in names])

        @R("GET", P + r"/repository/tags/([^/]+)")
        def one_tag(q, b, ident, name):
            st = proj(ident)
            return (200, self._tag_json(st, name)) if st and name in st.tags else nf("Tag")

        @R("POST", P + r"/repository/tags")
        def create_tag(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            if b["tag_name"] in st.tags:
                return bad(f"Tag {b['tag_name']} already exists")
            sha = self._resolve(st, b["ref"])
            if not sha:
                return bad("Target " + b["ref"] + " is invalid")
            # the tag object is made now, whenever its commit was: https://docs.gitlab.com/api/tags/#create-a-new-tag
            self.add_tag(st.path, b["tag_name"], sha=sha, message=b.get("message") or None, created=self.tick())
            return 201, self._tag_json(st, b["tag_name"])

        @R("GET", P + r"/releases/([^/]+)")
        def release(q, b, ident, tag):
            st = proj(ident)
            return (200, st.releases[tag]) if st and tag in st.releases else nf()

        @R("POST", P + r"/releases")
        def create_release(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            if b["tag_name"] in st.releases:
                return 409, {"message": "Release already exists"}
            if b["tag_name"] not in st.tags:
                return 422, {"message": "Tag does not exist"}
            rel = {"tag_name": b["tag_name"], "name": b.get("name"), "description": b.get("description"),
                   "created_at": _iso(self.now), "released_at": _iso(self.now), "author": self.user_json(self.token_user),
                   "commit": self.commit_json(st, st.tags[b["tag_name"]]["commit"]),
                   "_links": {"self": f"{self.url}/{st.path}/-/releases/{b['tag_name']}"}}
            st.releases[b["tag_name"]] = rel
            return 201, rel

        @R("GET", P + r"/members/all/(\d+)")
        def project_member(q, b, ident, uid):
            st = proj(ident)
            user = next((u for u, d in self.users.items() if d["id"] == int(uid)), None)
            level = self._effective_access(st, user) if st and user else 0
            return (200, self.member_json(user, level)) if level else nf()

        @R("GET", P + r"/members/all")
        def project_members(q, b, ident):
            st = proj(ident)
            if not st:
                return nf("Project")
            ids = {int(i) for i in q.get("user_ids[]", [])}
            found = [self.member_json(u, self._effective_access(st, u)) for u in self.users
                     if self._effective_access(st, u) and (not ids or self.users[u]["id"] in ids)]
            return 200, Paged(found)

        @R("GET", r"/groups/([^/]+)/members/all")
        def group_members_all(q, b, ident):
            group = self._group(ident)
            return (200, Paged([self.member_json(u, lv) for u, lv in self._members_all(group).items()])) if group else nf("Group")

        @R("GET", r"/groups/([^/]+)/members")
        def group_members(q, b, ident):
            group = self._group(ident)
            return (200, Paged([self.member_json(u, lv) for u, lv in group.members.items()])) if group else nf("Group")

        @R("GET", r"/groups/([^/]+)/descendant_groups")
        def descendants(q, b, ident):
            group = self._group(ident)
            if not group:
                return nf("Group")
            return 200, Paged([{"id": g.id, "name": g.path.rsplit("/", 1)[-1], "path": g.path.rsplit("/", 1)[-1],
                                "full_path": g.path, "parent_id": self.groups[g.path.rsplit("/", 1)[0]].id}
                               for g in self._descendants(group)])

    # --- statuses: GitLab's state machine (app/models/commit_status.rb)
    def _status_json(self, job: dict) -> dict:
        return {k: job[k] for k in ("id", "sha", "ref", "status", "name", "target_url", "description", "created_at",
                                    "started_at", "finished_at", "allow_failure", "author", "pipeline_id")}

    _EVENTS = {  # state asked -> [(event, from-states allowed)]
        "pending": [("enqueue", {"created"})],
        "running": [("enqueue", {"created"}), ("run", {"pending"})],
        "success": [("success", {"created", "pending", "running"})],
        "failed": [("drop", {"created", "pending", "running"})],
        "canceled": [("cancel", {"created", "pending", "running"})],
        "skipped": [("skip", {"created", "pending"})],
    }
    _TARGET = {"enqueue": "pending", "run": "running", "success": "success", "drop": "failed", "cancel": "canceled", "skip": "skipped"}

    def _post_status(self, st: FakeProject, sha: str, b: dict) -> tuple:
        state = b.get("state")
        if state not in self._EVENTS:
            return 400, {"error": "state does not have a valid value"}
        for key in ("description", "target_url"):
            if len(b.get(key) or "") > 255:
                return 400, {"message": {key: ["is too long (maximum is 255 characters)"]}}
        name = b.get("name") or b.get("context") or "default"
        ref = b.get("ref") or next((br for br, head in sorted(st.branches.items()) if sha in self._ancestors(st, head)), None)
        if ref is None:
            return 404, {"message": "404 References for commit Not Found"}
        job = next((j for j in st.jobs if j["sha"] == sha and j["name"] == name and j["ref"] == ref
                    and j["status"] in ("pending", "running") and not j["retried"]), None)
        new = job is None
        if new:
            job = {"id": next(self._ids), "sha": sha, "ref": ref, "name": name, "status": "created", "retried": False,
                   "allow_failure": False, "author": self.user_json(self.token_user), "pipeline_id": 1,
                   "created_at": _iso(self.tick()), "started_at": None, "finished_at": None, "target_url": None,
                   "description": None}
        status = job["status"]
        for event, allowed in self._EVENTS[state]:
            if status not in allowed:
                if state == "running" and event == "enqueue":
                    continue  # the service calls the non-raising `enqueue` first, then `run!`
                return 400, {"message": f"Cannot transition status via :{event} from :{status}"}
            status = self._TARGET[event]
        job.update(status=status, target_url=b.get("target_url", job["target_url"]),
                   description=b.get("description", job["description"]))
        if new:
            for older in st.jobs:  # CommitStatus#update_older_statuses_retried!
                if older["sha"] == sha and older["name"] == name:
                    older["retried"] = True
            st.jobs.append(job)
        return 201, self._status_json(job)

    def _tag_json(self, st: FakeProject, name: str) -> dict:
        t = st.tags[name]
        return {"name": name, "message": t["message"], "target": t["target"], "commit": self.commit_json(st, t["commit"]),
                "release": None, "protected": False, "created_at": _iso(t["created"]) if t["message"] else None}

    # --- GraphQL: the slice the adapter reads (project.repository.blobs, group.groupMembers)
    def graphql_resolvers(self) -> dict:
        def project(parent, args):
            st = self.projects.get(args["fullPath"]) or next(
                (p for path, p in self.projects.items() if path.lower() == str(args["fullPath"]).lower()), None)
            return {"__typename": "Project", "fullPath": st.path, "_st": st} if st else None  # unknown: null, no error

        def repository(parent, args):
            return {"__typename": "Repository", "_st": parent["_st"]}

        def blobs(parent, args):
            st: FakeProject = parent["_st"]
            sha = self._resolve(st, args.get("ref") or "HEAD")
            files = st.commits[sha].files if sha else {}
            nodes = []
            for path in args.get("paths") or ():
                if path in files:
                    content = files[path]
                    nodes.append({"__typename": "RepositoryBlob", "path": path, "name": path.rsplit("/", 1)[-1],
                                  "oid": blob_sha(content), "mode": SYMLINK if isinstance(content, Symlink) else "100644",
                                  "size": len(content), "rawBlob": content.decode("utf-8", "replace")})
            return {"nodes": nodes}

        def group(parent, args):
            found = self._group(str(args["fullPath"]))
            return {"__typename": "Group", "fullPath": found.path, "_group": found} if found else None

        def group_members(parent, args):
            g: FakeGroup = parent["_group"]
            relations = set(args.get("relations") or ["DIRECT", "INHERITED"])
            found: dict[str, int] = {}
            if "DIRECT" in relations:
                found.update(g.members)
            if "INHERITED" in relations:
                for user, level in self._members_all(g).items():
                    found.setdefault(user, level)
            if "DESCENDANTS" in relations:
                for sub in self._descendants(g):
                    for user, level in sub.members.items():
                        found.setdefault(user, level)
            everyone = sorted(found)
            start = int(base64.b64decode(args["after"]).decode()) if args.get("after") else 0
            chunk = everyone[start:start + min(int(args.get("first") or 100), 100)]
            end = start + len(chunk)
            return {"nodes": [{"user": {"username": u, "bot": self.users[u]["bot"], "state": self.users[u]["state"]},
                               "accessLevel": {"integerValue": found[u]}} for u in chunk],
                    "pageInfo": {"hasNextPage": end < len(everyone), "endCursor": base64.b64encode(str(end).encode()).decode()}}

        return {("Query", "project"): project, ("Project", "repository"): repository, ("Repository", "blobs"): blobs,
                ("Query", "group"): group, ("Group", "groupMembers"): group_members}


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _tree_diff(old: dict[str, bytes], new: dict[str, bytes]) -> list[dict]:
    """Diff entries as .../diffs and repository/compare give them (no rename detection: seed `diffs` for that)."""
    out = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) == new.get(path):
            continue
        out.append(diff_json(path, new_file=path not in old, deleted_file=path not in new))
    return out


def diff_json(path: str, *, old_path: str | None = None, new_file: bool = False, deleted_file: bool = False,
              renamed_file: bool = False) -> dict:
    return {"old_path": old_path or path, "new_path": path, "a_mode": "100644", "b_mode": "100644",
            "new_file": new_file, "renamed_file": renamed_file, "deleted_file": deleted_file,
            "diff": "@@ -1 +1 @@\n-old\n+new\n", "collapsed": False, "too_large": False, "generated_file": False}
