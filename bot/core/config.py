"""Typed configuration (SPEC §3): built-in defaults < org `.github` repo < the repository, validated with lines."""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

from bot.core.checks import Problem

CONFIG_PATH = ".github/release-coordinator.yml"
GITLAB_CONFIG_PATH = ".gitlab/release-coordinator.yml"
MAX_CONFIG_BYTES = 64 * 1024


class Kind(enum.Enum):
    APPLICATION = "application"
    INFRASTRUCTURE = "infrastructure"


class ApprovalMode(enum.Enum):
    EACH_TEAM = "each-team"
    ANY_OWNER = "any-owner"


class Invalidate(enum.Enum):
    OWNED_FILES = "owned-files"
    ALL = "all"
    NEVER = "never"


class BumpFrom(enum.Enum):
    CONVENTIONAL_COMMITS = "conventional-commits"
    LABELS = "labels"
    BOTH = "both"


def _frozen(mapping: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Component:
    name: str
    repo: str  # "owner/name"
    kind: Kind
    tag_prefix: str = "v"

    def tag(self, version: str) -> str:
        return f"{self.tag_prefix}{version}"


@dataclass(frozen=True)
class ReleaseConfig:
    manifest: str = "release.yml"
    tag: str = "release-{application_version}-{infrastructure_version}"
    tag_message: str = "Deploy: Application v{application_version} and Infrastructure v{infrastructure_version}"
    changelog: str = "CHANGELOG.md"
    github_release: bool = True
    tag_components: bool = False
    allow_prerelease: bool = False


@dataclass(frozen=True)
class ApprovalsConfig:
    mode: ApprovalMode = ApprovalMode.EACH_TEAM
    teams: Mapping[str, int] = field(default_factory=_frozen)  # "@org/team" -> minimum approvals (default 1)
    invalidate_on_push: Invalidate = Invalidate.OWNED_FILES
    distinct: bool = True
    allow_author: bool = False
    ignore_bots: bool = True
    request_reviews: bool = True

    def minimum(self, team: str) -> int:
        return self.teams.get(team.lower(), self.teams.get(team, 1))


@dataclass(frozen=True)
class VersioningConfig:
    file: str = "VERSION"  # or "Chart.yaml#version", "pyproject.toml#project.version", "package.json#version"
    bump_from: BumpFrom = BumpFrom.CONVENTIONAL_COMMITS
    ignore_paths: tuple[str, ...] = ()
    requires: Mapping[str, str] = field(default_factory=_frozen)  # component name -> semver range


@dataclass(frozen=True)
class AllowWindow:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: dt.time
    end: dt.time  # exclusive; "09:00-16:00" allows 09:00 up to 15:59:59


@dataclass(frozen=True)
class Freeze:
    start: dt.date  # inclusive, in the windows' timezone
    end: dt.date  # inclusive
    reason: str = ""


@dataclass(frozen=True)
class WindowsConfig:
    timezone: str = "UTC"
    allow: tuple[AllowWindow, ...] = ()  # empty: any time is allowed (only freezes apply)
    freeze: tuple[Freeze, ...] = ()
    override_label: str = "emergency-release"


@dataclass(frozen=True)
class Config:
    managed: bool = False  # the repo has its own file, or the org file lists it under components
    release: ReleaseConfig | None = None  # present only in the release repo
    components: Mapping[str, Component] = field(default_factory=_frozen)
    approvals: ApprovalsConfig = field(default_factory=ApprovalsConfig)
    versioning: VersioningConfig | None = None  # present only in component repos
    windows: WindowsConfig | None = None


@dataclass(frozen=True)
class ConfigSource:
    """One layer as fetched: where it came from (for messages) and its bytes, or None when absent."""

    path: str  # e.g. "config/defaults.yml", "acme/.github:.github/release-coordinator.yml"
    text: bytes | None


@dataclass(frozen=True)
class ConfigResult:
    config: Config
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def load_config(layers: Sequence[ConfigSource], *, repo: str) -> ConfigResult:
    """Merge layers lowest first (defaults, org, repo), validate, and say which repo it manages."""
    raise NotImplementedError("implemented with issue 4")
