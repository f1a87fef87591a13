"""Durable JSON by key (the handlers' KeyValue) over the QUEUE_URL backend: a SQLite file or Redis."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import sqlite3
import threading
import time
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

DEFAULT_NAMESPACE = "release-coordinator"


class QueueUrlError(ValueError):
    """QUEUE_URL is neither sqlite:///PATH nor redis://HOST:PORT/DB."""


SYNCHRONOUS = ("normal", "full")


def backend_of(url: str) -> tuple[str, str]:
    """("sqlite", path) or ("redis", url). sqlite:///var/q.db is relative, sqlite:////srv/q.db absolute."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].partition("?")[0]
        if not path:
            raise QueueUrlError("QUEUE_URL sqlite:/// needs a file path, e.g. sqlite:///var/queue.db")
        sqlite_synchronous(url)
        return "sqlite", path
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        return "redis", url
    raise QueueUrlError(f"QUEUE_URL must be sqlite:///PATH or redis://HOST:PORT/DB, got {url!r}")


class SqliteConnections:
    """One connection per thread to one SQLite file in WAL mode (readers never block the writer).

    Writers queue on a lock file (flock) instead of SQLite's busy handler, which polls with sleeps of up
    to 100 ms: under concurrent webhooks that polling, not the disk, would set the latency.
    """

    _locks: dict[str, threading.Lock] = {}
    _locks_guard = threading.Lock()

    def __init__(self, path: str, *, timeout: float = 10.0, synchronous: str = "normal"):
        self.path = path
        self._timeout = timeout
        self._synchronous = synchronous
        self._local = threading.local()
        if path != ":memory:":
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        key = str(pathlib.Path(path).resolve()) if path != ":memory:" else f":memory:{id(self)}"
        with self._locks_guard:
            self._thread_lock = self._locks.setdefault(key, threading.Lock())
        self._lock_path = None if path == ":memory:" else path + ".lock"
        self._lock_fd: int | None = None

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # never use a connection across fork (gunicorn --preload)
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
            conn.execute("pragma journal_mode=wal")
            conn.execute(f"pragma synchronous={self._synchronous}")
            # Checkpoints (copying the WAL into the database, with an fsync) run on a background thread
            # instead of inside whichever webhook's commit crosses the threshold, holding the write lock.
            conn.execute("pragma wal_autocheckpoint=0")
            conn.execute("pragma journal_size_limit=67108864")  # a WAL file left over 64 MiB shrinks on reset
            # Pages read through a memory map, not a pread each: another process's commit empties this connection's
            # page cache, so without it every delivery re-read its b-tree pages (~18 syscalls per webhook).
            conn.execute("pragma mmap_size=268435456")
            self._local.conn, self._local.pid = conn, os.getpid()
            self._start_checkpointer()
        return conn

    def _start_checkpointer(self) -> None:
        with self._locks_guard:
            if self.path == ":memory:" or _checkpointers.get(self.path) == os.getpid():
                return
            _checkpointers[self.path] = os.getpid()
        threading.Thread(target=self._checkpoint_every_second, name="rc-checkpoint", daemon=True).start()

    def _checkpoint_every_second(self) -> None:
        # A short busy timeout: RESTART waits for readers while we hold the write lock, and webhooks wait on us.
        conn = sqlite3.connect(self.path, timeout=0.02, isolation_level=None, check_same_thread=False)
        while True:
            time.sleep(1.0)
            try:
                # The bulk of the copying happens beside the writers; then, holding the write lock for the few
                # frames left, RESTART lets the next writer start the WAL over. Under steady load a PASSIVE
                # checkpoint alone never catches up, and the WAL would grow without bound.
                conn.execute("pragma wal_checkpoint(PASSIVE)").fetchall()
                with self.write_lock():
                    conn.execute("pragma wal_checkpoint(RESTART)").fetchall()
            except sqlite3.Error:
                pass  # busy or gone; the next second tries again

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Exclusive across the threads of this process (a lock) and across processes (flock)."""
        with self._thread_lock:
            if self._lock_path is None:
                yield
                return
            if self._lock_fd is None or _forked(self):
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.get()
        with self.write_lock():
            conn.execute("begin immediate")
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")

    def write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self.transaction() as conn:
            return conn.execute(sql, params)


_checkpointers: dict[str, int] = {}  # path -> pid whose thread checkpoints it


def _forked(conns: SqliteConnections) -> bool:
    # gunicorn forks workers after the app is built: a child must not share the parent's lock file description.
    return getattr(conns, "_pid", None) != os.getpid()


