"""GitLab's REST and GraphQL JSON -> model values: raw JSON stops here."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping, Sequence

from bot.model import ChangedFile, Commit, MergedPull, Permission, PullRequest, Release, Review, ReviewState, Tag

# https://docs.gitlab.com/user/project/settings/project_access_tokens/#bot-users-for-projects and
# .../group/settings/group_access_tokens/#bot-users-for-groups: a project or group access token acts as a bot
# user named project_{project_id}_bot_{random_string} / group_{group_id}_bot_{random_string}. REST's user
# objects do not always carry `bot: true`; the name says it.
_TOKEN_BOT = re.compile(r"(project|group)_\d+_bot(_[0-9a-z]+)?")
# https://docs.gitlab.com/api/members/#roles: 10 Guest, 15 Planner, 20 Reporter, 30 Developer, 40 Maintainer,
# 50 Owner (5 Minimal access). Developer is the least role that may push, so it is "write".
_ACCESS = ((50, Permission.ADMIN), (40, Permission.MAINTAIN), (30, Permission.WRITE), (20, Permission.TRIAGE),
           (10, Permission.READ))
DEVELOPER = 30


def permission(access_level: int | None) -> Permission:
    return next((p for level, p in _ACCESS if (access_level or 0) >= level), Permission.NONE)


def username(user: Any) -> str:
    return (user or {}).get("username") or "ghost"  # GitLab moves a deleted user's work to @ghost


def is_bot(user: Mapping[str, Any] | None) -> bool:
    user = user or {}
    return bool(user.get("bot")) or bool(_TOKEN_BOT.fullmatch(user.get("username") or ""))


def is_active(user: Mapping[str, Any] | None) -> bool:
    """A blocked, banned or deactivated user cannot approve or push: they do not count as members.
    https://docs.gitlab.com/api/users/ (state: active, blocked, deactivated, banned, blocked_pending_approval...)"""
    return str((user or {}).get("state") or "active").lower() == "active"


def time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


_STATES = {"opened": "open", "locked": "open", "closed": "closed", "merged": "closed"}


def merge_request(repo: str, d: Mapping[str, Any]) -> PullRequest:
    """GET /projects/:id/merge_requests/:iid (https://docs.gitlab.com/api/merge_requests/#get-single-mr).

    head/base come from diff_refs (head_sha, base_sha = the merge base GitLab diffs against); `sha` is the head
    too and is all a list answer carries. The commit a merge produced is the merge commit when there is one (the
    "Merge commit" methods make one when squashing too, over the squash commit), else the squash commit
    (fast-forward, squashed), else the head itself (fast-forward)."""
    refs = d.get("diff_refs") or {}
    head = refs.get("head_sha") or d.get("sha") or ""
    merged = d.get("state") == "merged"
    merge_sha = d.get("merge_commit_sha") or d.get("squash_commit_sha") or (head if merged else None)
    return PullRequest(
        repo=repo, number=int(d["iid"]), title=d.get("title") or "", author=username(d.get("author")),
        head_sha=head, head_ref=d.get("source_branch") or "", base_ref=d.get("target_branch") or "",
        base_sha=refs.get("base_sha") or "", state=_STATES.get(d.get("state") or "", "closed"), merged=merged,
        merge_commit_sha=merge_sha if merged else None,
        draft=bool(d.get("draft") or d.get("work_in_progress")),
        labels=frozenset(label if isinstance(label, str) else label.get("name", "") for label in d.get("labels") or ()),
        requested_users=frozenset(username(u) for u in d.get("reviewers") or ()),
        html_url=d.get("web_url") or "", body=d.get("description") or "",
    )


def first_merged(mrs: Sequence[Mapping[str, Any]], *, default_branch: str | None) -> MergedPull | None:
    """The earliest-merged MR into the default branch among GET repository/commits/:sha/merge_requests
    (https://docs.gitlab.com/api/commits/#list-merge-requests-associated-with-a-commit: "the merge request that
    originally introduced a specific commit"; open or closed ones that merely contain it are listed too)."""
    merged = [m for m in mrs if m.get("state") == "merged"
              and (default_branch is None or m.get("target_branch") == default_branch)]
    if not merged:
        return None
    mr = min(merged, key=lambda m: (m.get("merged_at") or "", int(m["iid"])))
    return MergedPull(number=int(mr["iid"]), author=username(mr.get("author")), merged_at=mr.get("merged_at"))


