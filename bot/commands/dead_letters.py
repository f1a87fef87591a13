"""`release-coordinator dead-letters [--requeue ID]`: deliveries that failed for good, and sending one back."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from bot.commands._runtime import StartupError, build, fail, load_settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("dead-letters", aliases=["dead_letters"],
                                   help="list deliveries that failed for good; re-queue one")
    parser.add_argument("--requeue", metavar="DELIVERY_ID", help="run this delivery's failed handlers again")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        queue, _, _ = build(settings, with_worker=False)
    except StartupError as exc:
        return fail(str(exc))
    if args.requeue:
        if not queue.requeue(args.requeue):
            print(f"{args.requeue}: no dead letter with that delivery id")
            return 1
        print(f"{args.requeue}: queued again; a running worker will retry its failed handlers")
        return 0
    letters = queue.journal.dead_letters()
    if args.json:
        print(json.dumps([{"delivery_id": d.delivery_id, "event": d.event, "action": d.action, "repo": d.repo,
                           "attempts": d.attempts, "failed_at": _when(d.failed_at), "error": d.error}
                          for d in letters], indent=2))
        return 0
    if not letters:
        print("no dead letters")
        return 0
    for d in letters:
        event = f"{d.event}.{d.action}" if d.action else d.event
        print(f"{d.delivery_id}  {event}  {d.repo or '-'}  attempts={d.attempts}  failed {_when(d.failed_at)}\n"
              f"    {d.error}")
    return 0


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
