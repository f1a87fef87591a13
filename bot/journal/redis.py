"""The delivery journal on Redis, for many web and worker machines: the same states as SqliteJournal."""
from __future__ import annotations

import json
from typing import Any, Iterable

from bot.journal.base import DONE_TTL_SECONDS, Claim, DeadLetter, Delivery, State, _join, _labels
from bot.store import DEFAULT_NAMESPACE, redis_client

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
_DEFER = """
-- only the consumer that claimed it: the sweep may have handed it to another since
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'owner', '', 'due_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

_QUEUED_AFTER = """
-- KEYS: the queued set; ARGV: key prefix, forge, repo, event, received_at, own id, limit, members to scan
local found = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[8]) - 1)) do
  if id ~= ARGV[6] then
    local h = redis.call('HMGET', ARGV[1] .. id, 'forge', 'repo', 'event', 'received_at', 'attempt', 'pending',
                         'action', 'body')
    if h[1] == ARGV[2] and h[2] == ARGV[3] and h[3] == ARGV[4] and tonumber(h[4]) > tonumber(ARGV[5])
       and h[5] == '0' and h[6] == '' then
      table.insert(found, {id, h[7], h[8], h[4]})
      if #found >= tonumber(ARGV[7]) then break end
    end
  end
end
return found
"""

# Leases (one per repository): SET NX PX takes one; renew and release compare the token first, so a process
# whose lease expired and was taken over never extends or deletes its successor's.
# https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (the single-instance pattern)
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisJournal:
    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE):
        self._redis = redis_client(url)
        self._p = f"{namespace}:journal"
        self._record = self._redis.register_script(_RECORD)
        self._claim = self._redis.register_script(_CLAIM)
        self._move = self._redis.register_script(_MOVE)
        self._defer = self._redis.register_script(_DEFER)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._queued_after = self._redis.register_script(_QUEUED_AFTER)

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

    def forget_consumer(self, owner: str) -> None:
        """A consumer stopping: what it still holds as running is handed to the next sweep at once."""
        self._redis.zrem(self._set("consumers"), owner)

    def defer(self, delivery_id: str, *, owner: str, due_at: float) -> None:
        """Back to queued as it was claimed (same attempt, same pending handlers): it has not run."""
        self._defer(keys=[self._key(delivery_id), self._set("running"), self._set("queued")],
                    args=[delivery_id, owner, due_at])

    def _lease(self, name: str) -> str:
        return f"{self._p}:lease:{name}"

    # now is unused: Redis expires leases by its own clock, the one clock every machine shares.
    def acquire_lease(self, name: str, *, token: str, now: float, lease_seconds: float) -> bool:
        return bool(self._redis.set(self._lease(name), token, nx=True, px=max(1, int(lease_seconds * 1000))))

    def renew_lease(self, name: str, *, token: str, now: float, lease_seconds: float) -> bool:
        return self._renew(keys=[self._lease(name)], args=[token, max(1, int(lease_seconds * 1000))]) == 1

    def release_lease(self, name: str, *, token: str) -> bool:
        return self._release(keys=[self._lease(name)], args=[token]) == 1

    def orphans(self, *, now: float, stale_before: float, lost_before: float, stuck_before: float) -> list[str]:
        live = {o.decode() for o in self._redis.zrangebyscore(self._set("consumers"), stale_before, "+inf")}
        taken = []
        for raw_id, claimed_at in self._redis.zrange(self._set("running"), 0, -1, withscores=True):
            delivery_id = raw_id.decode()
            owner = (self._redis.hget(self._key(delivery_id), "owner") or b"").decode()
            if (owner not in live or claimed_at < stuck_before) and self._move(
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

    def queued_after(self, delivery: Delivery, *, limit: int, scan: int = 2000) -> list[Delivery]:
        """As SqliteJournal.queued_after; one script over the first `scan` queued deliveries (by due time)."""
        rows = self._queued_after(keys=[self._set("queued")], args=[
            f"{self._p}:d:", delivery.forge, delivery.repo or "", delivery.event, repr(delivery.received_at),
            delivery.delivery_id, limit, scan])
        found = [Delivery(i.decode(), delivery.forge, delivery.event, a.decode() or None, delivery.repo, bytes(b),
                          float(r)) for i, a, b, r in rows]
        return sorted(found, key=lambda d: d.received_at)

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
