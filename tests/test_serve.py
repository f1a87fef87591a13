"""`release-coordinator serve` on a fresh machine with no credentials starts, says what to set, and refuses
webhooks with 503 (SPEC §9)."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_starts_without_credentials_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "QUEUE_URL"))}
    env.update(PORT=str(port), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _ = get(base + "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        assert status == 200
        assert get(base + "/readyz")[0] == 200
        status, page = get(base + "/")
        assert status == 200 and "GITHUB_WEBHOOK_SECRET" in page and "app.yml" in page
        status, body = get(base + "/webhooks/github", data=b"{}")
        assert (status, json.loads(body)["message"]) == (503, "GitHub is not configured: set GITHUB_WEBHOOK_SECRET")
        assert (tmp_path / "var" / "queue.db").exists()  # the default embedded SQLite queue, a real file
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0


# --- production serving: gunicorn, a consumer process, SIGTERM drains or hands back (real processes, real SQLite)

import contextlib  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bot.journal import State  # noqa: E402
from bot.journal.sqlite import SqliteJournal  # noqa: E402
from bot.webhooks.github import sign  # noqa: E402
from tests.forge.loopback import LoopbackGitHub  # noqa: E402

SECRET = "serve-test-secret"
FIXTURE = ROOT / "fixtures" / "github" / "pull_request" / "opened.json"


@contextlib.contextmanager
def serving(tmp_path, *, github_url: str, args=(), log=None):
    """A `serve` process on a free port with App credentials pointing at the loopback GitHub; yields (proc, base)."""
    port = free_port()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "QUEUE_URL", "LOG_"))}
    env.update(PORT=str(port), PYTHONPATH=str(ROOT), GITHUB_APP_ID="4242", GITHUB_PRIVATE_KEY=key,
               GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_API_URL=github_url, QUEUE_URL=f"sqlite:///{tmp_path}/queue.db")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--web-workers", "1",
                             "--workers", "1", *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=log or subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def wait_until_up(base: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if get(base + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.1)


def raw_delivery(delivery_id: str) -> bytes:
    """A signed delivery of the fixture as bytes on the wire, for tests that send it themselves."""
    body = FIXTURE.read_bytes()
    return (f"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {delivery_id}\r\n"
            f"X-Hub-Signature-256: {sign(body, secret=SECRET)}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def deliver(base: str, delivery_id: str) -> int:
    body = FIXTURE.read_bytes()
    request = urllib.request.Request(base + "/webhooks/github", data=body, headers={
        "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery_id, "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, secret=SECRET)})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def state(tmp_path, delivery_id: str):
    return SqliteJournal(str(tmp_path / "queue.db")).state(delivery_id)


def wait_state(tmp_path, delivery_id: str, wanted, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state(tmp_path, delivery_id) in wanted:
            return state(tmp_path, delivery_id)
        time.sleep(0.1)
    return state(tmp_path, delivery_id)


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout)
    return time.monotonic() - started


def test_sigterm_lets_the_job_in_hand_finish_before_exiting(tmp_path):
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url, args=["--graceful-timeout", "10"]) as (proc, base):
        gh.hold()  # the job's first GitHub request (the installation token) waits
        assert deliver(base, "finish-1") == 202
        assert gh.seen.wait(15), "the consumer never ran the delivery"
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None, "serve exited while its consumer still had a job in hand"
        gh.release()
        proc.wait(15)
        assert proc.returncode == 0
        assert state(tmp_path, "finish-1") in (State.DONE, State.DEAD)  # ran to its end, not cut off


def test_a_job_cut_off_by_sigterm_is_handed_back_and_the_next_serve_runs_it(tmp_path):
    with LoopbackGitHub() as gh:
        with serving(tmp_path, github_url=gh.url, args=["--graceful-timeout", "1"]) as (proc, base):
            gh.hold()
            assert deliver(base, "cut-1") == 202
            assert gh.seen.wait(15)
            took = stop(proc)
            assert proc.returncode == 0 and took < 8
        assert state(tmp_path, "cut-1") is State.RUNNING  # cut off mid-job: not done, not lost
        gh.release()
        requests_before = gh.fake.requests()
        with serving(tmp_path, github_url=gh.url) as (proc, base):
            # handed back (no heartbeat, no lease left behind): the next consumer's first sweep runs it at once
            assert wait_state(tmp_path, "cut-1", (State.DONE, State.DEAD), timeout=10) in (State.DONE, State.DEAD)
            assert gh.fake.requests() > requests_before
            stop(proc)


def test_sigterm_finishes_a_request_in_flight_and_accepts_no_new_connection(tmp_path):
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        request = raw_delivery("inflight-1")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(request[:-3000])
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(OSError):  # the listener is closed: a new delivery goes to another instance
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            client.sendall(request[-3000:])
            answer = client.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 202"), answer
        proc.wait(15)
        assert proc.returncode == 0


def process_tree(pid: int) -> list[int]:
    children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [p for child in children for p in process_tree(int(child))]


def rss_and_threads(pid: int) -> tuple[int, int]:
    """Resident kB and thread count over serve's whole process tree (arbiter, web workers, consumer)."""
    rss = threads = 0
    for p in process_tree(pid):
        status = dict(line.split(":", 1) for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines())
        rss += int(status["VmRSS"].split()[0])
        threads += int(status["Threads"])
    return rss, threads


