"""GitHubForge: the Forge protocol over the GitHub REST API (github.com and GitHub Enterprise Server)."""
from __future__ import annotations

import base64
import datetime as dt
import posixpath
import re
import time
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote

import github
from urllib3.util import Retry

from bot.core.checks import CheckResult, Conclusion, result_digest
from bot.forge.errors import ForgeError, NotFound, TeamNotFound, TransientError
from bot.forge.layout import github_layout, github_links
from bot.forge.github_json import login as _login, pull_request as _pull
from bot.forge.http import RETRY, GitHubHttp, bounded_requester
from bot.core.promotion import CommitCheck  # ENV-release: the promotion gate's reads
from bot.forge import github_verification
from bot.forge import github_attribution
from bot.model import (
    ChangedFile, Commit, Comparison, ExistingCheck, FileContent, FileRef, MergedPull, Note, Permission, PullFiles,
    PullRequest, Release, Review, ReviewState, Tag, TeamInfo,
)

# https://docs.github.com/en/rest/pulls/pulls#list-pull-requests-files: "Responses include a maximum of 3000 files."
MAX_PULL_FILES = 3000
# https://docs.github.com/en/rest/pulls/pulls#list-commits-on-a-pull-request: "a maximum of 250 commits".
MAX_PULL_COMMITS = 250
# https://docs.github.com/en/rest/checks/runs#update-a-check-run: at most 50 annotations per request.
ANNOTATIONS_PER_REQUEST = 50
# https://docs.github.com/en/rest/commits/commits#compare-two-commits lists at most 300 files.
COMPARE_FILES_LIMIT = 300
# Who may approve and the org's policy change rarely and are read on every event: an answer is reused for
# this many seconds (a team change or a new org config takes effect within a minute), then asked again.
FRESH_FOR = 60.0
_SHA = re.compile(r"[0-9a-f]{40}")
_ROLES = {
    "admin": Permission.ADMIN, "maintain": Permission.MAINTAIN, "write": Permission.WRITE,
    "triage": Permission.TRIAGE, "read": Permission.READ, "none": Permission.NONE,
}


def is_sha(ref: str) -> bool:
    """A full commit sha names content that can never change; branch and tag names can move."""
    return bool(_SHA.fullmatch(ref))


def _q(part: str) -> str:
    return quote(part, safe="")


def _path(path: str) -> str:
    return quote(path.lstrip("/"), safe="/")


