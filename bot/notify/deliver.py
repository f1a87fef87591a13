"""Announcements leave through the queue: one job per (announcement, target), so a dead receiver retries and
dead-letters on its own and never holds up a release or another receiver.

A job carries the announcement and the target's variable names, never a URL or a secret: those are read from
the app's environment (bot.settings) when the job runs, so the queue database holds nothing secret.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
import time
from typing import Callable, Mapping, Protocol

import requests

from bot import logs
from bot.core.announcements import Target, TargetKind
from bot.notify.render import SIGNATURE_HEADER, Announcement, body_for, from_json, signature, to_json
from bot.queue import Outcome, Retry

log = logging.getLogger("bot.notify")

JOB_KIND = "announce"  # the queue's job kind (Delivery.event) for one announcement to one target
HANDLER = "announce"  # the name the job's outcome is filed under (dead letters show it)
TIMEOUT_SECONDS = 10.0
USER_AGENT = "release-coordinator-notify"
# Worth trying again: the receiver is down, overloaded or asks us to slow down.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class Jobs(Protocol):
    """The queue as handlers see it (bot.queue.Queue.submit_job): False when that job id was submitted before."""

    def submit_job(self, kind: str, job_id: str, payload: Mapping) -> bool: ...


def job_id(a: Announcement, target: Target) -> str:
    """Stable across replays: the same announcement to the same target is one job, submitted once."""
    pull = (a.pull_request or {}).get("number")
    key = json.dumps([a.forge, a.repository, a.event.value, a.environment, a.release_id, pull,
                      target.kind.value, target.url_env], separators=(",", ":"))
    return f"{a.event.value}:{a.release_id}:{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def announce(jobs: Jobs | None, targets: tuple[Target, ...], a: Announcement) -> int:
    """Submit a job for every target that wants this event and environment; the number newly submitted."""
    if jobs is None:
        return 0
    submitted = 0
    for target in targets:
        if not target.wants(a.event, a.environment):
            continue
        payload = {"target": {"kind": target.kind.value, "url_env": target.url_env, "secret_env": target.secret_env},
                   "announcement": to_json(a)}
        if jobs.submit_job(JOB_KIND, job_id(a, target), payload):
            submitted += 1
    return submitted


class Permanent(Exception):
    """Retrying cannot help (a missing variable, a 4xx other than 408/425/429, a redirect)."""


class Temporary(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - now)


class Sender:
    """POSTs one announcement to one target; raises Temporary or Permanent, returns the status on success."""

    def __init__(self, variable: Callable[[str], str | None], *, session: requests.Session | None = None,
                 timeout: float = TIMEOUT_SECONDS, clock: Callable[[], float] = time.time):
        self.variable = variable  # env name -> value (Settings.announce_variable), None when unset or refused
        self.session = session  # None: a fresh connection per announcement (consumer threads share the Sender)
        self.timeout = timeout
        self.clock = clock

    def send(self, target: Target, a: Announcement) -> int:
        url = self.variable(target.url_env)
        if not url:
            raise Permanent(f"{target.url_env} is not set in the app's environment (notify target {target.kind.value})")
        if not url.startswith(("https://", "http://")):
            raise Permanent(f"{target.url_env} does not hold an http(s) URL")
        body = body_for(target.kind, a)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "X-Release-Coordinator-Event": a.event.value}
        if target.kind is TargetKind.WEBHOOK:
            secret = self.variable(target.secret_env or "")
            if not secret:
                raise Permanent(f"{target.secret_env} is not set in the app's environment (it signs the webhook body)")
            headers[SIGNATURE_HEADER] = signature(body, secret=secret)
        try:
            # No redirects: a receiver that moved must be re-configured, not followed with a signed body.
            post = self.session.post if self.session is not None else requests.post
            response = post(url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise Temporary(f"{target.kind.value} receiver unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return status
        wait = retry_after_seconds(response.headers.get("Retry-After"), now=self.clock())
        if status in RETRYABLE:
            raise Temporary(f"{target.kind.value} receiver answered {status}", wait)
        raise Permanent(f"{target.kind.value} receiver answered {status}: {response.text[:200]}")


def target_from_json(data: Mapping) -> Target:
    return Target(kind=TargetKind(data["kind"]), url_env=data["url_env"], secret_env=data.get("secret_env"))


def job_runner(sender: Sender, *, count: Callable[[str, dict], None] | None = None):
    """The queue runner for JOB_KIND deliveries: Outcome done / transient (retried with Retry-After) / failed."""

    def run(claim) -> Outcome:
        payload = json.loads(claim.delivery.body)
        target = target_from_json(payload["target"])
        a = from_json(payload["announcement"])
        fields = dict(kind=target.kind.value, event=a.event.value, release_id=a.release_id, repo=a.repository,
                      attempt=claim.attempt + 1)
        try:
            status = sender.send(target, a)
        except Temporary as exc:
            logs.event(log, "announcement", level=logging.WARNING, outcome="retry", error=str(exc), **fields)
            _count(count, target, "retry")
            return Outcome(transient={HANDLER: Retry(str(exc), exc.retry_after)})
        except Permanent as exc:
            logs.event(log, "announcement", level=logging.ERROR, outcome="failed", error=str(exc), **fields)
            _count(count, target, "failed")
            return Outcome(failed={HANDLER: str(exc)})
        logs.event(log, "announcement", outcome="sent", status=status, **fields)
        _count(count, target, "sent")
        return Outcome(done=(HANDLER,))

    return run


def _count(count, target: Target, outcome: str) -> None:
    if count is None:
        return
    try:
        count("announcements_total", {"kind": target.kind.value, "outcome": outcome})
    except Exception:  # a metrics blip must not turn a sent announcement into a retry (a duplicate)
        log.exception("could not count an announcement")




def install(queue, settings) -> None:
    """Register the announcement job runner on the queue, reading receivers' URLs and secrets from settings."""

    def variable(name: str) -> str | None:
        value = settings.announce_variable(name)
        if value is None:
            return None
        logs.register_secrets([value])  # a Slack/Teams webhook URL is itself the credential
        return value.reveal()

    queue.register_job(JOB_KIND, job_runner(Sender(variable), count=queue.journal.incr))