def half_body_request(delivery_id: str) -> bytes:
    request, body = raw_delivery(delivery_id), FIXTURE.read_bytes()
    return request[: len(request) - len(body) + len(body) // 2]


def test_stalled_half_body_clients_hold_no_thread_and_a_real_delivery_still_gets_its_202(tmp_path):
    stalled_count = 300  # bench/slow_clients.py runs the same with 3,000
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url, args=["--read-timeout", "4"]) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        time.sleep(1.0)
        rss_before, threads_before = rss_and_threads(proc.pid)
        stalled = []
        try:
            for i in range(stalled_count):
                client = socket.create_connection(("127.0.0.1", port), timeout=5)
                client.sendall(half_body_request(f"stalled-{i}"))
                stalled.append(client)
            time.sleep(0.5)
            started = time.monotonic()
            assert deliver(base, "real-1") == 202
            assert time.monotonic() - started < 1.0
            rss_during, threads_during = rss_and_threads(proc.pid)
            # bounded: no thread per connection; the request pool (2 threads, made on first use) is all that may grow
            assert threads_during <= threads_before + 2, (threads_before, threads_during)
            assert rss_during - rss_before < 30_000  # kB, for 300 connections each holding ~14 KB read so far
            time.sleep(4.5)  # past --read-timeout: every stalled client was answered 408 and closed
            for client in stalled[:20]:
                client.settimeout(2)
                assert client.recv(200).startswith(b"HTTP/1.1 408")
        finally:
            for client in stalled:
                client.close()
        assert deliver(base, "real-2") == 202


@pytest.mark.parametrize("buffer, complete", [
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd", True),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab", False),
    (b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length:4\r\n\r\nabcd", True),  # any case, no space
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Len", False),  # headers not done yet
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),  # no body
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab", None),  # a thread streams chunked bodies
    (b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n", None),  # it waits for our 100
    (b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (2 << 20), None),  # over BUFFER_LIMIT: streamed
    (b"GET /" + b"a" * (70 << 10), None),  # no end of headers in 64 KiB: gunicorn's parser refuses it
    (b"POST / HTTP/1.1\r\nX-Content-Length: 99\r\nContent-Length: 1\r\n\r\nz", True),  # the real header only
])
def test_request_complete_reads_only_the_framing(buffer, complete):
    from bot.serving import request_complete

    assert request_complete(buffer) is complete


def test_kept_alive_connection_gets_each_request_read_whole_and_answered(tmp_path):
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=5)
        for path in ("/healthz", "/readyz", "/healthz"):  # one connection, three requests
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200 and response.getheader("Connection") != "close"
            response.read()
        conn.close()
        stop(proc)