class GitHubForge:
    """One per installation. `gh` is a PyGithub client authenticated as the installation (bot/forge/auth.py);
    `app_id` identifies our own check runs (default: the app id of gh's AppInstallationAuth)."""

    kind = "github"
    summary_note = False  # a check run carries its own summary, text and annotations

    def __init__(self, gh: github.Github, *, app_id: int | None = None, retry: Retry | int | None = RETRY,
                 seconds_between_reads: float | None = None, cache_size: int = 2048,
                 clock: Callable[[], float] = time.time, fresh_for: float = FRESH_FOR) -> None:
        requester = bounded_requester(gh.requester, retry, seconds_between_reads=seconds_between_reads)
        auth = requester.auth
        self.app_id = app_id if app_id is not None else (int(auth.app_id) if isinstance(auth, github.Auth.AppInstallationAuth) else None)
        self.http = GitHubHttp(requester, cache_size=cache_size, clock=clock, fresh_for=fresh_for)
        self.layout = github_layout()
        self.links = github_links(getattr(requester, "base_url", None) or "https://api.github.com")

    # --- pull requests
    def get_pull(self, repo: str, number: int) -> PullRequest:
        return self.http.get(f"/repos/{repo}/pulls/{number}", parse=lambda d: _pull(repo, d))

    def list_pull_files(self, repo: str, number: int, *, head_sha: str | None = None,
                        base_sha: str | None = None) -> PullFiles:
        # The files are the diff between the two commits, so for a known (head sha, base sha) they never change.
        pinned = head_sha is not None and base_sha is not None and is_sha(head_sha) and is_sha(base_sha)
        files = self.http.get_pages(
            f"/repos/{repo}/pulls/{number}/files", parse=lambda d: [_file(f) for f in d], limit=MAX_PULL_FILES,
            immutable=("pull-files", repo, number, head_sha, base_sha) if pinned else None,
        )
        # GitHub stops at 3,000 and says nothing more: a full list is all we can tell from its length.
        return PullFiles(files, truncated=len(files) >= MAX_PULL_FILES)

    def list_reviews(self, repo: str, number: int) -> tuple[Review, ...]:
        # Chronological, per https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request
        return tuple(self.http.get_pages(f"/repos/{repo}/pulls/{number}/reviews", parse=lambda d: [_review(r) for r in d]))

    def list_pull_commits(self, repo: str, number: int) -> tuple[Commit, ...]:
        return tuple(self.http.get_pages(
            f"/repos/{repo}/pulls/{number}/commits", parse=lambda d: [_commit(c) for c in d], limit=MAX_PULL_COMMITS,
        ))

    def list_open_pulls(self, repo: str, *, base: str | None = None) -> tuple[PullRequest, ...]:
        params = {"state": "open", **({"base": base} if base else {})}
        return tuple(self.http.get_pages(f"/repos/{repo}/pulls", params, parse=lambda d: [_pull(repo, p) for p in d]))

    def pulls_for_commit(self, repo: str, sha: str) -> tuple[int, ...]:
        # https://docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit also lists
        # merged PRs and PRs that merely contain the commit; the protocol wants open PRs headed by it.
        pulls = self.http.get_pages(f"/repos/{repo}/commits/{sha}/pulls", parse=lambda d: [_pull(repo, p) for p in d])
        return tuple(p.number for p in pulls if p.state == "open" and p.head_sha == sha)

    def merged_pulls_for_commits(self, repo: str, shas: Sequence[str]) -> dict[str, MergedPull]:
        # ONE GraphQL query per 100 shas not cached (bot/forge/github_attribution.py).
        return github_attribution.merged_pulls_for_commits(self.http, repo, shas)

    def request_reviewers(self, repo: str, number: int, *, teams: frozenset[str], users: frozenset[str] = frozenset()) -> None:
        body = {"reviewers": sorted(users), "team_reviewers": sorted(_team(t)[1] for t in teams)}
        self.http.request("POST", f"/repos/{repo}/pulls/{number}/requested_reviewers", body=body)

    def changed_since(self, pull: PullRequest, sha: str) -> frozenset[str] | None:
        try:
            comparison = self.compare(pull.repo, sha, pull.head_sha)
        except NotFound:
            return None  # the reviewed commit is gone (force-push, and GitHub collected it)
        # GitHub keeps a force-pushed commit reachable by sha for a while; compare then answers "diverged" (or
        # "behind" after a reset), and the reviewed commit is just as gone from the branch.
        # https://docs.github.com/en/rest/commits/commits#compare-two-commits
        if comparison.status in ("diverged", "behind"):
            return None
        paths = {p for f in comparison.files for p in (f.path, f.previous_path) if p}
        if comparison.files_truncated:
            # even the commits' own lists were cut (a commit of over 3,000 files): the pull request's files
            # hold every path a later commit can have changed in net
            files = self.list_pull_files(pull.repo, pull.number, head_sha=pull.head_sha, base_sha=pull.base_sha)
            paths |= {p for f in files for p in (f.path, f.previous_path) if p}
        return frozenset(paths)

    # --- git data
    def compare(self, repo: str, base: str, head: str) -> Comparison:
        # https://docs.github.com/en/rest/commits/commits#compare-two-commits: commits are paginated; "the list
        # of changed files is only shown on the first page of results, and it includes up to 300 changed files
        # for the entire comparison". Between two shas the answer can never change: cached for good.
        key = ("compare", repo, base, head) if is_sha(base) and is_sha(head) else None
        if key is not None and key in self.http.immutable:
            self.http.stats.cache_hits += 1
            return self.http.immutable.get(key)
        pages = self.http.get_pages(f"/repos/{repo}/compare/{_q(base)}...{_q(head)}", parse=lambda d: [(
            d["status"], tuple(_commit(c) for c in d.get("commits") or ()), tuple(_file(f) for f in d.get("files") or ()),
        )])
        commits = tuple(c for _, page_commits, _ in pages for c in page_commits)
        files, truncated = pages[0][2], False
        if len(files) >= COMPARE_FILES_LIMIT:
            files, truncated = self._files_of_commits(repo, commits)
        comparison = Comparison(base=base, head=head, status=pages[0][0], commits=commits, files=files,
                                files_truncated=truncated)
        if key is not None:
            self.http.immutable.put(key, comparison)
        return comparison

    def _files_of_commits(self, repo: str, commits: tuple[Commit, ...]) -> tuple[tuple[ChangedFile, ...], bool]:
        """Past the comparison's 300 files, the union of each commit's files (a commit lists up to 3,000, in
        pages): a superset of the net change, which errs on the safe side when it decides staleness. True as
        well when a commit's own list reached 3,000 (then even the union may miss paths)."""
        seen: dict[tuple[str, str | None], ChangedFile] = {}
        cut = False
        for commit in commits:
            listed = self.http.get_pages(f"/repos/{repo}/commits/{commit.sha}", immutable=("commit-files", repo, commit.sha),
                                         parse=lambda d: [_file(f) for f in d.get("files") or ()])
            cut = cut or len(listed) >= MAX_PULL_FILES
            for changed in listed:
                seen.setdefault((changed.path, changed.previous_path), changed)
        return tuple(seen.values()), cut

    def get_file(self, repo: str, path: str, *, ref: str) -> FileContent | None:
        url = f"/repos/{repo}/contents/{_path(path)}"
        if not is_sha(ref):
            try:
                return self.http.get(url, {"ref": ref}, parse=lambda d: self._file_content(repo, d, path=path))
            except NotFound:
                return None
        key = ("file", repo, path, ref)
        if key in self.http.immutable:  # absent files are remembered too: absent at a sha stays absent
            self.http.stats.cache_hits += 1
            return self.http.immutable.get(key)
        try:
            found = self.http.get(url, {"ref": ref}, parse=lambda d: self._file_content(repo, d, path=path), immutable=key)
        except NotFound:
            self.http.immutable.put(key, None)
            return None
        return found

    def get_files(self, wanted: Sequence[FileRef]) -> tuple[FileContent | None, ...]:
        """Files at commit shas come from the immutable cache; all the others in ONE GraphQL query, one aliased
        `repository` per repo and one aliased `object(expression: "REF:PATH")` per file, where REF "HEAD" is the
        default branch (and a second query only when a file could be a symlink, which reads as None).
        https://docs.github.com/en/graphql/reference/objects#repository (object, Blob)"""
        found: list[FileContent | None] = [None] * len(wanted)
        todo = []
        for i, want in enumerate(wanted):
            key = ("file", want.repo, want.path, want.ref)
            fresh = self.http.fresh.get(key) if want.ref is None else self.http.fresh.MISSING
            if want.ref is not None and is_sha(want.ref) and key in self.http.immutable:
                self.http.stats.cache_hits += 1
                found[i] = self.http.immutable.get(key)
            elif fresh is not self.http.fresh.MISSING:
                self.http.stats.cache_hits += 1
                found[i] = fresh
            else:
                todo.append(i)
        if not todo:
            return tuple(found)
        blobs = self._objects(wanted, todo, path=lambda p: p, selection=f"... on Blob {{ {BLOB_FIELDS} }}")
        for i in todo:
            found[i] = self._blob(wanted[i], blobs[i])
        # A Blob does not say whether it is a symlink, whose text is the path it points to (git keeps no newline
        # after it); its tree entry's mode does. Only a blob that could be one is checked, in one more query.
        # https://docs.github.com/en/graphql/reference/objects#treeentry
        maybe_links = [i for i in todo if found[i] is not None and _may_be_link(blobs[i])]
        if maybe_links:
            trees = self._objects(wanted, maybe_links, path=posixpath.dirname, selection="... on Tree { entries { name mode } }")
            for i in maybe_links:
                modes = {e["name"]: e.get("mode") for e in (trees[i] or {}).get("entries") or () if e}
                if modes.get(posixpath.basename(wanted[i].path.lstrip("/"))) == SYMLINK_MODE:
                    found[i] = None  # a symlink is not a file we read: see _file_content
        for i in todo:
            want = wanted[i]
            if want.ref is not None and is_sha(want.ref):
                self.http.immutable.put(("file", want.repo, want.path, want.ref), found[i])
            elif want.ref is None:
                self.http.fresh.put(("file", want.repo, want.path, None), found[i])
        return tuple(found)

    def _objects(self, wanted: Sequence[FileRef], todo: list[int], *, path: Callable[[str], str],
                 selection: str) -> dict[int, dict | None]:
        """ONE GraphQL query: an aliased `repository` per repo, in it an aliased `object(expression: "REF:PATH")`
        per wanted[i] (PATH made by `path`), each selecting `selection`. None where nothing is there."""
        variables: dict[str, str] = {}
        repos: list[str] = []
        fields: dict[str, list[str]] = {}
        for i in todo:
            want = wanted[i]
            if want.repo not in fields:
                r = len(repos)
                repos.append(want.repo)
                variables[f"o{r}"], _, variables[f"n{r}"] = want.repo.partition("/")
                fields[want.repo] = []
            variables[f"e{i}"] = f"{want.ref or 'HEAD'}:{path(want.path.lstrip('/'))}"
            fields[want.repo].append(f"f{i}: object(expression: $e{i}) {{ {selection} }}")
        body = " ".join(f"r{r}: repository(owner: $o{r}, name: $n{r}) {{ {' '.join(fields[repo])} }}"
                        for r, repo in enumerate(repos))
        declared = ", ".join(f"${name}: String!" for name in variables)
        # A repository that does not exist (most orgs have no .github) is a NOT_FOUND error on its alias.
        data, _ = self.http.graphql(f"query({declared}) {{ {body} }}", variables, tolerate=frozenset({"NOT_FOUND"}))
        return {i: (data.get(f"r{repos.index(wanted[i].repo)}") or {}).get(f"f{i}") for i in todo}

    def _blob(self, want: FileRef, blob: dict | None) -> FileContent | None:
        if not blob or "oid" not in blob:
            return None  # no such repository, ref or path; or a tree, not a file
        if blob.get("isBinary") or blob.get("isTruncated") or blob.get("text") is None:
            # GraphQL gives no text for binary blobs and cuts long ones: the REST contents (and blob) API serves them.
            return self._rest_file(want)
        return FileContent(blob["text"].encode("utf-8"), blob["oid"])

    def _rest_file(self, want: FileRef) -> FileContent | None:
        if want.ref is not None:
            return self.get_file(want.repo, want.path, ref=want.ref)
        try:  # no ref: the contents API reads the default branch
            return self.http.get(f"/repos/{want.repo}/contents/{_path(want.path)}",
                                 parse=lambda d: self._file_content(want.repo, d, path=want.path))
        except NotFound:
            return None

    def _file_content(self, repo: str, data: Any, *, path: str) -> FileContent | None:
        if not isinstance(data, dict) or data.get("type") != "file":
            return None  # a directory listing, a symlink or a submodule is not a file we can read
        if data.get("path") not in (None, path.lstrip("/")):
            # A symlink to a file in the repository: "the API responds with the content of the file" it points to
            # (https://docs.github.com/en/rest/repos/contents#get-repository-content), under the target's path.
            # No symlink is read, here or over GraphQL (get_files): GitHub does not follow a symlinked CODEOWNERS
            # (its docs say nothing; users report it, e.g. github.com/Metta-AI/metta/pull/310), so neither do we,
            # and config, CODEOWNERS and manifest are each judged as the file at their own path.
            return None
        if data.get("encoding") == "base64":
            return FileContent(base64.b64decode(data.get("content") or ""), data["sha"])
        # Files of 1-100 MB come with encoding "none"; the blob API serves them (and blobs never change).
        # https://docs.github.com/en/rest/repos/contents#get-repository-content
        blob = self.http.get(f"/repos/{repo}/git/blobs/{data['sha']}", parse=lambda d: base64.b64decode(d["content"]),
                             immutable=("blob", repo, data["sha"]))
        return FileContent(blob, data["sha"])

    def get_default_branch(self, repo: str) -> str:
        return self.http.get(f"/repos/{repo}", parse=lambda d: d["default_branch"])

    def get_branch_sha(self, repo: str, branch: str) -> str:
        return self.http.get(f"/repos/{repo}/git/ref/heads/{_path(branch)}", parse=lambda d: d["object"]["sha"])

    def get_tag(self, repo: str, name: str) -> Tag | None:
        # The singular git/ref endpoint matches exactly (git/refs/tags/x would also list x-rc1 ...).
        try:
            ref = self.http.get(f"/repos/{repo}/git/ref/tags/{_path(name)}", parse=lambda d: d["object"])
        except NotFound:
            return None
        if ref["type"] != "tag":
            return Tag(name=name, commit_sha=ref["sha"])
        sha, message, tag_sha = ref["sha"], None, None
        while True:  # annotated tag objects can point at tag objects; peel to the commit
            obj = self.http.get(f"/repos/{repo}/git/tags/{sha}", immutable=("tag", repo, sha), parse=_tag_object)
            if tag_sha is None:
                message, tag_sha = obj[0], sha
            if obj[1] != "tag":
                return Tag(name=name, commit_sha=obj[2], message=message, tag_sha=tag_sha)
            sha = obj[2]

    def list_tags(self, repo: str) -> tuple[Tag, ...]:
        return tuple(self.http.get_pages(
            f"/repos/{repo}/tags", parse=lambda d: [Tag(name=t["name"], commit_sha=t["commit"]["sha"]) for t in d],
        ))

    def list_annotated_tags(self, repo: str, *, limit: int | None = None) -> tuple[Tag, ...]:
        """Every tag with its message and peeled commit, 100 per GraphQL query, where REST needs a request for the
        tag list page, then one for each ref and one for each tag object. Newest tagged commit first.
        https://docs.github.com/en/graphql/reference/objects#repository (refs: refPrefix, orderBy RefOrder with
        field TAG_COMMIT_DATE), https://docs.github.com/en/graphql/reference/objects#tag (message, target)"""
        owner, _, name = repo.partition("/")
        tags: list[Tag] = []
        cursor = None
        while limit is None or len(tags) < limit:
            first = TAGS_PER_PAGE if limit is None else min(TAGS_PER_PAGE, limit - len(tags))
            data, _ = self.http.graphql(TAGS_QUERY, {"owner": owner, "name": name, "first": first, "cursor": cursor})
            refs = (data.get("repository") or {}).get("refs") or {}
            tags += [self._listed_tag(repo, node["name"], node["target"]) for node in refs.get("nodes") or ()
                     if node and node.get("target")]
            page = refs.get("pageInfo") or {}
            if not page.get("hasNextPage") or not page.get("endCursor"):
                break
            cursor = page["endCursor"]
        return tuple(tags[:limit] if limit is not None else tags)

    def _listed_tag(self, repo: str, name: str, target: dict) -> Tag:
        if target.get("__typename") != "Tag":
            return Tag(name=name, commit_sha=target["oid"])  # a lightweight tag: the ref names the commit itself
        tag_sha, inner = target["oid"], target.get("target") or {}
        # Tag objects never change: get_tag of this tag later needs only its ref.
        self.http.immutable.put(("tag", repo, tag_sha), (target.get("message"), str(inner.get("__typename", "")).lower(), inner.get("oid")))
        while inner.get("__typename") == "Tag" and inner.get("target"):
            inner = inner["target"]
        commit_sha = self._peel(repo, inner["oid"]) if inner.get("__typename") == "Tag" else inner["oid"]
        return Tag(name=name, commit_sha=commit_sha, message=target.get("message"), tag_sha=tag_sha)

    def _peel(self, repo: str, sha: str) -> str:
        """A chain of tag objects deeper than TAGS_QUERY reaches, followed over REST (each object cached for good)."""
        kind = "tag"
        while kind == "tag":
            _message, kind, sha = self.http.get(f"/repos/{repo}/git/tags/{sha}", immutable=("tag", repo, sha), parse=_tag_object)
        return sha

    # --- people
    def team_members(self, team: str) -> frozenset[str]:
        # https://docs.github.com/en/rest/teams/members#list-team-members: "Team members will include the
        # members of child teams." role=all (default) counts maintainers too.
        org, slug = _team(team)
        try:
            members = self.http.get_pages(f"/orgs/{_q(org)}/teams/{_q(slug)}/members", parse=lambda d: [u["login"] for u in d])
        except NotFound as exc:
            raise TeamNotFound(team, f"team {team} does not exist or the app cannot see it ({exc})") from exc
        return frozenset(members)

    def get_teams(self, names: Iterable[str], *, repo: str) -> dict[str, TeamInfo | None]:
        """Members (child teams included: membership ALL) and the team's permission on `repo`, for every team in
        ONE GraphQL query (plus one per further page of 100 members). A team that does not exist, that the app
        cannot see, or whose members it may not read (no "Members: read") is None.
        https://docs.github.com/en/graphql/reference/objects#team"""
        wanted = list(dict.fromkeys(names))
        found: dict[str, TeamInfo | None] = {name: None for name in wanted}
        slugs: dict[str, tuple[str, str]] = {}
        for name in wanted:
            cached = self.http.fresh.get(("team", name.lower(), repo))
            if cached is not self.http.fresh.MISSING:
                self.http.stats.cache_hits += 1
                found[name] = cached
                continue
            try:
                slugs[name] = _team(name)
            except TeamNotFound:
                continue  # not @org/slug: no team to ask about
        members: dict[str, set[str]] = {name: set() for name in slugs}
        grants: dict[str, Permission] = {}
        cursors: dict[str, str | None] = {name: None for name in slugs}
        first = True
        while cursors:
            data, errors = self._teams_page(slugs, cursors, repo=repo, with_repositories=first)
            hidden = {str(e["path"][1]) for e in errors if len(e.get("path") or ()) > 1}
            missing_orgs = {str(e["path"][0]) for e in errors if len(e.get("path") or ()) == 1}
            orgs = sorted({slugs[name][0] for name in cursors})
            next_cursors: dict[str, str | None] = {}
            for j, name in enumerate(cursors):
                alias_org = f"o{orgs.index(slugs[name][0])}"
                team = (data.get(alias_org) or {}).get(f"t{j}")
                if alias_org in missing_orgs or f"t{j}" in hidden or not team:
                    members.pop(name, None)
                    continue
                page = team["members"]
                members[name] |= {node["login"] for node in page["nodes"] if node}
                if first:
                    grants[name] = _team_grant(team.get("repositories"), repo=repo)
                if page["pageInfo"]["hasNextPage"]:
                    next_cursors[name] = page["pageInfo"]["endCursor"]
            cursors, first = next_cursors, False
        for name, logins in members.items():
            found[name] = TeamInfo(frozenset(logins), grants.get(name, Permission.NONE))
        for name in slugs:
            self.http.fresh.put(("team", name.lower(), repo), found[name])
        return found

    def _teams_page(self, slugs: dict[str, tuple[str, str]], cursors: dict[str, str | None], *, repo: str,
                    with_repositories: bool) -> tuple[dict, tuple]:
        orgs = sorted({slugs[name][0] for name in cursors})
        variables: dict[str, Any] = {}
        declared = []
        if with_repositories:
            variables["repo"] = repo.split("/", 1)[1]
            declared.append("$repo: String!")
        by_org: dict[str, list[str]] = {org: [] for org in orgs}
        for j, name in enumerate(cursors):
            org, slug = slugs[name]
            variables[f"s{j}"] = slug
            declared.append(f"$s{j}: String!")
            after = ""
            if cursors[name] is not None:
                variables[f"c{j}"] = cursors[name]
                declared.append(f"$c{j}: String")
                after = f", after: $c{j}"
            # repositories(query:) searches names: the repository is picked out by nameWithOwner below.
            grant = (" repositories(query: $repo, first: 100) { edges { permission node { nameWithOwner } } }"
                     if with_repositories else "")
            by_org[org].append(f"t{j}: team(slug: $s{j}) {{ members(first: 100{after}, membership: ALL) "
                               f"{{ nodes {{ login }} pageInfo {{ hasNextPage endCursor }} }}{grant} }}")
        for k, org in enumerate(orgs):
            variables[f"org{k}"] = org
            declared.append(f"$org{k}: String!")
        body = " ".join(f"o{k}: organization(login: $org{k}) {{ {' '.join(by_org[org])} }}" for k, org in enumerate(orgs))
        return self.http.graphql(f"query({', '.join(declared)}) {{ {body} }}", variables,
                                 tolerate=frozenset({"NOT_FOUND", "FORBIDDEN"}))

    def permission(self, repo: str, user: str) -> Permission:
        # https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user:
        # `permission` folds maintain into write and triage into read; `role_name` keeps them (custom roles
        # fall back to `permission`). A user GitHub no longer knows (left, renamed, deleted) has none.
        # Reused for FRESH_FOR seconds, then revalidated with its ETag.
        key = ("permission", repo, user.lower())
        cached = self.http.fresh.get(key)
        if cached is not self.http.fresh.MISSING:
            self.http.stats.cache_hits += 1
            return cached
        try:
            found = self.http.get(
                f"/repos/{repo}/collaborators/{_q(user)}/permission",
                parse=lambda d: _ROLES.get(d.get("role_name") or "", _ROLES.get(d.get("permission") or "none", Permission.NONE)),
            )
        except NotFound:
            found = Permission.NONE
        self.http.fresh.put(key, found)
        return found

    # --- checks
    def check_digest(self, result: CheckResult) -> str:
        return result_digest(result)  # everything shows in a check run; stored in its external_id

    def find_check(self, repo: str, *, head_sha: str, name: str) -> ExistingCheck | None:
        # https://docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference
        params: dict[str, Any] = {"check_name": name, "filter": "latest"}
        if self.app_id is not None:
            params["app_id"] = self.app_id
        runs = self.http.get_pages(f"/repos/{repo}/commits/{head_sha}/check-runs", params, parse=lambda d: [
            (r["id"], r.get("external_id") or None, (r.get("app") or {}).get("id")) for r in d["check_runs"]
        ])
        ours = [(run_id, digest) for run_id, digest, app in runs if self.app_id is None or app == self.app_id]
        if not ours:
            return None
        run_id, digest = max(ours)  # the newest run; ids grow
        return ExistingCheck(run_id, digest)

    def create_check(self, repo: str, result: CheckResult) -> int:
        annotations = [_annotation(a) for a in result.annotations]
        body = {
            "name": result.name, "head_sha": result.head_sha, **_state(result), "external_id": result_digest(result),
            "output": _output(result, annotations[:ANNOTATIONS_PER_REQUEST]),
        }
        if result.details_url:
            body["details_url"] = result.details_url
        check_id = self.http.request("POST", f"/repos/{repo}/check-runs", body=body).data["id"]
        self._append_annotations(repo, check_id, result, annotations[ANNOTATIONS_PER_REQUEST:])
        self.http.immutable.put(("check run concluded", repo, check_id), result.conclusion.concluded)
        return check_id

    def update_check(self, repo: str, check_id: int, result: CheckResult) -> None:
        # "Each time you update the check run, annotations are appended to the list of annotations that
        # already exist" (https://docs.github.com/en/rest/checks/runs#update-a-check-run): a PATCH cannot
        # take back an annotation the user already fixed. A changed result is therefore written as a fresh
        # run under the same name and head sha, which GitHub shows in place of the old one (filter=latest).
        # Pending runs (in_progress, Conclusion.PENDING) are the exception both ways:
        # - one this process wrote and still waiting, with no annotations to add: updated in place (allowed
        #   until the run completes), so a long wait for approvals is one run, not one per review;
        # - otherwise a run that may still be in progress is concluded *before* its successor is created, with
        #   the successor's verdict (or `cancelled` when the successor waits too): it no longer keeps the check
        #   suite in progress until GitHub marks it stale (14 days), and a reader that orders runs by completed_at
        #   rather than by creation still finds the new verdict (never a stale pass; `cancelled` blocks).
        state = self.http.immutable.get(("check run concluded", repo, check_id))  # None: written before a restart
        if state is False and result.conclusion is Conclusion.PENDING and not result.annotations:
            body = {"status": "in_progress", "external_id": result_digest(result), "output": _output(result, [])}
            if result.details_url:
                body["details_url"] = result.details_url
            self.http.request("PATCH", f"/repos/{repo}/check-runs/{check_id}", body=body)
            return
        self.replace_check(repo, check_id, result)

    def replace_check(self, repo: str, check_id: int, result: CheckResult) -> int:
        if self.http.immutable.get(("check run concluded", repo, check_id)) is not True:
            self._conclude_replaced(repo, check_id, result)
        return self.create_check(repo, result)

    def _conclude_replaced(self, repo: str, check_id: int, result: CheckResult) -> None:
        if result.conclusion.concluded:
            close = {"status": "completed", "conclusion": result.conclusion.value,
                     "output": {"title": result.title[:200],
                                "summary": "Replaced by a newer run of this check with the same result."}}
        else:
            close = {"status": "completed", "conclusion": "cancelled",
                     "output": {"title": "Replaced by a newer run of this check",
                                "summary": "A newer run on this commit carries the current result."}}
        try:
            self.http.request("PATCH", f"/repos/{repo}/check-runs/{check_id}", body=close)
        except TransientError:
            raise  # retried with the whole delivery; the fresh run is not written yet
        except ForgeError:
            pass  # e.g. already completed and refused: the fresh run below is what counts
        self.http.immutable.put(("check run concluded", repo, check_id), True)

    def _append_annotations(self, repo: str, check_id: int, result: CheckResult, rest: list[dict]) -> None:
        for start in range(0, len(rest), ANNOTATIONS_PER_REQUEST):
            body = {"output": _output(result, rest[start:start + ANNOTATIONS_PER_REQUEST])}
            self.http.request("PATCH", f"/repos/{repo}/check-runs/{check_id}", body=body)

    # --- writes for releases and rollbacks
    def create_tag(self, repo: str, *, name: str, message: str, sha: str) -> Tag:
        # https://docs.github.com/en/rest/git/tags#create-a-tag-object: the tag object alone is not a tag;
        # the ref makes it one, and its 422 "Reference already exists" is our idempotency key.
        obj = self.http.request("POST", f"/repos/{repo}/git/tags",
                                body={"tag": name, "message": message, "object": sha, "type": "commit"}).data
        self.http.request("POST", f"/repos/{repo}/git/refs", body={"ref": f"refs/tags/{name}", "sha": obj["sha"]})
        return Tag(name=name, commit_sha=sha, message=message, tag_sha=obj["sha"])

    def update_file(self, repo: str, path: str, *, content: bytes, message: str, branch: str, sha: str | None) -> str:
        body = {"message": message, "content": base64.b64encode(content).decode(), "branch": branch}
        if sha is not None:
            body["sha"] = sha
        return self.http.request("PUT", f"/repos/{repo}/contents/{_path(path)}", body=body).data["commit"]["sha"]

    def create_branch(self, repo: str, *, name: str, sha: str) -> None:
        self.http.request("POST", f"/repos/{repo}/git/refs", body={"ref": f"refs/heads/{name}", "sha": sha})

    def get_release(self, repo: str, tag: str) -> Release | None:
        try:
            return self.http.get(f"/repos/{repo}/releases/tags/{_path(tag)}", parse=_release)
        except NotFound:
            return None

    def create_release(self, repo: str, *, tag: str, name: str, body: str) -> Release:
        data = self.http.request("POST", f"/repos/{repo}/releases", body={"tag_name": tag, "name": name, "body": body}).data
        return _release(data)

    def create_pull(self, repo: str, *, title: str, body: str, head: str, base: str) -> PullRequest:
        data = self.http.request("POST", f"/repos/{repo}/pulls", body={"title": title, "body": body, "head": head, "base": base}).data
        return _pull(repo, data)

    def comment(self, repo: str, number: int, body: str) -> None:
        self.http.request("POST", f"/repos/{repo}/issues/{number}/comments", body={"body": body})

    # --- verification reads for the promotion gate (ENV-release; bot/forge/github_verification.py)
    def commit_checks(self, repo: str, sha: str, *, names: Iterable[str] | None = None) -> tuple[CommitCheck, ...]:
        return github_verification.commit_checks(self.http, repo, sha, names=names)

    def tag_date(self, repo: str, tag: Tag) -> dt.datetime | None:
        return github_verification.tag_date(self.http, repo, tag)

    def ensure_note(self, repo: str, number: int, *, topic: str, body: str) -> Note:
        """Our one comment for topic on the pull request, found by its marker among the issue comments.
        https://docs.github.com/en/rest/issues/comments#list-issue-comments"""
        marker = note_marker(topic)
        text = f"{marker}\n{body}"
        comments = self.http.get_pages(f"/repos/{repo}/issues/{number}/comments",
                                       parse=lambda d: [(c["id"], c.get("body") or "") for c in d])
        for note_id, existing in comments:
            if existing.startswith(marker):
                if existing != text:
                    self.http.request("PATCH", f"/repos/{repo}/issues/comments/{note_id}", body={"body": text})
                return Note(note_id, body)
        data = self.http.request("POST", f"/repos/{repo}/issues/{number}/comments", body={"body": text}).data
        return Note(data["id"], body)


