"""Timed re-evaluations (SPEC §4): a check that waits for time (a window opening or closing, a soak ending)
flips by itself within 30 s of that moment, not at the next five-minute sweep.

A handler that knows when its verdict will change by time alone schedules a recheck for that moment. The
recheck is a delivery of the app's own, recorded in the journal now and due then (bot.queue.Queue
.schedule_delivery): it survives restarts, runs under the repository's lease like a webhook, is retried like
one, and its id (pull request, check, moment) makes scheduling it again from every re-evaluation a no-op. When
it runs, the handlers registered on (RECHECK_EVENT, "due") re-evaluate that one pull request; the periodic sweep
(bot.handlers.window.periodic) stays as the fallback.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from bot.webhooks.event import Event

RECHECK_EVENT = "release_coordinator.recheck"  # not a forge's event name: our own deliveries only
DUE = "due"
# Fire a little after the moment, so a worker whose clock runs a second behind still sees it passed.
SLACK = dt.timedelta(seconds=2)


@dataclass(frozen=True)
class Recheck:
    forge: str  # "github" | "gitlab"
    account: int | None  # the GitHub installation id; None on GitLab
    repo: str
    number: int
    check: str  # the check to re-evaluate, e.g. release-coordinator/promotion
    at: dt.datetime  # when the verdict changes by time alone (UTC)

    @property
    def delivery_id(self) -> str:
        return f"recheck:{self.forge}:{self.repo}!{self.number}:{self.check}:{int(self.at.timestamp())}"

    def body(self) -> bytes:
        return json.dumps({"forge": self.forge, "account": self.account, "repo": self.repo, "number": self.number,
                           "check": self.check, "at": self.at.astimezone(dt.timezone.utc).isoformat()},
                          sort_keys=True).encode()


def schedule(ctx: Any, recheck: Recheck) -> bool:
    """Ask the queue (ctx.jobs) to run the recheck at its moment; False when there is no queue (CLI, tests without
    one) or it was scheduled before."""
    scheduler = getattr(ctx.jobs, "schedule_delivery", None)
    if scheduler is None:
        return False
    from bot.journal import Delivery

    delivery = Delivery(recheck.delivery_id, recheck.forge, RECHECK_EVENT, DUE, recheck.repo, recheck.body(),
                        ctx.now.timestamp())
    return bool(scheduler(delivery, at=(recheck.at + SLACK).timestamp()))


def event_of(delivery_id: str, body: bytes) -> Event:
    """The Event a recheck delivery runs as: it names one pull request and one check."""
    data = json.loads(body)
    account = data.get("account") if isinstance(data.get("account"), int) else None
    return Event(forge=data["forge"], name=RECHECK_EVENT, action=DUE, delivery_id=delivery_id,
                 installation_id=account if data["forge"] == "github" else None, account=account,
                 repo=data["repo"], pull_number=int(data["number"]), check_name=data["check"])


def wants(event: Event, check: str) -> bool:
    return event.name == RECHECK_EVENT and event.check_name == check
