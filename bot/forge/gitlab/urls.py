"""GitLab API paths: projects and groups are named by their URL-encoded full path."""
from __future__ import annotations

from urllib.parse import quote

from bot.forge.errors import TeamNotFound

_SHA_CHARS = frozenset("0123456789abcdef")


def is_sha(ref: str) -> bool:
    """A full commit sha names content that can never change; branch and tag names can move."""
    return len(ref) == 40 and set(ref) <= _SHA_CHARS


def q(part: str) -> str:
    return quote(part, safe="")


def project(repo: str) -> str:
    # https://docs.gitlab.com/api/rest/#namespaced-paths: a project path in a URL is URL-encoded, / as %2F
    return f"/projects/{q(repo)}"


def group_path(team: str) -> str:
    """"@acme/infra" (a CODEOWNERS or config owner) -> "acme/infra"."""
    path = team.lstrip("@").strip("/")
    if not path:
        raise TeamNotFound(team, f"{team} is not a group: expected @group or @group/subgroup")
    return path
