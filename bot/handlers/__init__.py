"""Thin use cases: fetch -> decide (bot.core) -> publish. Each module registers on its own Router."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot import links
from bot.forge.protocol import Forge
from bot.routing import Router


class KeyValue(Protocol):
    """Durable JSON by key (SQLite or Redis, from QUEUE_URL): e.g. the last evaluation for the details page."""

    def get_json(self, key: str) -> Any | None: ...

    def set_json(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """ttl: seconds until the key reads as missing (None: keep forever, also over an older ttl)."""
        ...


@dataclass
class Context:
    """What a handler gets besides the event: the installation's forge, the clock, where our pages live."""

    forge: Forge
    now: dt.datetime  # UTC, aware; handlers never read the clock themselves
    public_url: str = ""  # PUBLIC_URL, for details_url links
    store: KeyValue | None = None
    # Settings.details_link_key: signs details_url, since the page shows private repositories' pull requests to
    # whoever holds the link (those who can see the check run). Without it the link is unsigned and answers 404.
    details_link_key: str | None = field(default=None, repr=False)
    # bot.handlers.publish: this delivery's results records as updated so far (key -> record), and the pull
    # requests whose summary note (Forge.summary_note) is due at the end of the delivery (flush_notes).
    results: dict[str, Any] = field(default_factory=dict, repr=False)
    notes_due: dict[str, Any] = field(default_factory=dict, repr=False)
    # Pull requests this delivery has read ((repo, number) -> PullRequest, bot.handlers.manifest.pulls_of): one GET
    # per pull request per delivery, not one per handler (GitLab's hooks carry no full merge request).
    pulls: dict[Any, Any] = field(default_factory=dict, repr=False)
    # The queue's submit_job (bot.notify.deliver.Jobs): handlers queue announcements as jobs of their own. None
    # outside a queue (CLI replay without one, tests): nothing is announced then.
    jobs: Any = field(default=None, repr=False)

    def details_url(self, repo: str, number: int, *, check: str | None = None) -> str | None:
        """The signed details link of a pull request on this context's forge (INTERFACES.md §4), at a check's
        section when check names one."""
        return links.details_url(self.public_url, key=self.details_link_key, repo=repo, number=number,
                                 forge=getattr(self.forge, "kind", "github"), check=check)


def all_handlers() -> Router:
    """The app's router: every handler module's router, composed. Imported lazily to keep start-up cheap."""
    from importlib import import_module

    router = Router()
    for name in HANDLER_MODULES:
        try:
            module = import_module(f"bot.handlers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.handlers.{name}":
                raise
            continue  # a concern not built yet
        router.include(module.router)
    return router


HANDLER_MODULES = ("approvals", "manifest", "semver", "window", "release", "rollback", "push", "release_plan", "access", "promotion")