def sqlite_synchronous(url: str) -> str:
    """sqlite:///PATH?synchronous=full fsyncs every commit; the default, normal, is WAL's documented safe mode:
    a commit survives the process crashing or being killed, and only a power cut or kernel crash may drop the
    last commits (like Redis's default appendfsync everysec). https://www.sqlite.org/pragma.html#pragma_synchronous
    """
    query = parse_qs(url.partition("?")[2])
    mode = (query.get("synchronous") or ["normal"])[-1].lower()
    if mode not in SYNCHRONOUS or set(query) - {"synchronous"}:
        raise QueueUrlError(f"QUEUE_URL: the only sqlite option is ?synchronous=normal|full, got {url!r}")
    return mode


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


SWEEP_EVERY_WRITES = 500  # each sweep may delete 2x this many: expired rows can never pile up faster than writes


def check_ttl(ttl: float | None) -> None:
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be a positive number of seconds or None (keep), got {ttl!r}")


class SqliteStore:
    """Rows with an `expires_at` (epoch seconds; NULL keeps) stop being visible at that time, and every
    SWEEP_EVERY_WRITES writes of this process one batch of expired rows is deleted (an indexed range delete,
    a few ms, on the worker thread that wrote: the web process only reads the store)."""

    def __init__(self, path: str, *, namespace: str = DEFAULT_NAMESPACE, synchronous: str = "normal",
                 clock: Callable[[], float] = time.time):
        self._db = SqliteConnections(path, synchronous=synchronous)
        self._namespace = namespace
        self._clock = clock
        self._writes = 0
        with self._db.transaction() as conn:
            conn.execute(
                "create table if not exists rc_kv (namespace text not null, key text not null, "
                "value text not null, expires_at real, primary key (namespace, key))"
            )
            # A table created before expiry existed: add the column in place (every old row keeps, as before).
            if "expires_at" not in {row[1] for row in conn.execute("pragma table_info(rc_kv)")}:
                conn.execute("alter table rc_kv add column expires_at real")
            conn.execute("create index if not exists rc_kv_expires on rc_kv (expires_at) where expires_at is not null")

    def get_json(self, key: str) -> Any | None:
        row = self._db.get().execute(
            "select value from rc_kv where namespace = ? and key = ? and (expires_at is null or expires_at > ?)",
            (self._namespace, key, self._clock()),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def set_json(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Write value; it expires ttl seconds from now (None: never, also over a key that had a ttl)."""
        check_ttl(ttl)
        expires_at = None if ttl is None else self._clock() + ttl
        self._db.write(
            "insert into rc_kv (namespace, key, value, expires_at) values (?, ?, ?, ?) "
            "on conflict (namespace, key) do update set value = excluded.value, expires_at = excluded.expires_at",
            (self._namespace, key, json.dumps(value), expires_at),
        )
        self._writes += 1
        if self._writes % SWEEP_EVERY_WRITES == 0:
            self.sweep(limit=2 * SWEEP_EVERY_WRITES)

    def sweep(self, *, limit: int = 10_000) -> int:
        """Delete up to limit expired rows (of every namespace in the file); returns how many."""
        return self._db.write(
            "delete from rc_kv where rowid in (select rowid from rc_kv where expires_at is not null "
            "and expires_at <= ? limit ?)",
            (self._clock(), limit),
        ).rowcount


class RedisStore:
    """Expiry is Redis's own (SET EX/PX): an expired key is gone for every reader and reclaimed by Redis."""

    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE):
        self._redis = redis_client(url)
        self._prefix = f"{namespace}:kv:"

    def get_json(self, key: str) -> Any | None:
        raw = self._redis.get(self._prefix + key)
        return None if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Write value; it expires ttl seconds from now (None: never; SET without EX drops an old expiry)."""
        check_ttl(ttl)
        if ttl is None:
            expiry = {}
        elif float(ttl).is_integer():
            expiry = {"ex": int(ttl)}
        else:
            expiry = {"px": max(1, round(ttl * 1000))}  # https://redis.io/docs/latest/commands/set/
        self._redis.set(self._prefix + key, json.dumps(value), **expiry)


def open_store(url: str, *, namespace: str = DEFAULT_NAMESPACE) -> SqliteStore | RedisStore:
    kind, target = backend_of(url)
    if kind == "sqlite":
        return SqliteStore(target, namespace=namespace, synchronous=sqlite_synchronous(url))
    return RedisStore(target, namespace=namespace)
