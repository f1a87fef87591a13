"""Ask GitHub again for the App's failed webhook deliveries that the journal never accepted (GitHub does not retry).

https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries
https://docs.github.com/en/rest/apps/webhooks#list-deliveries-for-an-app-webhook
At start (a full look-back window) and every five minutes (back to the previous scan, with some overlap), list
`GET /app/hook/deliveries` (App JWT, newest first, paginated by `cursor` in the Link header), group the attempts by
`guid` (the X-GitHub-Delivery id, which a redelivery keeps), and for each guid whose attempts all failed and that
the journal does not know, `POST /app/hook/deliveries/{id}/attempts` once. A guid asked for is remembered in the
store for the window, so a scan twice over the same page asks nothing twice.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any, Callable, Iterable, Mapping

import requests

from bot import logs
from bot.forge.errors import ForgeError, TransientError
from bot.forge.http import error_for

log = logging.getLogger("bot.redeliver")

JOB_KIND = "redeliver"  # the queue job (Queue.register_job) that runs one scan
WINDOW_SECONDS = 24 * 3600  # GitHub redelivers deliveries of the past 3 days; a day is enough and stays cheap
OVERLAP_SECONDS = 600  # a periodic scan reaches 10 minutes behind the previous one (clock skew, late pages)
MAX_PAGES = 50  # 5,000 deliveries per scan at most; the next scan goes on from the window again
MAX_REQUESTS_PER_SCAN = 100  # redelivery requests per scan (GitHub rate-limits the App's JWT requests)
PER_PAGE = 100
TIMEOUT_SECONDS = 15
ASKED_KEY = "redeliver:asked:{guid}"
CURSOR_KEY = "redeliver:scanned_until"


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One row of GET /app/hook/deliveries."""

    id: int
    guid: str
    delivered_at: float
    status: str
    status_code: int
    event: str
    action: str | None

    @property
    def ok(self) -> bool:
        # GitHub writes "OK" for a 2xx answer; status_code 0 means no answer at all (timeout, refused connection).
        return self.status == "OK" or 200 <= self.status_code < 300

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> "Attempt":
        return cls(id=int(row["id"]), guid=str(row["guid"]), delivered_at=_epoch(row["delivered_at"]),
                   status=str(row.get("status") or ""), status_code=int(row.get("status_code") or 0),
                   event=str(row.get("event") or ""), action=row.get("action"))


@dataclasses.dataclass(frozen=True)
class Decision:
    """What to do about one guid: redeliver attempt `id`, or skip it and why."""

    guid: str
    id: int
    reason: str  # "redeliver", "succeeded", "accepted", "asked"


def decide(attempts: Iterable[Attempt], *, accepted: Callable[[str], bool], asked: Callable[[str], bool]) -> list[Decision]:
    """Pure: one decision per guid, oldest first. A guid with any successful attempt, or one the journal accepted
    (GitHub may record a timeout for a delivery we did store), or one asked for already, is left alone; otherwise
    its newest attempt is redelivered."""
    by_guid: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_guid.setdefault(attempt.guid, []).append(attempt)
    decisions = []
    for guid, tries in sorted(by_guid.items(), key=lambda item: min(a.delivered_at for a in item[1])):
        newest = max(tries, key=lambda a: (a.delivered_at, a.id))
        if any(a.ok for a in tries):
            reason = "succeeded"
        elif accepted(guid):
            reason = "accepted"
        elif asked(guid):
            reason = "asked"
        else:
            reason = "redeliver"
        decisions.append(Decision(guid, newest.id, reason))
    return decisions


@dataclasses.dataclass
class Scan:
    pages: int = 0
    attempts: int = 0
    requested: list[str] = dataclasses.field(default_factory=list)
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)  # guid -> why GitHub would not redeliver
    complete: bool = True  # False: stopped at MAX_PAGES or MAX_REQUESTS_PER_SCAN


