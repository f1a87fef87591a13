"""Group commit (Queue.group_commit, what `serve` wraps around the deliveries one turn of its event loop has read):
the deliveries submitted inside are written in one transaction when the scope ends, never before; each answer is
the one a lone submit would give; a failed commit keeps none of them. Real SQLite files and the real Redis."""
import json
import sqlite3
import time

import pytest

from bot.journal import Delivery, State
from bot.journal.sqlite import SqliteJournal
from bot.queue import Queue

BODY = json.dumps({"action": "opened", "number": 2, "repository": {"full_name": "acme/app"}}).encode()


def delivery(delivery_id: str) -> Delivery:
    return Delivery(delivery_id, "github", "pull_request", "opened", "acme/app", BODY, time.time())


def queued_count(queue: Queue) -> int:
    return sum(value for (name, labels), value in queue.journal.counters().items()
               if name == "deliveries_total" and '"outcome":"queued"' in labels)


def test_deliveries_of_a_group_are_written_together_when_it_ends(tmp_path):
    queue = Queue(f"sqlite:///{tmp_path}/queue.db")
    other_process_view = SqliteJournal(str(tmp_path / "queue.db"))  # its own connection, like another process
    with queue.group_commit():
        assert [queue.submit(delivery(f"g-{i}")) for i in range(3)] == [True, True, True]
        # answered, but nothing is durable yet: serve sends these answers only after the commit below
        assert [other_process_view.state(f"g-{i}") for i in range(3)] == [None, None, None]
        assert queue.depth()["queued"] == 0
    assert [other_process_view.state(f"g-{i}") for i in range(3)] == [State.QUEUED] * 3
    assert queue.depth()["queued"] == 3  # huey's messages, written in the same transaction
    assert queued_count(queue) == 3
    claim = queue.journal.claim("g-1", owner="test", now=time.time())
    assert claim.delivery.body == BODY and claim.delivery.repo == "acme/app"


def test_a_group_refuses_an_id_seen_before_or_earlier_in_the_same_group(tmp_path):
    queue = Queue(f"sqlite:///{tmp_path}/queue.db")
    assert queue.submit(delivery("earlier")) is True
    with queue.group_commit():
        assert queue.submit(delivery("earlier")) is False  # GitHub's redelivery of an accepted one
        assert queue.submit(delivery("new")) is True
        assert queue.submit(delivery("new")) is False  # the same id twice in one turn
    assert queue.depth()["queued"] == 2
    assert queued_count(queue) == 2


def test_a_group_whose_commit_fails_keeps_none_of_its_deliveries(tmp_path):
    queue = Queue(f"sqlite:///{tmp_path}/queue.db")
    with queue.huey.storage.db(commit=True) as cursor:
        cursor.execute("drop table task")  # the enqueue inside the shared transaction fails
    with pytest.raises(sqlite3.OperationalError):
        with queue.group_commit():
            assert queue.submit(delivery("lost-1")) is True
            assert queue.submit(delivery("lost-2")) is True
    assert queue.journal.state("lost-1") is None and queue.journal.state("lost-2") is None
    assert queued_count(queue) == 0  # counted only once written


def test_an_error_inside_a_group_writes_nothing(tmp_path):
    queue = Queue(f"sqlite:///{tmp_path}/queue.db")
    with pytest.raises(RuntimeError):
        with queue.group_commit():
            queue.submit(delivery("half"))
            raise RuntimeError("the worker died mid-turn")
    assert queue.journal.state("half") is None
    assert queue.submit(delivery("half")) is True  # and the redelivery is not taken for a duplicate


def test_the_write_lock_is_taken_only_at_the_end_of_a_group(tmp_path):
    queue = Queue(f"sqlite:///{tmp_path}/queue.db")
    other = sqlite3.connect(tmp_path / "queue.db", timeout=0.5, isolation_level=None)
    with queue.group_commit():
        queue.submit(delivery("held"))
        other.execute("begin immediate")  # another writer gets in while the group is still collecting
        other.execute("commit")
    assert queue.journal.state("held") is State.QUEUED


def test_outside_a_group_each_submit_is_durable_at_once(tmp_path):
    queue = Queue(f"sqlite:///{tmp_path}/queue.db")
    assert queue.submit(delivery("alone")) is True
    assert SqliteJournal(str(tmp_path / "queue.db")).state("alone") is State.QUEUED


def test_on_redis_a_group_is_a_plain_scope(tmp_path):
    from tests.test_queue import REDIS_URL, redis_or_skip

    redis_or_skip()
    namespace = f"rc-group-{time.time_ns()}"
    queue = Queue(REDIS_URL, namespace=namespace)
    try:
        with queue.group_commit():
            assert queue.submit(delivery("r-1")) is True
            assert queue.journal.state("r-1") is State.QUEUED  # each submit is its own Redis write
    finally:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{namespace}*"):
            client.delete(key)
