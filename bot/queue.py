"""huey wiring from QUEUE_URL (SQLite file or Redis): submit before the 202, run with retries, keep dead letters.

huey removes a message when a worker takes it, so a consumer killed mid-job would lose it. The
journal (bot/journal.py) closes that gap: each consumer beats a heartbeat, and a sweep re-enqueues
deliveries left `running` by a consumer whose heartbeat stopped, or `queued` long past their due time.

Deliveries for one repository run one at a time across every process and machine: each takes the
repository's lease in the journal's backend first (see _repo_lease).
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

from huey import RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from huey.storage import SqliteStorage

from bot import logs
from bot.journal import Claim, Delivery, open_journal
from bot.journal.sqlite import SqliteJournal
from bot.store import DEFAULT_NAMESPACE, SqliteConnections, backend_of, sqlite_synchronous

log = logging.getLogger("bot.queue")


@dataclass(frozen=True)
class Retry:
    message: str
    retry_after: float | None = None  # seconds, from Retry-After or x-ratelimit-reset


@dataclass(frozen=True)
class Outcome:
    """What running one delivery's handlers came to, by handler name."""

    done: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)  # will not get better by retrying
    transient: Mapping[str, Retry] = field(default_factory=dict)
    number: int | None = None  # the pull request (GitLab: merge request iid) it was about, for the job's log line


