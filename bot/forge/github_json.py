"""GitHub's pull request JSON -> PullRequest: one parser for REST answers and webhook payloads (same shape)."""
from __future__ import annotations

from typing import Any, Mapping

from bot.forge.base import PullRequest


def login(user: Any) -> str:
    return (user or {}).get("login") or "ghost"  # GitHub shows deleted accounts as @ghost


def pull_request(repo: str, d: Mapping[str, Any]) -> PullRequest:
    """A pull request object as GET /repos/{o}/{r}/pulls/{n} and the pull_request webhook payloads carry it.

    https://docs.github.com/en/webhooks/webhook-events-and-payloads#pull_request (a review's payload lacks
    `merged`; `merged_at` says the same)."""
    org = repo.split("/", 1)[0]
    return PullRequest(
        repo=repo, number=d["number"], title=d.get("title") or "", author=login(d.get("user")),
        head_sha=d["head"]["sha"], head_ref=d["head"]["ref"], base_ref=d["base"]["ref"], base_sha=d["base"]["sha"],
        state=d["state"], merged=bool(d.get("merged") or d.get("merged_at")),
        merge_commit_sha=d.get("merge_commit_sha"), draft=bool(d.get("draft")),
        labels=frozenset(label["name"] for label in d.get("labels") or ()),
        requested_teams=frozenset(f"@{org}/{t['slug']}" for t in d.get("requested_teams") or ()),
        requested_users=frozenset(u["login"] for u in d.get("requested_reviewers") or ()),
        html_url=d.get("html_url") or "", body=d.get("body") or "",
    )
