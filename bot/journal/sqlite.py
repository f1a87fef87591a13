"""The delivery journal in the SQLite file of QUEUE_URL (the embedded default): rows beside huey's own tables,
written under the same lock file (bot.store.SqliteConnections)."""
from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import sqlite3
import threading
import time
from typing import Iterable, Iterator

from bot.journal.base import Claim, DeadLetter, Delivery, State, _join, _labels
from bot.store import DEFAULT_NAMESPACE, SqliteConnections


class SqliteJournal:
    def __init__(self, path: str, *, namespace: str = DEFAULT_NAMESPACE, synchronous: str = "normal"):
        self._db = SqliteConnections(path, synchronous=synchronous)
        self._ns = namespace
        # (counter, sorted label items) -> count not yet written; labels become JSON only when flushed
        self._pending: collections.Counter[tuple[str, tuple[tuple[str, str], ...]]] = collections.Counter()
        self._pending_lock = threading.Lock()
        self._flusher_pid: int | None = None
        self._batch = threading.local()  # .records: the group_commit() this thread is inside, if any
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
                -- One lease per repository: deliveries for it run one at a time across every process on this file.
                create table if not exists rc_leases (namespace text not null, name text not null,
                  token text not null, expires_at real not null, primary key (namespace, name));
                """
            )

    def ping(self) -> None:
        self._db.get().execute("select count(*) from rc_consumers").fetchone()

    def record(self, delivery: Delivery, *, now: float, enqueue: tuple[str, bytes] | None = None,
               count: tuple[str, dict[str, str]] | None = None) -> bool:
        """Store the raw delivery; False when its id was seen before (nothing is written then).

        enqueue=(huey queue name, serialized task) writes huey's message in the same transaction, and
        count=(counter, labels) bumps a counter there too: one commit per accepted delivery. Inside
        group_commit(), the delivery is only checked against the ids seen so far and written when the group ends.
        """
        batch = getattr(self._batch, "records", None)
        if batch is not None:
            if delivery.delivery_id in batch or self.state(delivery.delivery_id) is not None:
                return False
            batch[delivery.delivery_id] = (delivery, now, enqueue, count)
            return True
        with self._db.transaction() as conn:
            if not self._insert(conn, delivery, now=now, enqueue=enqueue):
                return False
        if count is not None:
            self.incr(*count)
        return True

    def _insert(self, conn: sqlite3.Connection, delivery: Delivery, *, now: float,
                enqueue: tuple[str, bytes] | None) -> bool:
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
        return True

    @contextlib.contextmanager
    def group_commit(self) -> Iterator[None]:
        """Group commit for a batch of intake: record() inside answers at once (True unless the id was seen) and
        every delivery it accepted is written when the block ends, in one transaction: one wait for the write lock
        and one commit for the batch, the lock held only while writing. Raises if that commit fails, and then
        nothing of the batch is kept. The id check reads outside the lock, so two processes given one id in the
        same instant may both answer queued; the journal still keeps it once."""
        if getattr(self._batch, "records", None) is not None:  # nested: the outer group writes
            yield
            return
        self._batch.records = batch = {}
        try:
            yield
        finally:
            self._batch.records = None
        if not batch:
            return
        counted = []
        with self._db.transaction() as conn:
            for delivery, now, enqueue, count in batch.values():
                if self._insert(conn, delivery, now=now, enqueue=enqueue) and count is not None:
                    counted.append(count)
        for count in counted:
            self.incr(*count)

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

    def forget_consumer(self, owner: str) -> None:
        """A consumer stopping: what it still holds as running is handed to the next sweep at once, not after
        its heartbeat goes stale."""
        self._db.write("delete from rc_consumers where namespace = ? and owner = ?", (self._ns, owner))

    def defer(self, delivery_id: str, *, owner: str, due_at: float) -> None:
        """Back to queued as it was claimed (same attempt, same pending handlers): it has not run."""
        self._db.write(
            "update rc_deliveries set state = 'queued', owner = null, due_at = ? "
            "where namespace = ? and id = ? and state = 'running' and owner = ?",
            (due_at, self._ns, delivery_id, owner),
        )

    def acquire_lease(self, name: str, *, token: str, now: float, lease_seconds: float) -> bool:
        """Take the lease on name unless another token holds it unexpired (one transaction: insert, or take
        over an expired row)."""
        cur = self._db.write(
            "insert into rc_leases (namespace, name, token, expires_at) values (?, ?, ?, ?) "
            "on conflict (namespace, name) do update set token = excluded.token, expires_at = excluded.expires_at "
            "where rc_leases.expires_at <= ? or rc_leases.token = excluded.token",
            (self._ns, name, token, now + lease_seconds, now),
        )
        return cur.rowcount == 1

    def renew_lease(self, name: str, *, token: str, now: float, lease_seconds: float) -> bool:
        """False when the lease is no longer this token's (it expired and another took it)."""
        cur = self._db.write(
            "update rc_leases set expires_at = ? where namespace = ? and name = ? and token = ?",
            (now + lease_seconds, self._ns, name, token),
        )
        return cur.rowcount == 1

    def release_lease(self, name: str, *, token: str) -> bool:
        """Only the holder's token releases: a lease that expired and was taken over stays with its new holder."""
        cur = self._db.write("delete from rc_leases where namespace = ? and name = ? and token = ?",
                             (self._ns, name, token))
        return cur.rowcount == 1

    def orphans(self, *, now: float, stale_before: float, lost_before: float, stuck_before: float) -> list[str]:
        """Deliveries to enqueue again: running under a consumer that stopped beating (crashed) or since
        before stuck_before (its consumer lost track of it), or queued and overdue long enough that huey must
        have lost the message. Each id is taken by one sweeper."""
        taken = []
        with self._db.transaction() as conn:
            rows = conn.execute(
                "select id from rc_deliveries d where namespace = ? and ((state = 'running' and (due_at < ? or "
                "not exists (select 1 from rc_consumers c where c.namespace = d.namespace and c.owner = d.owner "
                "and c.seen_at >= ?))) or (state = 'queued' and due_at < ?))",
                (self._ns, stuck_before, stale_before, lost_before),
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

    def queued_after(self, delivery: Delivery, *, limit: int) -> list[Delivery]:
        """Fresh deliveries (first attempt, every handler owed) queued for the same forge, repository and event that
        arrived after `delivery`, oldest first: what could supersede it (Queue._superseded_by)."""
        rows = self._db.get().execute(
            "select d.id, d.action, b.body, d.received_at from rc_deliveries d join rc_bodies b using (namespace, id) "
            "where d.namespace = ? and d.state = 'queued' and d.forge = ? and d.repo = ? and d.event = ? "
            "and d.attempt = 0 and d.pending is null and d.received_at > ? and d.id != ? "
            "order by d.received_at limit ?",
            (self._ns, delivery.forge, delivery.repo, delivery.event, delivery.received_at, delivery.delivery_id, limit),
        ).fetchall()
        return [Delivery(i, delivery.forge, delivery.event, a, delivery.repo, bytes(b), r) for i, a, b, r in rows]

    def prune(self, *, before: float) -> int:
        cur = self._db.write(
            "delete from rc_deliveries where namespace = ? and state = 'done' and finished_at < ?", (self._ns, before)
        )
        return cur.rowcount

    def incr(self, name: str, labels: dict[str, str], by: int = 1) -> None:
        """Counted in memory and written at most once a second: a commit per webhook just for metrics would
        cost more than recording the webhook. A killed process loses at most its last second of counts."""
        key = (name, tuple(sorted(labels.items())))
        with self._pending_lock:
            self._pending[key] += by
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
                    [(self._ns, name, _labels(dict(labels)), by) for (name, labels), by in pending.items()],
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
