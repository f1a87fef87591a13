"""GitLab deliveries, sans I/O: check X-Gitlab-Token, pick the delivery id, turn headers + JSON into one Event.

Payload shapes: https://docs.gitlab.com/ee/user/project/integrations/webhook_events.html
"""
from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Mapping

from bot.webhooks.event import COMMENT, PULL_RECHECK, Event
from bot.webhooks.github import MAX_BODY_BYTES, MalformedDelivery, load_payload  # noqa: F401 (same JSON rules)
from bot.webhooks.github import _int, _obj, _str  # the same defensive reads of a payload's fields

NOT_CONFIGURED = ("GitLab is not configured: set GITLAB_WEBHOOK_SECRET (the group or project webhook's secret "
                  "token), GITLAB_URL and GITLAB_TOKEN")
ZERO_SHA = "0" * 40  # a push's `after` when the branch was deleted
# A project or group access token acts as a bot user named project_{id}_bot_{random} / group_{id}_bot_{random}:
# https://docs.gitlab.com/ee/user/project/settings/project_access_tokens.html#bot-users-for-projects
_TOKEN_BOT = re.compile(r"(project|group)_\d+_bot(_[0-9a-z]+)?")
# `/recheck` as a note's first word (GitLab's stand-in for "Re-run": it has none for external statuses)
_RECHECK = re.compile(r"\s*/recheck(\s|$)")


def verify(*, token: str | None, secret: str) -> bool:
    """GitLab sends the configured secret verbatim in X-Gitlab-Token; compare it in constant time.

    https://docs.gitlab.com/ee/user/project/integrations/webhooks.html#validate-payloads-by-using-a-secret-token
    """
    if not token:
        return False
    key = secret.reveal() if hasattr(secret, "reveal") else secret
    return hmac.compare_digest(key.encode(), token.encode("utf-8", "replace"))


def delivery_id(headers: Mapping[str, str], body: bytes, *, event: str) -> str:
    """The id a repeat of this delivery carries too.

    `Idempotency-Key` is the same on every retry of one webhook request (GitLab 17.4+,
    https://docs.gitlab.com/ee/user/project/integrations/webhooks.html#delivery-headers). Older GitLab sends
    X-Gitlab-Event-UUID, which is shared by every hook one request chain triggers (a merge fires a Merge
    Request Hook and a Push Hook with one UUID), so it is combined with the event and a digest of the body: a
    retry (same bytes) repeats it, another hook of the same chain does not."""
    key = (headers.get("Idempotency-Key") or "").strip()
    if key:
        return key[:200]
    digest = hashlib.sha256(event.encode() + b"\0" + body).hexdigest()[:16]
    uuid = (headers.get("X-Gitlab-Event-UUID") or "").strip()
    return f"{uuid[:100]}:{digest}" if uuid else f"gitlab-body:{digest}"


