"""A small stateful GitHub REST server on `responses`: realistic JSON, Link pagination, ETags/304, 422s.

It serves the GitHubForge tests, the Forge contract tests and bench/api_calls.py. Shapes follow the REST
reference (docs.github.com/en/rest); only the fields a client reads plus the usual neighbours are filled.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import responses

from tests.forge.fakegraphql import GraphQLError, execute

GITHUB_API = "https://api.github.com"
GHES_API = "https://ghe.example.com/api/v3"


class Symlink(bytes):
    """A file's content that is a symbolic link (git mode 120000): the bytes are the target path, as git stores it."""


# https://docs.github.com/en/rest/git/trees#create-a-tree: 100644 file, 100755 executable, 040000 subdirectory,
# 160000 submodule, 120000 symlink. GraphQL's TreeEntry.mode gives the same numbers as decimal Ints.
MODE_FILE, MODE_TREE, MODE_SYMLINK = 0o100644, 0o040000, 0o120000


def blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Call:
    method: str
    path: str  # without the API prefix, with the query string
    status: int
    body: Any = None
    headers: dict = field(default_factory=dict)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


@dataclass
class FakeRepo:
    id: int
    default_branch: str = "main"
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> {path: content}
    branches: dict[str, str] = field(default_factory=dict)  # name -> sha
    tag_refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (type, sha)
    tag_objects: dict[str, dict] = field(default_factory=dict)
    pulls: dict[int, dict] = field(default_factory=dict)
    pull_files: dict[int, list[dict]] = field(default_factory=dict)
    reviews: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))
    pull_commits: dict[int, list[dict]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    compares: dict[tuple[str, str], dict] = field(default_factory=dict)
    commit_files: dict[str, list[dict]] = field(default_factory=dict)  # GET commits/{sha} files
    roles: dict[str, str] = field(default_factory=dict)  # login -> role_name
    check_runs: dict[int, dict] = field(default_factory=dict)
    releases: dict[str, dict] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    comment_ids: dict[int, tuple[int, int]] = field(default_factory=dict)  # comment id -> (number, index in comments)
    requested: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))  # sha -> commit statuses (ENV-release)
    deployments: list[dict] = field(default_factory=list)  # newest first, each with "statuses" newest first (ENV-release)


