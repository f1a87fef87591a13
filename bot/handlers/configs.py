"""Fetch config and CODEOWNERS from a pinned base sha: the pull request never supplies its own rules.

Where they live is the forge's RepoLayout (forge.layout): GitHub `.github/release-coordinator.yml`, CODEOWNERS
in .github/, root, docs/, org defaults from OWNER/.github; GitLab `.gitlab/release-coordinator.yml`, CODEOWNERS
in root, docs/, .gitlab/ (with sections), org defaults from the project GITLAB_CONFIG_PROJECT names.
"""
from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from bot.core import codeowners as codeowners_parser
from bot.core.config import CONFIG_PATH, ConfigResult, ConfigSource, load_config
from bot.forge.layout import github_layout
from bot.forge.protocol import Forge
from bot.model import FileContent, FileRef, RepoLayout

# config/defaults.yml, through the bot/defaults.yml link that package-data copies into every install (a plain
# `pip install .` has no config/ directory beside the package)
DEFAULTS_PATH = Path(__file__).resolve().parents[1] / "defaults.yml"
ORG_CONFIG_REPO = ".github"  # probot's convention: org-wide settings live in the org's .github repository
CODEOWNERS_PATHS = github_layout().codeowners_paths  # GitHub's search order (kept for older importers)


@dataclass(frozen=True)
class RuleFiles:
    """The rules at one ref: the merged config and the CODEOWNERS the forge would use, as (path, bytes) or None."""

    config: ConfigResult
    codeowners: tuple[str, bytes] | None


def layout_of(forge: Forge) -> RepoLayout:
    return getattr(forge, "layout", None) or github_layout()


def builtin_defaults() -> ConfigSource:
    return ConfigSource("config/defaults.yml", DEFAULTS_PATH.read_bytes())


def fetch_rule_files(forge: Forge, repo: str, *, ref: str) -> RuleFiles:
    """Config (org + repo) and CODEOWNERS at ref, all in one get_files: one request on GitHub, none when cached."""
    layout = layout_of(forge)
    config_refs = _config_refs(layout, repo, ref=ref)
    wanted = config_refs + tuple(FileRef(repo, path, ref) for path in layout.codeowners_paths)
    found = forge.get_files(wanted)
    config = _load(layout, repo, found[:len(config_refs)], has_org=len(config_refs) == 2)
    codeowners = next(((path, file.content) for path, file in zip(layout.codeowners_paths, found[len(config_refs):])
                       if file is not None), None)
    return RuleFiles(config, codeowners)


def fetch_config(forge: Forge, repo: str, *, ref: str) -> ConfigResult:
    """Defaults < org defaults (their default branch) < the repo's file at ref (a base sha)."""
    layout = layout_of(forge)
    refs = _config_refs(layout, repo, ref=ref)
    return _load(layout, repo, forge.get_files(refs), has_org=len(refs) == 2)


def fetch_codeowners(forge: Forge, repo: str, *, ref: str) -> tuple[str, bytes] | None:
    """The first CODEOWNERS the forge would use at ref, as (path, bytes); None when the repo has none."""
    paths = layout_of(forge).codeowners_paths
    found = forge.get_files(tuple(FileRef(repo, path, ref) for path in paths))
    return next(((path, file.content) for path, file in zip(paths, found) if file is not None), None)


def parse_codeowners(forge: Forge, text: bytes | str) -> codeowners_parser.Codeowners:
    """CODEOWNERS in the forge's dialect: GitLab's has sections ([Section], [Section][N], ^[Optional])."""
    return codeowners_parser.parse(text, platform=layout_of(forge).codeowners_dialect)


def config_path(forge: Forge) -> str:
    return layout_of(forge).config_path


def _config_refs(layout: RepoLayout, repo: str, *, ref: str) -> tuple[FileRef, ...]:
    # Most orgs have no .github repository (GitLab: no GITLAB_CONFIG_PROJECT): get_files answers None for it. The
    # org defaults' own repository has no org layer above itself.
    org_repo = layout.org_config_repo(repo)
    own = FileRef(repo, layout.config_path, ref)
    if org_repo is None or org_repo.lower() == repo.lower():
        return (own,)
    return FileRef(org_repo, layout.config_path, None), own


def _load(layout: RepoLayout, repo: str, found: tuple[FileContent | None, ...], *, has_org: bool) -> ConfigResult:
    org_repo = layout.org_config_repo(repo)
    org_file = found[0] if has_org else None
    own_file = found[-1]
    layers = [builtin_defaults()]
    if org_repo is not None:
        layers.append(ConfigSource(f"{org_repo}:{layout.config_path}", org_file.content if org_file else None))
    layers.append(ConfigSource(layout.config_path, own_file.content if own_file else None))
    return load_config(layers, repo=repo, timezones=_timezones())


@functools.cache
def _timezones() -> frozenset[str]:
    """The tz database names, read once per process (the core cannot read files)."""
    return frozenset(zoneinfo.available_timezones())


__all__ = ["CONFIG_PATH", "CODEOWNERS_PATHS", "RuleFiles", "builtin_defaults", "config_path", "fetch_codeowners",
           "fetch_config", "fetch_rule_files", "layout_of", "parse_codeowners"]


# --- the rules' tip: a pull request's base sha can lag behind its base branch

# GitHub's pull_request.base.sha is the base branch's tip at the pull request's last synchronize, not now
# (https://github.com/github/docs/issues/431); GitLab's diff base is the merge base. After a push that changed
# the rules on a base branch (bot.handlers.push) its tip is remembered, and every later evaluation of a pull
# request targeting that branch reads the rules there: never the older policy again.
RULES_TIP_TTL = 90 * 24 * 3600


def rules_tip_key(forge: str, repo: str, branch: str) -> str:
    return f"rules-tip:{forge}:{repo}:{branch}"


def remember_rules_tip(ctx, repo: str, branch: str, sha: str) -> None:
    if ctx.store is not None:
        ctx.store.set_json(rules_tip_key(ctx.forge.kind, repo, branch), {"sha": sha}, ttl=RULES_TIP_TTL)


def with_rules_tip(ctx, pull):
    """pull with base_sha moved to the remembered rules tip of its base branch, when one was remembered since."""
    if ctx.store is None:
        return pull
    found = ctx.store.get_json(rules_tip_key(ctx.forge.kind, pull.repo, pull.base_ref))
    sha = found.get("sha") if isinstance(found, dict) else None
    if not sha or sha == pull.base_sha:
        return pull
    from dataclasses import replace

    return replace(pull, base_sha=sha)
