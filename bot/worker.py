"""Run one stored delivery: parse -> Event, route to handlers, give each a Context, sort failures for the queue."""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
import logging
import threading
from typing import Callable

from bot import logs
from bot.forge.errors import ForgeError, TransientError
from bot.handlers import Context, KeyValue, all_handlers
from bot.handlers.publish import flush_notes, rerequested
from bot.handlers.rechecks import RECHECK_EVENT, event_of as recheck_event
from bot.journal import Claim, Delivery
from bot.queue import RUN_ALL, Outcome, Retry
from bot.routing import Handler, Router
from bot.settings import Settings
from bot.webhooks import github as github_webhooks
from bot.webhooks import gitlab as gitlab_webhooks
from bot.webhooks.event import PULL_CHANGED, PULL_REVIEWED, Event

log = logging.getLogger("bot.worker")


class NotConfigured(ForgeError):
    """A forge's credentials are missing; the delivery waits as a dead letter until they are set."""


# Kinds whose handlers only re-evaluate the pull request from its current state: a newer one makes an older moot.
SUPERSEDABLE = frozenset({PULL_CHANGED, PULL_REVIEWED})


def handler_name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


INTAKES = {"github": github_webhooks, "gitlab": gitlab_webhooks}  # delivery.forge -> its sans-I/O parser


def parse_delivery(delivery: Delivery) -> Event:
    if delivery.event == RECHECK_EVENT:  # a timed re-evaluation of our own, not a forge's webhook
        return recheck_event(delivery.delivery_id, delivery.body)
    intake = INTAKES.get(delivery.forge, github_webhooks)
    payload = intake.load_payload(delivery.body)
    return intake.parse(event=delivery.event, delivery_id=delivery.delivery_id, payload=payload)


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        store: KeyValue | None,
        router: Router | None = None,
        forge_for: Callable[[int], object] | None = None,
        gitlab_forge_for: Callable[[None], object] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    ):
        self.settings = settings
        self.store = store
        self.router = router if router is not None else all_handlers()
        self._forge_for = forge_for or self.github_forge
        # (forge, account) -> adapter: GitHub's account is the installation id, GitLab's None (one token)
        self.forge_factories: dict[str, Callable[[int | None], object]] = {
            "github": self._forge_for, "gitlab": gitlab_forge_for or self.gitlab_forge,
        }
        self._forges: dict[tuple[str, int | None], object] = {}
        self._lock = threading.Lock()
        self._repo_locks: dict[str, threading.Lock] = {}
        self._app = None
        self.clock = clock
        # (forge, repo) -> a context manager yielding whether this process holds that repository's lease; set from
        # the queue (bot.commands._runtime.build) so the 5-minute window sweep takes the lease like every delivery
        self.repo_lease: Callable | None = None
        self.jobs = None  # the queue (Queue.submit_job) once built: handlers queue announcements through it

    def github_forge(self, installation_id: int):
        if not self.settings.github_app_configured:
            raise NotConfigured("GitHub App is not configured: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY")
        from bot.forge.auth import GitHubApp
        from bot.forge.github import GitHubForge  # written alongside; imported lazily so intake never needs it

        if self._app is None:
            self._app = GitHubApp(
                app_id=self.settings.github_app_id,
                private_key=self.settings.github_private_key,
                api_url=self.settings.github_api_url,
            )
        return GitHubForge(self._app.client(installation_id))

    def gitlab_forge(self, account: None = None):
        missing = self.settings.missing_gitlab_api()
        if missing:
            raise NotConfigured(f"GitLab is not configured: set {', '.join(missing)}")
        from bot.forge.gitlab import GitLabForge, client  # python-gitlab; imported lazily so intake never needs it

        gl = client(self.settings.gitlab_url, self.settings.gitlab_token.reveal())
        return GitLabForge(gl, config_project=self.settings.gitlab_config_project)

    def forge(self, installation_id: int | None, *, kind: str = "github"):
        """One forge per (forge, account), kept across jobs (its client keeps tokens and caches)."""
        key = (kind, installation_id)
        with self._lock:
            if key not in self._forges:
                self._forges[key] = self.forge_factories[kind](installation_id)
            return self._forges[key]

    def context(self, installation_id: int | None, *, fresh: bool = False, kind: str = "github") -> Context:
        # fresh: a one-off forge with nothing cached (see run_event); the App client and its token are still shared
        forge = self.forge_factories[kind](installation_id) if fresh else self.forge(installation_id, kind=kind)
        return Context(forge=forge, now=self.clock(), public_url=self.settings.public_url, store=self.store,
                       details_link_key=self.settings.details_link_key, jobs=self.jobs)

    def __call__(self, claim: Claim) -> Outcome:
        event = parse_delivery(claim.delivery)
        return dataclasses.replace(self.run_event(event, pending=claim.pending), number=event.pull_number)

    def superseded_by(self, older: Delivery, newer: list[Delivery]) -> str | None:
        """Latest wins: the id of a newer delivery for the same pull request that re-evaluates at least what `older`
        would (its handlers re-read the pull request, reviews and config when they run), so `older` can be skipped.
        Only re-evaluations qualify (a change or a review; never a merge, a Re-run or a command)."""
        try:
            old = parse_delivery(older)
        except Exception:
            return None
        if old.kind not in SUPERSEDABLE or old.pull_number is None:
            return None
        owed = set(self.router.handlers_for(old))
        for candidate in newer:
            try:
                new = parse_delivery(candidate)
            except Exception:
                continue
            if (new.kind in SUPERSEDABLE and new.pull_number == old.pull_number and new.repo == old.repo
                    and owed <= set(self.router.handlers_for(new))):
                return candidate.delivery_id
        return None

    def run_event(self, event: Event, *, pending: tuple[str, ...] | None = None) -> Outcome:
        """Run the handlers routed for event (only those named in pending, when given)."""
        handlers = self.router.handlers_for(event)
        if pending is not None and RUN_ALL not in pending:
            handlers = [h for h in handlers if handler_name(h) in pending]
        if not handlers:
            return Outcome()
        if event.forge == "github" and event.account is None:
            return Outcome(failed={handler_name(h): "delivery has no installation id (is this webhook set on the "
                                   "GitHub App rather than on a repository?)" for h in handlers})
        # One delivery per repository at a time in this process: GitHub sends several deliveries for one change
        # (a review, then another; synchronize and check_suite.requested for one push). Run side by side, a
        # slower evaluation that read the older state could publish after the newer one and leave the check
        # wrong until the next event. In turn, the evaluation that runs last reads the latest state.
        # Across processes and machines the queue's repository lease does this (Queue._repo_lease); this lock
        # still covers run_event's callers outside the queue (replay, tests) and costs nothing under the lease.
        with self._serial(event.repo):
            try:
                # SPEC §4: "Re-run" re-evaluates from scratch, so not from the forge's short-lived answers (team
                # members, permissions, org config: up to 60 s old) that the user may be re-running to refresh.
                # GitLab's /recheck is its Re-run (it has none for external statuses): the same.
                ctx = self.context(event.account, fresh=rerequested(event), kind=event.forge)
            except TransientError as exc:
                return Outcome(transient={handler_name(h): Retry(str(exc), exc.retry_after) for h in handlers})
            except ForgeError as exc:
                return Outcome(failed={handler_name(h): f"{type(exc).__name__}: {exc}" for h in handlers})
            outcome = run_handlers(handlers, event, ctx)
            return _flush_notes(outcome, ctx)

    def _serial(self, repo: str | None) -> threading.Lock:
        with self._lock:
            return self._repo_locks.setdefault((repo or "").lower(), threading.Lock())

    def periodic(self) -> None:
        """Every five minutes: the window engineer's bot.handlers.window.periodic(contexts, store, now)."""
        if self.settings.github_app_configured and self.store is not None:
            # the daily access audit: each installation once a day (bot.handlers.access.periodic)
            importlib.import_module("bot.handlers.access").periodic(self.context, self.store, self.clock())
        if not self.settings.missing_gitlab_api() and self.store is not None:
            importlib.import_module("bot.handlers.access").periodic(
                lambda account: self.context(account, kind="gitlab"), self.store, self.clock(), forge="gitlab")
        try:
            window = importlib.import_module("bot.handlers.window")
        except ModuleNotFoundError as exc:
            if exc.name != "bot.handlers.window":
                raise
            return
        periodic = getattr(window, "periodic", None)
        if periodic is None:
            return
        takes_lease = self.repo_lease is not None and "lease" in inspect.signature(periodic).parameters
        leased = {"lease": self.repo_lease} if takes_lease else {}
        if self.settings.github_app_configured:
            periodic(self.context, self.store, self.clock(), **leased)
        if not self.settings.missing_gitlab_api() and "forge" in inspect.signature(periodic).parameters:
            periodic(lambda account: self.context(account, kind="gitlab"), self.store, self.clock(), forge="gitlab",
                     **leased)


