"""The durable record of every accepted delivery (raw body, state, errors) and the counters behind /metrics.

A delivery id is recorded once (the dedupe), before the 202. Its state then moves
queued -> running -> done | dead; a retry moves it back to queued with a due time. The
claim is atomic, so a message that huey delivers twice (re-enqueued by the sweep after a
crash) still runs the handlers once to completion.
"""
from __future__ import annotations

import atexit
import collections
import enum
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from bot.store import DEFAULT_NAMESPACE, SqliteConnections, backend_of, redis_client, sqlite_synchronous

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


class SqliteJournal:
    def __init__(self, path: str, *, namespace: str = DEFAULT_NAMESPACE, synchronous: str = "normal"):
        self._db = SqliteConnections(path, synchronous=synchronous)
        self._ns = namespace
        self._pending: collections.Counter[tuple[str, str]] = collections.Counter()
        self._pending_lock = threading.Lock()
        self._flusher_pid: int | None = None
        with self._db.write_lock():
            self._db.get().executescript(
                """
                create table if not exists rc_deliveries (
                  namespace text not null, id text not null, forge text not null, event text not null,
                  action text, repo text, received_at real not null,
                  state text not null, owner text, attempt integer not null default 0, due_at real not null,
                  pending text, errors text not null default '{}', finished_at real,
                  primary key (namespace, id));
                create index if not exists rc_deliveries_state on rc_deliveries (namespace, state, due_at);
                -- The raw body apart from the state: every state change rewrites its whole row.
                create table if not exists rc_bodies (namespace text not null, id text not null,
                  body blob not null, primary key (namespace, id));
                create table if not exists rc_consumers (namespace text not null, owner text not null,
                  seen_at real not null, primary key (namespace, owner));
                create table if not exists rc_counters (namespace text not null, name text not null,
                  labels text not null, value integer not null, primary key (namespace, name, labels));
                """
            )

    def ping(self) -> None:
        self._db.get().execute("select count(*) from rc_consumers").fetchone()

    def record(self, delivery: Delivery, *, now: float, enqueue: tuple[str, bytes] | None = None,
               count: tuple[str, dict[str, str]] | None = None) -> bool:
        """Store the raw delivery; False when its id was seen before (nothing is written then).

        enqueue=(huey queue name, serialized task) writes huey's message in the same transaction, and
        count=(counter, labels) bumps a counter there too: one commit per accepted delivery.
        """
        with self._db.transaction() as conn:
            cur = conn.execute(
                "insert into rc_deliveries (namespace, id, forge, event, action, repo, received_at, "
                "state, due_at) values (?, ?, ?, ?, ?, ?, ?, 'queued', ?) on conflict do nothing",
                (self._ns, delivery.delivery_id, delivery.forge, delivery.event, delivery.action,
                 delivery.repo, delivery.received_at, now),
            )
            if cur.rowcount != 1:
                return False
            conn.execute("insert or replace into rc_bodies (namespace, id, body) values (?, ?, ?)",
                         (self._ns, delivery.delivery_id, delivery.body))
            if enqueue is not None:
                # huey's SqliteStorage.enqueue, inside our transaction (huey >= 2.0 schema: task(queue, data, priority)).
                conn.execute("insert into task (queue, data, priority) values (?, ?, 0)", enqueue)
        if count is not None:
            self.incr(*count)
        return True

    def claim(self, delivery_id: str, *, owner: str, now: float) -> Claim | None:
        with self._db.transaction() as conn:
            row = conn.execute(
                "select forge, event, action, repo, body, received_at, attempt, pending, errors "
                "from rc_deliveries d join rc_bodies b using (namespace, id) "
                "where d.namespace = ? and d.id = ? and state = 'queued'",
                (self._ns, delivery_id),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "update rc_deliveries set state = 'running', owner = ?, due_at = ? where namespace = ? and id = ?",
                (owner, now, self._ns, delivery_id),
            )
        forge, event, action, repo, body, received_at, attempt, pending, errors = row
        return Claim(
            delivery=Delivery(delivery_id, forge, event, action, repo, bytes(body), received_at),
            attempt=attempt,
            pending=tuple(json.loads(pending)) if pending else None,
            errors=json.loads(errors),
        )

    def retry(self, delivery_id: str, *, pending: Iterable[str], errors: dict[str, str], due_at: float) -> None:
        self._db.write(
            "update rc_deliveries set state = 'queued', owner = null, attempt = attempt + 1, due_at = ?, "
            "pending = ?, errors = ? where namespace = ? and id = ?",
            (due_at, json.dumps(sorted(pending)), json.dumps(errors), self._ns, delivery_id),
        )

    def finish(self, delivery_id: str, *, errors: dict[str, str], now: float) -> None:
        """done when errors is empty, else dead (a dead letter listing each failed handler's error).

        A done delivery keeps only its id row (for dedupe, 30 days); a dead letter keeps its body for --requeue.
        """
        with self._db.transaction() as conn:
            conn.execute(
                "update rc_deliveries set state = ?, owner = null, errors = ?, finished_at = ?, "
                "attempt = attempt + 1 where namespace = ? and id = ?",
                ("dead" if errors else "done", json.dumps(errors), now, self._ns, delivery_id),
            )
            if not errors:
                conn.execute("delete from rc_bodies where namespace = ? and id = ?", (self._ns, delivery_id))

    def requeue(self, delivery_id: str, *, now: float) -> bool:
        """A dead letter goes back to queued, owing only the handlers that failed."""
        cur = self._db.write(
            "update rc_deliveries set state = 'queued', attempt = 0, due_at = ?, pending = "
            "(select json_group_array(key) from json_each(errors)), errors = '{}' "
            "where namespace = ? and id = ? and state = 'dead'",
            (now, self._ns, delivery_id),
        )
        return cur.rowcount == 1

    def state(self, delivery_id: str) -> State | None:
        row = self._db.get().execute(
            "select state from rc_deliveries where namespace = ? and id = ?", (self._ns, delivery_id)
        ).fetchone()
        return None if row is None else State(row[0])

    def dead_letters(self) -> list[DeadLetter]:
        rows = self._db.get().execute(
            "select id, event, action, repo, errors, attempt, finished_at from rc_deliveries "
            "where namespace = ? and state = 'dead' order by finished_at",
            (self._ns,),
        ).fetchall()
        return [DeadLetter(i, e, a, r, _join(json.loads(err)), n, f) for i, e, a, r, err, n, f in rows]

    def heartbeat(self, owner: str, *, now: float) -> None:
        self._db.write(
            "insert into rc_consumers (namespace, owner, seen_at) values (?, ?, ?) "
            "on conflict (namespace, owner) do update set seen_at = excluded.seen_at",
            (self._ns, owner, now),
        )

    def orphans(self, *, now: float, stale_before: float, lost_before: float) -> list[str]:
        """Deliveries to enqueue again: running under a consumer that stopped beating (crashed), or queued
        and overdue long enough that huey must have lost the message. Each id is taken by one sweeper."""
        taken = []
        with self._db.transaction() as conn:
            rows = conn.execute(
                "select id from rc_deliveries d where namespace = ? and ((state = 'running' and not exists "
                "(select 1 from rc_consumers c where c.namespace = d.namespace and c.owner = d.owner "
                "and c.seen_at >= ?)) or (state = 'queued' and due_at < ?))",
                (self._ns, stale_before, lost_before),
            ).fetchall()
            for (delivery_id,) in rows:
                conn.execute(
                    "update rc_deliveries set state = 'queued', owner = null, due_at = ? "
                    "where namespace = ? and id = ?",
                    (now, self._ns, delivery_id),
                )
                taken.append(delivery_id)
            conn.execute("delete from rc_consumers where namespace = ? and seen_at < ?", (self._ns, stale_before))
        return taken

    def prune(self, *, before: float) -> int:
        cur = self._db.write(
            "delete from rc_deliveries where namespace = ? and state = 'done' and finished_at < ?", (self._ns, before)
        )
        return cur.rowcount

    def incr(self, name: str, labels: dict[str, str], by: int = 1) -> None:
        """Counted in memory and written at most once a second: a commit per webhook just for metrics would
        cost more than recording the webhook. A killed process loses at most its last second of counts."""
        with self._pending_lock:
            self._pending[(name, _labels(labels))] += by
            if self._flusher_pid != os.getpid():  # first count in this (possibly forked) process
                self._flusher_pid = os.getpid()
                threading.Thread(target=self._flush_every_second, name="rc-counters", daemon=True).start()
                atexit.register(self._flush_quietly)

    def _flush_every_second(self) -> None:
        while True:
            time.sleep(1.0)
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush_counters()
        except sqlite3.Error:  # the database is busy or gone; the next flush tries again
            pass

    def flush_counters(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, collections.Counter()
        if not pending:
            return
        try:
            with self._db.transaction() as conn:
                conn.executemany(
                    "insert into rc_counters (namespace, name, labels, value) values (?, ?, ?, ?) "
                    "on conflict (namespace, name, labels) do update set value = value + excluded.value",
                    [(self._ns, name, labels, by) for (name, labels), by in pending.items()],
                )
        except BaseException:
            with self._pending_lock:
                self._pending.update(pending)
            raise

    def counters(self) -> dict[tuple[str, str], int]:
        self.flush_counters()
        rows = self._db.get().execute(
            "select name, labels, value from rc_counters where namespace = ?", (self._ns,)
        ).fetchall()
        return {(name, labels): value for name, labels, value in rows}

    def count(self, state: State) -> int:
        return self._db.get().execute(
            "select count(*) from rc_deliveries where namespace = ? and state = ?", (self._ns, state.value)
        ).fetchone()[0]


# Redis: one hash per delivery, a sorted set per state (score = due time or finish time), a sorted set of
# consumer heartbeats. Each state change is one Lua script, so it is atomic across web and worker machines.
_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
return 1
"""
_CLAIM = """
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return nil end
redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[2], 'due_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return redis.call('HMGET', KEYS[1], 'forge', 'event', 'action', 'repo', 'body', 'received_at', 'attempt',
                  'pending', 'errors')