def note_marker(topic: str) -> str:
    """The hidden first line that makes a comment ours for topic (invisible in rendered Markdown)."""
    return f"<!-- release-coordinator:{topic} -->"


# --- parsing: raw JSON stops here
BLOB_FIELDS = "text isBinary byteSize oid isTruncated"
SYMLINK_MODE = 0o120000  # git's mode of a symbolic link; GraphQL TreeEntry.mode is the same number (40960)
TAGS_PER_PAGE = 100  # the most a GraphQL connection returns per page
# A ref's target is a Commit (lightweight tag) or a Tag object, which may point at another Tag: three levels are
# peeled in the query (a tag of a tag of a tag), a deeper chain over REST. Only the outer tag's message is ours.
_TAG_TARGET = ("__typename oid ... on Tag { message target { __typename oid ... on Tag { target { __typename oid "
               "... on Tag { target { __typename oid } } } } } }")
TAGS_QUERY = (
    "query($owner: String!, $name: String!, $first: Int!, $cursor: String) { repository(owner: $owner, name: $name) { "
    'refs(refPrefix: "refs/tags/", first: $first, after: $cursor, orderBy: {field: TAG_COMMIT_DATE, direction: DESC}) { '
    f"nodes {{ name target {{ {_TAG_TARGET} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
)