Runner = Callable[[Claim], Outcome]
_UNCHECKED = object()
SUPERSEDE_LOOKAHEAD = 8  # newer queued deliveries of the same repository and event read (bodies included) per job
RUN_ALL = "*"  # a pending entry meaning "every handler" (the runner itself failed)
# Deliveries the app makes for itself (e.g. one announcement to one receiver): recorded, retried and dead-lettered
# like webhooks, but run by the job runner registered for their kind (Delivery.event), not the webhook runner.
JOB_FORGE = "job"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # runs in total before a delivery becomes a dead letter
    base_seconds: float = 10.0
    max_seconds: float = 1800.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter, never sooner than the forge asked (retry_after)."""
        backoff = min(self.max_seconds, self.base_seconds * 2 ** attempt) * random.uniform(0.8, 1.0)
        return max(backoff, retry_after or 0.0)


class Queue:
    def __init__(
        self,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        runner: Runner | None = None,
        retry: RetryPolicy = RetryPolicy(),
        heartbeat_seconds: float = 5.0,
        lost_after_seconds: float = 600.0,
        stuck_after_seconds: float = 1800.0,
        lease_seconds: float = 30.0,
        lease_wait_seconds: float = 1.0,
        lease_retry_seconds: float = 2.0,
    ):
        if lease_seconds <= 2 * heartbeat_seconds:
            raise ValueError("lease_seconds must outlast a few heartbeats, which renew the leases held")
        kind, target = backend_of(url)
        self.url = url
        self.journal = open_journal(url, namespace=namespace)  # SqliteJournal or RedisJournal
        if kind == "sqlite":
            self.huey = SqliteHuey(namespace, filename=target, results=False, storage_class=_SqliteStorage,
                                   synchronous=sqlite_synchronous(url))
        else:
            self.huey = RedisHuey(namespace, url=target, results=False)
        self.runner = runner
        self.retry = retry
        self.heartbeat_seconds = heartbeat_seconds
        self.lost_after_seconds = lost_after_seconds
        self.stuck_after_seconds = stuck_after_seconds  # no job runs this long; its consumer lost track of it
        # A repository's lease: how long a crashed holder can block it (renewed every heartbeat while held), how
        # long a delivery waits for it in its consumer thread, then in about how long it is tried again.
        self.lease_seconds = lease_seconds
        self.lease_wait_seconds = lease_wait_seconds
        self.lease_retry_seconds = lease_retry_seconds
        self._leases: dict[str, tuple[str, float]] = {}  # token -> (lease name, monotonic time taken)
        self._leases_lock = threading.Lock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._periodic: list[Callable[[], None]] = []
        self._durability: object = _UNCHECKED
        self.jobs: dict[str, Runner] = {}  # job kind -> runner (register_job)
        self._deliver = self.huey.task(name="deliver")(self._execute)
        self.huey.periodic_task(crontab(minute="*/5"), name="every_five_minutes")(self._every_five_minutes)
        self.huey.periodic_task(crontab(minute="17", hour="3"), name="prune")(self._prune)

    # --- web side
    def submit(self, delivery: Delivery) -> bool:
        """Record the delivery and enqueue it (SQLite: in one transaction). False for a delivery id seen
        before: nothing is enqueued then. Counts deliveries_total{outcome="queued"}."""
        count = ("deliveries_total", {"event": delivery.event, "outcome": "queued", "forge": delivery.forge})
        if isinstance(self.journal, SqliteJournal):
            message = self.huey.serialize_task(self._deliver.s(delivery.delivery_id))
            return self.journal.record(delivery, now=time.time(), enqueue=(self.huey.storage.name, message),
                                       count=count)
        if not self.journal.record(delivery, now=time.time()):
            return False
        try:
            self._deliver(delivery.delivery_id)
        except Exception:
            self.journal.forget(delivery.delivery_id)  # answer 5xx; GitHub's redelivery must not be a "duplicate"
            raise
        self.journal.incr(*count)
        return True

    def register_job(self, kind: str, runner: Runner) -> None:
        self.jobs[kind] = runner

    def submit_job(self, kind: str, job_id: str, payload: Mapping) -> bool:
        """Queue a job of `kind` (the JSON payload is its body). The id dedupes like a delivery id: False when
        this job was submitted before, so a replayed handler submits nothing twice."""
        import json

        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return self.submit(Delivery(f"{kind}:{job_id}", JOB_FORGE, kind, None, None, body, time.time()))

    def schedule_delivery(self, delivery: Delivery, *, at: float) -> bool:
        """A delivery of the app's own (a timed re-evaluation, bot.handlers.rechecks) due at `at` (epoch seconds):
        recorded now with that due time, handed to huey's schedule for then. False when its id was recorded before:
        nothing is scheduled twice. Should huey lose the scheduled message, the sweep runs it lost_after_seconds
        after it was due. It runs like a webhook delivery: under its repository's lease, with retries."""
        if not self.journal.record(delivery, now=max(at, time.time())):
            return False
        self._deliver.schedule(args=(delivery.delivery_id,), delay=max(0.0, at - time.time()))
        return True

    def group_commit(self):
        """A scope whose deliveries share one commit (the SQLite queue); elsewhere each submit stands alone."""
        if isinstance(self.journal, SqliteJournal):
            return self.journal.group_commit()
        return contextlib.nullcontext()

    def ping(self) -> None:
        """Raises when the backend cannot be reached (for /readyz)."""
        self.journal.ping()
        self.huey.pending_count()

    def durability(self) -> str | None:
        """durability_warning for this queue (why accepted deliveries could be lost, or None), asked of the backend
        once per process; for /readyz's body and the landing page. Raises while the backend is unreachable."""
        if self._durability is _UNCHECKED:
            self._durability = durability_warning(self.url, redis=getattr(self.journal, "_redis", None))
        return self._durability

    def depth(self) -> dict[str, int]:
        return {"queued": self.huey.pending_count(), "scheduled": self.huey.scheduled_count()}

    def requeue(self, delivery_id: str) -> bool:
        """Send a dead letter back through the handlers that failed."""
        if not self.journal.requeue(delivery_id, now=time.time()):
            return False
        self._deliver(delivery_id)
        return True

    def on_every_five_minutes(self, job: Callable[[], None]) -> None:
        self._periodic.append(job)

    # --- consumer side
    def _execute(self, delivery_id: str) -> None:
        claim = self.journal.claim(delivery_id, owner=self.owner, now=time.time())
        if claim is None:
            return  # done already, or another consumer holds it: a duplicate message is harmless
        with self._repo_lease(claim.delivery) as held:
            if not held:
                self._defer(claim.delivery)
                return
            newer = self._superseded_by(claim)
            if newer is not None:
                self._skip(claim, newer)
            else:
                self._run(claim)

    def _superseded_by(self, claim: Claim) -> str | None:
        """The id of a newer delivery, queued for the same pull request, whose evaluation makes this one moot (the
        runner decides: Worker.superseded_by), or None. Under the repository's lease: the newer one runs after us."""
        judge = getattr(self.runner, "superseded_by", None)
        if judge is None or claim.delivery.forge == JOB_FORGE:
            return None
        try:
            newer = self.journal.queued_after(claim.delivery, limit=SUPERSEDE_LOOKAHEAD)
            return judge(claim.delivery, newer) if newer else None
        except Exception:  # never lose an evaluation over this shortcut: run it
            log.exception("could not tell whether a delivery is superseded")
            return None

    def _skip(self, claim: Claim, newer: str) -> None:
        """Latest wins: a newer delivery for this pull request is queued and re-reads everything this one would."""
        delivery = claim.delivery
        self.journal.finish(delivery.delivery_id, errors={}, now=time.time())
        self._count("jobs_superseded_total", delivery)
        logs.event(log, "job", delivery_id=delivery.delivery_id, event=delivery.event, action=delivery.action,
                   repo=delivery.repo, outcome="superseded", superseded_by=newer, attempt=claim.attempt + 1)

    @contextlib.contextmanager
    def _repo_lease(self, delivery: Delivery) -> Iterator[bool]:
        """Yields True while this delivery holds its repository's lease, False when another holds it still
        after lease_wait_seconds.

        GitHub sends several deliveries for one change (a review, then another; synchronize and
        check_suite.requested for one push). Run side by side, in two threads or on two machines, a slower
        evaluation that read the older state could publish last and leave a check wrong. One at a time, the
        evaluation that runs last reads the latest state, whatever order they run in.
        """
        if not delivery.repo:
            yield True  # nothing repository-wide to race on
            return
        with self._lease(f"{delivery.forge}:{delivery.repo.lower()}") as held:  # names are case-insensitive
            yield held

    @contextlib.contextmanager
    def _lease(self, name: str) -> Iterator[bool]:
        token = f"{self.owner}:{uuid.uuid4().hex[:12]}"  # one per acquisition: two threads of one process differ
        deadline = time.monotonic() + self.lease_wait_seconds
        pause = 0.02
        while not self.journal.acquire_lease(name, token=token, now=time.time(), lease_seconds=self.lease_seconds):
            if time.monotonic() + pause > deadline:
                yield False
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
        with self._leases_lock:
            self._leases[token] = (name, time.monotonic())
        try:
            yield True
        finally:
            with self._leases_lock:
                self._leases.pop(token, None)
            try:
                self.journal.release_lease(name, token=token)
            except Exception:  # the backend blinked: the lease expires by itself within lease_seconds
                log.exception("could not release lease %s", name)

    def _defer(self, delivery: Delivery) -> None:
        """Another delivery for this repository is running: try again shortly, in a message of its own, rather
        than hold this consumer thread (deliveries for other repositories would wait behind it). Not a run:
        the attempt, the handlers owed and the retry/failure counters stay as they were."""
        delay = self.lease_retry_seconds * random.uniform(0.5, 1.5)  # waiting deliveries spread out
        self.journal.defer(delivery.delivery_id, owner=self.owner, due_at=time.time() + delay)
        self._deliver.schedule(args=(delivery.delivery_id,), delay=delay)
        self.journal.incr("lease_deferrals_total", {"forge": delivery.forge, "job": delivery.event})
        logs.event(log, "job", delivery_id=delivery.delivery_id, event=delivery.event, action=delivery.action,
                   repo=delivery.repo, outcome="deferred", retry_in_s=round(delay, 1))

    @contextlib.contextmanager
    def repo_lease(self, forge: str, repo: str, *, job: str) -> Iterator[bool]:
        """The repository's lease for work that is not a delivery (the 5-minute window sweep): yields False, and
        counts a deferral under `job`, when a delivery for that repository holds it for lease_wait_seconds."""
        with self._lease(f"{forge}:{repo.lower()}") as held:
            if not held:
                self.journal.incr("lease_deferrals_total", {"forge": forge, "job": job})
            yield held

    def renew_leases(self) -> None:
        """Extend the leases this process holds (from the heartbeat), so a long job keeps its repository."""
        with self._leases_lock:
            held = list(self._leases.items())
        for token, (name, since) in held:
            if time.monotonic() - since > self.stuck_after_seconds:
                continue  # the sweep has given up on a job this old; its lease lapses with it
            if not self.journal.renew_lease(name, token=token, now=time.time(), lease_seconds=self.lease_seconds):
                logs.event(log, "lease lost", level=logging.WARNING, lease=name)
                with self._leases_lock:
                    self._leases.pop(token, None)

    def _run(self, claim: Claim) -> None:
        delivery = claim.delivery
        delivery_id = delivery.delivery_id
        started, cpu_started = time.monotonic(), time.thread_time()  # one job runs in one consumer thread
        try:
            runner = self.jobs.get(delivery.event) if delivery.forge == JOB_FORGE else self.runner
            if runner is None:
                raise RuntimeError(f"this process has no runner for {delivery.forge} {delivery.event}; "
                                   "start `release-coordinator worker`")
            outcome = runner(claim)
        except Exception as exc:  # the runner itself broke: keep the delivery as a dead letter, never lose it
            log.exception("runner failed", extra={"fields": {"delivery_id": delivery_id}})
            outcome = Outcome(failed={RUN_ALL: f"{type(exc).__name__}: {exc}"})
        errors = {**claim.errors, **outcome.failed}
        for name in outcome.done:
            errors.pop(name, None)
        attempt = claim.attempt + 1
        if outcome.transient and attempt < self.retry.attempts:
            wait = max(self.retry.delay(claim.attempt, r.retry_after) for r in outcome.transient.values())
            errors_so_far = {**errors, **{n: r.message for n, r in outcome.transient.items()}}
            self.journal.retry(delivery_id, pending=outcome.transient, errors=errors_so_far, due_at=time.time() + wait)
            self._deliver.schedule(args=(delivery_id,), delay=wait)
            result, extra = "retry", {"retry_in_s": round(wait, 1)}
            self._count("jobs_retried_total", delivery)
        else:
            errors.update({n: f"{r.message} (gave up after {attempt} attempts)" for n, r in outcome.transient.items()})
            self.journal.finish(delivery_id, errors=errors, now=time.time())
            result, extra = ("dead_letter", {"error": "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))}) if errors else ("done", {})
            self._count("jobs_failed_total" if errors else "jobs_done_total", delivery)
        logs.event(
            log, "job", level=logging.WARNING if result != "done" else logging.INFO,
            delivery_id=delivery_id, event=delivery.event, action=delivery.action, repo=delivery.repo,
            outcome=result, attempt=attempt, number=outcome.number,
            # duration: wall time, API round trips and GitHub's write pacing included; cpu: this process's own work
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            cpu_ms=round((time.thread_time() - cpu_started) * 1000, 1), **extra,
        )

    def _count(self, name: str, delivery: Delivery) -> None:
        self.journal.incr(name, {"event": delivery.event, "forge": delivery.forge})

    def sweep(self) -> list[str]:
        """Re-enqueue deliveries whose consumer died mid-job or whose message huey lost."""
        now = time.time()
        ids = self.journal.orphans(
            now=now, stale_before=now - 3 * self.heartbeat_seconds, lost_before=now - self.lost_after_seconds,
            stuck_before=now - self.stuck_after_seconds,
        )
        for delivery_id in ids:
            self._deliver(delivery_id)
            logs.event(log, "re-enqueued", delivery_id=delivery_id, outcome="recovered")
        return ids

    def _every_five_minutes(self) -> None:
        # Every consumer's scheduler enqueues periodic tasks; the first to claim this 5-minute slot runs it.
        slot = int(time.time() // 300)
        if not self.huey.put_if_empty(f"periodic:{slot}", b"1"):
            return
        self.huey.delete(f"periodic:{slot - 2}")
        for job in self._periodic:
            job()

    def _prune(self) -> None:
        self.journal.prune(before=time.time() - 30 * 24 * 3600)

    def start_heartbeat(self, stop: threading.Event) -> threading.Thread:
        """Beat, then sweep, every heartbeat_seconds until stop is set (runs in every consumer process)."""

        def beat() -> None:
            while not stop.is_set():
                try:
                    self.journal.heartbeat(self.owner, now=time.time())
                    self.renew_leases()
                    self.sweep()
                except Exception:  # the backend blinked; the next beat tries again
                    log.exception("heartbeat failed")
                stop.wait(self.heartbeat_seconds)

        thread = threading.Thread(target=beat, name="rc-heartbeat", daemon=True)
        thread.start()
        return thread

    def consumer(self, *, workers: int = 2, embedded: bool = False, shutdown_seconds: float = 25.0) -> "ManagedConsumer":
        return ManagedConsumer(self, workers=workers, embedded=embedded, shutdown_seconds=shutdown_seconds)

    def hand_back(self) -> None:
        """This consumer is stopping: whatever it still runs goes back at once, not after its heartbeat lapses and
        its leases expire. Its heartbeat row goes (the next sweep re-queues the deliveries it left running) and its
        leases are released (the re-run does not wait out lease_seconds behind a holder that is gone)."""
        with self._leases_lock:
            held, self._leases = dict(self._leases), {}
        try:
            for token, (name, _) in held.items():
                self.journal.release_lease(name, token=token)
            self.journal.forget_consumer(self.owner)
        except Exception:  # the backend is gone too: the sweep and lease expiry recover it, later
            log.exception("could not hand back the jobs in hand")
        if held:
            logs.event(log, "handed back", level=logging.WARNING, jobs=len(held))


_TEMPORARY_DIRS = ("/tmp", "/var/tmp/systemd-private", "/dev/shm", "/run")
_MEMORY_FILESYSTEMS = ("tmpfs", "ramfs")


def durability_warning(url: str, *, redis=None, mounts: str = "/proc/mounts") -> str | None:
    """Why deliveries accepted on this queue could be lost when its backend restarts, or None when it keeps them.

    Redis: `CONFIG GET appendonly` and `save` (nothing persists when AOF is off and no snapshot schedule is set);
    managed Redis often disables CONFIG, and then INFO persistence's aof_enabled is what can be told. SQLite: a
    file in a temporary directory or on a memory filesystem (tmpfs) is gone after a reboot."""
    kind, target = backend_of(url)
    if kind == "sqlite":
        return _sqlite_warning(target, mounts=mounts)
    if redis is None:
        from bot.store import redis_client

        redis = redis_client(target)
    return _redis_warning(redis)


def _redis_warning(client) -> str | None:
    from redis.exceptions import ResponseError

    lost = "deliveries accepted but not yet run are lost if Redis restarts"
    try:
        appendonly = client.config_get("appendonly").get("appendonly")
        save = client.config_get("save").get("save")
    except ResponseError:  # CONFIG disabled or renamed (ElastiCache, Memorystore, rename-command)
        try:
            aof = client.info("persistence").get("aof_enabled")
        except ResponseError:
            return (f"cannot tell whether Redis keeps anything on disk (CONFIG and INFO are disabled): {lost} "
                    "unless it has appendonly yes or a save schedule; check the provider's persistence setting")
        if str(aof) == "1":
            return None
        return (f"Redis has appendonly off (INFO persistence; CONFIG is disabled, so its save schedule is unknown): "
                f"{lost} unless it snapshots; set appendonly yes")
    if appendonly == "yes" or (save or "").strip():
        return None
    return f'Redis keeps nothing on disk (appendonly no, save ""): {lost}; set appendonly yes (or a save schedule)'


def _sqlite_warning(path: str, *, mounts: str) -> str | None:
    import tempfile

    where = os.path.realpath(os.path.abspath(path))
    temporary = {os.path.realpath(d) for d in (tempfile.gettempdir(), *_TEMPORARY_DIRS)}
    lost = "deliveries accepted but not yet run are lost when the machine restarts; set QUEUE_URL=sqlite:///PATH on a persistent disk"
    for directory in sorted(temporary):
        if where == directory or where.startswith(directory.rstrip("/") + "/"):
            return f"the SQLite queue {where} is in a temporary directory ({directory}): {lost}"
    fstype, mount_point = _filesystem_of(where, mounts)
    if fstype in _MEMORY_FILESYSTEMS:
        return f"the SQLite queue {where} is on a {fstype} filesystem ({mount_point}), kept in memory: {lost}"
    return None


def _filesystem_of(path: str, mounts: str) -> tuple[str | None, str | None]:
    """(fstype, mount point) of the longest mount point containing path, from /proc/mounts (Linux)."""
    try:
        with open(mounts) as f:
            entries = [line.split()[1:3] for line in f if len(line.split()) >= 3]
    except OSError:
        return None, None
    best: tuple[str | None, str | None] = (None, None)
    for mount_point, fstype in entries:
        mount_point = mount_point.replace("\\040", " ")
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and (best[1] is None or len(mount_point) > len(best[1])):
            best = (fstype, mount_point)
    return best


class _SqliteStorage(SqliteStorage):
    """huey's SQLite storage, writing under the same lock file as the journal (see SqliteConnections)."""

    def __init__(self, name: str = "huey", filename: str = "huey.db", synchronous: str = "normal", **kwargs):
        self._conns = SqliteConnections(filename, synchronous=synchronous)
        self._synchronous = synchronous
        super().__init__(name, filename=filename, **kwargs)

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute(f"pragma synchronous={self._synchronous}")
        conn.execute("pragma wal_autocheckpoint=0")  # SqliteConnections' background thread checkpoints
        return conn

    @contextlib.contextmanager
    def db(self, commit=False, close=False):
        if not commit:
            with super().db(commit, close) as cursor:
                yield cursor
            return
        with self._conns.write_lock(), super().db(commit, close) as cursor:
            yield cursor


class _EmbeddedConsumer(Consumer):
    def _set_signal_handlers(self) -> None:
        """Embedded in `serve`: the web server owns the process signals."""


class ManagedConsumer:
    """A huey consumer plus the heartbeat/sweep thread that makes a crash lose nothing."""

    def __init__(self, queue: Queue, *, workers: int, embedded: bool, shutdown_seconds: float = 25.0):
        self.queue = queue
        cls = _EmbeddedConsumer if embedded else Consumer
        # SIGTERM (what Heroku, systemd and Kubernetes send) finishes the jobs in hand for up to shutdown_seconds;
        # a job still running then is handed back (see hand_back) and re-run by the next consumer's first sweep.
        self.consumer = cls(queue.huey, workers=workers, worker_type="thread", periodic=True,
                            initial_delay=0.05, max_delay=1.0, check_worker_health=not embedded,
                            graceful_signal="TERM", shutdown_timeout=shutdown_seconds)
        self._stop = threading.Event()

    def start(self) -> None:
        self.queue.start_heartbeat(self._stop)
        self.consumer.start()

    def run(self) -> None:
        """Blocks; SIGTERM stops it gracefully, SIGINT at once (huey's own signal handling)."""
        self.queue.start_heartbeat(self._stop)
        try:
            self.consumer.run()
        finally:
            self._stop.set()
            self.queue.hand_back()

    def stop(self) -> None:
        self._stop.set()
        self.consumer.stop(graceful=True)
        self.queue.hand_back()
