"""Every line `serve` writes is one JSON object (its banner and gunicorn's own lines too), or text with
LOG_FORMAT=text; a Redis queue that keeps nothing on disk is called out at start (real Redis on 127.0.0.1:6379)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.test_queue import REDIS_URL, redis_or_skip
from tests.test_serve import ROOT, free_port, get, wait_until_up


def run_serve(tmp_path, **env_extra) -> tuple[list[str], dict]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "QUEUE_URL", "LOG_"))}
    env.update(PORT=str(port), PYTHONPATH=str(ROOT), **env_extra)
    log = tmp_path / "stderr.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--access-log",
                                 "--graceful-timeout", "2"], cwd=tmp_path, env=env, stdout=stderr, stderr=stderr)
        try:
            wait_until_up(f"http://127.0.0.1:{port}")
            ready = json.loads(get(f"http://127.0.0.1:{port}/readyz")[1])
            time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    return log.read_text().splitlines(), ready


def test_every_line_is_one_json_object_banner_and_gunicorn_included(tmp_path):
    lines, _ = run_serve(tmp_path)
    records = [json.loads(line) for line in lines]  # raises on any line that is not one JSON object
    by_logger = {r["logger"] for r in records}
    assert {"bot.serve", "gunicorn.error", "gunicorn.access"} <= by_logger
    banner = next(r for r in records if r["msg"].startswith("release-coordinator serve: listening on"))
    assert banner["role"] == "serve" and banner["web_workers"] >= 1 and banner["durable"] is False
    # Two web processes write their access lines independently: /readyz's may come first.
    access = {r["path"]: r for r in records if r["logger"] == "gunicorn.access"}
    seen = {path: (r["method"], r["status"]) for path, r in access.items()}
    assert seen.items() >= {"/healthz": ("GET", 200), "/readyz": ("GET", 200)}.items()
    access = access["/healthz"]
    assert isinstance(access["duration_ms"], float)
    assert any(r["level"] == "critical" and r["msg"].startswith("NOT DURABLE: the SQLite queue") for r in records)


def test_log_format_text_is_for_a_terminal(tmp_path):
    lines, _ = run_serve(tmp_path, LOG_FORMAT="text")
    for line in lines:
        with pytest.raises(ValueError):
            json.loads(line)
    assert any(" info    gunicorn.error: Listening at: http://127.0.0.1:" in line for line in lines)
    assert any("bot.serve: release-coordinator serve: listening on" in line and "role=serve" in line for line in lines)


def test_a_redis_queue_that_keeps_nothing_is_called_out_in_the_log_and_readyz(tmp_path):
    redis_or_skip()
    lines, ready = run_serve(tmp_path, QUEUE_URL=REDIS_URL)
    records = [json.loads(line) for line in lines]
    loud = [r for r in records if r["level"] == "critical" and r["msg"].startswith("NOT DURABLE: Redis keeps nothing")]
    assert loud and loud[0]["queue"] == "redis://127.0.0.1:6379/13"
    assert (ready["status"], ready["durable"]) == ("ready", False)
    assert ready["warning"].startswith("NOT DURABLE: Redis keeps nothing on disk (appendonly no")


def test_an_uncaught_exception_is_one_json_line_too(tmp_path):
    code = ("from bot import logs; logs.configure('INFO'); import threading; "
            "t = threading.Thread(target=lambda: 1 / 0, name='boom'); t.start(); t.join(); "
            "raise RuntimeError('stop here')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(r["msg"], r["level"], r.get("thread")) for r in records] == [
        ("uncaught exception", "critical", "boom"), ("uncaught exception", "critical", None)]
    assert "ZeroDivisionError" in records[0]["exc"] and "RuntimeError: stop here" in records[1]["exc"]
    assert result.returncode == 1