def _may_be_link(blob: dict | None) -> bool:
    """A blob GraphQL gave as text, short and without a newline, as a symlink's target path is (PATH_MAX 4096).
    Blobs read over REST instead (binary, truncated) are judged there: the contents API says what a path is."""
    return bool(blob) and not blob.get("isBinary") and not blob.get("isTruncated") and isinstance(blob.get("text"), str) \
        and len(blob["text"]) <= 4096 and "\n" not in blob["text"]


def _tag_object(d: dict) -> tuple[str | None, str, str]:
    """(message, type of what it points at, its sha) of https://docs.github.com/en/rest/git/tags#get-a-tag"""
    return d.get("message"), d["object"]["type"], d["object"]["sha"]


def _team_grant(repositories: dict | None, *, repo: str) -> Permission:
    # TeamRepositoryEdge.permission: ADMIN | MAINTAIN | WRITE | TRIAGE | READ. Not listed (or past the first
    # 100 name matches): no grant known, which only means each approver's own permission is looked up.
    for edge in (repositories or {}).get("edges") or ():
        if edge and (edge.get("node") or {}).get("nameWithOwner", "").lower() == repo.lower():
            return _ROLES.get(str(edge.get("permission") or "").lower(), Permission.NONE)
    return Permission.NONE


def _team(team: str) -> tuple[str, str]:
    org, _, slug = team.lstrip("@").partition("/")
    if not slug:
        raise TeamNotFound(team, f"{team} is not a team: expected @org/slug")
    return org, slug.lower()  # GitHub generates slugs in lower case; CODEOWNERS authors do not always


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _file(d: dict) -> ChangedFile:
    return ChangedFile(path=d["filename"], status=d["status"], previous_path=d.get("previous_filename"))