def _flush_notes(outcome: Outcome, ctx: Context) -> Outcome:
    """Write the summary notes this delivery's checks made due (GitLab: one note per MR, once per delivery).
    A failure here retries the delivery's handlers: they find their checks written and write nothing again,
    and the note is written then."""
    try:
        flush_notes(ctx)
    except TransientError as exc:
        retry = Retry(f"summary note: {type(exc).__name__}: {exc}", exc.retry_after)
        return Outcome(failed=outcome.failed, transient={**outcome.transient, **dict.fromkeys(outcome.done, retry)})
    except ForgeError as exc:
        failed = dict.fromkeys(outcome.done, f"summary note: {type(exc).__name__}: {exc}")
        return Outcome(transient=outcome.transient, failed={**outcome.failed, **failed})
    return outcome


def run_handlers(handlers: list[Handler], event: Event, ctx: Context) -> Outcome:
    done: list[str] = []
    failed: dict[str, str] = {}
    transient: dict[str, Retry] = {}
    for handler in handlers:
        name = handler_name(handler)
        try:
            handler(event, ctx)
        except TransientError as exc:
            transient[name] = Retry(f"{type(exc).__name__}: {exc}", exc.retry_after)
        except ForgeError as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug: retrying will not fix it; keep the delivery as a dead letter
            logs.event(log, "handler crashed", level=logging.ERROR, handler=name, delivery_id=event.delivery_id)
            log.exception("handler %s crashed", name)
            failed[name] = f"{type(exc).__name__}: {exc}"
        else:
            done.append(name)
    return Outcome(done=tuple(done), failed=failed, transient=transient)
