"""GitLabForge: the Forge protocol (bot/forge/protocol.py) over GitLab REST v4 and, where one request can
replace many, its GraphQL API; gitlab.com and self-managed (a path prefix in GITLAB_URL is kept)."""
from __future__ import annotations

import base64
import logging
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

import gitlab
from urllib3.util import Retry

from bot.forge.errors import AlreadyExists, Conflict, NotFound
from bot.forge.gitlab import parse
from bot.forge.gitlab.checks import Checks
from bot.forge.gitlab.http import RETRY, GitLabHttp
from bot.forge.gitlab.people import People
from bot.forge.gitlab.verification import Verification  # ENV-release: the promotion gate's reads
from bot.forge.gitlab.urls import is_sha, project as _project, q as _q
from bot.forge.http import LRU
from bot.forge.layout import gitlab_layout, gitlab_links
from bot.model import (
    Commit, Comparison, FileContent, FileRef, MergedPull, Permission, PullFiles, PullRequest, Release, Review, Tag,
)

log = logging.getLogger(__name__)
# Who may approve and the org's policy change rarely and are read on every event: reused this many seconds.
FRESH_FOR = 60.0
# https://docs.gitlab.com/administration/instance_limits/#diff-limits: an MR diff lists at most 1,000 files by
# default (an administrator may raise it to 3,000); past it the MR's changes_count reads "1000+".
DIFF_FILES_DEFAULT_LIMIT = 1000
SYMLINK_MODE = "120000"  # git's mode of a symbolic link, as GraphQL's RepositoryBlob.mode gives it
BLOB_FIELDS = "path oid mode size rawBlob"


def client(url: str, token: str, *, timeout: float = 30.0) -> gitlab.Gitlab:
    """python-gitlab's client for GITLAB_URL (https://gitlab.com, or a self-managed https://HOST[/prefix]) and
    GITLAB_TOKEN (a group/project access token or a bot user's personal access token with the `api` scope)."""
    return gitlab.Gitlab(url, private_token=token, timeout=timeout)


