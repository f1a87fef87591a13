"""Slow clients against `release-coordinator serve`: N connections send headers and half an 8 KB body, then stall.

Run by hand from the repository root: `.venv/bin/python bench/slow_clients.py [--stalled 3000]`. Prints, while they
stall, how long real signed deliveries take to get their 202, and the resident memory and thread count of serve's
whole process tree (arbiter, web workers, consumer) before, during and after; then how many stalled clients were
answered 408 once the read timeout passed, and how many connections serve still holds after the clients left.
127.0.0.1 only; a SQLite queue in a temporary directory; the consumer's GitHub refuses connections (127.0.0.1:1).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import free_port  # noqa: E402
from bench.serve import SECRET, body_of, wait_up  # noqa: E402


def tree(pid: int) -> list[int]:
    children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [p for child in children for p in tree(int(child))]


def rss_threads(pid: int) -> tuple[float, int]:
    rss = threads = 0
    for p in tree(pid):
        status = dict(line.split(":", 1) for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines())
        rss += int(status["VmRSS"].split()[0])
        threads += int(status["Threads"])
    return rss / 1024, threads


def server_connections(port: int) -> int:
    """Established TCP connections whose local port is serve's (from /proc/net/tcp*)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def deliver(port: int, body: bytes, signature: str, delivery_id: str) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/github", data=body, headers={
        "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery_id, "Content-Type": "application/json",
        "X-Hub-Signature-256": signature})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202, response.status
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stalled", type=int, default=3000)
    parser.add_argument("--read-timeout", type=float, default=10.0, help="serve --read-timeout")
    parser.add_argument("--probes", type=int, default=20, help="real deliveries sent while the clients stall")
    args = parser.parse_args()

    from bot.webhooks.github import sign

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.stalled + 512)), hard))
    body = body_of(8192)
    signature = sign(body, secret=SECRET)
    head = (f"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "QUEUE_URL"))}
        env.update(PYTHONPATH=str(ROOT), GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_APP_ID="1",
                   GITHUB_PRIVATE_KEY="bench: never used to sign", GITHUB_API_URL="http://127.0.0.1:1",
                   QUEUE_URL=f"sqlite:///{tmp}/queue.db", LOG_LEVEL="WARNING")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--read-timeout", str(args.read_timeout)], cwd=tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        clients: list[socket.socket] = []
        try:
            wait_up(port, proc, "serve")
            time.sleep(1.0)
            deliver(port, body, signature, "warm-up")
            before = rss_threads(proc.pid)
            opened = time.monotonic()
            for i in range(args.stalled):
                client = socket.create_connection(("127.0.0.1", port), timeout=10)
                client.sendall(head + f"X-GitHub-Delivery: stalled-{i}\r\n\r\n".encode() + body[: len(body) // 2])
                clients.append(client)
            opened = time.monotonic() - opened
            time.sleep(0.5)
            latencies = [deliver(port, body, signature, f"probe-{i}") for i in range(args.probes)]
            during = rss_threads(proc.pid)
            held_during = server_connections(port)
            time.sleep(max(0.0, args.read_timeout + 1.5 - opened - 0.5))
            answered = 0
            for client in clients:
                client.settimeout(0.05)
                try:
                    answered += client.recv(64).startswith(b"HTTP/1.1 408")
                except OSError:
                    pass
        finally:
            for client in clients:
                client.close()
        time.sleep(1.5)
        after = rss_threads(proc.pid)
        held_after = server_connections(port)
        proc.send_signal(signal.SIGTERM)
        proc.wait(40)

    load = os.getloadavg()
    print(f"{args.stalled} connections sending headers + half of an 8 KB body, then nothing; serve --read-timeout "
          f"{args.read_timeout:g}; {os.cpu_count()} CPUs shared with other work (load average {load[0]:.1f})\n")
    print("| | serve RSS MB (all processes) | threads (all processes) | connections held |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| before | {before[0]:.0f} | {before[1]} | - |")
    print(f"| {args.stalled} stalled | {during[0]:.0f} | {during[1]} | {held_during} |")
    print(f"| clients gone | {after[0]:.0f} | {after[1]} | {held_after} |")
    print(f"\nreal deliveries while they stalled: {len(latencies)}, every one 202; p50 "
          f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms (target < 1 s)")
    print(f"stalled clients answered 408 after the read timeout: {answered} of {args.stalled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
