"""Announcement bodies as plain data: Slack Block Kit, a Teams Adaptive Card, our signed JSON webhook. No I/O.

Shapes:
- Slack incoming webhooks take {"text", "blocks"} (text is the notification fallback):
  https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/block-kit/blocks
- Teams incoming webhooks / Workflows take a message whose attachment is an Adaptive Card:
  https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
- webhook: SPEC §3, {"event", "environment", "release_id", "tag", "components", "previous", "url", "pull_request"}
  plus "repository" and "summary"; the header X-Release-Coordinator-Signature-256 is "sha256=" + hex HMAC-SHA256
  of the exact body bytes (GitHub's X-Hub-Signature-256 scheme, so receivers can reuse their verifier).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from bot.core.announcements import AnnouncementEvent, TargetKind

SIGNATURE_HEADER = "X-Release-Coordinator-Signature-256"
_SLACK_HEADER_MAX = 150  # Block Kit header text limit
_SLACK_FIELDS_MAX = 10  # a section block takes at most 10 fields


@dataclass(frozen=True)
class Announcement:
    event: AnnouncementEvent
    forge: str
    repository: str  # the release repo
    environment: str
    release_id: str
    tag: str | None  # None before the release is tagged (plan_ready, promotion_blocked)
    components: Mapping[str, str]
    previous: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    url: str | None = None  # the Release page, else the pull request
    pull_request: Mapping[str, Any] | None = None  # {"number", "url", "title"}
    reason: str = ""  # promotion_blocked: why; rolled_back: which release it restores

    @property
    def title(self) -> str:
        if self.event is AnnouncementEvent.PLAN_READY:
            return f"Release plan ready: {self.release_id} to {self.environment}"
        if self.event is AnnouncementEvent.RELEASED:
            return f"Released {self.release_id} to {self.environment}"
        if self.event is AnnouncementEvent.ROLLED_BACK:
            return f"Rolled back {self.environment}: {self.release_id}"
        return f"Promotion of {self.release_id} to {self.environment} blocked"

    @property
    def summary(self) -> str:
        text = self.title
        if self.event is AnnouncementEvent.PLAN_READY and self.pull_request:
            text += f" (approvals complete on {self.repository} #{self.pull_request.get('number')})"
        if self.reason:
            text += f": {self.reason}"
        return text

    def version_lines(self) -> list[tuple[str, str]]:
        rows = []
        for name, version in sorted(self.components.items()):
            old = self.previous.get(name)
            rows.append((name, version if old in (None, version) else f"{old} → {version}"))
        return rows


def to_json(a: Announcement) -> dict:
    return {
        "event": a.event.value, "forge": a.forge, "repository": a.repository, "environment": a.environment,
        "release_id": a.release_id, "tag": a.tag, "components": dict(a.components), "previous": dict(a.previous),
        "url": a.url, "pull_request": dict(a.pull_request) if a.pull_request else None, "reason": a.reason,
    }


def from_json(data: Mapping) -> Announcement:
    return Announcement(
        event=AnnouncementEvent(data["event"]), forge=data["forge"], repository=data["repository"],
        environment=data["environment"], release_id=data["release_id"], tag=data.get("tag"),
        components=MappingProxyType(dict(data.get("components") or {})),
        previous=MappingProxyType(dict(data.get("previous") or {})), url=data.get("url"),
        pull_request=data.get("pull_request"), reason=data.get("reason") or "",
    )


# --------------------------------------------------------------------------------------------- bodies


def webhook_body(a: Announcement) -> dict:
    return {
        "event": a.event.value, "environment": a.environment, "release_id": a.release_id, "tag": a.tag,
        "components": dict(sorted(a.components.items())), "previous": dict(sorted(a.previous.items())),
        "url": a.url, "pull_request": dict(a.pull_request) if a.pull_request else None,
        "repository": a.repository, "summary": a.summary,
    }


def _mrkdwn(text: str) -> str:
    # https://api.slack.com/reference/surfaces/formatting#escaping
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(a: Announcement) -> dict:
    header = a.title if len(a.title) <= _SLACK_HEADER_MAX else a.title[: _SLACK_HEADER_MAX - 1] + "…"
    rows = a.version_lines()
    fields = [{"type": "mrkdwn", "text": f"*{_mrkdwn(name)}*\n{_mrkdwn(version)}"} for name, version in rows]
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}}]
    for start in range(0, len(fields), _SLACK_FIELDS_MAX):
        blocks.append({"type": "section", "fields": fields[start:start + _SLACK_FIELDS_MAX]})
    if a.reason:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(a.reason)}})
    context = [f"`{_mrkdwn(a.repository)}`"]
    if a.url:
        context.append(f"<{a.url}|{_mrkdwn(a.tag or a.release_id)}>")
    if a.pull_request and a.pull_request.get("url"):
        context.append(f"<{a.pull_request['url']}|pull request #{a.pull_request.get('number')}>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return {"text": _mrkdwn(a.summary), "blocks": blocks}


def teams_body(a: Announcement) -> dict:
    card_body: list[dict] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": a.title, "wrap": True},
        {"type": "FactSet", "facts": [{"title": name, "value": version} for name, version in a.version_lines()]},
    ]
    if a.reason:
        card_body.append({"type": "TextBlock", "text": a.reason, "wrap": True})
    card_body.append({"type": "TextBlock", "text": a.repository, "isSubtle": True, "spacing": "None", "wrap": True})
    actions = []
    if a.url:
        actions.append({"type": "Action.OpenUrl", "title": "Open release" if a.tag else "Open", "url": a.url})
    if a.pull_request and a.pull_request.get("url"):
        actions.append({"type": "Action.OpenUrl", "title": "Pull request", "url": a.pull_request["url"]})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": card_body, "actions": actions}
    return {"type": "message", "summary": a.summary, "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card},
    ]}


def body_for(kind: TargetKind, a: Announcement) -> bytes:
    """The exact bytes POSTed (what a webhook signature covers)."""
    payload = {TargetKind.SLACK: slack_body, TargetKind.TEAMS: teams_body, TargetKind.WEBHOOK: webhook_body}[kind](a)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def signature(body: bytes, *, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, *, header: str | None, secret: str) -> bool:
    """What a receiver does (documented, and used by our tests): constant-time compare of the header."""
    return header is not None and hmac.compare_digest(header, signature(body, secret=secret))