class GitLabForge(People, Checks, Verification):
    """One per GitLab instance and token. `gl` is a python-gitlab client (see client())."""

    kind = "gitlab"
    summary_note = True  # a commit status has one short description: the full summary is one MR note

    def __init__(self, gl: gitlab.Gitlab, *, config_project: str | None = None, retry: Retry | int | None = RETRY,
                 cache_size: int = 2048, clock: Callable[[], float] = time.time, fresh_for: float = FRESH_FOR) -> None:
        self.http = GitLabHttp(gl, cache_size=cache_size, clock=clock, fresh_for=fresh_for, retry=retry)
        self.layout = gitlab_layout(config_project)
        self.links = gitlab_links(gl.url)
        self._user_ids = LRU(cache_size)  # username -> user id, learned from every user object read
        # ("mr-meta", repo, iid) -> (changes_count, reviewer ids, diff_refs triple) of the MR as last read, kept
        # only for `fresh_for`: the versions cache keys on those diff_refs, so they must be the MR's current ones.
        self._mr_meta = self.http.fresh
        self._notes = LRU(cache_size)  # (repo, iid, topic) -> (note id, full body) of our note
        self._statuses = LRU(cache_size)  # (repo, sha, name) -> CommitStatus + id we last saw or wrote

    # --- pull requests
    def get_pull(self, repo: str, number: int) -> PullRequest:
        # The parsed answer (kept with its ETag) carries what else the adapter wants of the MR, so a 304 renews it too.
        pull, meta = self.http.get(f"{_project(repo)}/merge_requests/{number}", parse=lambda d: self._mr(repo, d),
                                   needs=f"Reporter on {repo} to read merge requests")
        self._mr_meta.put(("mr-meta", repo, number), meta)
        return pull

    def _mr(self, repo: str, d: dict) -> tuple[PullRequest, tuple]:
        pull = parse.merge_request(repo, d)
        self._learn_users([d.get("author"), *(d.get("reviewers") or ())])
        refs = d.get("diff_refs") or {}
        meta = (d.get("changes_count"), tuple(u["id"] for u in d.get("reviewers") or () if u.get("id")),
                (refs.get("base_sha"), refs.get("head_sha"), refs.get("start_sha")))
        return pull, meta

    def _meta(self, repo: str, number: int, *, read: bool = False) -> tuple | None:
        """What get_pull saw of the MR within `fresh_for` (read: ask GitLab when nothing is known)."""
        meta = self._mr_meta.get(("mr-meta", repo, number))
        if meta is self._mr_meta.MISSING and read:
            self.get_pull(repo, number)
            meta = self._mr_meta.get(("mr-meta", repo, number))
        return None if meta is self._mr_meta.MISSING else meta

    def list_pull_files(self, repo: str, number: int, *, head_sha: str | None = None,
                        base_sha: str | None = None) -> PullFiles:
        """GET .../merge_requests/:iid/diffs, every page (https://docs.gitlab.com/api/merge_requests/#list-merge-request-diffs).
        truncated when GitLab's diff limits cut the list: the MR's changes_count then reads "1000+"."""
        pinned = head_sha is not None and base_sha is not None and is_sha(head_sha) and is_sha(base_sha)
        key = ("mr-files", repo, number, head_sha, base_sha)
        if pinned and key in self.http.immutable:
            self.http.stats.cache_hits += 1
            return self.http.immutable.get(key)
        files = self.http.get_pages(f"{_project(repo)}/merge_requests/{number}/diffs",
                                    parse=lambda d: [parse.diff_file(f) for f in d])
        # only a list at the limit can have been cut: then the MR says how many changed
        meta = self._meta(repo, number, read=len(files) >= DIFF_FILES_DEFAULT_LIMIT)
        changes = str(meta[0]) if meta and meta[0] is not None else ""
        truncated = changes.endswith("+") or (changes.isdigit() and len(files) < int(changes))
        result = PullFiles(files, truncated=truncated)
        if pinned:
            self.http.immutable.put(key, result)
        return result

    def list_reviews(self, repo: str, number: int) -> tuple[Review, ...]:
        """Read on every call: GitLab sends no hook when a push resets approvals.
        https://docs.gitlab.com/api/merge_request_approvals/#retrieve-approval-state-for-a-merge-request (approved_by
        with approved_at), https://docs.gitlab.com/api/merge_requests/#get-single-merge-request-reviewers (state
        requested_changes), https://docs.gitlab.com/api/merge_requests/#get-merge-request-diff-versions."""
        mr = f"{_project(repo)}/merge_requests/{number}"
        approved_by = self.http.get(f"{mr}/approvals", parse=lambda d: list((d or {}).get("approved_by") or ()))
        # A review state (requested_changes) lives on the MR's reviewers: with none, there is nothing to ask.
        meta = self._meta(repo, number)
        reviewers = [] if meta is not None and not meta[1] else self.http.get_pages(f"{mr}/reviewers", parse=lambda d: list(d or ()))
        self._learn_users([a.get("user") for a in approved_by] + [r.get("user") for r in reviewers])
        versions = self._versions(repo, number) if approved_by or any(r.get("state") == "requested_changes" for r in reviewers) else []
        reviews = parse.approvals(approved_by, reviewers, versions)
        self._prefetch_access(repo, {r.user for r in reviews})
        return reviews

    def _versions(self, repo: str, number: int) -> list[dict]:
        """The MR's diff versions, newest first. A new version comes with a new head or base: for the diff_refs
        the MR was last read with, the list is kept for good."""
        meta = self._meta(repo, number)
        refs = meta[2] if meta else None
        key = ("mr-versions", repo, number, refs) if refs and all(refs[:2]) else None
        return self.http.get_pages(f"{_project(repo)}/merge_requests/{number}/versions", parse=lambda d: list(d or ()),
                                   immutable=key)

    def _prefetch_access(self, repo: str, users: set[str]) -> None:
        """Every reviewer's effective access on the project in ONE request (members/all filtered by user_ids), so
        permission() asks nothing more. https://docs.gitlab.com/api/members/#list-all-members-of-a-group-or-project-including-inherited-and-invited-members"""
        wanted = {u: self._user_ids.get(u.lower()) for u in users
                  if self.http.fresh.get(("permission", repo, u.lower())) is self.http.fresh.MISSING}
        ids = sorted(uid for uid in wanted.values() if uid)
        if not ids:
            return
        members = self.http.get_pages(f"{_project(repo)}/members/all", {"user_ids[]": ids}, parse=lambda d: list(d or ()),
                                      needs=f"Reporter on {repo} to read its members")
        levels = {parse.username(m): (parse.permission(m.get("access_level")) if parse.is_active(m) else Permission.NONE)
                  for m in members}
        for user, uid in wanted.items():
            if uid:
                self.http.fresh.put(("permission", repo, user.lower()), levels.get(user, Permission.NONE))

    def list_pull_commits(self, repo: str, number: int) -> tuple[Commit, ...]:
        commits = self.http.get_pages(f"{_project(repo)}/merge_requests/{number}/commits",
                                      parse=lambda d: [parse.commit(c) for c in d])
        return tuple(reversed(commits))  # GitLab lists them newest first

    def list_open_pulls(self, repo: str, *, base: str | None = None) -> tuple[PullRequest, ...]:
        params = {"state": "opened", **({"target_branch": base} if base else {})}
        return tuple(self.http.get_pages(f"{_project(repo)}/merge_requests", params,
                                         parse=lambda d: [parse.merge_request(repo, m) for m in d]))

    def pulls_for_commit(self, repo: str, sha: str) -> tuple[int, ...]:
        # https://docs.gitlab.com/api/commits/#list-merge-requests-associated-with-a-commit lists merged MRs and MRs
        # that merely contain the commit too; the protocol wants open MRs headed by it.
        pulls = self.http.get_pages(f"{_project(repo)}/repository/commits/{sha}/merge_requests",
                                    parse=lambda d: [parse.merge_request(repo, m) for m in d])
        return tuple(p.number for p in pulls if p.state == "open" and p.head_sha == sha)

    def merged_pulls_for_commits(self, repo: str, shas: Sequence[str]) -> dict[str, MergedPull]:
        """One GET repository/commits/:sha/merge_requests per sha not cached (GitLab has no batch form; the
        caller asks only for commits their messages did not attribute, and bounds how many), after the
        project's default branch (one GET, which also says NotFound for a project that does not exist).
        https://docs.gitlab.com/api/commits/#list-merge-requests-associated-with-a-commit"""
        found: dict[str, MergedPull] = {}
        todo = []
        for sha in dict.fromkeys(shas):
            key = ("merged-pull", repo, sha)
            if key in self.http.immutable:
                self.http.stats.cache_hits += 1
                found[sha] = self.http.immutable.get(key)
            elif self.http.fresh.get(("no-merged-pull", repo, sha)) is not self.http.fresh.MISSING:
                self.http.stats.cache_hits += 1  # asked within `fresh_for`: none (a release asks twice per merge)
            elif is_sha(sha):
                todo.append(sha)
        if not todo:
            return found
        default = self.get_default_branch(repo)
        for sha in todo:
            try:
                pull = self.http.get(f"{_project(repo)}/repository/commits/{sha}/merge_requests", {"per_page": 100},
                                     parse=lambda d: parse.first_merged(d or (), default_branch=default))
            except NotFound:  # a commit GitLab does not know (the project exists: its default branch was read)
                continue
            if pull is not None:
                found[sha] = pull
                # A commit's merge requests grow until one merges; a merged one never changes: cached for good
                # only then. None yet: remembered for `fresh_for` (60 s), then asked again.
                self.http.immutable.put(("merged-pull", repo, sha), pull)
            else:
                self.http.fresh.put(("no-merged-pull", repo, sha), True)
        return found

    def request_reviewers(self, repo: str, number: int, *, teams: frozenset[str], users: frozenset[str] = frozenset()) -> None:
        """GitLab requests users, not groups (https://docs.gitlab.com/api/merge_requests/#update-mr: reviewer_ids,
        which REPLACES the list): the MR's current reviewers are kept and `teams` are not requested."""
        if not users:
            return
        meta = self._meta(repo, number, read=True)
        ids = set(meta[1] if meta else ()) | {self._user_id(u) for u in users}
        ids.discard(None)
        self.http.request("PUT", f"{_project(repo)}/merge_requests/{number}", body={"reviewer_ids": sorted(ids)},
                          needs=f"Developer on {repo} to set merge request reviewers")

    def changed_since(self, pull: PullRequest, sha: str) -> frozenset[str] | None:
        """Paths changed from an approval's head to the MR's head. None when no diff version of the MR has that
        head (it was never this MR's head) or GitLab no longer has the commit."""
        if sha == pull.head_sha:
            return frozenset()
        self._meta(pull.repo, pull.number, read=True)  # the versions cache keys on the MR's current diff_refs
        heads = {v.get("head_commit_sha") for v in self._versions(pull.repo, pull.number)}
        if sha not in heads:
            return None
        # The two heads' trees compared directly (straight=true): what the approver did not see, whether the
        # branch was extended, rebased or rewritten since (GitLab keeps every version's head). A rebase onto a
        # newer target adds the target's changes: a superset, never a subset.
        # https://docs.gitlab.com/api/repositories/#compare-branches-tags-or-commits (straight)
        key = ("straight", pull.repo, sha, pull.head_sha)
        try:
            files, cut = self.http.get(f"{_project(pull.repo)}/repository/compare",
                                       {"from": sha, "to": pull.head_sha, "straight": "true"}, immutable=key,
                                       parse=lambda d: (tuple(parse.diff_file(f) for f in d.get("diffs") or ()),
                                                        bool(d.get("compare_timeout"))))
        except NotFound:
            return None  # GitLab no longer has that commit
        paths = {p for f in files for p in (f.path, f.previous_path) if p}
        if cut or len(files) >= DIFF_FILES_DEFAULT_LIMIT:  # past the compare's limits: the MR's files are a superset
            paths |= {p for f in self.list_pull_files(pull.repo, pull.number, head_sha=pull.head_sha, base_sha=pull.base_sha)
                      for p in (f.path, f.previous_path) if p}
        return frozenset(paths)

    # --- git data
    def compare(self, repo: str, base: str, head: str) -> Comparison:
        """GET repository/compare?from=&to= (https://docs.gitlab.com/api/repositories/#compare-branches-tags-or-commits)
        diffs from the merge base, so it does not say whether base is an ancestor of head: repository/merge_base
        does (https://docs.gitlab.com/api/repositories/#merge-base). Between two shas both are cached for good."""
        key = ("compare", repo, base, head) if is_sha(base) and is_sha(head) else None
        if key is not None and key in self.http.immutable:
            self.http.stats.cache_hits += 1
            return self.http.immutable.get(key)
        found = self.http.get(f"{_project(repo)}/repository/compare", {"from": base, "to": head},
                              parse=lambda d: (tuple(parse.commit(c) for c in d.get("commits") or ()),
                                               tuple(parse.diff_file(f) for f in d.get("diffs") or ()),
                                               bool(d.get("compare_timeout")), d.get("commit")))
        commits, files, timed_out, _ = found
        merge_base = self.http.get(f"{_project(repo)}/repository/merge_base", {"refs[]": [base, head]},
                                   parse=lambda d: d["id"])
        base_sha = base if is_sha(base) else None
        if base_sha is None:
            base_sha = self.http.get(f"{_project(repo)}/repository/commits/{_q(base)}", parse=lambda d: d["id"])
        status = ("identical" if not commits else "ahead") if merge_base == base_sha else "diverged"
        comparison = Comparison(base=base, head=head, status=status, commits=commits, files=files,
                                files_truncated=timed_out or len(files) >= DIFF_FILES_DEFAULT_LIMIT)
        if key is not None:
            self.http.immutable.put(key, comparison)
        return comparison

    def get_file(self, repo: str, path: str, *, ref: str) -> FileContent | None:
        return self.get_files([FileRef(repo, path, ref)])[0]

    def get_files(self, wanted: Sequence[FileRef]) -> tuple[FileContent | None, ...]:
        """Files at commit shas from the immutable cache, default-branch files from the 60 s cache, all the others
        in ONE GraphQL query: an aliased `project(fullPath:)` per (project, ref) with `repository.blobs(ref:,
        paths:)` (https://docs.gitlab.com/api/graphql/reference/#repositoryblobs). A symlink (mode 120000) is
        None: GitLab does not follow a symlinked CODEOWNERS, nor do we. FileContent.sha is the blob id; see
        update_file for how it guards a write."""
        found: list[FileContent | None] = [None] * len(wanted)
        todo: list[int] = []
        for i, want in enumerate(wanted):
            key = ("file", want.repo, want.path.lstrip("/"), want.ref)
            cached = self.http.fresh.get(key) if want.ref is None else (
                self.http.immutable.get(key, self.http.fresh.MISSING) if is_sha(want.ref) else self.http.fresh.MISSING)
            if cached is not self.http.fresh.MISSING:
                self.http.stats.cache_hits += 1
                found[i] = cached
            else:
                todo.append(i)
        if not todo:
            return tuple(found)
        groups: dict[tuple[str, str | None], list[int]] = {}
        for i in todo:  # ref None: blobs' own default, the project's default branch (root_ref)
            groups.setdefault((wanted[i].repo, wanted[i].ref), []).append(i)
        variables: dict[str, Any] = {}
        declared, fields = [], []
        for g, ((repo, ref), indexes) in enumerate(groups.items()):
            variables.update({f"p{g}": repo, f"r{g}": ref, f"f{g}": sorted({wanted[i].path.lstrip("/") for i in indexes})})
            declared += [f"$p{g}: ID!", f"$r{g}: String", f"$f{g}: [String!]!"]
            fields.append(f"p{g}: project(fullPath: $p{g}) {{ repository {{ blobs(ref: $r{g}, paths: $f{g}) "
                          f"{{ nodes {{ {BLOB_FIELDS} }} }} }} }}")
        data = self.http.graphql(f"query({', '.join(declared)}) {{ {' '.join(fields)} }}", variables)
        for g, ((repo, ref), indexes) in enumerate(groups.items()):
            blobs = {b["path"]: b for b in (((data.get(f"p{g}") or {}).get("repository") or {}).get("blobs") or {}).get("nodes") or () if b}
            for i in indexes:
                found[i] = self._blob(wanted[i], blobs.get(wanted[i].path.lstrip("/")))
        for i in todo:
            want = wanted[i]
            key = ("file", want.repo, want.path.lstrip("/"), want.ref)
            if want.ref is None:
                self.http.fresh.put(key, found[i])
            elif is_sha(want.ref):
                self.http.immutable.put(key, found[i])
        return tuple(found)

    def _blob(self, want: FileRef, blob: dict | None) -> FileContent | None:
        if not blob or blob.get("mode") == SYMLINK_MODE:
            return None
        text = blob.get("rawBlob")
        content = text.encode("utf-8") if isinstance(text, str) else None
        if content is None or (blob.get("size") is not None and int(blob["size"]) != len(content)):
            # Binary (or cut) content does not survive a JSON string: the files API serves it base64-encoded
            # (its `ref` "HEAD" is the default branch).
            # https://docs.gitlab.com/api/repository_files/#get-file-from-repository
            content = self.http.get(f"{_project(want.repo)}/repository/files/{_q(want.path.lstrip('/'))}",
                                    {"ref": want.ref or "HEAD"}, parse=lambda d: base64.b64decode(d.get("content") or ""))
        return FileContent(content, blob["oid"])

    def get_default_branch(self, repo: str) -> str:
        return self.http.get(_project(repo), parse=lambda d: d["default_branch"], needs=f"Reporter on {repo}")

    def get_branch_sha(self, repo: str, branch: str) -> str:
        return self.http.get(f"{_project(repo)}/repository/branches/{_q(branch)}", parse=lambda d: d["commit"]["id"])

    def get_tag(self, repo: str, name: str) -> Tag | None:
        try:
            return self.http.get(f"{_project(repo)}/repository/tags/{_q(name)}", parse=parse.tag)
        except NotFound:
            return None

    def list_tags(self, repo: str) -> tuple[Tag, ...]:
        tags = self.http.get_pages(f"{_project(repo)}/repository/tags", parse=lambda d: [parse.tag(t) for t in d])
        return tuple(Tag(name=t.name, commit_sha=t.commit_sha) for t in tags)

    def list_annotated_tags(self, repo: str, *, limit: int | None = None) -> tuple[Tag, ...]:
        """One page of 100 tags per request, each with message, target and peeled commit; newest commit first.
        https://docs.gitlab.com/api/tags/#list-project-repository-tags (order_by=updated: the commit's date)"""
        return tuple(self.http.get_pages(f"{_project(repo)}/repository/tags", {"order_by": "updated", "sort": "desc"},
                                         parse=lambda d: [parse.tag(t) for t in d], limit=limit))

    # --- writes for releases and rollbacks
    def create_tag(self, repo: str, *, name: str, message: str, sha: str) -> Tag:
        """POST repository/tags with a message makes an annotated tag (https://docs.gitlab.com/api/tags/#create-a-new-tag);
        a taken name is 400 "Tag NAME already exists"."""
        data = self.http.request("POST", f"{_project(repo)}/repository/tags", body={"tag_name": name, "ref": sha, "message": message},
                                 needs=f"Developer on {repo} to push tags (Maintainer when the tag is protected)").data
        return parse.tag(data)

    def update_file(self, repo: str, path: str, *, content: bytes, message: str, branch: str, sha: str | None) -> str:
        """One commit through the commits API (it answers the new commit, the files API does not), guarded by the
        file's last_commit_id so a concurrent change is refused by GitLab itself; `sha` (the blob id read before)
        is checked against the branch's file first. https://docs.gitlab.com/api/commits/#create-a-commit-with-multiple-files-and-actions"""
        path = path.lstrip("/")
        try:
            current = self.http.get(f"{_project(repo)}/repository/files/{_q(path)}", {"ref": branch},
                                    parse=lambda d: (d["blob_id"], d["last_commit_id"]))
        except NotFound:
            current = None
        if (current[0] if current else None) != sha:
            state = "exists" if current else "does not exist"
            raise Conflict(f"{repo}:{path} on {branch} changed since it was read (it {state} now)")
        action = {"action": "update" if current else "create", "file_path": path,
                  "content": base64.b64encode(content).decode(), "encoding": "base64"}
        if current:
            action["last_commit_id"] = current[1]
        try:
            data = self.http.request("POST", f"{_project(repo)}/repository/commits",
                                     body={"branch": branch, "commit_message": message, "actions": [action]},
                                     needs=f"Developer on {repo} to push to {branch} (Maintainer when it is protected)").data
        except AlreadyExists as exc:  # 400 "A file with this name already exists": created by someone else first
            raise Conflict(str(exc)) from exc
        return data["id"]

    def create_branch(self, repo: str, *, name: str, sha: str) -> None:
        self.http.request("POST", f"{_project(repo)}/repository/branches", body={"branch": name, "ref": sha},
                          needs=f"Developer on {repo} to create branches")

    def get_release(self, repo: str, tag: str) -> Release | None:
        try:
            return self.http.get(f"{_project(repo)}/releases/{_q(tag)}", parse=parse.release)
        except NotFound:
            return None

    def create_release(self, repo: str, *, tag: str, name: str, body: str) -> Release:
        """https://docs.gitlab.com/api/releases/#create-a-release: 409 when the tag has a release already."""
        data = self.http.request("POST", f"{_project(repo)}/releases", body={"tag_name": tag, "name": name, "description": body},
                                 needs=f"Developer on {repo} to create releases").data
        return parse.release(data)

    def create_pull(self, repo: str, *, title: str, body: str, head: str, base: str) -> PullRequest:
        """https://docs.gitlab.com/api/merge_requests/#create-mr: 409 when an open MR exists for the source branch.
        GitLab prepares a new MR's diff in the background, so its head may be missing from the answer."""
        data = self.http.request("POST", f"{_project(repo)}/merge_requests",
                                 body={"source_branch": head, "target_branch": base, "title": title, "description": body},
                                 needs=f"Developer on {repo} to open merge requests").data
        pull, meta = self._mr(repo, data)
        self._mr_meta.put(("mr-meta", repo, pull.number), meta)
        if not pull.head_sha:
            pull = replace(pull, head_sha=self.get_branch_sha(repo, head))
        return pull

    def comment(self, repo: str, number: int, body: str) -> None:
        # MR notes and issue notes are separate endpoints; `number` is always an MR iid here.
        self.http.request("POST", f"{_project(repo)}/merge_requests/{number}/notes", body={"body": body},
                          needs=f"Reporter on {repo} to comment on merge requests")
