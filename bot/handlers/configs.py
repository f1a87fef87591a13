"""Fetch config and CODEOWNERS from a pinned base sha: the pull request never supplies its own rules."""
from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from bot.core.config import CONFIG_PATH, ConfigResult, ConfigSource, load_config
from bot.forge.base import FileContent, FileRef, Forge

# config/defaults.yml, through the bot/defaults.yml link that package-data copies into every install (a plain
# `pip install .` has no config/ directory beside the package)
DEFAULTS_PATH = Path(__file__).resolve().parents[1] / "defaults.yml"
ORG_CONFIG_REPO = ".github"  # probot's convention: org-wide settings live in the org's .github repository
CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's search order


@dataclass(frozen=True)
class RuleFiles:
    """The rules at one ref: the merged config and the CODEOWNERS GitHub would use, as (path, bytes) or None."""

    config: ConfigResult
    codeowners: tuple[str, bytes] | None


def builtin_defaults() -> ConfigSource:
    return ConfigSource("config/defaults.yml", DEFAULTS_PATH.read_bytes())


def fetch_rule_files(forge: Forge, repo: str, *, ref: str) -> RuleFiles:
    """Config (org + repo) and CODEOWNERS at ref, all in one get_files: one request on GitHub, none when cached."""
    wanted = _config_refs(repo, ref=ref) + tuple(FileRef(repo, path, ref) for path in CODEOWNERS_PATHS)
    found = forge.get_files(wanted)
    config = _load(repo, found[:2])
    codeowners = next(((path, file.content) for path, file in zip(CODEOWNERS_PATHS, found[2:]) if file is not None), None)
    return RuleFiles(config, codeowners)


def fetch_config(forge: Forge, repo: str, *, ref: str) -> ConfigResult:
    """Defaults < org `.github` repo (its default branch) < the repo's file at ref (a base sha)."""
    return _load(repo, forge.get_files(_config_refs(repo, ref=ref)))


def fetch_codeowners(forge: Forge, repo: str, *, ref: str) -> tuple[str, bytes] | None:
    """The first CODEOWNERS GitHub would use at ref, as (path, bytes); None when the repo has none."""
    found = forge.get_files(tuple(FileRef(repo, path, ref) for path in CODEOWNERS_PATHS))
    return next(((path, file.content) for path, file in zip(CODEOWNERS_PATHS, found) if file is not None), None)


def _config_refs(repo: str, *, ref: str) -> tuple[FileRef, FileRef]:
    # Most orgs have no .github repository: get_files answers None for it. The org's own .github repository
    # has no org layer above itself.
    org_repo = f"{repo.split('/', 1)[0]}/{ORG_CONFIG_REPO}"
    return FileRef(org_repo, CONFIG_PATH, None if org_repo != repo else ref), FileRef(repo, CONFIG_PATH, ref)


def _load(repo: str, found: tuple[FileContent | None, ...]) -> ConfigResult:
    org_repo = f"{repo.split('/', 1)[0]}/{ORG_CONFIG_REPO}"
    org_file = found[0] if org_repo != repo else None
    layers = [
        builtin_defaults(),
        ConfigSource(f"{org_repo}:{CONFIG_PATH}", org_file.content if org_file else None),
        ConfigSource(CONFIG_PATH, found[1].content if found[1] else None),
    ]
    return load_config(layers, repo=repo, timezones=_timezones())


@functools.cache
def _timezones() -> frozenset[str]:
    """The tz database names, read once per process (the core cannot read files)."""
    return frozenset(zoneinfo.available_timezones())
