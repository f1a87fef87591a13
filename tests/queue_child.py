"""A real consumer process for tests/test_queue.py: `python -m tests.queue_child URL NAMESPACE MARKERS BLOCK [HOLD]`.

Its one handler appends "start <delivery>" to MARKERS, waits while the file BLOCK exists (so the test can
kill the process mid-job), then appends "done <delivery>". With HOLD (seconds) it runs one job at a time,
holds each for HOLD seconds and stamps both lines with the wall-clock time, so a test can see whether
two processes' jobs overlapped.
"""
import pathlib
import sys
import time

from bot.queue import Queue
from bot.routing import Router
from bot.settings import Settings
from bot.worker import Worker
from tests.fakeforge import DictStore, FakeForge


def main(url: str, namespace: str, markers: str, block: str, hold: str | None = None) -> None:
    router = Router()

    def mark(what: str, delivery_id: str) -> None:
        stamp = f" {time.time():.6f}" if hold else ""
        with open(markers, "a") as f:
            f.write(f"{what} {delivery_id}{stamp}\n")

    @router.register("pull_request", "opened")
    def on_opened(event, ctx):
        mark("start", event.delivery_id)
        while pathlib.Path(block).exists():
            time.sleep(0.05)
        if hold:
            time.sleep(float(hold))
        mark("done", event.delivery_id)

    worker = Worker(Settings(queue_url=url), store=DictStore(), router=router, forge_for=lambda _id: FakeForge())
    # A short lease, so a killed holder blocks its repository for one second; a short wait and retry, so a
    # delivery that finds its repository busy is deferred (not held in the thread) within the test's time.
    queue = Queue(url, namespace=namespace, runner=worker, heartbeat_seconds=0.2, lease_seconds=1.0,
                  lease_wait_seconds=0.05, lease_retry_seconds=0.3)
    queue.consumer(workers=1 if hold else 2).run()


if __name__ == "__main__":
    main(*sys.argv[1:6])
