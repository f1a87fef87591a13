"""The handlers' KeyValue store survives restarts on both backends and keeps namespaces apart."""
import contextlib
import time
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


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "dict"])
def clocked(request, tmp_path):
    """(store, clock): the real SQLite store and its in-memory twin must expire alike."""
    from tests.fakeforge import DictStore

    clock = Clock()
    store = SqliteStore(str(tmp_path / "q.db"), clock=clock) if request.param == "sqlite" else DictStore(clock=clock)
    return store, clock


def test_a_key_with_a_ttl_reads_as_missing_from_its_expiry_on(clocked):
    store, clock = clocked
    store.set_json("check:acme/app@h:approvals", {"id": 7}, ttl=30)
    store.set_json("window:repos", {"acme/app": 3})  # no ttl: kept
    clock.now += 29.9
    assert store.get_json("check:acme/app@h:approvals") == {"id": 7}
    clock.now += 0.1
    assert store.get_json("check:acme/app@h:approvals") is None
    clock.now += 10 * 365 * 86400
    assert store.get_json("window:repos") == {"acme/app": 3}


def test_a_rewrite_sets_the_expiry_anew(clocked):
    store, clock = clocked
    store.set_json("k", 1, ttl=10)
    clock.now += 9
    store.set_json("k", 2, ttl=10)  # refreshed: 10 s from now
    clock.now += 9
    assert store.get_json("k") == 2
    store.set_json("k", 3)  # without a ttl it is kept for good, as SET without EX in Redis
    clock.now += 1000
    assert store.get_json("k") == 3
    store.set_json("gone", 1, ttl=1)
    clock.now += 1
    store.set_json("gone", 2, ttl=1)  # an expired key can be written again
    assert store.get_json("gone") == 2


@pytest.mark.parametrize("ttl", [0, -5, float("nan")])
def test_a_ttl_must_be_positive(clocked, ttl):
    store, _ = clocked
    with pytest.raises(ValueError, match="ttl"):
        store.set_json("k", 1, ttl=ttl)
    assert store.get_json("k") is None


def test_sqlite_expiry_holds_across_processes(tmp_path):
    path, clock = str(tmp_path / "q.db"), Clock()
    SqliteStore(path, clock=clock).set_json("details:acme/app#2", {"n": 2}, ttl=90 * 86400)
    clock.now += 89 * 86400
    assert SqliteStore(path, clock=clock).get_json("details:acme/app#2") == {"n": 2}
    clock.now += 86400
    assert SqliteStore(path, clock=clock).get_json("details:acme/app#2") is None


def rows(path: str) -> list[tuple]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("select namespace, key, value, expires_at from rc_kv order by namespace, key").fetchall()


def test_a_table_from_before_expiry_is_migrated_in_place_keeping_every_row(tmp_path):
    import sqlite3

    path = str(tmp_path / "queue.db")
    with contextlib.closing(sqlite3.connect(path)) as old:  # the layout the store created until now, verbatim
        old.execute("pragma journal_mode=wal")
        old.execute("create table if not exists rc_kv (namespace text not null, key text not null, "
                    "value text not null, primary key (namespace, key))")
        old.executemany("insert into rc_kv values (?, ?, ?)", [
            ("release-coordinator", "window:repos", '{"acme/app": 3}'),
            ("release-coordinator", "details:acme/app#2", '{"n": 2}'),
            ("other", "k", '"theirs"'),
        ])
        old.commit()
    clock = Clock()
    store = SqliteStore(path, clock=clock)
    assert store.get_json("window:repos") == {"acme/app": 3}
    assert store.get_json("details:acme/app#2") == {"n": 2}
    assert SqliteStore(path, namespace="other", clock=clock).get_json("k") == "theirs"
    store.set_json("check:acme/app@h:approvals", {"id": 1}, ttl=60)
    SqliteStore(path, clock=clock)  # a second start (or a second process) finds the column already there
    clock.now += 10 * 365 * 86400
    assert store.get_json("window:repos") == {"acme/app": 3}  # old rows never expire
    assert store.get_json("check:acme/app@h:approvals") is None
    assert [r[:2] for r in rows(path)] == [("other", "k"), ("release-coordinator", "check:acme/app@h:approvals"),
                                          ("release-coordinator", "details:acme/app#2"),
                                          ("release-coordinator", "window:repos")]


def test_sweep_deletes_expired_rows_only(tmp_path):
    path, clock = str(tmp_path / "q.db"), Clock()
    store = SqliteStore(path, clock=clock)
    for n in range(5):
        store.set_json(f"check:acme/app@{n}:approvals", {"id": n}, ttl=30 * 86400)
    store.set_json("details:acme/app#1", {"n": 1}, ttl=90 * 86400)
    store.set_json("window:repos", {"acme/app": 3})
    assert store.sweep() == 0
    clock.now += 30 * 86400
    assert store.sweep() == 5
    assert [r[1] for r in rows(path)] == ["details:acme/app#1", "window:repos"]
    clock.now += 60 * 86400
    assert store.sweep(limit=1) == 1 and store.sweep() == 0
    assert [r[1] for r in rows(path)] == ["window:repos"]


def test_writes_sweep_expired_rows_as_they_go(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.store.SWEEP_EVERY_WRITES", 4)
    path, clock = str(tmp_path / "q.db"), Clock()
    store = SqliteStore(path, clock=clock)
    for n in range(3):
        store.set_json(f"old{n}", n, ttl=1)
    clock.now += 1
    assert len(rows(path)) == 3  # expired but not yet swept
    store.set_json("new", 1, ttl=1)  # the 4th write sweeps
    assert [r[1] for r in rows(path)] == ["new"]


def test_redis_store_expires_keys_with_ex_or_px():
    redis_or_skip()
    namespace = f"rc-test-{uuid.uuid4().hex[:8]}"
    store = RedisStore(REDIS_URL, namespace=namespace)
    raw = store._redis
    try:
        store.set_json("check:acme/app@h:approvals", {"id": 7}, ttl=30 * 86400)
        assert 30 * 86400 - 5 <= raw.ttl(f"{namespace}:kv:check:acme/app@h:approvals") <= 30 * 86400
        store.set_json("half", 1, ttl=2.5)
        assert 2000 <= raw.pttl(f"{namespace}:kv:half") <= 2500
        store.set_json("half", 2)  # a write without ttl keeps the key for good
        assert raw.ttl(f"{namespace}:kv:half") == -1 and store.get_json("half") == 2
        with pytest.raises(ValueError, match="ttl"):
            store.set_json("half", 3, ttl=0)
        store.set_json("brief", {"a": 1}, ttl=1)
        assert store.get_json("brief") == {"a": 1}
        time.sleep(1.1)
        assert store.get_json("brief") is None
        assert not raw.exists(f"{namespace}:kv:brief")
    finally:
        for key in raw.scan_iter(f"{namespace}:*"):
            raw.delete(key)
