"""Durable JSON by key (the handlers' KeyValue) over the QUEUE_URL backend: a SQLite file or Redis."""
from __future__ import annotations

import json
import pathlib
import sqlite3
import threading
from typing import Any
from urllib.parse import urlsplit

DEFAULT_NAMESPACE = "release-coordinator"


class QueueUrlError(ValueError):
    """QUEUE_URL is neither sqlite:///PATH nor redis://HOST:PORT/DB."""


def backend_of(url: str) -> tuple[str, str]:
    """("sqlite", path) or ("redis", url). sqlite:///var/q.db is relative, sqlite:////srv/q.db absolute."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path:
            raise QueueUrlError("QUEUE_URL sqlite:/// needs a file path, e.g. sqlite:///var/queue.db")
        return "sqlite", path
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        return "redis", url
    raise QueueUrlError(f"QUEUE_URL must be sqlite:///PATH or redis://HOST:PORT/DB, got {url!r}")


class SqliteConnections:
    """One connection per thread to one SQLite file in WAL mode (readers never block the writer)."""

    def __init__(self, path: str, *, timeout: float = 10.0):
        self.path = path
        self._timeout = timeout
        self._local = threading.local()
        if path != ":memory:":
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
            conn.execute("pragma journal_mode=wal")
            # FULL: a commit is on disk before we answer 202, so a power cut cannot lose an accepted delivery.
            conn.execute("pragma synchronous=full")
            self._local.conn = conn
        return conn

    def transaction(self) -> "_Txn":
        return _Txn(self.get())


class _Txn:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("begin immediate")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("rollback" if exc_type else "commit")


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


class SqliteStore:
    def __init__(self, path: str, *, namespace: str = DEFAULT_NAMESPACE):
        self._db = SqliteConnections(path)
        self._namespace = namespace
        self._db.get().execute(
            "create table if not exists rc_kv (namespace text not null, key text not null, "
            "value text not null, primary key (namespace, key))"
        )

    def get_json(self, key: str) -> Any | None:
        row = self._db.get().execute(
            "select value from rc_kv where namespace = ? and key = ?", (self._namespace, key)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def set_json(self, key: str, value: Any) -> None:
        self._db.get().execute(
            "insert into rc_kv (namespace, key, value) values (?, ?, ?) "
            "on conflict (namespace, key) do update set value = excluded.value",
            (self._namespace, key, json.dumps(value)),
        )


class RedisStore:
    def __init__(self, url: str, *, namespace: str = DEFAULT_NAMESPACE):
        self._redis = redis_client(url)
        self._prefix = f"{namespace}:kv:"

    def get_json(self, key: str) -> Any | None:
        raw = self._redis.get(self._prefix + key)
        return None if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any) -> None:
        self._redis.set(self._prefix + key, json.dumps(value))


def open_store(url: str, *, namespace: str = DEFAULT_NAMESPACE) -> SqliteStore | RedisStore:
    kind, target = backend_of(url)
    return SqliteStore(target, namespace=namespace) if kind == "sqlite" else RedisStore(target, namespace=namespace)
