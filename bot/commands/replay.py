"""`release-coordinator replay PAYLOAD.json --event NAME`: run one payload through the handlers here and now,
printing the parsed event, each forge call and each handler's outcome (no queue, no signature)."""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import uuid

from bot.commands._runtime import StartupError, fail, load_settings
from bot.webhooks import github as github_webhooks, gitlab as gitlab_webhooks
from bot.webhooks.github import MalformedDelivery, load_payload


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="run a webhook payload through the handlers locally")
    parser.add_argument("payload", metavar="PAYLOAD.json", help="a delivery body, e.g. saved from the App's "
                        "Advanced tab (Recent Deliveries)")
    parser.add_argument("--event", required=True, metavar="NAME",
                        help="the X-GitHub-Event (pull_request) or X-Gitlab-Event ('Merge Request Hook': a GitLab payload)")
    parser.add_argument("--installation", type=int, help="installation id, when the payload has none")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the event and the handlers it would run, and call none of them")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.store import open_store
    from bot.worker import Worker, handler_name

    try:
        body = pathlib.Path(args.payload).read_bytes()
        payload = load_payload(body)
    except OSError as exc:
        return fail(f"{args.payload}: {exc.strerror}")
    except MalformedDelivery as exc:
        return fail(f"{args.payload}: {exc}")
    intake = gitlab_webhooks if args.event.endswith(" Hook") else github_webhooks  # GitLab names end in "Hook"
    event = intake.parse(event=args.event, delivery_id=f"replay-{uuid.uuid4()}", payload=payload)
    if args.installation is not None:
        event = dataclasses.replace(event, installation_id=args.installation, account=args.installation)
    print("event:")
    for f in dataclasses.fields(event):
        if f.name != "payload" and getattr(event, f.name) not in (None, (), False):
            print(f"  {f.name}: {getattr(event, f.name)}")
    try:
        settings = load_settings()
    except StartupError as exc:
        return fail(str(exc))
    # a dry run calls no handler, so it opens no store either (it would create var/queue.db wherever it is run)
    worker = Worker(settings, store=None if args.dry_run else open_store(settings.queue_url),
                    forge_for=lambda installation_id: Printing(worker.github_forge(installation_id)),
                    gitlab_forge_for=lambda account: Printing(worker.gitlab_forge(account)))
    handlers = worker.router.handlers_for(event)
    print("handlers:" if handlers else "handlers: none (the app ignores this event)")
    for handler in handlers:
        print(f"  {handler_name(handler)}")
    if args.dry_run or not handlers:
        return 0
    outcome = worker.run_event(event)
    print("outcome:")
    for name in outcome.done:
        print(f"  done   {name}")
    for name, message in outcome.failed.items():
        print(f"  failed {name}: {message}")
    for name, retry in outcome.transient.items():
        after = f" (retry after {retry.retry_after:.0f}s)" if retry.retry_after else ""
        print(f"  retry  {name}: {retry.message}{after}")
    return 0 if not (outcome.failed or outcome.transient) else 1


class Printing:
    """Wraps a forge and prints each call and a short form of its answer."""

    def __init__(self, forge):
        self._forge = forge

    def __getattr__(self, name):
        method = getattr(self._forge, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
            try:
                result = method(*args, **kwargs)
            except Exception as exc:
                print(f"  forge.{name}({_short(shown)}) raised {type(exc).__name__}: {exc}")
                raise
            print(f"  forge.{name}({_short(shown)}) -> {_short(repr(result))}")
            return result

        return call


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
