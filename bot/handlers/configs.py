"""Fetch config and CODEOWNERS from a pinned base sha: the pull request never supplies its own rules."""
from __future__ import annotations

import functools
import zoneinfo
from pathlib import Path

from bot.core.config import CONFIG_PATH, ConfigResult, ConfigSource, load_config
from bot.forge.base import Forge
from bot.forge.errors import NotFound

DEFAULTS_PATH = Path(__file__).resolve().parents[2] / "config" / "defaults.yml"
ORG_CONFIG_REPO = ".github"  # probot's convention: org-wide settings live in the org's .github repository
CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's search order


def builtin_defaults() -> ConfigSource:
    return ConfigSource("config/defaults.yml", DEFAULTS_PATH.read_bytes())


def fetch_config(forge: Forge, repo: str, *, ref: str) -> ConfigResult:
    """Defaults < org `.github` repo (its default branch) < the repo's file at ref (a base sha)."""
    owner = repo.split("/", 1)[0]
    org_repo = f"{owner}/{ORG_CONFIG_REPO}"
    org_file = None
    if org_repo != repo:
        try:
            org_file = forge.get_file(org_repo, CONFIG_PATH, ref=forge.get_default_branch(org_repo))
        except NotFound:  # most orgs have no .github repository: GitHub answers 404 for it
            org_file = None
    repo_file = forge.get_file(repo, CONFIG_PATH, ref=ref)
    layers = [
        builtin_defaults(),
        ConfigSource(f"{org_repo}:{CONFIG_PATH}", org_file.content if org_file else None),
        ConfigSource(CONFIG_PATH, repo_file.content if repo_file else None),
    ]
    return load_config(layers, repo=repo, timezones=_timezones())


@functools.cache
def _timezones() -> frozenset[str]:
    """The tz database names, read once per process (the core cannot read files)."""
    return frozenset(zoneinfo.available_timezones())


def fetch_codeowners(forge: Forge, repo: str, *, ref: str) -> tuple[str, bytes] | None:
    """The first CODEOWNERS GitHub would use at ref, as (path, bytes); None when the repo has none."""
    for path in CODEOWNERS_PATHS:
        found = forge.get_file(repo, path, ref=ref)
        if found is not None:
            return path, found.content
    return None