def test_procfile_web_line_serves_on_port_with_web_concurrency(tmp_path):
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(procfile) == {"web", "worker"}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "QUEUE_URL"))}
    env.update(PORT=str(port), WEB_CONCURRENCY="3", PYTHONPATH=str(ROOT), QUEUE_URL=f"sqlite:///{tmp_path}/q.db",
               PATH=f"{pathlib.Path(sys.executable).parent}:{env.get('PATH', '')}")
    proc = subprocess.Popen(["/bin/sh", "-c", f"exec {procfile['web']}"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}")  # the first web process answers; the arbiter may still be forking
        deadline = time.monotonic() + 10
        while len(process_tree(proc.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # and none more comes
        web_processes = process_tree(proc.pid)[1:]
        assert len(web_processes) == 3  # WEB_CONCURRENCY web workers under the arbiter, no consumer (web only)
    finally:
        took = stop(proc)
    assert proc.returncode == 0 and took < 10


@pytest.mark.parametrize("size", [300 << 10, 3 << 20])  # read whole in the loop; over BUFFER_LIMIT: a thread streams it
def test_a_large_signed_delivery_is_read_in_full_either_way(tmp_path, size):
    payload = json.loads(FIXTURE.read_bytes())
    payload["pull_request"]["body"] = "y" * size
    body = json.dumps(payload).encode()
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        request = urllib.request.Request(base + "/webhooks/github", data=body, headers={
            "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": f"large-{size}", "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, secret=SECRET)})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        stop(proc)
    assert state(tmp_path, f"large-{size}") is not None  # journaled (the consumer may have run it since)


def consumer_pids(pid: int) -> list[int]:
    return [p for p in process_tree(pid)
            if b"bot.commands.worker" in pathlib.Path(f"/proc/{p}/cmdline").read_bytes()]


def test_the_arbiter_starts_another_consumer_when_one_dies(tmp_path):
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        deadline = time.monotonic() + 10
        while not consumer_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        [first] = consumer_pids(proc.pid)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and [p for p in consumer_pids(proc.pid) if p != first] == []:
            time.sleep(0.2)
        [second] = consumer_pids(proc.pid)
        assert second != first
        assert deliver(base, "after-restart") == 202
        assert wait_state(tmp_path, "after-restart", (State.DONE, State.DEAD)) in (State.DONE, State.DEAD)
        stop(proc)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped (/proc/PID/stat: "pid (comm) STATE ...")."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_consumer_whose_serve_was_killed_stops_by_itself(tmp_path):
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        deadline = time.monotonic() + 10
        while not consumer_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        [consumer] = consumer_pids(proc.pid)
        workers = [p for p in process_tree(proc.pid)[1:] if p != consumer]
        proc.kill()  # SIGKILL: the arbiter cannot tell anyone
        proc.wait(5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and [p for p in [consumer, *workers] if running(p)]:
            time.sleep(0.2)
        assert [p for p in [consumer, *workers] if running(p)] == []  # no orphan consumes or serves on


# --- group commit: the deliveries one turn of the event loop has read share one commit (bot/serving.py)


def answer_of(client: socket.socket) -> tuple[int, dict]:
    data = b""
    while chunk := client.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_burst_is_answered_delivery_by_delivery_and_only_once_durable(tmp_path):
    ids = [f"burst-{i}" for i in range(23)] + ["burst-7"]  # one id twice, as a redelivery racing the first
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        clients = []
        for delivery_id in ids:  # every request is sent before any answer is read: turns hold several at once
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(raw_delivery(delivery_id))
            clients.append(client)
        outcomes = []
        for delivery_id, client in zip(ids, clients):
            with client:
                status, answer = answer_of(client)
            # an answer arrives only after the commit that holds its delivery: a fresh reader sees it already
            assert status == 202 and state(tmp_path, delivery_id) is not None, (delivery_id, answer)
            outcomes.append(answer["status"])
        stop(proc)
    assert sorted(outcomes) == ["duplicate"] + ["queued"] * 23


def test_a_failed_group_commit_answers_its_deliveries_503_and_keeps_none(tmp_path):
    import sqlite3

    log = open(tmp_path / "serve.log", "w")
    ids = [f"locked-{i}" for i in range(3)]
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url, log=log, args=["--read-timeout", "2"]) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        writer = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)
        writer.execute("begin immediate")  # another writer holds the database past serve's 10 s busy timeout
        clients = [socket.create_connection(("127.0.0.1", port), timeout=90) for _ in ids]
        requests = [raw_delivery(delivery_id) for delivery_id in ids]
        clients[0].sendall(requests[0])
        time.sleep(0.5)  # its turn now waits on the lock; the others arrive meanwhile, past their read timeout by
        for client, request in zip(clients[1:], requests[1:]):  # the time the loop is free again: they were sent in
            client.sendall(request)  # time, so they are read then and answered, not timed out
        answers = []
        for client in clients:
            with client:
                status, answer = answer_of(client)
            answers.append((status, answer["status"]))
        writer.execute("rollback")
        assert answers == [(503, "queue_unavailable")] * 3
        assert [state(tmp_path, delivery_id) for delivery_id in ids] == [None] * 3
        assert deliver(base, "locked-0") == 202  # GitHub's redelivery is accepted: nothing was half kept
        stop(proc)
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if line.startswith("{")]
    failed = [line for line in lines if line["msg"].startswith("group commit failed")]
    assert failed and failed[0]["level"] == "error" and "database is locked" in failed[0]["error"]


def test_deliveries_on_one_kept_alive_connection_are_each_answered_once_durable(tmp_path):
    import http.client

    body = FIXTURE.read_bytes()
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=5)
        for delivery_id in ("kept-1", "kept-2", "kept-1"):  # a proxy in front may keep GitHub's connections alive
            conn.request("POST", "/webhooks/github", body=body, headers={
                "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery_id,
                "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret=SECRET)})
            response = conn.getresponse()
            answer = json.loads(response.read())
            assert response.status == 202 and response.getheader("Connection") != "close"
            assert state(tmp_path, delivery_id) is not None
        assert answer["status"] == "duplicate"
        conn.close()
        stop(proc)


def test_two_deliveries_pipelined_on_one_connection_are_both_answered_and_kept(tmp_path):
    with LoopbackGitHub() as gh, serving(tmp_path, github_url=gh.url) as (proc, base):
        first = raw_delivery("pipelined-1").replace(b"Connection: close\r\n", b"")
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10) as client:
            client.sendall(first + raw_delivery("pipelined-2"))  # both requests in one write, before any answer
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        answers = [json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1")[0]) for part in
                   data.split(b"HTTP/1.1 ")[1:]]
        assert [a["message"] for a in answers] == ["delivery pipelined-1 queued", "delivery pipelined-2 queued"]
        assert state(tmp_path, "pipelined-1") is not None and state(tmp_path, "pipelined-2") is not None
        stop(proc)