def diff_file(d: Mapping[str, Any]) -> ChangedFile:
    """One entry of GET .../merge_requests/:iid/diffs or repository/compare `diffs`
    (https://docs.gitlab.com/api/merge_requests/#list-merge-request-diffs): renamed_file keeps old_path."""
    if d.get("renamed_file"):
        return ChangedFile(path=d["new_path"], status="renamed", previous_path=d.get("old_path"))
    status = "added" if d.get("new_file") else "removed" if d.get("deleted_file") else "modified"
    return ChangedFile(path=d["new_path"] if status != "removed" else d.get("old_path") or d["new_path"], status=status)


def commit(d: Mapping[str, Any]) -> Commit:
    # GitLab knows a commit's author by git name and email only, not as a user.
    return Commit(sha=d["id"], message=d.get("message") or d.get("title") or "", author=None, html_url=d.get("web_url") or "",
                  parents=tuple(d.get("parent_ids") or ()))


def tag(d: Mapping[str, Any]) -> Tag:
    """https://docs.gitlab.com/api/tags/#list-project-repository-tags: `target` is the tag object's sha for an
    annotated tag, the commit's for a lightweight one; `commit` is the peeled commit; `message` "" when none."""
    commit_sha = (d.get("commit") or {}).get("id") or d.get("target")
    annotated = bool(d.get("target")) and d.get("target") != commit_sha
    return Tag(name=d["name"], commit_sha=commit_sha, message=(d.get("message") if annotated else None),
               tag_sha=d.get("target") if annotated else None)


def release(d: Mapping[str, Any]) -> Release:
    links = d.get("_links") or {}
    return Release(tag=d["tag_name"], name=d.get("name") or "", body=d.get("description") or "",
                   html_url=links.get("self") or "")


def version_at(versions: Sequence[Mapping[str, Any]], at: dt.datetime | None) -> str | None:
    """The head sha an approval given at `at` saw: the newest MR diff version created before it.
    https://docs.gitlab.com/api/merge_requests/#get-merge-request-diff-versions (newest first; a push makes a
    version). None when it cannot be told (no time, or before every version)."""
    dated = sorted(((time(v.get("created_at")), v.get("head_commit_sha")) for v in versions), key=lambda p: p[0] or dt.datetime.min.replace(tzinfo=dt.timezone.utc))
    if at is None:
        return dated[-1][1] if len(dated) == 1 else None  # one version only: there was no other head to see
    seen = [sha for created, sha in dated if created is not None and created <= at]
    return seen[-1] if seen else None


def approvals(approved_by: Sequence[Mapping[str, Any]], reviewers: Sequence[Mapping[str, Any]],
              versions: Sequence[Mapping[str, Any]]) -> tuple[Review, ...]:
    """Approvals (GET .../approvals `approved_by`: user + approved_at) and change requests (GET .../reviewers
    with state "requested_changes") as reviews, oldest first. A user who approved counts as approving: GitLab
    keeps at most one approval per user and clears it when they request changes."""
    approved = {username(a.get("user")) for a in approved_by}
    reviews = []
    for r in reviewers:
        user = r.get("user") or {}
        if r.get("state") == "requested_changes" and username(user) not in approved:
            at = time(r.get("updated_at") or r.get("created_at"))
            reviews.append(Review(id=int(user.get("id") or 0), user=username(user), state=ReviewState.CHANGES_REQUESTED,
                                  commit_id=version_at(versions, at), submitted_at=at, user_is_bot=is_bot(user)))
    for a in approved_by:
        user = a.get("user") or {}
        at = time(a.get("approved_at"))
        reviews.append(Review(id=int(user.get("id") or 0), user=username(user), state=ReviewState.APPROVED,
                              commit_id=version_at(versions, at), submitted_at=at, user_is_bot=is_bot(user)))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return tuple(sorted(reviews, key=lambda r: r.submitted_at or epoch))
