"""(event, action) -> handler functions, registered by decorator; routers compose (gidgethub-style)."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable

Handler = Callable[..., None]


class Router:
    def __init__(self, *others: "Router"):
        self._routes: dict[tuple[str, str | None], list[Handler]] = defaultdict(list)
        for other in others:
            self.include(other)

    def include(self, other: "Router") -> None:
        for key, handlers in other._routes.items():
            self._routes[key].extend(h for h in handlers if h not in self._routes[key])

    def register(self, event: str, *actions: str | None) -> Callable[[Handler], Handler]:
        """@router.register("pull_request", "opened", "synchronize"); no actions = every action."""

        def decorate(handler: Handler) -> Handler:
            for action in actions or (None,):
                if handler not in self._routes[(event, action)]:
                    self._routes[(event, action)].append(handler)
            return handler

        return decorate

    def handlers_for(self, event: str, action: str | None) -> list[Handler]:
        specific = self._routes.get((event, action), []) if action is not None else []
        catch_all = self._routes.get((event, None), [])
        return specific + [h for h in catch_all if h not in specific]

    def routes(self) -> Iterable[tuple[str, str | None]]:
        return [key for key, handlers in self._routes.items() if handlers]

    def accepts(self, event: str, action: str | None) -> bool:
        return bool(self.handlers_for(event, action))
