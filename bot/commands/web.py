"""`release-coordinator web`: the web app alone on gunicorn, for a Redis queue with `worker` processes elsewhere."""
from __future__ import annotations

import argparse

from bot.commands import _serving_args
from bot.commands._runtime import StartupError, load_settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("web", help="web server only (QUEUE_URL=redis://...; run `worker` beside it)")
    _serving_args.add(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except StartupError as exc:
        return _serving_args.fail(str(exc))
    return _serving_args.serve(settings, _serving_args.options(args, settings), consumer=None, role="web")
