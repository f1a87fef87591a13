"""Intake benchmark: signed deliveries/s and p50/p99 latency of POST /webhooks/github under gunicorn on loopback,
side by side with a bare Flask endpoint that answers 202 under the same gunicorn settings; then p99 at a fixed
200 deliveries/s. Run by hand: `.venv/bin/python bench/intake.py` (prints a Markdown table). Bounded loops,
127.0.0.1 only; the queue is a fresh SQLite file in a temporary directory.
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from flask import Flask

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "github" / "pull_request" / "opened.json"
SECRET = "bench-secret"

bare_app = Flask("bare")  # the baseline: the same framework and server, no verification, no queue


@bare_app.post("/webhooks/github")
def bare():
    return "", 202


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app: str, port: int, *, env: dict[str, str], gunicorn: list[str]) -> subprocess.Popen:
    cmd = [str(pathlib.Path(sys.executable).with_name("gunicorn")), "--bind", f"127.0.0.1:{port}",
           *gunicorn, "--log-level", "warning", "--chdir", str(ROOT), app]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"gunicorn did not start: {' '.join(cmd)}")


def post(port: int, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/webhooks/github", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def headers_for(delivery_id: str, signature: str) -> dict[str, str]:
    return {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery_id, "X-Hub-Signature-256": signature,
            "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench"}


def closed_loop(args: tuple[int, int, bytes, str]) -> list[float]:
    """One client: `count` requests back to back, a new connection each (GitHub does not reuse them)."""
    port, count, body, signature = args
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        status = post(port, body, headers_for(str(uuid.uuid4()), signature))
        latencies.append(time.perf_counter() - started)
        assert status == 202, status
    return latencies


def open_loop(args: tuple[int, float, int, float, bytes, str]) -> list[float]:
    """One client of several sharing a fixed rate: send on schedule; latency counts from the scheduled time,
    so a slow answer that delays the next send is charged to the server (no coordinated omission)."""
    port, rate, count, start_at, body, signature = args
    latencies = []
    for i in range(count):
        due = start_at + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        status = post(port, body, headers_for(str(uuid.uuid4()), signature))
        latencies.append(time.perf_counter() - due)
        assert status == 202, status
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def throughput(pool, port: int, *, clients: int, per_client: int, body: bytes, signature: str):
    started = time.perf_counter()
    results = pool.map(closed_loop, [(port, per_client, body, signature)] * clients)
    elapsed = time.perf_counter() - started
    latencies = [x for r in results for x in r]
    return len(latencies) / elapsed, statistics.median(latencies), percentile(latencies, 99)


def median_run(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """The round with the median throughput (its own p50/p99 kept together)."""
    return sorted(runs)[len(runs) // 2]


def fixed_rate(pool, port: int, *, rate: float, seconds: float, clients: int, body: bytes, signature: str):
    per_client = int(rate * seconds / clients)
    start_at = time.perf_counter() + 0.5
    jobs = [(port, rate / clients, per_client, start_at + i / rate, body, signature) for i in range(clients)]
    latencies = [x for r in pool.map(open_loop, jobs) for x in r]
    return statistics.median(latencies), percentile(latencies, 99), len(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for both servers")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (>1: gthread workers)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--requests", type=int, default=1200, help="requests per server per throughput round")
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal",
                        help="the SQLite queue's durability mode (QUEUE_URL ?synchronous=)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds (median reported)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the fixed-rate run")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from bot.webhooks.github import sign

    body = FIXTURE.read_bytes()
    signature = sign(body, secret=SECRET)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GITHUB_WEBHOOK_SECRET": SECRET, "QUEUE_URL": f"sqlite:///{tmp}/queue.db?synchronous={args.synchronous}",
               "PYTHONPATH": str(ROOT)}
        env.pop("GITHUB_PRIVATE_KEY_PATH", None)
        # App credentials present (routed deliveries are refused with 503 without them); no consumer runs here
        env.update(GITHUB_APP_ID="1", GITHUB_PRIVATE_KEY="bench: intake never signs")
        bare_port, intake_port = free_port(), free_port()
        gunicorn = ["--workers", str(args.workers), "--threads", str(args.threads),
                    "--worker-class", "gthread" if args.threads > 1 else "sync"]
        servers = [start("bench.intake:bare_app", bare_port, env=env, gunicorn=gunicorn),
                   start("bot.web:create_app_from_env()", intake_port, env=env, gunicorn=gunicorn)]
        try:
            with multiprocessing.get_context("fork").Pool(args.clients) as pool:
                per_client = args.requests // args.clients
                for port in (bare_port, intake_port):  # warm-up: imports, SQLite pages, connections
                    throughput(pool, port, clients=args.clients, per_client=25, body=body, signature=signature)
                runs: dict[int, list] = {bare_port: [], intake_port: []}
                for _ in range(args.rounds):  # interleaved, so a noisy neighbour hits both sides alike
                    for port in (bare_port, intake_port):
                        runs[port].append(throughput(pool, port, clients=args.clients, per_client=per_client,
                                                     body=body, signature=signature))
                bare, intake = (median_run(runs[bare_port]), median_run(runs[intake_port]))
                bare_fixed = fixed_rate(pool, bare_port, rate=200, seconds=args.seconds, clients=args.clients,
                                        body=body, signature=signature)
                intake_fixed = fixed_rate(pool, intake_port, rate=200, seconds=args.seconds, clients=args.clients,
                                          body=body, signature=signature)
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)

    ms = 1000
    kind = f"gthread, {args.workers} workers x {args.threads} threads" if args.threads > 1 else f"sync, {args.workers} workers"
    print(f"median of {args.rounds} interleaved rounds; gunicorn {kind}, 127.0.0.1; {args.clients} client processes, a new connection per "
          f"request; body {len(body)} bytes (fixtures/github/pull_request/opened.json); {os.cpu_count()} CPUs\n")
    print("| endpoint | deliveries/s | p50 ms | p99 ms | p50 ms @ 200/s | p99 ms @ 200/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (rps, p50, p99), (f50, f99, _) in (("bare Flask 202", bare, bare_fixed),
                                                 (f"/webhooks/github (verify, record + enqueue in one SQLite commit, synchronous={args.synchronous})", intake,
                                                  intake_fixed)):
        print(f"| {name} | {rps:.0f} | {p50 * ms:.1f} | {p99 * ms:.1f} | {f50 * ms:.1f} | {f99 * ms:.1f} |")
    rounds = "; ".join(f"{b[0]:.0f} vs {i[0]:.0f}" for b, i in zip(runs[bare_port], runs[intake_port]))
    print(f"\nthroughput per round, bare vs intake (deliveries/s): {rounds}")
    ratio = intake[0] / bare[0]
    print(f"intake/bare throughput: {ratio:.0%} (target >= 50%); intake p99 at 200/s: {intake_fixed[1] * ms:.1f} ms "
          f"(target < 50 ms); {args.rounds} rounds of {args.requests} + {intake_fixed[2]} signed deliveries queued")
    return 0


if __name__ == "__main__":
    sys.exit(main())
