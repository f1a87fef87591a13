"""`serve` and `web` on gunicorn: request bodies read whole before a thread takes them, JSON logs, a drained stop.

Why gunicorn (and not waitress or the werkzeug development server): it forks WEB_CONCURRENCY processes, so intake
uses every core while the GIL holds each process to one, and its arbiter restarts a worker that dies. Its gthread
worker leaves one gap, which BufferingWorker closes: once a request's first bytes arrive, a thread reads the rest
blocking, so clients that send half a body and stall hold every thread. BufferingWorker reads each request (its
headers and a body up to BUFFER_LIMIT) in the worker's event loop, without a thread, and hands it to a thread only
when complete; a request not complete within REQUEST_READ_TIMEOUT is answered 408 and closed. Threads and
connections per worker are bounded, and so are the bytes held (SMALL_REQUEST per connection, BUFFER_BUDGET beyond).
On a SQLite queue the webhooks a turn of the loop has read whole run in the loop itself and share one commit (group
commit, _answer_inline): their answers wait for it, so a 202 still means the delivery is on disk, and a burst costs
one wait for the write lock and one commit per turn instead of one per delivery.

`serve` runs the queue consumer in one process of its own beside the web workers, started and watched by the
arbiter (ConsumerProcess): never inside the arbiter, which forks web workers at any time (a fork while a consumer
thread holds a lock would leave that lock held forever in the child), and never one per web worker. On SIGTERM the
arbiter stops accepting, lets in-flight requests finish, and tells the consumer to finish the jobs in hand; a job
still running at the end of the grace period is handed back (its consumer leaves the heartbeat table and releases
its leases) and the next consumer's first sweep runs it again. Nothing accepted is lost.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker, TConn

from bot import logs

log = logging.getLogger("bot.serving")

DEFAULT_WORKERS = 2  # web processes when WEB_CONCURRENCY is unset
DEFAULT_THREADS = 2  # request threads per web process: a request reaches one only when read whole, so its work is CPU plus one commit; more threads only contend for the GIL
DEFAULT_CONNECTIONS = 2000  # open connections per web process, most of them clients still sending
DEFAULT_GRACEFUL_SECONDS = 25.0  # under Kubernetes' default 30 s terminationGracePeriodSeconds
REQUEST_READ_TIMEOUT = 10.0  # seconds to send a whole request; GitHub sends one in milliseconds
BUFFER_LIMIT = 1 << 20  # bodies up to this size are read in the event loop; larger ones stream in a thread
# Memory per web process: every request up to SMALL_REQUEST is buffered (connections x 64 KiB at most); larger ones
# while the bytes held stay under BUFFER_BUDGET, after which a request thread (there are 2) reads the rest.
SMALL_REQUEST = 64 << 10
BUFFER_BUDGET = 64 << 20
CONSUMER_NICENESS = 10  # serve's consumer yields the CPUs to intake under load (GitHub waits 10 s for a 202)
ACCEPT_PER_TURN = 8  # connections taken from the backlog per turn of the event loop
LINGER_SECONDS = 2.0  # how long an answered connection waits for the client to close (gunicorn's close_graceful)
HEADER_LIMIT = 64 << 10  # gunicorn's own limits (request line, fields) reject anything near this
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d+)[ \t]*(?=\r\n|$)")
_TIMEOUT_REPLY = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 69\r\n\r\n"
                  b'{"status": "timeout", "message": "the request was not sent in time"}\n')
assert len(_TIMEOUT_REPLY.split(b"\r\n\r\n", 1)[1]) == 69
_UNAVAILABLE_BODY = b'{"status": "queue_unavailable", "message": "the queue is unavailable; redeliver later"}'
_UNAVAILABLE_REPLY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(_UNAVAILABLE_BODY), _UNAVAILABLE_BODY))


def request_complete(buffer: bytes | bytearray) -> bool | None:
    """True when buffer holds a whole request, False when more must come, None when a thread should read the rest
    (a chunked or very large body, `Expect: 100-continue`, or headers too long for gunicorn to accept). Pure."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None if len(buffer) > HEADER_LIMIT else False
    head = bytes(buffer[:end]).lower()
    if b"\r\ntransfer-encoding" in head or b"\r\nexpect" in head:
        return None
    match = _CONTENT_LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    if length > BUFFER_LIMIT:
        return None
    return len(buffer) >= end + 4 + length


