"""A real consumer process for tests/test_queue.py: `python -m tests.queue_child URL NAMESPACE MARKERS BLOCK`.

Its one handler appends "start <delivery>" to MARKERS, waits while the file BLOCK exists (so the test can
kill the process mid-job), then appends "done <delivery>".
"""
import pathlib
import sys
import time

from bot.queue import Queue
from bot.routing import Router
from bot.settings import Settings
from bot.worker import Worker
from tests.fakeforge import DictStore, FakeForge


def main(url: str, namespace: str, markers: str, block: str) -> None:
    router = Router()

    @router.register("pull_request", "opened")
    def on_opened(event, ctx):
        with open(markers, "a") as f:
            f.write(f"start {event.delivery_id}\n")
        while pathlib.Path(block).exists():
            time.sleep(0.05)
        with open(markers, "a") as f:
            f.write(f"done {event.delivery_id}\n")

    worker = Worker(Settings(queue_url=url), store=DictStore(), router=router, forge_for=lambda _id: FakeForge())
    queue = Queue(url, namespace=namespace, runner=worker, heartbeat_seconds=0.2)
    queue.consumer(workers=2).run()


if __name__ == "__main__":
    main(*sys.argv[1:5])
