"""Prometheus text exposition (format 0.0.4) of the durable counters, written by hand: no client library."""
from __future__ import annotations

import json
from typing import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "release_coordinator_"

_HELP = {
    "deliveries_total": ("counter", "Webhook deliveries received, by forge (github, gitlab), event and outcome."),
    "jobs_done_total": ("counter", "Deliveries whose handlers all completed, by forge and event."),
    "jobs_failed_total": ("counter", "Deliveries kept as dead letters (a handler failed for good)."),
    "jobs_retried_total": ("counter", "Job runs that hit a transient forge error and were scheduled again."),
    "jobs_superseded_total": ("counter", "Deliveries skipped because a newer one for the same pull request was "
                                         "queued (latest wins)."),
    "lease_deferrals_total": ("counter", "Jobs put off because another held their repository's lease, by job "
                                         "(a delivery's event, or window.periodic for the 5-minute sweep)."),
    "redeliveries_total": ("counter", "Failed GitHub deliveries the journal never accepted, asked again (requested) "
                                      "or that GitHub would not redeliver (refused)."),
    "redelivery_scans_total": ("counter", "Scans of the App's recent webhook deliveries, by outcome."),
    "announcements_total": ("counter", "Release announcements (notify:) by target kind and outcome: sent, retry, failed."),
}


def render(counters: Mapping[tuple[str, str], int], *, depth: Mapping[str, int], dead_letters: int) -> str:
    """counters: {(name, labels-as-JSON): value}, as the journal keeps them."""
    lines: list[str] = []
    for name, (kind, text) in _HELP.items():
        lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} {kind}"]
        for (counter, labels), value in sorted(counters.items()):
            if counter == name:
                lines.append(f"{PREFIX}{name}{_labels(json.loads(labels))} {value}")
    lines += [
        f"# HELP {PREFIX}queue_depth Jobs waiting in the queue (queued: ready now; scheduled: retries not yet due).",
        f"# TYPE {PREFIX}queue_depth gauge",
        *(f'{PREFIX}queue_depth{{state="{state}"}} {value}' for state, value in sorted(depth.items())),
        f"# HELP {PREFIX}dead_letters Deliveries kept after failing for good (see `release-coordinator dead-letters`).",
        f"# TYPE {PREFIX}dead_letters gauge",
        f"{PREFIX}dead_letters {dead_letters}",
    ]
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(str(value))}"' for key, value in sorted(labels.items())) + "}"


def _escape(value: str) -> str:
    # https://github.com/prometheus/docs/blob/main/content/docs/instrumenting/exposition_formats.md#text-format-details
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def access_gauges(index: Mapping[str, Mapping]) -> str:
    """The access audit's findings per audited repository (bot.handlers.access INDEX_KEY), by severity."""
    lines = [f"# HELP {PREFIX}access_findings Access audit findings per repository (drift, unverified, notice) at the last audit.",
             f"# TYPE {PREFIX}access_findings gauge"]
    for key, item in sorted(index.items()):
        forge, _, release_repo = key.partition(":")
        for repo, counts in sorted((item.get("repos") or {}).items()):
            for severity, value in sorted(counts.items()):
                labels = {"forge": forge, "release_repo": release_repo, "repo": repo, "severity": severity}
                lines.append(f"{PREFIX}access_findings{_labels(labels)} {value}")
    return "\n".join(lines) + "\n"
