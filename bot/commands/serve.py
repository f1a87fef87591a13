"""`release-coordinator serve`: the web app on gunicorn plus one queue consumer process (PORT, default 3000).

The simple deployment: one machine, the SQLite queue by default. See bot/serving.py for how the processes
are arranged and how SIGTERM drains them."""
from __future__ import annotations

import argparse

from bot.commands import _serving_args
from bot.commands._runtime import StartupError, load_settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="web server + queue consumer (the simple deployment)")
    _serving_args.add(parser)
    parser.add_argument("--workers", type=int, default=2, help="queue consumer threads (default 2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot import serving

    try:
        settings = load_settings()
    except StartupError as exc:
        return _serving_args.fail(str(exc))
    options = _serving_args.options(args, settings)
    consumer = serving.ConsumerProcess(serving.consumer_command(args.workers, options.graceful_seconds),
                                       graceful_seconds=options.graceful_seconds)
    return _serving_args.serve(settings, options, consumer=consumer, role="serve", consumer_threads=args.workers)
