"""Render time of the details page and the status page through the real app (Flask test client, SQLite store
seeded by the real handlers, as the browser tests do). Prints the median and p95 of N renders each.

    .venv/bin/python -m bench.pages [N]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time

from bot.store import open_store
from bot.web import create_app
from tests.pages_seed import seed, settings


def main(n: int = 200) -> None:
    directory = tempfile.mkdtemp(prefix="rc-bench-pages-")
    app_settings = settings(f"sqlite:///{directory}/rc.db")
    store = open_store(app_settings.queue_url)
    seeded = seed(store, settings_=app_settings)
    client = create_app(app_settings, store=store).test_client()
    pages = {f"details ({state})": pull.details_url().removeprefix("https://rc.example").split("#")[0]
             for state, pull in seeded.items()}
    pages["status page"] = "/"
    for name, path in pages.items():
        assert client.get(path).status_code == 200, path  # warm: templates compiled, probes cached
        times = []
        for _ in range(n):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(f"{name:20} median {statistics.median(times):6.2f} ms   p95 {times[int(len(times) * 0.95) - 1]:6.2f} ms   (n={n})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
