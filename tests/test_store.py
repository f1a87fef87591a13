"""The handlers' KeyValue store survives restarts on both backends and keeps namespaces apart."""
import uuid

import pytest

from bot.store import QueueUrlError, RedisStore, SqliteStore, backend_of, open_store
from tests.test_queue import REDIS_URL, redis_or_skip


def test_sqlite_store_round_trips_json_and_survives_a_new_process(tmp_path):
    path = str(tmp_path / "var" / "queue.db")  # parent directories are created
    SqliteStore(path).set_json("acme/app#2", {"teams": ["@acme/infra"], "ok": True, "n": 2})
    assert SqliteStore(path).get_json("acme/app#2") == {"teams": ["@acme/infra"], "ok": True, "n": 2}
    assert SqliteStore(path).get_json("missing") is None


def test_sqlite_store_overwrites_and_keeps_namespaces_apart(tmp_path):
    path = str(tmp_path / "q.db")
    a, b = SqliteStore(path, namespace="a"), SqliteStore(path, namespace="b")
    a.set_json("k", 1)
    a.set_json("k", [1, 2])
    b.set_json("k", "other")
    assert (a.get_json("k"), b.get_json("k")) == ([1, 2], "other")


def test_redis_store_round_trips_json():
    redis_or_skip()
    namespace = f"rc-test-{uuid.uuid4().hex[:8]}"
    store = RedisStore(REDIS_URL, namespace=namespace)
    try:
        store.set_json("acme/app#2", {"a": [1, None]})
        assert RedisStore(REDIS_URL, namespace=namespace).get_json("acme/app#2") == {"a": [1, None]}
        assert store.get_json("nope") is None
    finally:
        store._redis.delete(f"{namespace}:kv:acme/app#2")


@pytest.mark.parametrize("url,expected", [
    ("sqlite:///var/queue.db", ("sqlite", "var/queue.db")),
    ("sqlite:////srv/rc/queue.db", ("sqlite", "/srv/rc/queue.db")),
    ("redis://127.0.0.1:6379/0", ("redis", "redis://127.0.0.1:6379/0")),
    ("rediss://:pw@redis.example.com:6380/2", ("redis", "rediss://:pw@redis.example.com:6380/2")),
])
def test_queue_urls(url, expected):
    assert backend_of(url) == expected


@pytest.mark.parametrize("url", ["postgres://db/rc", "sqlite:///", "var/queue.db", ""])
def test_unsupported_queue_urls_say_what_works(url):
    with pytest.raises(QueueUrlError, match="sqlite:///"):
        open_store(url)


@pytest.mark.parametrize("url,pragma", [("sqlite:///{}/q.db", 1), ("sqlite:///{}/q.db?synchronous=full", 2)])
def test_sqlite_durability_mode_comes_from_the_url(tmp_path, url, pragma):
    from bot.journal import open_journal

    journal = open_journal(url.format(tmp_path))
    assert journal._db.get().execute("pragma synchronous").fetchone()[0] == pragma
    assert journal._db.get().execute("pragma journal_mode").fetchone()[0] == "wal"


def test_unknown_sqlite_options_are_refused(tmp_path):
    with pytest.raises(QueueUrlError, match="synchronous=normal|full"):
        open_store(f"sqlite:///{tmp_path}/q.db?synchronous=off")
    with pytest.raises(QueueUrlError):
        open_store(f"sqlite:///{tmp_path}/q.db?cache=shared")
