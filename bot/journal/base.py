"""What every journal backend shares: the records it keeps and the protocol the queue and web use.

A delivery id is recorded once (the dedupe), before the 202. Its state then moves
queued -> running -> done | dead; a retry moves it back to queued with a due time. The
claim is atomic, so a message that huey delivers twice (re-enqueued by the sweep after a
crash) still runs the handlers once to completion.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Iterable, Protocol

DONE_TTL_SECONDS = 30 * 24 * 3600  # how long finished deliveries (and their ids) are kept for dedupe


class State(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    forge: str  # "github" | "gitlab"
    event: str
    action: str | None
    repo: str | None
    body: bytes = field(repr=False)
    received_at: float = 0.0


@dataclass(frozen=True)
class Claim:
    """A delivery this consumer now runs: which attempt, which handlers are still owed, errors so far."""

    delivery: Delivery
    attempt: int
    pending: tuple[str, ...] | None  # None: every handler; else the names still to run
    errors: dict[str, str]


@dataclass(frozen=True)
class DeadLetter:
    delivery_id: str
    event: str
    action: str | None
    repo: str | None
    error: str
    attempts: int
    failed_at: float


class Journal(Protocol):
    """The operations bot.queue and bot.web need; bot/journal/sqlite.py and bot/journal/redis.py implement them
    with the same semantics (tests/test_queue.py runs the same cases against both)."""

    def ping(self) -> None: ...

    def record(self, delivery: Delivery, *, now: float, enqueue: tuple[str, bytes] | None = None,
               count: tuple[str, dict[str, str]] | None = None) -> bool: ...

    def claim(self, delivery_id: str, *, owner: str, now: float) -> Claim | None: ...

    def retry(self, delivery_id: str, *, pending: Iterable[str], errors: dict[str, str], due_at: float) -> None: ...

    def finish(self, delivery_id: str, *, errors: dict[str, str], now: float) -> None: ...

    def requeue(self, delivery_id: str, *, now: float) -> bool: ...

    def defer(self, delivery_id: str, *, owner: str, due_at: float) -> None: ...

    def state(self, delivery_id: str) -> State | None: ...

    def dead_letters(self) -> list[DeadLetter]: ...

    def heartbeat(self, owner: str, *, now: float) -> None: ...

    def forget_consumer(self, owner: str) -> None: ...

    def acquire_lease(self, name: str, *, token: str, now: float, lease_seconds: float) -> bool: ...

    def renew_lease(self, name: str, *, token: str, now: float, lease_seconds: float) -> bool: ...

    def release_lease(self, name: str, *, token: str) -> bool: ...

    def orphans(self, *, now: float, stale_before: float, lost_before: float, stuck_before: float) -> list[str]: ...

    def queued_after(self, delivery: Delivery, *, limit: int) -> list[Delivery]: ...

    def prune(self, *, before: float) -> int: ...

    def incr(self, name: str, labels: dict[str, str], by: int = 1) -> None: ...

    def counters(self) -> dict[tuple[str, str], int]: ...

    def count(self, state: State) -> int: ...


def _labels(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _join(errors: dict[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in sorted(errors.items()))