def peek(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(action, project path): what intake logs."""
    return _action(payload), _str(_obj(payload, "project").get("path_with_namespace"))


def parse(*, event: str, delivery_id: str, payload: Mapping[str, Any]) -> Event:
    """Build the Event from X-Gitlab-Event, the delivery id and the decoded payload. Events we do not handle
    (Tag Push Hook, Pipeline Hook, notes on issues or commits ...) get kind None: nothing is routed for them."""
    project = _obj(payload, "project")
    user = _obj(payload, "user")
    sender = _str(user.get("username")) or _str(payload.get("user_username"))
    fields: dict[str, Any] = {
        "repo": _str(project.get("path_with_namespace")),
        "default_branch": _str(project.get("default_branch")),
        "sender": sender,
        "sender_is_bot": bool(user.get("bot")) or bool(sender and _TOKEN_BOT.fullmatch(sender)),
    }
    specific = _SPECIFIC.get(event)
    if specific is not None:
        fields.update(specific(payload))
    else:
        fields["kind"] = None
    fields.setdefault("kind", None)
    return Event(forge="gitlab", name=event, action=_action(payload), delivery_id=delivery_id, account=None,
                 payload=payload, **fields)


def _action(payload: Mapping[str, Any]) -> str | None:
    if payload.get("object_kind") == "merge_request":
        return _str(_obj(payload, "object_attributes").get("action"))
    return None  # Note Hook actions (create, update) are not routing keys; see _note


def _merge_request(payload: Mapping[str, Any]) -> dict[str, Any]:
    from bot.routing import kind_of

    mr = _obj(payload, "object_attributes")
    action = _str(mr.get("action"))
    merged = action == "merge" or mr.get("state") == "merged"
    # The commit the target branch got: the merge commit when there is one (the "Merge commit" methods make one
    # even when squashing: the squash commit is its second parent, and the branch's pipeline runs on the merge
    # commit), else the squash commit (fast-forward methods, squashed). https://docs.gitlab.com/api/merge_requests/
    # (merge_commit_sha, squash_commit_sha), https://gitlab.com/gitlab-org/gitlab/-/issues/150
    landed = _str(mr.get("merge_commit_sha")) or _str(mr.get("squash_commit_sha"))
    return {
        "kind": kind_of("Merge Request Hook", action, merged=merged),
        "pull_number": _int(mr.get("iid")),
        "head_sha": _str(_obj(mr, "last_commit").get("id")),
        "base_ref": _str(mr.get("target_branch")),
        "merged": merged,
        "merge_commit_sha": landed if merged else None,
        # GitLab's hook has no diff base sha (diff_refs): handlers read the merge request (one GET) instead
        "pull": None,
    }


def _note(payload: Mapping[str, Any]) -> dict[str, Any]:
    note = _obj(payload, "object_attributes")
    mr = _obj(payload, "merge_request")
    body = _str(note.get("note"))
    # Only new, human notes on merge requests are commands. System notes ("approved this merge request"),
    # edits of a note (action "update": our own summary note is edited in place) and notes on issues,
    # commits or snippets route nowhere.
    command = (note.get("noteable_type") == "MergeRequest" and not note.get("system")
               and (note.get("action") in (None, "create")) and bool(mr))
    iid = _int(mr.get("iid"))
    kind = (PULL_RECHECK if body and _RECHECK.match(body) else COMMENT) if command else None
    return {
        "kind": kind,
        "pull_number": iid,
        "issue_number": iid,
        "head_sha": _str(_obj(mr, "last_commit").get("id")),
        "base_ref": _str(mr.get("target_branch")),
        "comment_body": body,
        "comment_author": _str(_obj(payload, "user").get("username")),
        "comment_id": _int(note.get("id")),
    }


def _push(payload: Mapping[str, Any]) -> dict[str, Any]:
    ref = _str(payload.get("ref")) or ""
    after = _str(payload.get("after"))
    if not ref.startswith("refs/heads/") or after in (None, ZERO_SHA):
        return {"kind": None}  # a tag push has its own hook; a deleted branch has nothing to judge
    commits = [c for c in payload.get("commits") or () if isinstance(c, dict)]
    paths = {p for c in commits for key in ("added", "modified", "removed") for p in c.get(key) or () if isinstance(p, str)}
    total = _int(payload.get("total_commits_count"))
    # GitLab lists at most 20 commits in a push hook (total_commits_count counts them all): past that the
    # paths are incomplete. https://docs.gitlab.com/ee/user/project/integrations/webhook_events.html#push-events
    return {
        "kind": "push",
        "base_ref": ref[len("refs/heads/"):],
        "head_sha": after,
        "pushed_paths": frozenset(paths),
        "paths_truncated": total is not None and total > len(commits),
    }


def _pipeline(payload: Mapping[str, Any]) -> dict[str, Any]:
    # The promotion gate (ENV-release): a pipeline's status changed on a commit, maybe a staging release's whose
    # jobs are its verification. https://docs.gitlab.com/ee/user/project/integrations/webhook_events.html#pipeline-events
    return {"kind": None, "head_sha": _str(_obj(payload, "object_attributes").get("sha"))}


_SPECIFIC = {
    "Merge Request Hook": _merge_request,
    "Note Hook": _note,
    "Push Hook": _push,
    "Pipeline Hook": _pipeline,
}
