"""`release-coordinator serve` intake against a bare Flask `return "", 202` under gunicorn, in the same run.

Run by hand from the repository root: `.venv/bin/python bench/serve.py [--seconds 5] [--rounds 3]`. All servers
listen on 127.0.0.1 with WEB_CONCURRENCY web processes (default 2): the bare endpoint under gunicorn's default sync
worker and on serve's own server (bot.serving.Server with the options serve uses: BufferingWorker, webhooks
answered in its event loop), and `serve` as shipped (BufferingWorker, its consumer process beside it,
a SQLite queue file, INFO log lines). Each request is a signed 8 KB `pull_request.synchronize` delivery with a new
X-GitHub-Delivery id and `Connection: close` (GitHub opens a connection per delivery); wrk cycles through 1,000
pre-signed bodies for 1,000 pull requests, so every `serve` answer includes the durable journal commit and no
delivery supersedes another. Throughput is measured with wrk when it is installed (`apt-get install wrk`), else with
Python client processes; then p99 at a fixed 200 deliveries/s (an open-loop Python client: latency counted from
each request's scheduled time).

The consumer works as in production, on the same CPUs: every job runs the real handlers against
tests/forge/fakegithub.py served on 127.0.0.1 (tests/forge/loopback.py) answering each API call after 50 ms, and
GitHub's second between writes applies.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402

from bench.intake import fixed_rate, free_port, percentile, throughput  # noqa: E402

SECRET = "bench-secret"
bare_app = Flask("bare")


@bare_app.post("/webhooks/github")
def bare():
    return "", 202


def pull_bodies(gh, count: int, size: int) -> list[bytes]:
    """`count` pull_request.synchronize payloads for pull requests seeded on the loopback GitHub, `size` bytes each."""
    from bench.api_calls import REPO, seed
    from tests.forge.fakegithub import commit_json, fake_sha, file_json

    base = seed(gh.fake)
    owner, name = REPO.split("/")
    bodies = []
    for number in range(1, count + 1):
        head = fake_sha("bench-serve", number)
        gh.fake.add_pull(REPO, number, author="app-dev0", head_sha=head, base_sha=base,
                         files=[file_json(f"src/pkg{number % 17}/mod{number}.py")], commits=[commit_json(head, "feat")])
        payload = {"action": "synchronize", "number": number, "pull_request": gh.fake.repo(REPO).pulls[number],
                   "repository": {"id": gh.fake.repo(REPO).id, "name": name, "full_name": REPO, "private": True,
                                  "owner": {"login": owner, "type": "Organization"}, "default_branch": "main"},
                   "installation": {"id": 1}, "sender": {"login": "app-dev0", "type": "User"}}
        payload["pull_request"] = {**payload["pull_request"], "body": ""}
        pad = size - len(json.dumps(payload).encode())
        payload["pull_request"]["body"] = "x" * max(pad, 0)
        bodies.append(json.dumps(payload).encode())
    return bodies


def body_of(size: int) -> bytes:
    """A pull_request.opened payload padded (in the PR description) to `size` bytes."""
    payload = json.loads((ROOT / "fixtures" / "github" / "pull_request" / "opened.json").read_bytes())
    pull = payload["pull_request"]
    small = {"action": "opened", "number": payload["number"], "installation": payload["installation"],
             "repository": {k: payload["repository"][k] for k in ("id", "name", "full_name", "private", "owner")},
             "sender": payload["sender"],
             "pull_request": {k: pull[k] for k in ("id", "number", "state", "title", "user", "head", "base")}}
    small["pull_request"]["head"] = {k: pull["head"][k] for k in ("ref", "sha", "label")}
    small["pull_request"]["base"] = {k: pull["base"][k] for k in ("ref", "sha", "label")}
    small["pull_request"]["body"] = ""
    pad = size - len(json.dumps(small).encode())
    small["pull_request"]["body"] = "x" * max(pad, 0)
    return json.dumps(small).encode()


def bare_on_serving(port: int) -> int:
    """The bare app on bot.serving.Server with the options `serve` itself builds for a SQLite queue."""
    from bot import logs, serving

    logs.configure("WARNING")
    workers = int(os.environ.get("WEB_CONCURRENCY", serving.DEFAULT_WORKERS))
    serving.Server(lambda: bare_app, serving.ServeOptions(host="127.0.0.1", port=port, workers=workers,
                                                          log_level="warning", inline_intake=True)).run()
    return 0


def wait_up(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


WRK_SCRIPT = """
local n = 0
local bodies, signatures = {}, {}
for line in io.lines(os.getenv("RC_BENCH_BODIES")) do  -- one "signature<TAB>body" per line
  local tab = line:find("\t", 1, true)
  signatures[#signatures + 1] = line:sub(1, tab - 1)
  bodies[#bodies + 1] = line:sub(tab + 1)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "pull_request"
wrk.headers["Connection"] = "close"
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)  -- each wrk thread has a Lua state of its own: ids must differ across them
end
request = function()
  n = n + 1
  local i = (n + tid * 7919) % #bodies + 1
  wrk.headers["X-GitHub-Delivery"] = os.getenv("RC_BENCH_RUN") .. "-" .. tid .. "-" .. n
  wrk.headers["X-Hub-Signature-256"] = signatures[i]
  return wrk.format(nil, "/webhooks/github", nil, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.1f %.3f %.3f %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk_round(port: int, *, seconds: float, connections: int, env: dict[str, str], script: str):
    env = {**env, "RC_BENCH_RUN": os.urandom(6).hex()}
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", script,
                          f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True, check=True).stdout
    requests, duration, p50, p99, errors = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out).groups()
    if int(errors):
        raise SystemExit(f"wrk saw {errors} errors (non-2xx or socket) against port {port}:\n{out}")
    return int(requests) / float(duration), float(p50) / 1000, float(p99) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per server (median reported)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (wrk) or clients")
    parser.add_argument("--rate-seconds", type=float, default=5.0, help="length of the 200 deliveries/s run")
    parser.add_argument("--body-bytes", type=int, default=8192)
    parser.add_argument("--python-client", action="store_true", help="use the Python load generator even with wrk")
    parser.add_argument("--serve-args", default="", help="extra arguments for serve, e.g. '--web-workers 1'")
    parser.add_argument("--command", choices=("serve", "web"), default="serve",
                        help="web: the same web processes without the consumer (to see what the consumer costs)")
    parser.add_argument("--synchronous", choices=("normal", "full"),
                        help="the SQLite queue's durability mode (QUEUE_URL ?synchronous=; default: serve's own)")
    parser.add_argument("--bare-on-serving", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_on_serving:
        return bare_on_serving(args.bare_on_serving)

    from bot.store import sqlite_synchronous
    from bot.webhooks.github import sign

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.forge.loopback import LoopbackGitHub

    workers = os.environ.get("WEB_CONCURRENCY", "2")
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with LoopbackGitHub(latency=0.05, our_app_id=4242) as gh, tempfile.TemporaryDirectory() as tmp:
        bodies = pull_bodies(gh, 1000, args.body_bytes)
        body, signature = bodies[0], sign(bodies[0], secret=SECRET)
        (pathlib.Path(tmp) / "bodies.tsv").write_bytes(b"".join(
            sign(b, secret=SECRET).encode() + b"\t" + b + b"\n" for b in bodies))
        script = pathlib.Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "QUEUE_URL", "LOG_"))}
        queue_url = f"sqlite:///{tmp}/queue.db" + (f"?synchronous={args.synchronous}" if args.synchronous else "")
        env.update(PYTHONPATH=str(ROOT), WEB_CONCURRENCY=workers, GITHUB_WEBHOOK_SECRET=SECRET,
                   GITHUB_APP_ID="4242", GITHUB_PRIVATE_KEY=key, GITHUB_API_URL=gh.url,
                   QUEUE_URL=queue_url, RC_BENCH_BODIES=str(pathlib.Path(tmp) / "bodies.tsv"))
        bare_port, same_port, serve_port = free_port(), free_port(), free_port()
        gunicorn = str(pathlib.Path(sys.executable).with_name("gunicorn"))
        bare_proc = subprocess.Popen([gunicorn, "--bind", f"127.0.0.1:{bare_port}", "--workers", workers,
                                      "--log-level", "warning", "--chdir", str(ROOT), "bench.serve:bare_app"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the same bare endpoint on serve's own server, configured as serve configures it (bot.serving.Server:
        # BufferingWorker, the same processes, threads and inline webhook intake): what our code adds, apart
        same_proc = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).resolve()), "--bare-on-serving",
                                      str(same_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        serve_proc = subprocess.Popen([sys.executable, "-m", "bot.cli", args.command, "--host", "127.0.0.1",
                                       "--port", str(serve_port), *args.serve_args.split()], cwd=tmp, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(bare_port, bare_proc, "bare gunicorn")
            wait_up(same_port, same_proc, "bare gunicorn, serve's worker class")
            wait_up(serve_port, serve_proc, "serve")
            runs: dict[int, list] = {bare_port: [], same_port: [], serve_port: []}
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(4) as pool:
                for port in runs:  # warm-up
                    throughput(pool, port, clients=4, per_client=25, body=body, signature=signature)
                for _ in range(args.rounds):  # interleaved, so a noisy neighbour hits them alike
                    for port in runs:
                        if use_wrk:
                            runs[port].append(wrk_round(port, seconds=args.seconds, connections=args.connections,
                                                        env=env, script=str(script)))
                        else:
                            per_client = int(400 * args.seconds / 4)
                            runs[port].append(throughput(pool, port, clients=4, per_client=per_client, body=body,
                                                         signature=signature))
                bare_fixed = fixed_rate(pool, bare_port, rate=200, seconds=args.rate_seconds, clients=4, body=body,
                                        signature=signature)
                serve_fixed = fixed_rate(pool, serve_port, rate=200, seconds=args.rate_seconds, clients=4, body=body,
                                         signature=signature)
        finally:
            for proc in (serve_proc, bare_proc, same_proc):
                proc.send_signal(signal.SIGTERM)
            for proc in (serve_proc, bare_proc, same_proc):
                proc.wait(40)

    def median(port: int):
        return sorted(runs[port])[len(runs[port]) // 2]

    bare, same, served = median(bare_port), median(same_port), median(serve_port)
    load = os.getloadavg()
    client = (f"wrk -t2 -c{args.connections}, {args.seconds:g} s rounds" if use_wrk
              else "4 Python client processes")
    print(f"median of {args.rounds} interleaved rounds; {client}; a new connection per request; body {len(body)} bytes; "
          f"WEB_CONCURRENCY={workers}; SQLite synchronous={sqlite_synchronous(queue_url)}; {os.cpu_count()} CPUs "
          f"shared with other work (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end)\n")
    print("| endpoint | deliveries/s | p50 ms | p99 ms | p50 ms @ 200/s | p99 ms @ 200/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (rps, p50, p99), fixed in (
            ("bare Flask 202 (gunicorn sync)", bare, bare_fixed),
            ("bare Flask 202 (serve's own server: BufferingWorker, inline intake)", same, None),
            ("`serve` /webhooks/github (verify, journal + queue commit, log line)", served, serve_fixed)):
        at_rate = f"{fixed[0] * 1000:.1f} | {fixed[1] * 1000:.1f}" if fixed else "- | -"
        print(f"| {name} | {rps:.0f} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {at_rate} |")
    rounds = "; ".join(f"{b[0]:.0f} / {m[0]:.0f} / {s[0]:.0f}"
                       for b, m, s in zip(runs[bare_port], runs[same_port], runs[serve_port]))
    print(f"\nper round, bare sync / bare on serve's server / serve (deliveries/s): {rounds}")
    print(f"serve/bare throughput: {served[0] / bare[0]:.0%} of gunicorn sync, {served[0] / same[0]:.0%} of the same "
          f"server (target >= 50%); serve p99 at 200/s: {serve_fixed[1] * 1000:.1f} ms (target < 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