"""
_MOVE = """
-- KEYS: delivery hash, from-set, to-set; ARGV: id, expected state, new state, score, field/value pairs...
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3], unpack(ARGV, 5))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""


class RedisJournal:
    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE):
        self._redis = redis_client(url)
        self._p = f"{namespace}:journal"
        self._record = self._redis.register_script(_RECORD)
        self._claim = self._redis.register_script(_CLAIM)
        self._move = self._redis.register_script(_MOVE)

    def _key(self, delivery_id: str) -> str:
        return f"{self._p}:d:{delivery_id}"

    def _set(self, state: str) -> str:
        return f"{self._p}:{state}"

    def ping(self) -> None:
        self._redis.ping()

    def record(self, delivery: Delivery, *, now: float, enqueue: None = None,
               count: tuple[str, dict[str, str]] | None = None) -> bool:
        fields = {
            "forge": delivery.forge, "event": delivery.event, "action": delivery.action or "",
            "repo": delivery.repo or "", "body": delivery.body, "received_at": delivery.received_at,
            "state": "queued", "attempt": 0, "due_at": now, "pending": "", "errors": "{}",
        }
        argv: list[Any] = [now, "id", delivery.delivery_id]
        for key, value in fields.items():
            argv += [key, value]
        if self._record(keys=[self._key(delivery.delivery_id), self._set("queued")], args=argv) != 1:
            return False
        if count is not None:
            self.incr(*count)
        return True

    def forget(self, delivery_id: str) -> None:
        if self._redis.hget(self._key(delivery_id), "state") == b"queued":
            self._redis.delete(self._key(delivery_id))
            self._redis.zrem(self._set("queued"), delivery_id)

    def claim(self, delivery_id: str, *, owner: str, now: float) -> Claim | None:
        row = self._claim(
            keys=[self._key(delivery_id), self._set("queued"), self._set("running")],
            args=[delivery_id, owner, now],
        )
        if row is None:
            return None
        forge, event, action, repo, body, received_at, attempt, pending, errors = row
        return Claim(
            delivery=Delivery(delivery_id, forge.decode(), event.decode(), action.decode() or None,
                              repo.decode() or None, bytes(body), float(received_at)),
            attempt=int(attempt),
            pending=tuple(json.loads(pending)) if pending else None,
            errors=json.loads(errors),
        )

    def retry(self, delivery_id: str, *, pending: Iterable[str], errors: dict[str, str], due_at: float) -> None:
        key = self._key(delivery_id)
        attempt = int(self._redis.hget(key, "attempt") or 0) + 1
        self._move(
            keys=[key, self._set("running"), self._set("queued")],
            args=[delivery_id, "running", "queued", due_at, "owner", "", "attempt", attempt, "due_at", due_at,
                  "pending", json.dumps(sorted(pending)), "errors", json.dumps(errors)],
        )

    def finish(self, delivery_id: str, *, errors: dict[str, str], now: float) -> None:
        key = self._key(delivery_id)
        attempt = int(self._redis.hget(key, "attempt") or 0) + 1
        state = "dead" if errors else "done"
        self._move(
            keys=[key, self._set("running"), self._set(state)],
            args=[delivery_id, "running", state, now, "owner", "", "attempt", attempt,
                  "errors", json.dumps(errors), "finished_at", now],
        )
        if not errors:
            self._redis.hdel(key, "body")
            self._redis.expire(key, DONE_TTL_SECONDS)  # keeps the id for dedupe, then lets Redis drop it

    def requeue(self, delivery_id: str, *, now: float) -> bool:
        key = self._key(delivery_id)
        errors = json.loads(self._redis.hget(key, "errors") or b"{}")
        return self._move(
            keys=[key, self._set("dead"), self._set("queued")],
            args=[delivery_id, "dead", "queued", now, "attempt", 0, "due_at", now,
                  "pending", json.dumps(sorted(errors)), "errors", "{}"],
        ) == 1

    def state(self, delivery_id: str) -> State | None:
        raw = self._redis.hget(self._key(delivery_id), "state")
        return None if raw is None else State(raw.decode())

    def dead_letters(self) -> list[DeadLetter]:
        letters = []
        for raw_id in self._redis.zrange(self._set("dead"), 0, -1):
            delivery_id = raw_id.decode()
            h = self._redis.hgetall(self._key(delivery_id))
            if not h:
                continue
            letters.append(DeadLetter(
                delivery_id, h[b"event"].decode(), h[b"action"].decode() or None, h[b"repo"].decode() or None,
                _join(json.loads(h[b"errors"])), int(h[b"attempt"]), float(h[b"finished_at"]),
            ))
        return letters

    def heartbeat(self, owner: str, *, now: float) -> None:
        self._redis.zadd(self._set("consumers"), {owner: now})

    def orphans(self, *, now: float, stale_before: float, lost_before: float) -> list[str]:
        live = {o.decode() for o in self._redis.zrangebyscore(self._set("consumers"), stale_before, "+inf")}
        taken = []
        for raw_id in self._redis.zrange(self._set("running"), 0, -1):
            delivery_id = raw_id.decode()
            owner = (self._redis.hget(self._key(delivery_id), "owner") or b"").decode()
            if owner not in live and self._move(
                keys=[self._key(delivery_id), self._set("running"), self._set("queued")],
                args=[delivery_id, "running", "queued", now, "owner", "", "due_at", now],
            ) == 1:
                taken.append(delivery_id)
        for raw_id in self._redis.zrangebyscore(self._set("queued"), "-inf", f"({lost_before}"):
            delivery_id = raw_id.decode()
            if self._move(
                keys=[self._key(delivery_id), self._set("queued"), self._set("queued")],
                args=[delivery_id, "queued", "queued", now, "due_at", now],
            ) == 1:
                taken.append(delivery_id)
        self._redis.zremrangebyscore(self._set("consumers"), "-inf", f"({stale_before}")
        return taken

    def prune(self, *, before: float) -> int:
        return self._redis.zremrangebyscore(self._set("done"), "-inf", f"({before}")

    def incr(self, name: str, labels: dict[str, str], by: int = 1) -> None:
        self._redis.hincrby(self._set("counters"), f"{name}|{_labels(labels)}", by)

    def counters(self) -> dict[tuple[str, str], int]:
        raw = self._redis.hgetall(self._set("counters"))
        return {tuple(k.decode().split("|", 1)): int(v) for k, v in raw.items()}  # type: ignore[misc]

    def count(self, state: State) -> int:
        return self._redis.zcard(self._set(state.value))

    def flush(self) -> None:
        """Delete every key of this namespace (tests)."""
        for key in self._redis.scan_iter(f"{self._p}:*"):
            self._redis.delete(key)


def open_journal(url: str, *, namespace: str = DEFAULT_NAMESPACE) -> SqliteJournal | RedisJournal:
    kind, target = backend_of(url)
    if kind == "sqlite":
        return SqliteJournal(target, namespace=namespace, synchronous=sqlite_synchronous(url))
    return RedisJournal(target, namespace=namespace)


def _labels(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _join(errors: dict[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in sorted(errors.items()))


def now() -> float:
    return time.time()
