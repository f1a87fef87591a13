"""(event, action) or neutral kind -> handler functions, registered by decorator; routers compose (gidgethub-style).

Handlers register on a neutral kind (`@router.register("pull.changed")`, see bot.webhooks.event.KINDS) to run
on every forge, or on a raw GitHub event and actions (`@router.register("merge_group", "checks_requested")`)
for GitHub-only behaviour. EVENT_KINDS maps each forge's (event, action) onto the kinds, so the intakes can
tell which deliveries someone handles before parsing them.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from bot.webhooks.event import Event

Handler = Callable[..., None]
_KINDS = frozenset({"pull.changed", "pull.reviewed", "pull.recheck", "pull.merged", "pull.closed", "comment"})

_GITHUB_PULL_CHANGED = ("opened", "synchronize", "reopened", "edited", "ready_for_review", "labeled", "unlabeled")
# (forge's event name, action) -> the kinds it can be. One entry can be two kinds where the payload decides
# (a closed pull request merged or not): kind_of picks, intake acceptance looks at both.
GITHUB_EVENT_KINDS: dict[tuple[str, str | None], tuple[str, ...]] = {
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads
    **{("pull_request", action): ("pull.changed",) for action in _GITHUB_PULL_CHANGED},
    ("pull_request", "closed"): ("pull.merged", "pull.closed"),
    **{("pull_request_review", action): ("pull.reviewed",) for action in ("submitted", "edited", "dismissed")},
    ("check_run", "rerequested"): ("pull.recheck",),
    ("check_suite", "rerequested"): ("pull.recheck",),
    ("check_suite", "requested"): ("pull.changed",),  # a push to a PR's head: its pull requests, by head sha
    ("issue_comment", "created"): ("comment",),
    ("push", None): ("push",),
}
GITLAB_EVENT_KINDS: dict[tuple[str, str | None], tuple[str, ...]] = {
    # https://docs.gitlab.com/ee/user/project/integrations/webhook_events.html (X-Gitlab-Event,
    # object_attributes.action). "update" is both new commits (oldrev set) and edits of title, labels or target.
    **{("Merge Request Hook", action): ("pull.changed",) for action in ("open", "reopen", "update")},
    **{("Merge Request Hook", action): ("pull.reviewed",) for action in ("approval", "approved", "unapproval", "unapproved")},
    ("Merge Request Hook", "merge"): ("pull.merged",),
    ("Merge Request Hook", "close"): ("pull.closed",),
    ("Note Hook", None): ("comment", "pull.recheck"),  # the note's text decides: /recheck is a recheck
    ("Push Hook", None): ("push",),
}
EVENT_KINDS = {**GITHUB_EVENT_KINDS, **GITLAB_EVENT_KINDS}
_FORGE_EVENTS = {"github": GITHUB_EVENT_KINDS, "gitlab": GITLAB_EVENT_KINDS}


def kinds_of(name: str, action: str | None) -> tuple[str, ...]:
    return EVENT_KINDS.get((name, action), ())


def kind_of(name: str, action: str | None, *, merged: bool = False) -> str | None:
    kinds = kinds_of(name, action)
    if kinds == ("pull.merged", "pull.closed"):
        return "pull.merged" if merged else "pull.closed"
    return kinds[0] if kinds else None


class Router:
    def __init__(self, *others: "Router"):
        self._routes: dict[tuple[str, str | None], list[Handler]] = defaultdict(list)
        for other in others:
            self.include(other)

    def include(self, other: "Router") -> None:
        for key, handlers in other._routes.items():
            self._routes[key].extend(h for h in handlers if h not in self._routes[key])

    def register(self, event: str, *actions: str | None) -> Callable[[Handler], Handler]:
        """@router.register("pull.changed") for a neutral kind (every forge);
        @router.register("pull_request", "opened", "synchronize") for raw GitHub events; no actions = every action."""

        def decorate(handler: Handler) -> Handler:
            for action in actions or (None,):
                if handler not in self._routes[(event, action)]:
                    self._routes[(event, action)].append(handler)
            return handler

        return decorate

    def _raw(self, event: str, action: str | None) -> list[Handler]:
        specific = self._routes.get((event, action), []) if action is not None else []
        catch_all = self._routes.get((event, None), [])
        return specific + [h for h in catch_all if h not in specific]

    def handlers_for(self, event: "str | Event", action: str | None = None) -> list[Handler]:
        """Handlers for an Event (its raw name and action, then its kind), or for a raw (event, action) pair
        together with the kinds EVENT_KINDS maps it onto; each handler once, in registration order."""
        if not isinstance(event, str):
            kinds: Iterable[str] = (event.kind,) if event.kind else ()
            event, action = event.name, event.action
        else:
            kinds = kinds_of(event, action)
        found = self._raw(event, action)
        for kind in kinds:
            found += [h for h in self._routes.get((kind, None), []) if h not in found]
        return found

    def routes(self, forge: str = "github") -> Iterable[tuple[str, str | None]]:
        """The (event, action) pairs of `forge` someone handles: raw registrations (GitHub's) and every event of
        that forge mapping onto a registered kind. What app.yml must subscribe to; what the landing page lists."""
        kinds = {key[0] for key, handlers in self._routes.items() if handlers and (key[0] in _KINDS or key[0] == "push")}
        found = [key for key, handlers in self._routes.items() if handlers and key[0] not in _KINDS] if forge == "github" else []
        found += [key for key, mapped in _FORGE_EVENTS[forge].items() if kinds & set(mapped) and key not in found]
        return found

    def accepts(self, event: str, action: str | None) -> bool:
        return bool(self.handlers_for(event, action))
