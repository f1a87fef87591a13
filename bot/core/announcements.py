"""SPEC §3 `notify:`: where release announcements go, parsed from the config; no URL or secret ever lives here.

A target names environment variables (`url_env`, `secret_env`) that the operator sets on the app; the file in
the repository only says which of them to use, so a pull request cannot send a release's data anywhere new,
and a secret never sits in git.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Iterator


class TargetKind(enum.Enum):
    SLACK = "slack"  # incoming webhook, Block Kit: https://api.slack.com/messaging/webhooks
    TEAMS = "teams"  # incoming webhook / workflow, Adaptive Card in the message/attachments envelope
    WEBHOOK = "webhook"  # our JSON body, HMAC-SHA256 signed (X-Release-Coordinator-Signature-256)


class AnnouncementEvent(enum.Enum):
    PLAN_READY = "plan_ready"  # a release pull request's approvals became complete
    RELEASED = "released"  # a coordinated release was tagged
    ROLLED_BACK = "rolled_back"  # a rollback release was tagged
    PROMOTION_BLOCKED = "promotion_blocked"  # the promotion gate failed on verification


ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


@dataclass(frozen=True)
class Target:
    """One announcement receiver.

    kind: slack | teams | webhook.
    url_env: name of the environment variable (on the app, not in git) holding the receiver's URL.
    secret_env: name of the variable holding the HMAC key that signs a `webhook` body (required for webhook).
    on: the events sent there (plan_ready, released, rolled_back, promotion_blocked); default released, rolled_back.
    environments: only releases to these environments (default: every environment).
    """

    kind: TargetKind
    url_env: str
    secret_env: str | None = None
    on: frozenset[AnnouncementEvent] = frozenset({AnnouncementEvent.RELEASED, AnnouncementEvent.ROLLED_BACK})
    environments: frozenset[str] | None = None

    def wants(self, event: AnnouncementEvent, environment: str) -> bool:
        return event in self.on and (self.environments is None or environment in self.environments)


def env_name_error(text: str) -> str | None:
    if ENV_NAME.match(text):
        return None
    return f"must name an environment variable (A-Z, 0-9, _), not {text!r}; the URL or secret itself goes in the app's environment"


def problems(items: Any) -> Iterator[tuple[tuple, str]]:
    """What the schema cannot say: required keys, and a webhook target without its signing secret."""
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        for key in ("kind", "url_env"):
            if key not in item:
                yield (index,), f"notify[{index}]: missing required key {key!r}"
        if item.get("kind") == TargetKind.WEBHOOK.value and "secret_env" not in item:
            yield (index,), (f"notify[{index}]: a webhook target needs secret_env (the receiver verifies the "
                             "X-Release-Coordinator-Signature-256 header with it)")


def build(items: Any) -> tuple[Target, ...]:
    """Targets from a checked `notify:` list; entries the checks refused are left out."""
    if not isinstance(items, list):
        return ()
    kinds = {k.value: k for k in TargetKind}
    events = {e.value: e for e in AnnouncementEvent}
    targets = []
    for item in items:
        if not isinstance(item, dict) or item.get("kind") not in kinds or not isinstance(item.get("url_env"), str):
            continue
        on = item.get("on")
        envs = item.get("environments")
        targets.append(Target(
            kind=kinds[item["kind"]], url_env=item["url_env"], secret_env=item.get("secret_env"),
            on=frozenset(events[e] for e in on if e in events) if isinstance(on, list) else Target.on,
            environments=frozenset(str(e) for e in envs) if isinstance(envs, list) else None,
        ))
    return tuple(targets)


def unbool_on(data: Any, lines: dict | None = None) -> None:
    """In each `notify:` entry, the key YAML 1.1 (PyYAML's safe loader) resolves `on` to (true) is renamed back
    to "on", with its line, so `on: [released]` reads as SPEC §3 writes it (GitHub Actions has the same quirk)."""
    items = data.get("notify") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if isinstance(item, dict) and True in item and "on" not in item:
            item["on"] = item.pop(True)
            if lines is not None and ("notify", index, True) in lines:
                lines[("notify", index, "on")] = lines[("notify", index, True)]
