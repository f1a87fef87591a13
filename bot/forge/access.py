"""The access-audit role of a forge adapter (bot.core.access values in, writes out), found without the adapter
having to know about it: GitHub's lives in bot/forge/github_access.py, GitLab's in bot/forge/gitlab/access.py."""
from __future__ import annotations

import weakref
from typing import Any, Protocol

from bot.core.access import RepoState
from bot.core.access_render import IssueView


class AccessRole(Protocol):
    def installation_repos(self) -> tuple[tuple[str, str], ...]:
        """(repository path, default branch) of every repository the app can see (archived left out)."""
        ...

    def default_branch(self, repo: str) -> str | None:
        """None when the repository does not exist or the app cannot see it."""
        ...

    def read_repo(self, repo: str, *, branch: str) -> RepoState:
        """The effective protection of `branch` and the write grants; unreadable parts say which permission to grant."""
        ...

    def find_issue(self, repo: str, *, title: str, number: int | None = None) -> IssueView | None: ...
    def create_issue(self, repo: str, *, title: str, body: str) -> IssueView: ...
    def edit_issue(self, repo: str, number: int, *, body: str | None = None, state: str | None = None) -> None: ...
    def apply(self, method: str, path: str, body: Any) -> None: ...


_ROLES: "weakref.WeakKeyDictionary[Any, AccessRole]" = weakref.WeakKeyDictionary()


class NoAccessRole(Exception):
    """This adapter has no access audit yet."""


def access_for(forge: Any) -> AccessRole:
    """The forge's access role: its own `access` attribute (FakeForge), else one built on the adapter's HTTP
    client and kept as long as the adapter (so its ETags and fresh answers are shared across audits)."""
    own = getattr(forge, "access", None)
    if own is not None:
        return own
    role = _ROLES.get(forge)
    if role is not None:
        return role
    kind = getattr(forge, "kind", "github")
    if kind == "github":
        from bot.forge.github_access import GitHubAccess

        http = forge.http
        api = str(getattr(http.requester, "base_url", "") or "")
        web = "https://github.com" if "api.github.com" in api or not api else api.split("/api/", 1)[0]
        role = GitHubAccess(http, web_url=web)
    else:
        try:
            from bot.forge.gitlab.access import for_forge
        except ModuleNotFoundError as exc:
            raise NoAccessRole(f"no access audit for {kind} yet") from exc
        role = for_forge(forge)
    _ROLES[forge] = role
    return role