class FakeGitHub:
    """Register with `responses`; seed state with the add_* helpers; inspect `calls`."""

    def __init__(self, base_url: str = GITHUB_API, *, our_app_id: int = 4242) -> None:
        self.base_url = base_url.rstrip("/")
        self.prefix = urlsplit(self.base_url).path  # "" on github.com, "/api/v3" on GHES
        # GraphQL lives at /graphql on api.github.com and at /api/graphql on GHES (beside /api/v3).
        self.graphql_path = (self.prefix[:-len("/v3")] if self.prefix.endswith("/v3") else self.prefix) + "/graphql"
        self.our_app_id = our_app_id
        self.repos: dict[str, FakeRepo] = {}
        self.teams: dict[tuple[str, str], list[str]] = {}
        self.team_repos: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)  # team -> {repo: "write"}
        self.hidden_teams: set[tuple[str, str]] = set()  # members not readable: no "Members: read" permission
        self.calls: list[Call] = []
        self.failures: list[tuple[str, re.Pattern, int, dict, Any, list[int]]] = []
        self._ids = itertools.count(5000)
        self.tokens_issued = 0
        self._routes: list[tuple[str, re.Pattern, Callable]] = []
        self._route_table()

    # --- wiring
    def register(self, rsps: responses.RequestsMock) -> "FakeGitHub":
        parts = urlsplit(self.base_url)
        host = re.escape(f"{parts.scheme}://{parts.hostname}") + r"(:\d+)?"  # PyGithub spells out :443
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            rsps.add_callback(method, re.compile(host + r"/.*"), callback=self._dispatch)
        return self

    def fail(self, method: str, path_regex: str, status: int, *, headers: dict | None = None, body: Any = None, times: int = 1) -> None:
        """The next `times` matching requests answer `status` instead."""
        self.failures.append((method, re.compile(path_regex), status, headers or {}, body or {"message": "boom"}, [times]))

    def requests(self) -> int:
        return len(self.calls)

    # --- seeding
    def repo(self, full_name: str) -> FakeRepo:
        if full_name not in self.repos:
            self.repos[full_name] = FakeRepo(id=next(self._ids))
        return self.repos[full_name]

    def add_commit(self, repo: str, files: dict[str, bytes | str], *, branch: str | None = None, parent: str | None = None) -> str:
        state = self.repo(repo)
        base = dict(state.commits.get(parent, {})) if parent else {}
        base.update({p: c.encode() if isinstance(c, str) else c for p, c in files.items()})
        sha = fake_sha(repo, len(state.commits), sorted(base))
        state.commits[sha] = base
        if branch:
            state.branches[branch] = sha
        return sha

    def add_file(self, repo: str, path: str, content: bytes | str, *, ref: str = "main") -> str:
        """Add a file on a branch (a new commit) or at an existing commit sha; returns the commit sha."""
        state = self.repo(repo)
        if ref in state.commits:
            state.commits[ref][path] = content.encode() if isinstance(content, str) else content
            return ref
        return self.add_commit(repo, {path: content}, branch=ref, parent=state.branches.get(ref))

    def add_symlink(self, repo: str, path: str, target: str, *, ref: str = "main") -> str:
        """A symbolic link at `path` pointing at `target` (relative to the link's directory, as git stores it)."""
        return self.add_file(repo, path, Symlink(target.encode()), ref=ref)

    def add_tag(self, repo: str, name: str, *, sha: str, message: str | None = None) -> str:
        """A lightweight tag (no message) or an annotated one (a tag object; `sha` may name another tag object,
        so a tag of a tag can be made); returns the sha the ref points at."""
        state = self.repo(repo)
        if message is None:
            state.tag_refs[name] = ("commit", sha)
            return sha
        kind = "tag" if sha in state.tag_objects else "commit"
        obj = fake_sha(repo, "tag", name, message, sha)
        state.tag_objects[obj] = {"sha": obj, "tag": name, "message": message, "object": {"type": kind, "sha": sha},
                                  "tagger": {"name": "someone", "date": "2026-11-20T10:00:00Z"}}
        state.tag_refs[name] = ("tag", obj)
        return obj

    def add_team(self, team: str, members: list[str], *, repos: dict[str, str] | None = None) -> None:
        """members: everyone, child teams' members included; repos: {"owner/name": "write"} the team grants."""
        org, slug = team.lstrip("@").split("/")
        self.teams[(org.lower(), slug.lower())] = list(members)
        self.team_repos[(org.lower(), slug.lower())].update(repos or {})

    def add_pull(self, repo: str, number: int, *, author: str = "octocat", head_sha: str, base_sha: str,
                 head_ref: str = "feature", base_ref: str = "main", files: list[dict] = (), commits: list[dict] = (),
                 state: str = "open", title: str = "A change") -> dict:
        st = self.repo(repo)
        pull = pull_json(self, repo, number, author=author, head_sha=head_sha, base_sha=base_sha, head_ref=head_ref,
                         base_ref=base_ref, state=state, title=title)
        st.pulls[number] = pull
        st.pull_files[number] = list(files)
        st.pull_commits[number] = list(commits)
        st.commit_pulls[head_sha].append(number)
        return pull

    def merge_pull(self, repo: str, number: int, *, commits: list[str], merged_at: str = "2026-11-20T12:00:00Z",
                   merge_commit_sha: str | None = None) -> dict:
        """Pull `number` (added with add_pull) merged into its base at merged_at; `commits` are the shas it
        brought to the base (a rebase merge's rebased commits, a squash commit, a merge commit and the pull's
        own): GitHub then lists the pull in each one's associatedPullRequests and commits/{sha}/pulls."""
        pull = self.repo(repo).pulls[number]
        pull.update(state="closed", merged=True, merged_at=merged_at, closed_at=merged_at,
                    merge_commit_sha=merge_commit_sha or (commits[-1] if commits else None))
        for sha in commits:
            if number not in self.repo(repo).commit_pulls[sha]:
                self.repo(repo).commit_pulls[sha].append(number)
        return pull

    def add_review(self, repo: str, number: int, *, user: str, state: str, commit_id: str, bot: bool = False) -> dict:
        review_id = next(self._ids)
        review = {
            "id": review_id, "node_id": f"PRR_{review_id}", "user": user_json(user, bot=bot), "body": "",
            "state": state, "html_url": f"https://github.com/{repo}/pull/{number}#pullrequestreview-{review_id}",
            "pull_request_url": f"{self.base_url}/repos/{repo}/pulls/{number}", "author_association": "MEMBER",
            "_links": {}, "submitted_at": "2026-11-20T10:00:00Z", "commit_id": commit_id,
        }
        self.repo(repo).reviews[number].append(review)
        self._touch(repo, number)  # GitHub bumps the pull's updated_at on every review
        return review

    def _touch(self, repo: str, number: int) -> None:
        pull = self.repo(repo).pulls.get(number)
        if pull is not None:
            pull["updated_at"] = f"2026-11-20T10:{len(self.calls) % 60:02d}:{next(self._ids) % 60:02d}Z"

    # --- dispatch
    def _dispatch(self, request):
        url = urlsplit(request.url)
        assert url.path.startswith(self.prefix + "/") or url.path == self.graphql_path, f"request outside the API: {request.url}"
        path = "/graphql" if url.path == self.graphql_path else url.path[len(self.prefix):]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = json.loads(request.body) if request.body else None
        shown = path + (f"?{url.query}" if url.query else "")
        for method, pattern, status, headers, failure_body, left in self.failures:
            if method == request.method and pattern.search(path) and left[0] > 0:
                left[0] -= 1
                self.calls.append(Call(request.method, shown, status, body, dict(request.headers)))
                return status, headers, json.dumps(failure_body)
        status, payload, headers = 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if method == request.method and match:
                status, payload, *extra = handler(query, body, *map(unquote, match.groups()))
                headers = extra[0] if extra else {}
                break
        headers = {"Content-Type": "application/json; charset=utf-8", "x-ratelimit-limit": "5000",
                   "x-ratelimit-remaining": "4999", **headers}
        if request.method == "GET" and status == 200:
            payload, link = self._page(payload, query, path)
            if link:
                headers["Link"] = link
            etag = 'W/"%s"' % hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
            headers["ETag"] = etag
            if request.headers.get("If-None-Match") == etag:
                self.calls.append(Call(request.method, shown, 304, body, dict(request.headers)))
                return 304, headers, ""
        self.calls.append(Call(request.method, shown, status, body, dict(request.headers)))
        return status, headers, "" if payload is None else json.dumps(payload)

    def _page(self, payload: Any, query: dict, path: str) -> tuple[Any, str | None]:
        """GitHub's offset pagination with a Link header; lists and dicts with a listed key."""
        if isinstance(payload, Paged):
            per_page = min(int(query.get("per_page", 30)), payload.max_per_page)
            page = int(query.get("page", 1))
            items = payload.items[:payload.cap]
            chunk = items[(page - 1) * per_page: page * per_page]
            pages = max(1, -(-len(items) // per_page))
            link = None
            if page < pages:
                def url(n):
                    return f"{self.base_url}{path}?{urlencode({**query, 'page': n})}"
                link = f'<{url(page + 1)}>; rel="next", <{url(pages)}>; rel="last"'
            return payload.wrap(chunk, page), link
        return payload, None

    def _route(self, method: str, pattern: str):
        def decorate(fn):
            self._routes.append((method, re.compile(pattern), fn))
            return fn
        return decorate

    def _route_table(self) -> None:  # noqa: C901 - one table, read top to bottom
        R = self._route
        repo_re = r"/repos/([^/]+/[^/]+)"

        def not_found():
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

        def unprocessable(message, errors=()):
            return 422, {"message": message, "errors": list(errors), "documentation_url": "https://docs.github.com/rest"}

        def resolve(st: FakeRepo, ref: str) -> str | None:
            if ref in st.commits:
                return ref
            if ref in st.branches:
                return st.branches[ref]
            if ref in st.tag_refs:
                kind, sha = st.tag_refs[ref]
                while kind == "tag":
                    kind, sha = st.tag_objects[sha]["object"]["type"], st.tag_objects[sha]["object"]["sha"]
                return sha
            return None

        @R("POST", r"/app/installations/(\d+)/access_tokens")
        def installation_token(q, b, installation_id):
            self.tokens_issued += 1
            return 201, {"token": f"ghs_installation{installation_id}token{self.tokens_issued}", "expires_at": "2099-01-01T00:00:00Z",
                         "permissions": {"checks": "write", "contents": "write", "pull_requests": "write"},
                         "repository_selection": "all"}

        @R("POST", r"/graphql")
        def graphql(q, b):
            # GraphQL answers 200 even for errors; they come in an `errors` array beside `data`.
            return 200, execute(b["query"], b.get("variables") or {}, self.graphql_resolvers())

        @R("GET", repo_re)
        def get_repo(q, b, repo):
            if repo not in self.repos:
                return not_found()
            st = self.repos[repo]
            owner, name = repo.split("/")
            return 200, {"id": st.id, "name": name, "full_name": repo, "private": True, "owner": user_json(owner),
                         "html_url": f"https://github.com/{repo}", "default_branch": st.default_branch}

        @R("GET", repo_re + r"/pulls/(\d+)")
        def get_pull(q, b, repo, number):
            st = self.repos.get(repo)
            if not st or int(number) not in st.pulls:
                return not_found()
            return 200, st.pulls[int(number)]

        @R("GET", repo_re + r"/pulls")
        def list_pulls(q, b, repo):
            st = self.repos.get(repo) or FakeRepo(0)
            pulls = [p for p in st.pulls.values() if p["state"] == q.get("state", "open")
                     and q.get("base") in (None, p["base"]["ref"])]
            return 200, Paged(pulls)

        @R("GET", repo_re + r"/pulls/(\d+)/files")
        def pull_files(q, b, repo, number):
            st = self.repos.get(repo)
            if not st or int(number) not in st.pulls:
                return not_found()
            return 200, Paged(st.pull_files[int(number)], cap=3000)

        @R("GET", repo_re + r"/pulls/(\d+)/reviews")
        def reviews(q, b, repo, number):
            st = self.repos.get(repo)
            if not st or int(number) not in st.pulls:
                return not_found()
            return 200, Paged(st.reviews[int(number)])

        @R("GET", repo_re + r"/pulls/(\d+)/commits")
        def pull_commits(q, b, repo, number):
            st = self.repos.get(repo)
            if not st or int(number) not in st.pulls:
                return not_found()
            return 200, Paged(st.pull_commits[int(number)], cap=250)

        @R("GET", repo_re + r"/commits/([0-9a-f]{40})/pulls")
        def commit_pulls(q, b, repo, sha):
            st = self.repos.get(repo) or FakeRepo(0)
            return 200, Paged([st.pulls[n] for n in st.commit_pulls.get(sha, ())])

        @R("POST", repo_re + r"/pulls/(\d+)/requested_reviewers")
        def request_reviewers(q, b, repo, number):
            st = self.repos.get(repo)
            if not st or int(number) not in st.pulls:
                return not_found()
            st.requested[int(number)].append(b)
            pull = st.pulls[int(number)]
            org = repo.split("/")[0]
            pull["requested_teams"] += [{"slug": t, "name": t, "html_url": f"https://github.com/orgs/{org}/teams/{t}"}
                                        for t in b.get("team_reviewers", ())]
            pull["requested_reviewers"] += [user_json(u) for u in b.get("reviewers", ())]
            self._touch(repo, int(number))
            return 201, pull

        @R("POST", repo_re + r"/pulls")
        def create_pull(q, b, repo):
            st = self.repo(repo)
            if b["head"] not in st.branches:
                return unprocessable("Validation Failed", [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
            if any(p["state"] == "open" and p["head"]["ref"] == b["head"] and p["base"]["ref"] == b["base"] for p in st.pulls.values()):
                owner = repo.split("/")[0]
                return unprocessable("Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                            "message": f"A pull request already exists for {owner}:{b['head']}."}])
            number = max(st.pulls, default=0) + 1
            pull = pull_json(self, repo, number, author="release-coordinator[bot]", head_sha=st.branches[b["head"]],
                             base_sha=st.branches.get(b["base"], ""), head_ref=b["head"], base_ref=b["base"],
                             title=b["title"], body=b.get("body"))
            st.pulls[number] = pull
            st.pull_files[number], st.pull_commits[number] = [], []
            return 201, pull

        @R("POST", repo_re + r"/issues/(\d+)/comments")
        def comment(q, b, repo, number):
            st = self.repo(repo)
            st.comments[int(number)].append(b["body"])
            comment_id = next(self._ids)
            st.comment_ids[comment_id] = (int(number), len(st.comments[int(number)]) - 1)
            return 201, {"id": comment_id, "body": b["body"]}

        @R("GET", repo_re + r"/issues/(\d+)/comments")
        def list_comments(q, b, repo, number):
            # https://docs.github.com/en/rest/issues/comments#list-issue-comments (oldest first)
            st = self.repo(repo)
            ids = sorted((i, at) for i, (n, at) in st.comment_ids.items() if n == int(number))
            return 200, Paged([{"id": i, "body": st.comments[int(number)][at]} for i, at in ids])

        @R("PATCH", repo_re + r"/issues/comments/(\d+)")
        def edit_comment(q, b, repo, comment_id):
            # https://docs.github.com/en/rest/issues/comments#update-an-issue-comment
            st = self.repo(repo)
            if int(comment_id) not in st.comment_ids:
                return 404, {"message": "Not Found"}
            number, at = st.comment_ids[int(comment_id)]
            st.comments[number][at] = b["body"]
            return 200, {"id": int(comment_id), "body": b["body"]}

        @R("GET", repo_re + r"/compare/([^/]+)\.\.\.([^/]+)")
        def compare(q, b, repo, base, head):
            st = self.repos.get(repo)
            found = st and st.compares.get((base, head))
            if not found:
                return not_found()
            per_page = min(int(q.get("per_page", 250)), 100 if "per_page" in q else 250)
            page = int(q.get("page", 1))
            commits = found["commits"]
            body = {**found, "commits": commits[(page - 1) * per_page: page * per_page],
                    "files": found["files"][:300] if page == 1 else []}
            pages = max(1, -(-len(commits) // per_page))
            headers = {}
            if page < pages:
                headers["Link"] = f'<{self.base_url}/repos/{repo}/compare/{base}...{head}?{urlencode({**q, "page": page + 1})}>; rel="next"'
            return 200, body, headers

        @R("GET", repo_re + r"/commits/([0-9a-f]{40})")
        def get_commit(q, b, repo, sha):
            st = self.repos.get(repo)
            if not st or sha not in st.commit_files:
                return not_found()
            files = st.commit_files[sha]
            return 200, Paged(files, cap=3000, wrap=lambda chunk, page: {**commit_json(sha, "a commit"), "files": chunk})

        @R("GET", repo_re + r"/contents/(.+)")
        def contents(q, b, repo, path):
            st = self.repos.get(repo)
            if not st:
                return not_found()
            sha = resolve(st, q.get("ref") or st.default_branch)
            files = st.commits.get(sha) if sha else None
            if files is None:
                return 404, {"message": f"No commit found for the ref {q.get('ref')}"}
            if path not in files:
                if any(p.startswith(path + "/") for p in files):
                    return 200, [{"type": "file", "name": p.rsplit("/", 1)[-1], "path": p} for p in files if p.startswith(path + "/")]
                return not_found()
            content = files[path]
            if isinstance(content, Symlink):
                # "If the requested {path} points to a symlink, and the symlink's target is a normal file in the
                # repository, then the API responds with the content of the file. Otherwise, the API responds with
                # an object describing the symlink itself." (REST: get repository content)
                target = posixpath.normpath(posixpath.join(posixpath.dirname(path), content.decode()))
                if target in files and not isinstance(files[target], Symlink):
                    path, content = target, files[target]
                else:
                    return 200, {"type": "symlink", "target": content.decode(), "size": len(content), "path": path,
                                 "name": path.rsplit("/", 1)[-1], "sha": blob_sha(content)}
            return 200, {"type": "file", "encoding": "base64", "size": len(content), "name": path.rsplit("/", 1)[-1],
                         "path": path, "content": base64.encodebytes(content).decode(), "sha": blob_sha(content),
                         "url": f"{self.base_url}/repos/{repo}/contents/{path}?ref={q.get('ref')}"}

        @R("PUT", repo_re + r"/contents/(.+)")
        def put_contents(q, b, repo, path):
            st = self.repo(repo)
            branch = b.get("branch") or st.default_branch
            head = st.branches.get(branch)
            current = st.commits.get(head, {}).get(path) if head else None
            if current is not None and "sha" not in b:
                return unprocessable('Invalid request.\n\n"sha" wasn\'t supplied.')
            if current is not None and b["sha"] != blob_sha(current):
                return 409, {"message": f"{path} does not match {b['sha']}", "documentation_url": "https://docs.github.com/rest"}
            new = self.add_commit(repo, {path: base64.b64decode(b["content"])}, branch=branch, parent=head)
            content = st.commits[new][path]
            return (200 if current is not None else 201), {"content": {"path": path, "sha": blob_sha(content)},
                                                          "commit": {"sha": new, "message": b["message"]}}

        @R("GET", repo_re + r"/git/ref/heads/(.+)")
        def branch_ref(q, b, repo, name):
            st = self.repos.get(repo)
            if not st or name not in st.branches:
                return not_found()
            return 200, {"ref": f"refs/heads/{name}", "object": {"type": "commit", "sha": st.branches[name]}}

        @R("GET", repo_re + r"/git/ref/tags/(.+)")
        def tag_ref(q, b, repo, name):
            st = self.repos.get(repo)
            if not st or name not in st.tag_refs:
                return not_found()
            kind, sha = st.tag_refs[name]
            return 200, {"ref": f"refs/tags/{name}", "object": {"type": kind, "sha": sha}}

        @R("GET", repo_re + r"/git/tags/([0-9a-f]{40})")
        def tag_object(q, b, repo, sha):
            st = self.repos.get(repo)
            if not st or sha not in st.tag_objects:
                return not_found()
            return 200, st.tag_objects[sha]

        @R("POST", repo_re + r"/git/tags")
        def create_tag_object(q, b, repo):
            st = self.repo(repo)
            sha = fake_sha(repo, "tag", b["tag"], b["message"], b["object"])
            st.tag_objects[sha] = {"sha": sha, "tag": b["tag"], "message": b["message"],
                                   "tagger": {"name": "release-coordinator[bot]", "date": "2026-11-20T10:00:00Z"},
                                   "object": {"type": b["type"], "sha": b["object"]}, "verification": {"verified": False}}
            return 201, st.tag_objects[sha]

        @R("POST", repo_re + r"/git/refs")
        def create_ref(q, b, repo):
            st = self.repo(repo)
            ref = b["ref"]
            if ref.startswith("refs/tags/"):
                name = ref[len("refs/tags/"):]
                if name in st.tag_refs:
                    return unprocessable("Reference already exists")
                st.tag_refs[name] = ("tag" if b["sha"] in st.tag_objects else "commit", b["sha"])
            elif ref.startswith("refs/heads/"):
                name = ref[len("refs/heads/"):]
                if name in st.branches:
                    return unprocessable("Reference already exists")
                if b["sha"] not in st.commits:
                    return unprocessable("Object does not exist")
                st.branches[name] = b["sha"]
            return 201, {"ref": ref, "object": {"sha": b["sha"]}}

        @R("GET", repo_re + r"/tags")
        def list_tags(q, b, repo):
            st = self.repos.get(repo) or FakeRepo(0)
            return 200, Paged([{"name": n, "commit": {"sha": resolve(st, n)}} for n in st.tag_refs])

        @R("GET", r"/orgs/([^/]+)/teams/([^/]+)/members")
        def team_members(q, b, org, slug):
            members = self.teams.get((org.lower(), slug.lower()))
            if members is None:
                return not_found()
            return 200, Paged([user_json(m) for m in members])

        @R("GET", repo_re + r"/collaborators/([^/]+)/permission")
        def permission(q, b, repo, user):
            st = self.repos.get(repo)
            if not st:
                return not_found()
            role = st.roles.get(user, "none")
            legacy = {"maintain": "write", "triage": "read"}.get(role, role)
            return 200, {"permission": legacy, "role_name": role, "user": user_json(user)}

        @R("GET", repo_re + r"/deployments")
        def list_deployments(q, b, repo):
            # https://docs.github.com/en/rest/deployments/deployments#list-deployments (newest first, sha= filter)
            st = self.repos.get(repo) or FakeRepo(0)
            return 200, [{k: v for k, v in d.items() if k != "statuses"} for d in st.deployments
                         if q.get("sha") in (None, d["sha"])]

        @R("GET", repo_re + r"/deployments/(\d+)/statuses")
        def deployment_statuses(q, b, repo, deployment_id):
            st = self.repos.get(repo) or FakeRepo(0)
            found = next((d for d in st.deployments if str(d["id"]) == deployment_id), None)
            return (200, list(found["statuses"])) if found else not_found()

        @R("GET", repo_re + r"/commits/([^/]+)/status")
        def combined_status(q, b, repo, ref):
            # https://docs.github.com/en/rest/commits/statuses#get-the-combined-status-for-a-specific-reference: the
            # latest status per context; a commit nobody reported on is 200 with none (ENV-release)
            st = self.repos.get(repo) or FakeRepo(0)
            latest = {s["context"]: s for s in st.statuses.get(ref, ())}
            states = {s["state"] for s in latest.values()}
            state = "failure" if states & {"failure", "error"} else "pending" if states - {"success"} or not states else "success"
            return 200, {"state": state, "sha": ref, "total_count": len(latest), "statuses": list(latest.values())}

        @R("GET", repo_re + r"/commits/([^/]+)/check-runs")
        def list_checks(q, b, repo, ref):
            st = self.repos.get(repo) or FakeRepo(0)
            runs = [r for r in st.check_runs.values() if r["head_sha"] == ref
                    and q.get("check_name") in (None, r["name"])
                    and q.get("app_id") in (None, str(r["app"]["id"]))]
            if q.get("filter", "latest") == "latest":
                latest = {}
                for run in sorted(runs, key=lambda r: r["id"]):
                    latest[(run["name"], run["app"]["id"])] = run
                runs = list(latest.values())
            runs.sort(key=lambda r: -r["id"])
            return 200, Paged(runs, wrap=lambda chunk, page: {"total_count": len(runs), "check_runs": chunk})

        @R("POST", repo_re + r"/check-runs")
        def create_check(q, b, repo):
            run_id = next(self._ids)
            output = dict(b.get("output") or {})
            output["annotations_count"] = len(output.pop("annotations", []) or [])
            run = {"id": run_id, "name": b["name"], "head_sha": b["head_sha"], "status": b.get("status", "queued"),
                   "conclusion": b.get("conclusion"), "external_id": b.get("external_id", ""),
                   "details_url": b.get("details_url"), "output": output,
                   "app": {"id": self.our_app_id, "slug": "release-coordinator"},
                   "html_url": f"https://github.com/{repo}/runs/{run_id}"}
            self.repo(repo).check_runs[run_id] = run
            return 201, run

        @R("PATCH", repo_re + r"/check-runs/(\d+)")
        def update_check(q, b, repo, run_id):
            run = self.repo(repo).check_runs.get(int(run_id))
            if run is None:
                return not_found()
            for key in ("name", "status", "conclusion", "external_id", "details_url"):
                if key in b:
                    run[key] = b[key]
            if "output" in b:
                added = len(b["output"].get("annotations") or [])
                run["output"] = {**run["output"], **{k: v for k, v in b["output"].items() if k != "annotations"}}
                run["output"]["annotations_count"] = run["output"].get("annotations_count", 0) + added  # appended
            return 200, run

        @R("GET", repo_re + r"/releases/tags/(.+)")
        def get_release(q, b, repo, tag):
            st = self.repos.get(repo)
            if not st or tag not in st.releases:
                return not_found()
            return 200, st.releases[tag]

        @R("POST", repo_re + r"/releases")
        def create_release(q, b, repo):
            st = self.repo(repo)
            if b["tag_name"] in st.releases:
                return unprocessable("Validation Failed", [{"resource": "Release", "code": "already_exists", "field": "tag_name"}])
            release = {"id": next(self._ids), "tag_name": b["tag_name"], "name": b.get("name"), "body": b.get("body"),
                       "html_url": f"https://github.com/{repo}/releases/tag/{b['tag_name']}", "draft": False, "prerelease": False}
            st.releases[b["tag_name"]] = release
            return 201, release

    def graphql_resolvers(self) -> dict:
        """The slice of GitHub's GraphQL schema the adapter reads: repository.object (by expression, or by oid
        with Commit.associatedPullRequests), repository.defaultBranchRef, refs, and organization.team."""

        def repository(parent, args):
            full = f"{args['owner']}/{args['name']}"
            if full not in self.repos:
                raise GraphQLError("NOT_FOUND", f"Could not resolve to a Repository with the name '{full}'.")
            return {"__typename": "Repository", "nameWithOwner": full, "_state": self.repos[full]}

        def git_object(parent, args):
            st: FakeRepo = parent["_state"]
            if "oid" in args:  # object(oid: GitObjectID): a commit the fake knows (its tree, a compare, a pull)
                oid = args["oid"]
                known = oid in st.commits or oid in st.commit_pulls or any(
                    c["sha"] == oid for found in st.compares.values() for c in found["commits"])
                return {"__typename": "Commit", "oid": oid, "_state": st} if known else None
            rev, colon, path = args["expression"].partition(":")  # git's <rev>:<path>; HEAD is the default branch
            sha = st.branches.get(st.default_branch) if rev == "HEAD" else rev if rev in st.commits else st.branches.get(rev)
            if sha is None and rev in st.tag_refs:
                kind, sha = st.tag_refs[rev]
                while kind == "tag":  # peel annotated tags to their commit
                    kind, sha = st.tag_objects[sha]["object"]["type"], st.tag_objects[sha]["object"]["sha"]
            files = st.commits.get(sha) if sha else None
            if files is None:
                return None
            if not colon:
                return {"__typename": "Commit", "oid": sha}
            if path not in files:
                prefix = path.rstrip("/") + "/" if path.strip("/") else ""
                entries = {}
                for p, content in files.items():
                    if p.startswith(prefix):
                        child, _, rest = p[len(prefix):].partition("/")
                        entries[child] = MODE_TREE if rest else MODE_SYMLINK if isinstance(content, Symlink) else MODE_FILE
                if not entries:
                    return None
                return {"__typename": "Tree", "entries": [{"name": n, "mode": m, "type": "tree" if m == MODE_TREE else "blob"}
                                                          for n, m in sorted(entries.items())]}
            content = files[path]
            binary = b"\0" in content[:8000]  # git's own heuristic
            truncated = not binary and len(content) > GRAPHQL_TEXT_LIMIT
            return {"__typename": "Blob", "oid": blob_sha(content), "byteSize": len(content), "isBinary": binary,
                    "isTruncated": truncated, "text": None if binary else content[:GRAPHQL_TEXT_LIMIT].decode("utf-8", "replace")}

        def default_branch_ref(parent, args):
            st: FakeRepo = parent["_state"]
            return {"__typename": "Ref", "name": st.default_branch}

        def associated_pulls(parent, args):
            # https://docs.github.com/en/graphql/reference/objects#commit: the merged pull request that
            # introduced the commit (and, off the default branch, open ones containing it). first: 1..100.
            first = int(args.get("first") or 0)
            if not 1 <= first <= 100:
                raise GraphQLError("EXCESSIVE_PAGINATION",
                                   f"Requesting {first} records on the `associatedPullRequests` connection is not allowed.")
            st: FakeRepo = parent["_state"]
            pulls = [st.pulls[n] for n in st.commit_pulls.get(parent["oid"], ()) if n in st.pulls]
            nodes = [{"__typename": "PullRequest", "number": p["number"],
                      "state": "MERGED" if p.get("merged") else p["state"].upper(), "mergedAt": p.get("merged_at"),
                      "baseRefName": p["base"]["ref"], "author": {"login": p["user"]["login"]}} for p in pulls]
            return {"nodes": nodes[:first], "totalCount": len(nodes)}

        def organization(parent, args):
            login = args["login"].lower()
            if not any(org == login for org, _ in self.teams) and not any(r.split("/")[0].lower() == login for r in self.repos):
                raise GraphQLError("NOT_FOUND", f"Could not resolve to an Organization with the login of '{args['login']}'.")
            return {"__typename": "Organization", "login": args["login"]}

        def team(parent, args):
            key = (parent["login"].lower(), args["slug"].lower())
            return {"__typename": "Team", "slug": key[1], "_key": key} if key in self.teams else None

        def members(parent, args):
            if parent["_key"] in self.hidden_teams:
                raise GraphQLError("FORBIDDEN", "Resource not accessible by integration")
            everyone = self.teams[parent["_key"]]  # membership: ALL (the fake keeps child teams' members in the list)
            start = int(base64.b64decode(args["after"]).decode().split(":")[1]) if args.get("after") else 0
            chunk = everyone[start:start + min(int(args.get("first") or 100), 100)]
            end = start + len(chunk)
            return {"nodes": [{"login": m} for m in chunk],
                    "pageInfo": {"hasNextPage": end < len(everyone),
                                 "endCursor": base64.b64encode(f"cursor:{end}".encode()).decode() if chunk else None}}

        def repositories(parent, args):
            query = (args.get("query") or "").lower()
            granted = [(r, p) for r, p in self.team_repos[parent["_key"]].items() if query in r.split("/")[1].lower()]
            return {"edges": [{"permission": p.upper(), "node": {"nameWithOwner": r}} for r, p in granted[:args.get("first") or 100]]}

        def refs(parent, args):
            st: FakeRepo = parent["_state"]
            if args.get("refPrefix") != "refs/tags/":
                raise GraphQLError("UNSUPPORTED", "the fake serves tags only")
            first = int(args.get("first") or 0)
            if not 1 <= first <= 100:  # GitHub: first must be within 1..100
                raise GraphQLError("EXCESSIVE_PAGINATION", f"Requesting {first} records on the `refs` connection is not allowed.")
            order = args.get("orderBy") or {"field": "ALPHABETICAL", "direction": "ASC"}
            dates = {sha: i for i, sha in enumerate(st.commits)}  # the fake's commits are dated in the order made
            names = sorted(st.tag_refs)
            if order["field"] == "TAG_COMMIT_DATE":
                names.sort(key=lambda n: dates.get(resolve_ref(st, n), -1))
            if order.get("direction") == "DESC":
                names.reverse()
            start = int(base64.b64decode(args["after"]).decode().split(":")[1]) if args.get("after") else 0
            chunk = names[start:start + first]
            end = start + len(chunk)
            return {"nodes": [{"__typename": "Ref", "name": n, "target": target_of(st, *st.tag_refs[n])} for n in chunk],
                    "pageInfo": {"hasNextPage": end < len(names),
                                 "endCursor": base64.b64encode(f"cursor:{end}".encode()).decode() if chunk else None}}

        def target_of(st: FakeRepo, kind: str, sha: str) -> dict:
            if kind != "tag":
                return {"__typename": kind.capitalize(), "oid": sha}
            obj = st.tag_objects[sha]
            return {"__typename": "Tag", "oid": sha, "name": obj["tag"], "message": obj["message"],
                    "target": target_of(st, obj["object"]["type"], obj["object"]["sha"])}

        return {("Query", "repository"): repository, ("Repository", "object"): git_object, ("Repository", "refs"): refs,
                ("Repository", "defaultBranchRef"): default_branch_ref, ("Commit", "associatedPullRequests"): associated_pulls,
                ("Query", "organization"): organization, ("Organization", "team"): team,
                ("Team", "members"): members, ("Team", "repositories"): repositories}


def resolve_ref(st: FakeRepo, name: str) -> str | None:
    """The commit a tag name points at, through any chain of tag objects."""
    kind, sha = st.tag_refs[name]
    while kind == "tag":
        kind, sha = st.tag_objects[sha]["object"]["type"], st.tag_objects[sha]["object"]["sha"]
    return sha


GRAPHQL_TEXT_LIMIT = 512 * 1024  # the fake cuts Blob.text here and says isTruncated, as GitHub does for big blobs


@dataclass
class Paged:
    items: list
    cap: int | None = None
    max_per_page: int = 100
    wrap: Callable[[list, int], Any] = lambda chunk, page: chunk


def user_json(login: str, *, bot: bool = False) -> dict:
    uid = int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "html_url": f"https://github.com/{login}", "type": "Bot" if bot else "User", "site_admin": False}


def pull_json(gh: FakeGitHub, repo: str, number: int, *, author: str, head_sha: str, base_sha: str, head_ref: str,
              base_ref: str, state: str = "open", title: str = "A change", body: str | None = None) -> dict:
    api = f"{gh.base_url}/repos/{repo}"
    repo_json = {"id": gh.repo(repo).id, "full_name": repo, "name": repo.split("/")[1], "owner": user_json(repo.split("/")[0])}
    return {
        "url": f"{api}/pulls/{number}", "id": 900000 + number, "node_id": f"PR_{number}",
        "html_url": f"https://github.com/{repo}/pull/{number}", "number": number, "state": state, "locked": False,
        "title": title, "user": user_json(author), "body": body, "labels": [], "milestone": None, "draft": False,
        "created_at": "2026-11-19T09:00:00Z", "updated_at": "2026-11-20T09:00:00Z", "closed_at": None, "merged_at": None,
        "merge_commit_sha": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": {"label": f"{repo.split('/')[0]}:{head_ref}", "ref": head_ref, "sha": head_sha, "user": user_json(author), "repo": repo_json},
        "base": {"label": f"{repo.split('/')[0]}:{base_ref}", "ref": base_ref, "sha": base_sha, "user": repo_json["owner"], "repo": repo_json},
        "author_association": "MEMBER", "merged": False, "mergeable": True, "comments": 0, "review_comments": 0,
        "commits": 1, "additions": 10, "deletions": 2, "changed_files": 1,
    }


def file_json(path: str, *, status: str = "modified", previous: str | None = None) -> dict:
    sha = blob_sha(path.encode())
    entry = {"sha": sha, "filename": path, "status": status, "additions": 3, "deletions": 1, "changes": 4,
             "blob_url": f"https://github.com/o/r/blob/{sha}/{path}", "raw_url": f"https://github.com/o/r/raw/{sha}/{path}",
             "contents_url": f"https://api.github.com/repos/o/r/contents/{path}?ref={sha}",
             "patch": "@@ -1,2 +1,4 @@\n-old\n+new\n+more\n+lines"}
    if previous:
        entry["previous_filename"] = previous
    return entry


def commit_json(sha: str, message: str, *, author: str | None = "octocat") -> dict:
    return {"sha": sha, "node_id": f"C_{sha[:8]}", "html_url": f"https://github.com/o/r/commit/{sha}",
            "commit": {"message": message, "author": {"name": author or "someone", "email": "a@example.com", "date": "2026-11-19T09:00:00Z"}},
            "author": user_json(author) if author else None, "committer": user_json("web-flow"), "parents": []}
