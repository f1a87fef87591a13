"""The queue loses nothing: a consumer killed mid-job, restarted, finishes the job exactly once (SQLite and
Redis, real backends and real processes); transient failures retry with backoff; failures for good are kept."""
import datetime
import json
import os
import pathlib
import signal
import subprocess
import threading
import sys
import time
import uuid

import pytest

from bot.forge.errors import NotFound, RateLimited, TransientError
from bot.journal import Delivery, State
from bot.queue import Outcome, Queue, Retry, RetryPolicy
from bot.routing import Router
from bot.settings import Settings
from bot.worker import Worker, handler_name
from tests.fakeforge import DictStore, FakeForge

ROOT = pathlib.Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/13"
BODY = json.dumps({"action": "opened", "number": 2, "pull_request": {"number": 2}, "repository":
                   {"full_name": "acme/app"}, "installation": {"id": 3}}).encode()


def delivery(delivery_id: str = "d-1", body: bytes = BODY) -> Delivery:
    return Delivery(delivery_id, "github", "pull_request", "opened", "acme/app", body, time.time())


def redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no Redis answers on 127.0.0.1:6379 (.ci/run starts one)")
        pytest.skip("no Redis on 127.0.0.1:6379 and CI unset: the Redis path runs in CI")


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path):
    """(url, namespace) of a real backend, emptied afterwards."""
    namespace = f"rc-test-{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/queue.db", namespace
        return
    redis_or_skip()
    yield REDIS_URL, namespace
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"*{namespace}*"):
        client.delete(key)


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def markers(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def start_consumer(url, namespace, marker_file, block_file, *hold: float, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.queue_child", url, namespace, str(marker_file), str(block_file), *map(str, hold)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
    )


def test_consumer_killed_mid_job_finishes_it_exactly_once_after_restart(backend, tmp_path):
    url, namespace = backend
    marker_file, block_file = tmp_path / "markers", tmp_path / "block"
    block_file.touch()
    queue = Queue(url, namespace=namespace)
    assert queue.submit(delivery("crash-1"))

    first = start_consumer(url, namespace, marker_file, block_file)
    try:
        assert wait_for(lambda: markers(marker_file) == ["start crash-1"]), "the job never started"
        assert queue.journal.state("crash-1") is State.RUNNING
        first.send_signal(signal.SIGKILL)  # a crash: no graceful shutdown, no chance to re-enqueue
        first.wait(5)
    finally:
        if first.poll() is None:
            first.kill()
    block_file.unlink()
    # huey itself has dropped the message (periodic tasks may be waiting; they are not this delivery)
    assert [t for t in queue.huey.pending() if t.args == ("crash-1",)] == []

    second = start_consumer(url, namespace, marker_file, block_file)
    try:
        assert wait_for(lambda: "done crash-1" in markers(marker_file)), "the job was lost after the crash"
        assert wait_for(lambda: queue.journal.state("crash-1") is State.DONE)
        time.sleep(1.0)  # give a wrongly duplicated run time to show up
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(10)
        except subprocess.TimeoutExpired:
            second.kill()
    assert markers(marker_file) == ["start crash-1", "start crash-1", "done crash-1"]


def test_a_message_delivered_twice_runs_the_handlers_once(backend):
    url, namespace = backend
    runs = []
    queue = Queue(url, namespace=namespace, runner=lambda claim: runs.append(claim.delivery.delivery_id) or Outcome())
    assert queue.submit(delivery("twice"))
    queue._deliver("twice")  # e.g. the sweep re-enqueued it while the first message was still waiting
    for _ in range(2):
        task = queue.huey.dequeue()
        queue.huey.execute(task)
    assert runs == ["twice"]
    assert queue.journal.state("twice") is State.DONE


def test_a_finished_delivery_still_dedupes_after_its_body_is_dropped(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace, runner=lambda claim: Outcome())
    queue.submit(delivery("finished"))
    run_next(queue)
    assert queue.journal.state("finished") is State.DONE
    assert queue.submit(delivery("finished")) is False  # GitHub's redelivery of a finished delivery
    assert queue.depth()["queued"] == 0


def test_duplicate_submit_is_refused(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace)
    assert queue.submit(delivery("dup")) is True
    assert queue.submit(delivery("dup")) is False
    assert queue.depth()["queued"] == 1


def test_a_failed_enqueue_leaves_no_record(backend, monkeypatch):
    url, namespace = backend
    queue = Queue(url, namespace=namespace)
    if url.startswith("sqlite"):
        with queue.huey.storage.db(commit=True) as cursor:
            cursor.execute("drop table task")
    else:
        def down(*args, **kwargs):
            raise ConnectionError("redis went away")

        monkeypatch.setattr(queue.huey.storage, "enqueue", down)
    with pytest.raises(Exception):
        queue.submit(delivery("half"))
    assert queue.journal.state("half") is None


def test_the_raw_delivery_is_recorded_before_it_is_enqueued(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace, runner=lambda claim: Outcome())
    queue.submit(delivery("raw", body=BODY))
    claim = queue.journal.claim("raw", owner="test", now=time.time())
    assert claim.delivery.body == BODY
    assert (claim.delivery.event, claim.delivery.action, claim.delivery.repo) == ("pull_request", "opened", "acme/app")


# --- retries and dead letters, driven through the real Worker and a Router


def worker_with(*handlers) -> Worker:
    router = Router()
    for handler in handlers:
        router.register("pull_request", "opened")(handler)
    return Worker(Settings(), store=DictStore(), router=router, forge_for=lambda _id: FakeForge())


def run_next(queue: Queue) -> None:
    queue.huey.execute(queue.huey.dequeue())


def test_transient_error_is_retried_no_sooner_than_retry_after(backend):
    url, namespace = backend
    attempts = []

    def flaky(event, ctx):
        attempts.append(1)
        if len(attempts) == 1:
            raise RateLimited("secondary rate limit", retry_after=120)

    queue = Queue(url, namespace=namespace, runner=worker_with(flaky), retry=RetryPolicy(base_seconds=1))
    queue.submit(delivery("flaky"))
    run_next(queue)
    assert queue.journal.state("flaky") is State.QUEUED
    scheduled = queue.huey.dequeue()  # huey enqueues it with an eta; the consumer holds it back until then
    wait = (scheduled.eta - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).total_seconds()
    assert 110 < wait <= 120  # retry_after honoured over the 1 s backoff
    queue.huey.execute(scheduled, timestamp=scheduled.eta)  # as the consumer would, once it is due
    assert len(attempts) == 2
    assert queue.journal.state("flaky") is State.DONE
    counters = queue.journal.counters()
    assert counters[("jobs_retried_total", '{"event":"pull_request","forge":"github"}')] == 1
    assert counters[("jobs_done_total", '{"event":"pull_request","forge":"github"}')] == 1


def test_backoff_grows_exponentially_and_is_capped():
    policy = RetryPolicy(base_seconds=10, max_seconds=100)
    assert [round(policy.delay(n, None) / 10) * 10 <= b for n, b in enumerate([10, 20, 40, 80, 100, 100])] == [True] * 6
    assert all(policy.delay(n, None) >= 0.8 * min(100, 10 * 2 ** n) for n in range(8))
    assert policy.delay(0, 300) == 300


def test_permanent_error_becomes_a_dead_letter_and_requeue_reruns_only_the_failed_handler(backend):
    url, namespace = backend
    calls = {"ok": 0, "broken": 0}
    broken_for_now = [True]

    def ok(event, ctx):
        calls["ok"] += 1

    def broken(event, ctx):
        calls["broken"] += 1
        if broken_for_now[0]:
            raise NotFound("404 acme/app/contents/.github/release-coordinator.yml")

    queue = Queue(url, namespace=namespace, runner=worker_with(ok, broken))
    queue.submit(delivery("dead-1"))
    run_next(queue)
    assert queue.journal.state("dead-1") is State.DEAD
    (letter,) = queue.journal.dead_letters()
    assert (letter.delivery_id, letter.event, letter.action, letter.repo) == ("dead-1", "pull_request", "opened", "acme/app")
    assert letter.error == f"{handler_name(broken)}: NotFound: 404 acme/app/contents/.github/release-coordinator.yml"

    broken_for_now[0] = False
    assert queue.requeue("dead-1")
    assert not queue.requeue("dead-1")  # not dead any more
    run_next(queue)
    assert queue.journal.state("dead-1") is State.DONE
    assert calls == {"ok": 1, "broken": 2}
    assert queue.journal.dead_letters() == []


def test_transient_errors_give_up_after_the_attempt_budget(backend):
    url, namespace = backend

    def down(event, ctx):
        raise TransientError("502 Bad Gateway")

    queue = Queue(url, namespace=namespace, runner=worker_with(down), retry=RetryPolicy(attempts=3, base_seconds=0.01))
    queue.submit(delivery("down"))
    run_next(queue)
    for _ in range(2):
        time.sleep(0.05)  # let the (tiny) backoff pass
        run_next(queue)
    assert queue.journal.state("down") is State.DEAD
    (letter,) = queue.journal.dead_letters()
    assert "502 Bad Gateway (gave up after 3 attempts)" in letter.error and letter.attempts == 3


def test_a_crashing_runner_keeps_the_delivery_as_a_dead_letter(backend):
    url, namespace = backend

    def crash(claim):
        raise KeyError("payload")

    queue = Queue(url, namespace=namespace, runner=crash)
    queue.submit(delivery("bug"))
    run_next(queue)
    (letter,) = queue.journal.dead_letters()
    assert letter.delivery_id == "bug" and "KeyError" in letter.error


def test_sweep_recovers_a_delivery_whose_message_was_lost(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace, runner=lambda claim: Outcome(), lost_after_seconds=0)
    queue.submit(delivery("lost"))
    queue.huey.flush()  # the message is gone (e.g. the process died between recording and enqueueing)
    time.sleep(0.01)
    assert queue.sweep() == ["lost"]
    run_next(queue)
    assert queue.journal.state("lost") is State.DONE
    assert queue.sweep() == []


def test_outcome_of_retry_carries_the_forge_hint():
    assert Retry("x", 5).retry_after == 5


def test_the_five_minute_job_runs_once_per_slot_across_consumers(tmp_path):
    url = f"sqlite:///{tmp_path}/queue.db"
    runs = []
    first, second = Queue(url), Queue(url)  # two consumers' schedulers both enqueue the periodic task
    for queue in (first, second):
        queue.on_every_five_minutes(lambda: runs.append(1))
    first._every_five_minutes()
    second._every_five_minutes()
    assert runs == [1]


def test_sweep_recovers_a_delivery_stuck_running_under_a_live_consumer(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace, runner=lambda claim: Outcome(), stuck_after_seconds=0)
    queue.submit(delivery("stuck"))
    queue.huey.flush()
    queue.journal.heartbeat(queue.owner, now=time.time())
    assert queue.journal.claim("stuck", owner=queue.owner, now=time.time() - 1) is not None  # then e.g. a DB error
    assert queue.sweep() == ["stuck"]
    run_next(queue)
    assert queue.journal.state("stuck") is State.DONE


def test_one_json_log_line_per_job(tmp_path, caplog):
    from bot import logs

    caplog.set_level("INFO", logger="bot.queue")
    queue = Queue(f"sqlite:///{tmp_path}/queue.db", runner=lambda claim: Outcome(done=("h",)))
    queue.submit(delivery("logged"))
    run_next(queue)
    (record,) = [r for r in caplog.records if r.getMessage() == "job"]
    line = json.loads(logs.JsonFormatter().format(record))
    assert {k: line[k] for k in ("delivery_id", "event", "action", "repo", "outcome", "attempt")} == {
        "delivery_id": "logged", "event": "pull_request", "action": "opened", "repo": "acme/app",
        "outcome": "done", "attempt": 1}
    assert line["duration_ms"] >= 0


# --- one delivery per repository at a time, across processes and machines (the repository lease)


def delivery_for(repo: str, delivery_id: str, number: int = 2) -> Delivery:
    body = json.loads(BODY)
    body.update(number=number, pull_request={"number": number})
    return Delivery(delivery_id, "github", "pull_request", "opened", repo, json.dumps(body).encode(), time.time())


def stamped(path: pathlib.Path) -> dict[str, list[float]]:
    """{delivery id: [start, done]} from a HOLD child's markers; every id must appear once of each."""
    spans: dict[str, list[float]] = {}
    for line in markers(path):
        what, delivery_id, at = line.split()
        spans.setdefault(delivery_id, []).append(float(at))
        assert what == ("start" if len(spans[delivery_id]) == 1 else "done"), f"{delivery_id} ran twice: {line}"
    return spans


def test_two_consumer_processes_run_one_repositorys_deliveries_one_at_a_time(backend, tmp_path):
    url, namespace = backend
    marker_file = tmp_path / "markers"
    queue = Queue(url, namespace=namespace)
    ids = [f"same-repo-{n}" for n in range(3)]
    for n, delivery_id in enumerate(ids):  # three pull requests: none supersedes another
        assert queue.submit(delivery_for("acme/app", delivery_id, number=10 + n))
    # one job at a time per process: any overlap would have to be across the two processes
    logs = [tmp_path / f"consumer-{n}.log" for n in range(2)]
    children = [start_consumer(url, namespace, marker_file, tmp_path / "no-block", 0.3, stderr=log.open("w"))
                for log in logs]
    try:
        assert wait_for(lambda: all(queue.journal.state(i) is State.DONE for i in ids)
                        or all(child.poll() is not None for child in children), timeout=20)
        assert all(queue.journal.state(i) is State.DONE for i in ids), (
            [queue.journal.state(i) for i in ids], markers(marker_file), [log.read_text()[-2000:] for log in logs])
    finally:
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
    spans = sorted(stamped(marker_file).values())
    assert len(spans) == 3 and all(len(span) == 2 for span in spans)
    for (_, done), (next_start, _) in zip(spans, spans[1:]):
        assert done <= next_start, f"two deliveries for acme/app overlapped: {spans}"
    counters = queue.journal.counters()
    assert counters[("jobs_done_total", '{"event":"pull_request","forge":"github"}')] == 3
    assert ("jobs_retried_total", '{"event":"pull_request","forge":"github"}') not in counters  # waiting for the lease is no retry
    assert queue.journal.dead_letters() == []


def run_until(queue: Queue, done, timeout: float = 5.0) -> None:
    """Run queue's messages as its consumer would, each once it is due, until done()."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        task = queue.huey.dequeue()
        if task is None:
            time.sleep(0.02)
            continue
        if task.eta is not None:
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            time.sleep(max(0.0, (task.eta - now).total_seconds()))
        queue.huey.execute(task, timestamp=task.eta)


def test_deliveries_for_different_repositories_run_side_by_side(backend):
    url, namespace = backend
    both_running = threading.Barrier(2, timeout=3)  # broken if one job had to wait for the other to end
    ran = []

    def runner(claim):
        both_running.wait()
        ran.append(claim.delivery.repo)
        return Outcome()

    consumers = [Queue(url, namespace=namespace, runner=runner) for _ in range(2)]  # two owners, two journals
    assert consumers[0].submit(delivery_for("acme/app", "repo-a"))
    assert consumers[0].submit(delivery_for("acme/lib", "repo-b"))
    threads = [threading.Thread(target=run_next, args=(queue,)) for queue in consumers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(ran) == ["acme/app", "acme/lib"]
    assert [consumers[0].journal.state(i) for i in ("repo-a", "repo-b")] == [State.DONE, State.DONE]


def test_a_holder_that_died_blocks_its_repository_no_longer_than_its_lease(backend):
    url, namespace = backend
    dead = Queue(url, namespace=namespace, heartbeat_seconds=0.1, lease_seconds=0.5)
    lease = dead._repo_lease(delivery_for("acme/app", "killed"))
    assert lease.__enter__()  # taken, then never renewed nor released, as by a process killed mid-job
    taken_at = time.monotonic()
    runs = []
    queue = Queue(url, namespace=namespace, heartbeat_seconds=0.1, lease_seconds=0.5, lease_wait_seconds=0.05,
                  lease_retry_seconds=0.2, runner=lambda claim: runs.append((time.monotonic(), claim.attempt)) or Outcome())
    assert queue.submit(delivery_for("ACME/App", "waits"))  # the same repository, as GitHub may spell it
    run_next(queue)
    assert runs == [] and queue.journal.state("waits") is State.QUEUED  # deferred, not failed
    run_until(queue, lambda: queue.journal.state("waits") is State.DONE)
    ((started, attempt),) = runs
    assert 0.5 <= started - taken_at < 1.5
    assert attempt == 0  # waiting for the lease used none of the delivery's 8 attempts
    counters = queue.journal.counters()
    assert ("jobs_retried_total", '{"event":"pull_request","forge":"github"}') not in counters
    assert counters[("jobs_done_total", '{"event":"pull_request","forge":"github"}')] == 1


def test_a_long_job_keeps_its_repository_past_the_lease_while_its_process_beats(backend):
    url, namespace = backend
    holder = Queue(url, namespace=namespace, heartbeat_seconds=0.1, lease_seconds=0.3)
    other = Queue(url, namespace=namespace, heartbeat_seconds=0.1, lease_seconds=0.3, lease_wait_seconds=0)
    with holder._repo_lease(delivery_for("acme/app", "long")) as held:
        assert held
        for _ in range(5):  # 0.5 s in all, renewed as the heartbeat would
            time.sleep(0.1)
            holder.renew_leases()
        with other._repo_lease(delivery_for("acme/app", "next")) as other_held:
            assert not other_held
    with other._repo_lease(delivery_for("acme/app", "next")) as other_held:
        assert other_held  # released at once when the job ended


def test_an_expired_lease_taken_over_is_never_released_or_renewed_by_its_old_holder(backend):
    url, namespace = backend
    journal = Queue(url, namespace=namespace).journal
    assert journal.acquire_lease("github:acme/app", token="old", now=time.time(), lease_seconds=0.2)
    assert not journal.acquire_lease("github:acme/app", token="new", now=time.time(), lease_seconds=5)
    time.sleep(0.25)
    assert journal.acquire_lease("github:acme/app", token="new", now=time.time(), lease_seconds=5)
    assert not journal.renew_lease("github:acme/app", token="old", now=time.time(), lease_seconds=5)
    assert not journal.release_lease("github:acme/app", token="old")
    assert not journal.acquire_lease("github:acme/app", token="third", now=time.time(), lease_seconds=5)
    assert journal.release_lease("github:acme/app", token="new")
    assert journal.acquire_lease("github:acme/app", token="third", now=time.time(), lease_seconds=5)


def test_a_deferral_never_takes_back_a_delivery_another_consumer_has_claimed_since(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace)
    queue.submit(delivery_for("acme/app", "handed-over"))
    assert queue.journal.claim("handed-over", owner="slow", now=time.time()) is not None
    # slow's heartbeat lapsed: the sweep queued the delivery again and another consumer claimed it
    assert queue.journal.orphans(now=time.time(), stale_before=time.time() + 1, lost_before=0, stuck_before=0) == [
        "handed-over"]
    assert queue.journal.claim("handed-over", owner="fast", now=time.time()) is not None
    queue.journal.defer("handed-over", owner="slow", due_at=time.time() + 2)
    assert queue.journal.state("handed-over") is State.RUNNING  # still fast's
    queue.journal.defer("handed-over", owner="fast", due_at=time.time() + 2)
    assert queue.journal.state("handed-over") is State.QUEUED


# --- durability: does the backend keep accepted deliveries across its own restart?

class _NoConfigRedis:
    """A managed Redis that disables CONFIG (ElastiCache, Memorystore) and answers INFO persistence."""

    def __init__(self, aof_enabled: int | None):
        self.aof_enabled = aof_enabled

    def config_get(self, name):
        import redis

        raise redis.exceptions.ResponseError("unknown command 'CONFIG'")

    def info(self, section):
        import redis

        if self.aof_enabled is None:
            raise redis.exceptions.ResponseError("unknown command 'INFO'")
        return {"aof_enabled": self.aof_enabled}


def test_the_machines_redis_keeps_nothing_on_disk_and_the_warning_says_so():
    redis_or_skip()
    from bot.queue import durability_warning

    warning = durability_warning(REDIS_URL)
    assert warning == ('Redis keeps nothing on disk (appendonly no, save ""): deliveries accepted but not yet run are '
                       "lost if Redis restarts; set appendonly yes (or a save schedule)")


def test_redis_with_appendonly_or_a_save_schedule_persists():
    from bot.queue import _redis_warning

    class Configured:
        def __init__(self, appendonly, save):
            self.values = {"appendonly": appendonly, "save": save}

        def config_get(self, name):
            return {name: self.values[name]}

    assert _redis_warning(Configured("yes", "")) is None
    assert _redis_warning(Configured("no", "3600 1 300 100 60 10000")) is None
    assert _redis_warning(Configured("no", "")).startswith("Redis keeps nothing on disk")


def test_redis_with_config_disabled_falls_back_to_info_persistence():
    from bot.queue import _redis_warning

    assert _redis_warning(_NoConfigRedis(aof_enabled=1)) is None
    assert _redis_warning(_NoConfigRedis(aof_enabled=0)).startswith("Redis has appendonly off (INFO persistence; "
                                                                      "CONFIG is disabled")
    assert _redis_warning(_NoConfigRedis(aof_enabled=None)).startswith("cannot tell whether Redis keeps anything")


def test_a_sqlite_queue_in_a_temporary_directory_or_on_tmpfs_is_not_durable(tmp_path):
    from bot.queue import durability_warning

    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda1 / ext4 rw 0 0\ntmpfs /srv/fast tmpfs rw 0 0\n")
    assert "is in a temporary directory (/tmp)" in durability_warning("sqlite:////tmp/q.db", mounts=str(mounts))
    assert "is on a tmpfs filesystem (/srv/fast)" in durability_warning("sqlite:////srv/fast/q.db", mounts=str(mounts))
    assert durability_warning("sqlite:////srv/rc/queue.db", mounts=str(mounts)) is None
    assert durability_warning("sqlite:////srv/fastlane/q.db", mounts=str(mounts)) is None  # a prefix, not inside


# --- latest wins: an evaluation with a newer one queued for the same pull request is skipped

def supersede_worker(ran: list[str]) -> Worker:
    router = Router()

    @router.register("pull_request", "opened", "synchronize", "closed")
    def evaluate(event, ctx):
        ran.append(event.delivery_id)

    return Worker(Settings(), store=DictStore(), router=router, forge_for=lambda _id: FakeForge())


def pr_delivery(delivery_id: str, *, number: int, action: str = "synchronize", at: float, repo: str = "acme/app"):
    body = json.dumps({"action": action, "number": number, "pull_request": {"number": number},
                       "repository": {"full_name": repo}, "installation": {"id": 3}}).encode()
    return Delivery(delivery_id, "github", "pull_request", action, repo, body, at)


@pytest.mark.parametrize("newer, superseded", [
    (dict(number=7), True),  # the same pull request, the same handlers: latest wins
    (dict(number=7, action="opened"), True),  # another change of it, routed to the same handlers
    (dict(number=8), False),  # another pull request
    (dict(number=7, repo="acme/other"), False),  # another repository
    (dict(number=7, action="closed"), False),  # a merge or close is never a re-evaluation
])
def test_worker_says_which_newer_delivery_supersedes_an_older_one(newer, superseded):
    worker = supersede_worker([])
    older = pr_delivery("old", number=7, at=1.0)
    candidate = pr_delivery("new", at=2.0, **newer)
    assert worker.superseded_by(older, [candidate]) == ("new" if superseded else None)


def test_a_closed_delivery_is_never_skipped_for_a_newer_change():
    worker = supersede_worker([])
    older = pr_delivery("closed", number=7, action="closed", at=1.0)
    assert worker.superseded_by(older, [pr_delivery("new", number=7, at=2.0)]) is None


def test_queued_evaluations_of_one_pull_request_run_once_the_latest_and_the_rest_are_skipped(backend):
    url, namespace = backend
    ran: list[str] = []
    queue = Queue(url, namespace=namespace, runner=supersede_worker(ran), heartbeat_seconds=0.2, lease_seconds=1.0)
    now = time.time()
    for n in range(4):  # four pushes to PR 7 queued before the consumer gets to them, and one to PR 8
        assert queue.submit(pr_delivery(f"pr7-{n}", number=7, at=now + n))
    assert queue.submit(pr_delivery("pr8-0", number=8, at=now + 1.5))
    for n in range(4):
        queue._execute(f"pr7-{n}")
    queue._execute("pr8-0")
    assert ran == ["pr7-3", "pr8-0"]
    assert all(queue.journal.state(f"pr7-{n}") is State.DONE for n in range(4))
    counters = queue.journal.counters()
    assert counters[("jobs_superseded_total", '{"event":"pull_request","forge":"github"}')] == 3
    assert counters[("jobs_done_total", '{"event":"pull_request","forge":"github"}')] == 2


def test_a_retry_owing_some_handlers_never_supersedes_a_fresh_delivery(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace)
    now = time.time()
    older, newer = pr_delivery("a", number=7, at=now), pr_delivery("b", number=7, at=now + 1)
    assert queue.submit(older) and queue.submit(newer)
    assert [d.delivery_id for d in queue.journal.queued_after(older, limit=5)] == ["b"]
    queue.journal.claim("b", owner="t", now=now)
    queue.journal.retry("b", pending=["some.handler"], errors={}, due_at=now)  # now it owes one handler only
    assert queue.journal.queued_after(older, limit=5) == []


def test_the_window_sweep_takes_the_repository_lease_and_counts_a_deferral(backend):
    url, namespace = backend
    queue = Queue(url, namespace=namespace, lease_wait_seconds=0.05)
    with queue.repo_lease("github", "acme/app", job="window.periodic") as held:
        assert held
        with queue.repo_lease("github", "ACME/app", job="window.periodic") as again:  # names are case-insensitive
            assert not again
    with queue.repo_lease("github", "acme/app", job="window.periodic") as after:
        assert after  # released when the first holder left
    assert queue.journal.counters()[("lease_deferrals_total", '{"forge":"github","job":"window.periodic"}')] == 1


def test_window_periodic_skips_a_repository_whose_lease_another_holds():
    import contextlib
    import datetime as dt

    from bot.handlers import window

    store = DictStore()
    store.set_json(window.repos_key("github"), {"acme/release": 1, "acme/other": 1})
    asked, leased = [], []

    @contextlib.contextmanager
    def lease(forge, repo):
        leased.append((forge, repo))
        yield repo != "acme/other"  # a delivery for acme/other is running

    def contexts(account):
        asked.append(account)
        raise RuntimeError("stop here: only which repositories got this far matters")

    with pytest.raises(RuntimeError):
        window.periodic(contexts, store, dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc), lease=lease)
    # acme/other (busy) was skipped without a context; acme/release, free, was evaluated (and stopped us)
    assert leased == [("github", "acme/other"), ("github", "acme/release")] and asked == [1]
