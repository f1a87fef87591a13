"""How fast `serve` drains a burst: 500 signed deliveries, 20 of them pull_request events on one repository.

Run by hand from the repository root: `.venv/bin/python bench/drain.py`. A real `release-coordinator serve` (its
consumer process, a SQLite queue in a temporary directory) runs every handler against tests/forge/fakegithub.py's
FakeGitHub served over HTTP on 127.0.0.1 (tests/forge/loopback.py), seeded as bench/api_calls.py seeds it: org and
repository config, CODEOWNERS, three teams, and 5 pull requests of 40 files each. The 20 pull_request deliveries are
4 per pull request (opened, then 3 synchronize), spread among 480 issue_comment deliveries that are not commands.

Prints the drain time (first delivery sent to the last one finished), and per pull_request job its wall time
(API round trips to the loopback stand-in and GitHub's write pacing included) and its CPU time in the consumer
thread (the product's own work: handlers, PyGithub, JSON; the stand-in runs in this process, not in serve), and how
many evaluations ran or were skipped as superseded (latest wins).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench.api_calls import REPO, add_pull, seed  # noqa: E402
from bench.intake import free_port  # noqa: E402
from bench.serve import wait_up  # noqa: E402
from tests.forge.loopback import LoopbackGitHub  # noqa: E402

SECRET = "drain-bench-secret"
APP_ID = 4242
PULLS = (101, 102, 103, 104, 105)


def pull_delivery(gh: LoopbackGitHub, number: int, action: str) -> dict:
    owner, name = REPO.split("/")
    return {"action": action, "number": number, "pull_request": gh.fake.repo(REPO).pulls[number],
            "repository": {"id": gh.fake.repo(REPO).id, "name": name, "full_name": REPO, "private": True,
                           "owner": {"login": owner, "type": "Organization"}, "default_branch": "main"},
            "installation": {"id": 1}, "sender": {"login": "app-dev0", "type": "User"}}


def comment_delivery(n: int) -> dict:
    payload = json.loads((ROOT / "fixtures" / "github" / "issue_comment" / "created.with-installation.json").read_text())
    payload["installation"] = {"id": 1}
    payload["repository"]["full_name"] = f"acme/service-{n % 40}"
    payload["comment"]["body"] = f"Thanks, looks good ({n})"
    return payload


def post(port: int, event: str, delivery_id: str, payload: dict) -> int:
    from bot.webhooks.github import sign

    body = json.dumps(payload).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/github", data=body, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id, "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, secret=SECRET)})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up waiting for the drain after this")
    parser.add_argument("--distinct-pulls", action="store_true",
                        help="20 pull requests opened once each (nothing to supersede) instead of 5 opened + pushed 3 times")
    args = parser.parse_args()

    from bot.journal import State
    from bot.journal.sqlite import SqliteJournal

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with LoopbackGitHub(our_app_id=APP_ID) as gh, tempfile.TemporaryDirectory() as tmp:
        base = seed(gh.fake)
        pulls = tuple(range(101, 121)) if args.distinct_pulls else PULLS
        for number in pulls:
            add_pull(gh.fake, number, base=base, n_files=40, n_reviews=2)
        plan: list[tuple[str, str, dict]] = []
        pr_events = ([(n, "opened") for n in pulls] if args.distinct_pulls else
                     [(n, "opened" if i == 0 else "synchronize") for i in range(4) for n in PULLS])
        every = max(1, args.deliveries // len(pr_events))
        comments = 0
        for i in range(args.deliveries):
            if i % every == every - 1 and pr_events:
                number, action = pr_events.pop(0)
                plan.append(("pull_request", f"pr-{number}-{i}", pull_delivery(gh, number, action)))
            else:
                plan.append(("issue_comment", f"comment-{i}", comment_delivery(comments)))
                comments += 1
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "QUEUE_URL", "LOG_"))}
        env.update(PYTHONPATH=str(ROOT), GITHUB_APP_ID=str(APP_ID), GITHUB_PRIVATE_KEY=key,
                   GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_API_URL=gh.url, QUEUE_URL=f"sqlite:///{tmp}/queue.db",
                   PUBLIC_URL="https://rc.example.com")
        log_path = pathlib.Path(tmp) / "serve.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port",
                                     str(port)], cwd=tmp, env=env, stdout=log, stderr=log)
        try:
            wait_up(port, proc, "serve")
            time.sleep(1.0)
            requests_before = gh.fake.requests()
            started = time.time()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda item: post(port, *item), plan))
            sent = time.time()
            assert all(s == 202 for s in statuses), statuses
            journal = SqliteJournal(f"{tmp}/queue.db")
            deadline = time.monotonic() + args.timeout
            while journal.count(State.QUEUED) + journal.count(State.RUNNING) and time.monotonic() < deadline:
                time.sleep(0.1)
            drained = time.time()
            left = journal.count(State.QUEUED) + journal.count(State.RUNNING)
            dead = journal.count(State.DEAD)
            api_requests = gh.fake.requests() - requests_before
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        jobs = []
        for line in log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("msg") == "job":
                jobs.append(record)

    pr_jobs = [j for j in jobs if j.get("event") == "pull_request"]
    ran = [j for j in pr_jobs if j["outcome"] in ("done", "retry", "dead_letter")]
    superseded = [j for j in pr_jobs if j["outcome"] == "superseded"]
    deferred = [j for j in jobs if j["outcome"] == "deferred"]
    load = os.getloadavg()
    print(f"{args.deliveries} signed deliveries ({len(plan) - comments} pull_request on {REPO}, {comments} issue_comment), "
          f"8 senders; serve with its defaults; loopback stand-in for GitHub; {os.cpu_count()} CPUs shared with other "
          f"work (load average {load[0]:.1f})\n")
    print(f"- sent in {sent - started:.1f} s; drained (last job finished) {drained - started:.1f} s after the first was "
          f"sent (target < 30 s){'; NOT DRAINED: ' + str(left) + ' left' if left else ''}; dead letters: {dead}")
    print(f"- pull_request evaluations run: {len(ran)} ({', '.join(sorted({j['outcome'] for j in ran}))}); "
          f"skipped as superseded: {len(superseded)}; deferred behind the repository lease: {len(deferred)}")
    if ran:
        walls = [j["duration_ms"] for j in ran]
        cpus = [j["cpu_ms"] for j in ran]
        print(f"- per pull_request evaluation: wall p50 {statistics.median(walls):.0f} ms, max {max(walls):.0f} ms; "
              f"own CPU p50 {statistics.median(cpus):.0f} ms, max {max(cpus):.0f} ms (target < 300 ms)")
    comment_jobs = [j for j in jobs if j.get("event") == "issue_comment"]
    if comment_jobs:
        print(f"- per issue_comment job: wall p50 {statistics.median(j['duration_ms'] for j in comment_jobs):.1f} ms")
    writes = sum(1 for c in gh.fake.calls[requests_before:] if c.method in ("POST", "PATCH", "PUT", "DELETE")
                 and c.path != "/graphql" and "/access_tokens" not in c.path)
    print(f"- GitHub API requests during the drain: {api_requests}, of which REST writes {writes} (GitHub asks for a "
          f"second between writes: https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api)")
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