class Redeliverer:
    """One App's redelivery scans. `jwt` makes an App JWT (GitHubApp.jwt); `journal.state(guid)` says whether a
    delivery was accepted; `store` remembers what was asked; `count(name, labels)` feeds /metrics."""

    def __init__(self, *, api_url: str, jwt: Callable[[], str], journal: Any, store: Any,
                 count: Callable[[str, dict], None] | None = None, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time, window_seconds: float = WINDOW_SECONDS):
        self.api_url = api_url.rstrip("/")
        self._jwt = jwt
        self.journal = journal
        self.store = store
        self._count = count or (lambda name, labels: None)
        self.http = session or requests.Session()
        self.clock = clock
        self.window_seconds = window_seconds

    def scan(self, *, full: bool) -> Scan:
        """full: the whole window (at start); otherwise back to where the previous complete scan ended."""
        now = self.clock()
        since = now - self.window_seconds
        if not full:
            previous = self.store.get_json(CURSOR_KEY) if self.store is not None else None
            if isinstance(previous, (int, float)):
                since = max(since, previous - OVERLAP_SECONDS)
        result = Scan()
        attempts = list(self._attempts(since=since, result=result))
        result.attempts = len(attempts)
        decisions = decide(attempts, accepted=self._accepted, asked=self._asked)
        for decision in decisions:
            if decision.reason != "redeliver":
                result.skipped[decision.reason] = result.skipped.get(decision.reason, 0) + 1
                continue
            if len(result.requested) + len(result.refused) >= MAX_REQUESTS_PER_SCAN:
                result.complete = False
                break
            self._redeliver(decision, result)
        if result.complete and self.store is not None:
            self.store.set_json(CURSOR_KEY, now, ttl=self.window_seconds)
        self._count("redelivery_scans_total", {"outcome": "complete" if result.complete else "partial"})
        logs.event(log, "redelivery scan", outcome="complete" if result.complete else "partial", pages=result.pages,
                   attempts=result.attempts, requested=len(result.requested), refused=len(result.refused),
                   **{f"skipped_{reason}": n for reason, n in result.skipped.items()})
        return result

    def _attempts(self, *, since: float, result: Scan) -> Iterable[Attempt]:
        url: str | None = f"{self.api_url}/app/hook/deliveries?per_page={PER_PAGE}"
        while url:
            if result.pages >= MAX_PAGES:
                result.complete = False
                return
            response = self._request("GET", url, what="list webhook deliveries")
            result.pages += 1
            rows = response.json()
            if not isinstance(rows, list):
                raise ForgeError(f"list webhook deliveries: expected a JSON list, got {type(rows).__name__}")
            reached_end = False
            for row in rows:
                attempt = Attempt.from_json(row)
                if attempt.delivered_at < since:
                    reached_end = True  # newest first: everything after this is older still
                    continue
                yield attempt
            url = None if reached_end else response.links.get("next", {}).get("url")

    def _redeliver(self, decision: Decision, result: Scan) -> None:
        try:
            self._request("POST", f"{self.api_url}/app/hook/deliveries/{decision.id}/attempts",
                          what=f"redeliver {decision.guid}")
        except TransientError:
            raise  # the queue retries the scan; nothing was remembered for this guid
        except ForgeError as exc:
            # 422 and friends: GitHub will not redeliver this one (too old, hook gone). Remember it so every scan
            # does not ask again, and say why.
            result.refused[decision.guid] = str(exc)
            self._count("redeliveries_total", {"outcome": "refused"})
            logs.event(log, "redelivery refused", level=logging.WARNING, delivery_id=decision.guid, error=str(exc))
        else:
            result.requested.append(decision.guid)
            self._count("redeliveries_total", {"outcome": "requested"})
            logs.event(log, "redelivery requested", delivery_id=decision.guid, hook_delivery=decision.id)
        if self.store is not None:
            self.store.set_json(ASKED_KEY.format(guid=decision.guid), {"id": decision.id, "at": self.clock()},
                                ttl=self.window_seconds + OVERLAP_SECONDS)

    def _request(self, method: str, url: str, *, what: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._jwt()}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28"}
        try:
            response = self.http.request(method, url, headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise TransientError(f"{what}: {type(exc).__name__}") from None
        error = error_for(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                          _json_or_none(response), what=what, now=self.clock())
        if error is not None:
            raise error
        return response

    def _accepted(self, guid: str) -> bool:
        return self.journal.state(guid) is not None

    def _asked(self, guid: str) -> bool:
        return self.store is not None and self.store.get_json(ASKED_KEY.format(guid=guid)) is not None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _epoch(value: str) -> float:
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


# --- wiring into the queue ---------------------------------------------------------------------------------------

def install(queue: Any, settings: Any, store: Any) -> None:
    """Register the scan as a queue job, ask for a full scan now (at start) and a short one every five minutes.

    Job ids carry the five-minute slot, so several consumers starting or ticking together queue one scan."""
    if not settings.github_app_configured:
        return
    from bot.forge.auth import GitHubApp
    from bot.queue import Outcome, Retry

    app = GitHubApp(app_id=settings.github_app_id, private_key=settings.github_private_key,
                    api_url=settings.github_api_url)
    redeliverer = Redeliverer(api_url=settings.github_api_url, jwt=app.jwt, journal=queue.journal, store=store,
                              count=queue.journal.incr)

    def run(claim) -> Any:
        import json

        full = bool(json.loads(claim.delivery.body or b"{}").get("full"))
        try:
            redeliverer.scan(full=full)
        except TransientError as exc:
            return Outcome(transient={JOB_KIND: Retry(f"{type(exc).__name__}: {exc}", exc.retry_after)})
        except ForgeError as exc:
            # 401/403/404 on /app/hook: a wrong App id or key. Said loudly and counted, not kept as a dead letter
            # (one per five minutes would bury the deliveries' own); the next slot tries again.
            queue.journal.incr("redelivery_scans_total", {"outcome": "failed"})
            logs.event(log, "redelivery scan failed", level=logging.ERROR, error=f"{type(exc).__name__}: {exc}")
        return Outcome(done=(JOB_KIND,))

    def submit(full: bool) -> None:
        slot = int(time.time() // 300)
        queue.submit_job(JOB_KIND, f"{'start' if full else 'every-5-min'}-{slot}", {"full": full})

    queue.register_job(JOB_KIND, run)
    queue.on_every_five_minutes(lambda: submit(False))
    try:
        submit(True)
    except Exception:  # the backend is not up yet: the first periodic slot scans instead
        log.exception("could not queue the start-up redelivery scan")
