"""`release-coordinator worker`: queue consumers only, for deployments with separate web and worker machines."""
from __future__ import annotations

import argparse

from bot.commands._runtime import StartupError, build, fail, load_settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("worker", help="run queue consumers (QUEUE_URL) without the web server")
    parser.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        queue, _, _ = build(settings)
    except StartupError as exc:
        return fail(str(exc))
    queue.consumer(workers=args.workers).run()  # SIGTERM: finish the jobs in hand; SIGINT: stop now
    return 0