class BufferingWorker(ThreadWorker):
    """gunicorn's gthread worker, except that a request is read whole in the event loop before a thread runs it."""

    read_timeout = REQUEST_READ_TIMEOUT
    inline_prefixes: tuple[bytes, ...] = ()  # request starts run in the event loop itself (see _on_bytes)
    group_commit = staticmethod(contextlib.nullcontext)  # the app's scope for one commit per turn (Server.load)
    buffer_budget = BUFFER_BUDGET

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.inline_ready: list[TConn] = []  # read whole this turn, to run in the loop (_answer_inline)
        self.reading: deque[TConn] = deque()  # connections still sending, oldest deadline first
        self.buffered = 0  # bytes held for requests still arriving, against buffer_budget
        self.lingering: deque[TConn] = deque()  # answered and half-closed, waiting for the client's FIN

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            # Stopping: close this process's copy of the listening socket too (the arbiter has closed its own), so
            # the kernel refuses new connections at once instead of queueing them where nobody will accept them.
            for listener in self.sockets:
                listener.close()

    def accept(self, listener):
        # The connections waiting in the backlog, several per turn (gunicorn takes one): a request usually arrives
        # with its connection, so it is read at once (_read) and this turn's requests share one commit.
        for _ in range(ACCEPT_PER_TURN):
            if self.nr_conns >= self.worker_connections:
                return
            try:
                client, address = listener.accept()
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            self.nr_conns += 1
            conn = TConn(self.cfg, client, address, listener.getsockname())  # non-blocking
            if self.cfg.is_ssl:  # TLS is read by the thread (behind a load balancer, TLS rarely reaches us)
                client.setblocking(True)
                self.enqueue_req(conn)
                continue
            self._read(conn, bytearray())

    def on_client_socket_readable(self, conn, client):
        # A kept-alive connection's next request is read the same way, so it cannot hold a thread either.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        if self.cfg.is_ssl:
            self.enqueue_req(conn)
            return
        self._read(conn, bytearray())

    def _read(self, conn: TConn, buffer: bytearray) -> None:
        conn.rc_buffer = buffer
        conn.rc_reading = True
        conn.rc_polled = False
        conn.timeout = time.monotonic() + self.read_timeout
        self.reading.append(conn)
        self._on_bytes(conn, conn.sock)  # what has arrived already; the poller waits for the rest

    def _on_bytes(self, conn: TConn, sock) -> None:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            chunk = None
        except OSError:
            chunk = b""
        if chunk is None:  # nothing yet
            self._poll_for_more(conn, sock)
            return
        if not chunk:  # the client left
            self._close_reading(conn)
            return
        conn.rc_buffer += chunk
        self.buffered += len(chunk)
        complete = request_complete(conn.rc_buffer)
        if complete is False and len(conn.rc_buffer) > SMALL_REQUEST and self.buffered > self.buffer_budget:
            complete = None  # a large request while the process's budget is spent: a (bounded) thread reads the rest
        if complete is False:
            self._poll_for_more(conn, sock)
            return
        if conn.rc_polled:
            self.poller.unregister(sock)
        conn.rc_reading = False
        buffered, conn.rc_buffer = bytes(conn.rc_buffer), None
        self.buffered -= len(buffered)
        conn.data_ready = True
        conn.init()  # the HTTP/1 parser (blocking socket); the bytes read so far are its first input
        conn.parser.unreader.unread(buffered)
        if complete and self.inline_prefixes and buffered.startswith(self.inline_prefixes):
            # Read whole, and its work is CPU plus one local commit (webhook intake on a SQLite queue, no network):
            # run it in this loop, as a sync worker would, sparing the hand-off to a thread and back; it runs once
            # this turn's events are read, with the others complete by then (_answer_inline).
            self.inline_ready.append(conn)
            return
        # Otherwise a thread runs it; one that streams the rest of a large body reads under the WSGI read timeout.
        self.enqueue_req(conn)

    def _poll_for_more(self, conn: TConn, sock) -> None:
        if not conn.rc_polled:
            conn.rc_polled = True
            self.poller.register(sock, 1, partial(self._on_bytes, conn))  # 1: selectors.EVENT_READ

    def wait_for_and_dispatch_events(self, timeout):
        super().wait_for_and_dispatch_events(timeout)
        if self.inline_ready:
            self._answer_inline()

    def _answer_inline(self) -> None:
        """Run the requests this turn completed, each answer held back until the one commit they share (group
        commit: N deliveries, one wait for the write lock and one commit instead of N), then send every answer in
        one write each. Nothing is answered 202 before it is durable; if the shared commit fails, none was kept
        and each is answered 503, which the forge shows and redelivers."""
        ready, self.inline_ready = self.inline_ready, []
        held: list[tuple[TConn, bool, bytes]] = []
        try:
            with self.group_commit():
                for conn in ready:
                    held.append((conn, *self._handle_held(conn)))
        except Exception as exc:
            logs.event(log, "group commit failed; its deliveries were not kept and are answered 503",
                       level=logging.ERROR, error=f"{type(exc).__name__}: {exc}", requests=len(ready))
            held = [(conn, False, _UNAVAILABLE_REPLY) for conn in ready]
        for conn, keep, answer in held:
            try:
                conn.sock.sendall(answer)
            except OSError:
                keep = False
            done: Future = Future()
            done.set_result(keep)
            self.finish_request(conn, done)

    def _handle_held(self, conn: TConn) -> tuple[bool, bytes]:
        """gunicorn's handle(), with what it writes to the socket kept: (keep the connection alive, the answer)."""
        sock, held = conn.sock, _HeldSocket(conn.sock)
        conn.sock = held
        try:
            keep = self.handle(conn)
        finally:
            conn.sock = sock
        return bool(keep), b"".join(held.written)

    def _close_reading(self, conn: TConn, *, answer: bytes | None = None) -> None:
        conn.rc_reading = False
        self.buffered -= len(conn.rc_buffer or b"")
        conn.rc_buffer = None
        if getattr(conn, "rc_polled", True):
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
        if answer:
            try:
                conn.sock.send(answer)
            except OSError:
                pass
        self.nr_conns -= 1
        conn.close()

    def finish_request(self, conn, fs):
        try:
            keep = fs.result() if not fs.cancelled() else False
        except Exception:
            keep = False
        if keep or self.cfg.is_ssl:  # kept alive (or deferred): gunicorn's own handling
            return super().finish_request(conn, fs)
        self._linger(conn)

    def _linger(self, conn: TConn) -> None:
        """Close as RFC 9112 §9.6 asks (send FIN, drain what the client still sends until it closes, then close),
        but in the event loop: gunicorn's close_graceful waits up to 2 s for the client's FIN in whichever thread
        answered, which would be the loop itself for inline intake."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, 1, partial(self._on_linger, conn))
        except (OSError, ValueError, KeyError):
            self.nr_conns -= 1
            conn.close()
            return
        conn.rc_lingering = True
        conn.timeout = time.monotonic() + LINGER_SECONDS
        self.lingering.append(conn)

    def _on_linger(self, conn: TConn, sock) -> None:
        try:
            if sock.recv(65536):
                return  # the client is still sending (the rest of a body nobody read): drain until it stops
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._close_lingering(conn)

    def _close_lingering(self, conn: TConn) -> None:
        conn.rc_lingering = False
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        while self.reading and (not self.reading[0].rc_reading or self.reading[0].timeout <= now):
            conn = self.reading.popleft()
            if conn.rc_reading:
                self._on_bytes(conn, conn.sock)  # the loop may have been busy, not the client slow: read what came
            if conn.rc_reading:
                self._close_reading(conn, answer=_TIMEOUT_REPLY)
        if self.inline_ready:
            self._answer_inline()
        while self.lingering and (not self.lingering[0].rc_lingering or self.lingering[0].timeout <= now):
            conn = self.lingering.popleft()
            if conn.rc_lingering:
                self._close_lingering(conn)


class _HeldSocket:
    """A client socket whose writes are kept (for _answer_inline to send after the commit); the rest is the socket's."""

    def __init__(self, sock):
        self._sock = sock
        self.written: list[bytes] = []

    def sendall(self, data) -> None:
        self.written.append(bytes(data))

    def send(self, data) -> int:
        self.written.append(bytes(data))
        return len(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def with_read_timeout(app: Callable, seconds: float) -> Callable:
    """A body too large to buffer is read by the request thread: each socket read waits `seconds` at most."""

    def wrapped(environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(seconds)
        return app(environ, start_response)

    return wrapped


class JsonLogger(glogging.Logger):
    """gunicorn's own lines (boot, workers, errors) and access lines as bot.logs lines: one JSON object each, or
    text with LOG_FORMAT=text."""

    def setup(self, cfg):
        super().setup(cfg)
        formatter = logs.formatter()
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        fields = {"method": req.method, "path": req.path, "status": getattr(resp, "status_code", None),
                  "duration_ms": round(request_time.total_seconds() * 1000, 2),
                  "bytes": getattr(resp, "sent", None), "remote": environ.get("REMOTE_ADDR")}
        delivery = environ.get("HTTP_X_GITHUB_DELIVERY")
        if delivery:
            fields["delivery_id"] = delivery
        logs.event(self.access_log, "request", **fields)


@dataclass(frozen=True)
class ServeOptions:
    host: str = "0.0.0.0"
    port: int = 3000
    workers: int = DEFAULT_WORKERS
    threads: int = DEFAULT_THREADS
    connections: int = DEFAULT_CONNECTIONS
    graceful_seconds: float = DEFAULT_GRACEFUL_SECONDS
    read_timeout: float = REQUEST_READ_TIMEOUT
    access_log: bool = False
    log_level: str = "info"
    inline_intake: bool = False  # run fully read webhook POSTs in the event loop (a SQLite queue: a local commit)

    def gunicorn(self) -> dict[str, Any]:
        return {
            "bind": f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}",
            "workers": self.workers, "threads": self.threads, "worker_connections": self.connections,
            "worker_class": "bot.serving.BufferingWorker", "graceful_timeout": max(1, math.ceil(self.graceful_seconds)),
            "keepalive": 5, "timeout": 60, "backlog": 2048, "preload_app": False,
            "logger_class": "bot.serving.JsonLogger", "loglevel": self.log_level.lower(),
            "accesslog": "-" if self.access_log else None, "errorlog": "-",
            "proc_name": "release-coordinator", "limit_request_line": 8190, "limit_request_fields": 100,
            "control_socket_disable": True,  # gunicorn 27 would write ~/.gunicorn/gunicorn.ctl (read-only root fs)
        }


class ConsumerProcess:
    """The queue consumer of `serve`: one child process, started by the arbiter and started again if it dies.

    Liveness comes from a pipe the child holds open (its end closes when it exits), not from waitpid: the arbiter
    reaps every child itself (waitpid(-1)), so an exit status may never reach us."""

    def __init__(self, argv: list[str], *, graceful_seconds: float, env: dict[str, str] | None = None):
        self.argv = argv
        self.graceful_seconds = graceful_seconds
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._alive_fd: int | None = None
        self._stopping = False
        self._started_at = 0.0

    def start(self) -> None:
        read_end, write_end = os.pipe()
        os.set_inheritable(write_end, True)
        self.proc = subprocess.Popen(
            [*self.argv, "--alive-fd", str(write_end), "--parent", str(os.getpid())],
            pass_fds=(write_end,), env=self.env, start_new_session=True,  # Ctrl-C reaches the arbiter, which decides
        )
        os.close(write_end)
        self._alive_fd, self._started_at = read_end, time.monotonic()
        logs.event(log, "consumer started", pid=self.proc.pid)

    def alive(self) -> bool:
        if self._alive_fd is None:
            return False
        readable, _, _ = select.select([self._alive_fd], [], [], 0)
        return not readable  # EOF: every copy of the write end is closed, the child is gone

    def keep_running(self) -> None:
        """From the arbiter's loop: start it again if it died (at most once every 2 s)."""
        if self._stopping or self.alive() or time.monotonic() - self._started_at < 2.0:
            return
        code = self.proc.poll() if self.proc else None
        logs.event(log, "consumer exited; starting another", level=logging.ERROR, pid=getattr(self.proc, "pid", None),
                   exit_code=code)
        self._close_fd()
        self.start()

    def stop(self, *, graceful: bool) -> None:
        """Ask the child to stop: SIGTERM finishes the jobs in hand, SIGINT hands them back at once."""
        self._stopping = True
        if self.proc is not None and self.alive():
            try:
                self.proc.send_signal(signal.SIGTERM if graceful else signal.SIGINT)
            except ProcessLookupError:
                pass

    def wait(self, seconds: float) -> bool:
        """Wait for the child to exit; SIGKILL after `seconds`. True when it exited by itself."""
        deadline = time.monotonic() + seconds
        while self.alive() and time.monotonic() < deadline:
            select.select([self._alive_fd], [], [], min(0.2, max(deadline - time.monotonic(), 0)))
        exited = not self.alive()
        if not exited and self.proc is not None:
            logs.event(log, "consumer did not stop in time; killing it (its job is re-run)", level=logging.WARNING,
                       pid=self.proc.pid)
            self.proc.kill()
        self._close_fd()
        return exited

    def _close_fd(self) -> None:
        if self._alive_fd is not None:
            os.close(self._alive_fd)
            self._alive_fd = None


class _Arbiter(Arbiter):
    consumer: ConsumerProcess | None = None
    on_ready: Callable[[], None] | None = None

    def manage_workers(self):
        super().manage_workers()
        if self.consumer is not None:
            self.consumer.keep_running()

    def stop(self, graceful=True):
        # The consumer and the web workers drain side by side, within one grace period.
        if self.consumer is not None:
            self.consumer.stop(graceful=graceful)
        super().stop(graceful)
        if self.consumer is not None:
            self.consumer.wait(self.cfg.graceful_timeout + 2.0)


class Server(BaseApplication):
    """gunicorn, configured in code (no config file, no command line of its own): `load` builds the Flask app in
    each web worker after the fork, so no SQLite connection or thread crosses a fork."""

    def __init__(self, load_app: Callable[[], Any], options: ServeOptions, *,
                 consumer: ConsumerProcess | None = None, on_ready: Callable[[], None] | None = None):
        self.load_app = load_app
        self.options = options
        self.consumer = consumer
        self.on_ready = on_ready
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.gunicorn().items():
            self.cfg.set(key, value)
        on_ready, consumer = self.on_ready, self.consumer

        def when_ready(arbiter) -> None:
            if consumer is not None:
                consumer.start()
            if on_ready is not None:
                on_ready()

        self.cfg.set("when_ready", when_ready)

    def load(self):
        BufferingWorker.read_timeout = self.options.read_timeout
        BufferingWorker.inline_prefixes = (b"POST /webhooks/",) if self.options.inline_intake else ()
        app = self.load_app()
        BufferingWorker.group_commit = staticmethod(getattr(app, "group_commit", contextlib.nullcontext))
        return with_read_timeout(app, self.options.read_timeout)

    def run(self) -> None:
        arbiter = _Arbiter(self)
        arbiter.consumer = self.consumer
        arbiter.run()


def watch_parent(parent_pid: int, alive_fd: int | None) -> None:
    """In the consumer child: stop gracefully when the arbiter is gone (killed with SIGKILL, it cannot tell us)."""
    if alive_fd is not None:
        os.set_inheritable(alive_fd, False)  # the consumer's own children must not keep it "alive"

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                logs.event(log, "serve's arbiter is gone; stopping", level=logging.WARNING)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="rc-parent-watch", daemon=True).start()


def consumer_command(workers: int, graceful_seconds: float) -> list[str]:
    return [sys.executable, "-m", "bot.commands.worker", "--workers", str(workers),
            "--graceful-timeout", str(graceful_seconds)]