def _review(d: dict) -> Review:
    user = d.get("user") or {}
    return Review(
        id=d["id"], user=_login(user), state=ReviewState(d["state"]), commit_id=d.get("commit_id"),
        submitted_at=_time(d.get("submitted_at")), user_is_bot=user.get("type") == "Bot",
    )


def _commit(d: dict) -> Commit:
    return Commit(sha=d["sha"], message=d["commit"]["message"], author=(d.get("author") or {}).get("login"),
                  html_url=d.get("html_url") or "", parents=tuple(p["sha"] for p in d.get("parents") or () if p.get("sha")))


def _release(d: dict) -> Release:
    return Release(tag=d["tag_name"], name=d.get("name") or "", body=d.get("body") or "", html_url=d.get("html_url") or "")


def _annotation(a) -> dict:
    return {"path": a.path, "start_line": a.start_line, "end_line": a.end_line, "annotation_level": a.level.value,
            "message": a.message, **({"title": a.title} if a.title else {})}


def _output(result: CheckResult, annotations: list[dict]) -> dict:
    # GitHub caps summary and text at 65,535 characters each.
    output = {"title": result.title, "summary": result.summary[:65535], "annotations": annotations}
    if result.text:
        output["text"] = result.text[:65535]
    return output


def _state(result: CheckResult) -> dict:
    # https://docs.github.com/en/rest/checks/runs#create-a-check-run: a run that may still pass (more approvals,
    # the window opening) stays "in_progress" with no conclusion, which GitHub shows yellow, not red.
    if result.conclusion is Conclusion.PENDING:
        return {"status": "in_progress"}
    return {"status": "completed", "conclusion": result.conclusion.value}
