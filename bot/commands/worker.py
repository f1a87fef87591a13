"""`release-coordinator worker`: queue consumers only, for deployments with separate web and worker machines.

`serve` runs this same consumer as a child process beside its web workers (`--parent`, `--alive-fd`)."""
from __future__ import annotations

import argparse
import os
import sys

from bot.commands._runtime import StartupError, build, fail, load_settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("worker", help="run queue consumers (QUEUE_URL) without the web server")
    _arguments(parser)
    parser.set_defaults(run=run)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")
    parser.add_argument("--graceful-timeout", type=float, default=25.0,
                        help="on SIGTERM, seconds to finish the jobs in hand before handing them back (default 25)")
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # serve's arbiter: stop when it is gone
    parser.add_argument("--alive-fd", type=int, help=argparse.SUPPRESS)  # held open while this process lives


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        queue, _, _ = build(settings)
    except StartupError as exc:
        return fail(str(exc))
    if args.parent:
        from bot.serving import CONSUMER_NICENESS, watch_parent

        watch_parent(args.parent, args.alive_fd)
        # Beside serve's web processes, answering GitHub within its 10 s comes first; the queue can wait a moment.
        os.nice(CONSUMER_NICENESS)
    # SIGTERM: finish the jobs in hand (up to --graceful-timeout), then hand back the rest; SIGINT: hand back now
    queue.consumer(workers=args.workers, shutdown_seconds=args.graceful_timeout).run()
    return 0


if __name__ == "__main__":  # serve starts its consumer as `python -m bot.commands.worker`
    _parser = argparse.ArgumentParser(prog="release-coordinator worker")
    _arguments(_parser)
    sys.exit(run(_parser.parse_args()))
