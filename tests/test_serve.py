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
