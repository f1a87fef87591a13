"""Typed configuration (SPEC §3): built-in defaults < org `.github` repo < the repository, validated with lines."""
from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Collection, Mapping, Sequence

from bot.core import environments as _environments, yamlsafe
from bot.core import announcements as _announcements
from bot.core import access_policy as _access
from bot.core.checks import Problem
from bot.core.yamlsafe import Loaded, YamlError

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
    access: _access.AccessPolicy = field(default_factory=_access.AccessPolicy)  # SPEC §3 `access:` (audit)
    notify: tuple[_announcements.Target, ...] = ()  # SPEC §3 `notify:` announcement targets (bot.core.announcements)
    # SPEC §3 `environments:` in order; absent: one implicit environment (release.manifest). Release repo only.
    environments: tuple[_environments.Environment, ...] = ()


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


# --- loading: parse each layer, validate it where its lines are known, deep-merge, then build the dataclasses

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# GitHub: @org/slug and owner/name; GitLab: group paths of any depth (@group/sub/team, group/sub/project, names
# with dots and underscores) and a top-level group (@acme). https://docs.gitlab.com/ee/user/reserved_names.html
_TEAM = re.compile(r"^@[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)*$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)+$")
# IANA names look like Area/Location[/Sub], or a bare legacy name such as UTC; the real list is checked at the
# edge (reading tzdata is I/O) by passing `timezones` to load_config.
_TZ_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")


class _Spec:
    """One node of the schema: `check` returns problems as (path, message); `describe` says what is expected."""

    describe = "a value"

    def check(self, value: Any, path: tuple) -> list[tuple[tuple, str]]:
        raise NotImplementedError


@dataclass(frozen=True)
class _Scalar(_Spec):
    types: tuple[type, ...]
    describe: str
    parse: Callable[[Any], str | None] | None = None  # returns an error message, or None when fine

    def check(self, value, path):
        if isinstance(value, bool) and bool not in self.types or not isinstance(value, self.types):
            return [(path, f"{_dotted(path)} must be {self.describe}, not {_show(value)}")]
        message = self.parse(value) if self.parse else None
        return [(path, f"{_dotted(path)} {message}")] if message else []


@dataclass(frozen=True)
class _Enum(_Spec):
    enum: type[enum.Enum]

    @property
    def describe(self) -> str:
        return " | ".join(member.value for member in self.enum)

    def check(self, value, path):
        allowed = [member.value for member in self.enum]
        if value in allowed:
            return []
        hint = _did_you_mean(str(value), allowed)
        return [(path, f"{_dotted(path)} must be one of {', '.join(allowed)}, not {_show(value)}{hint}")]


@dataclass(frozen=True)
class _List(_Spec):
    item: _Spec
    describe: str = "a list"

    def check(self, value, path):
        if not isinstance(value, list):
            return [(path, f"{_dotted(path)} must be a list ([...]), not {_show(value)}")]
        return [problem for index, item in enumerate(value) for problem in self.item.check(item, path + (index,))]


@dataclass(frozen=True)
class _Map(_Spec):
    """A mapping with known keys (`fields`), or with free keys whose values follow `values`."""

    fields: Mapping[str, _Spec] | None = None
    values: _Spec | None = None
    key: Callable[[str], str | None] | None = None  # validates free keys
    describe: str = "a mapping (key: value)"

    def check(self, value, path):
        if not isinstance(value, dict):
            return [(path, f"{_dotted(path) or 'the file'} must be a mapping (key: value), not {_show(value)}")]
        problems: list[tuple[tuple, str]] = []
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((path + (key,), f"{_dotted(path) or 'top level'}: key {_show(key)} must be a string"))
            elif self.fields is not None:
                if key not in self.fields:
                    where = f" in {_dotted(path)}" if path else ""
                    hint = _did_you_mean(key, list(self.fields))
                    problems.append((path + (key,), f"unknown key {key!r}{where}{hint}"))
                else:
                    problems.extend(self.fields[key].check(item, path + (key,)))
            else:
                message = self.key(key) if self.key else None
                if message:
                    problems.append((path + (key,), f"{_dotted(path)}: {message}"))
                elif self.values is not None:
                    problems.extend(self.values.check(item, path + (key,)))
        return problems


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"


def _dotted(path: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    prefixed = [choice for choice in choices if len(word) >= 2 and choice.startswith(word)]
    close = close or (prefixed if len(prefixed) == 1 else [])
    return f"; did you mean {close[0]!r}?" if close else ""


def _hours_error(text: str) -> str | None:
    if _parse_hours(text) is None:
        return f'must be "HH:MM-HH:MM" with the start before the end, e.g. "09:00-16:00", not {text!r}'
    return None


def _parse_hours(text: str) -> tuple[dt.time, dt.time] | None:
    match = _HOURS.match(text)
    if not match:
        return None
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        return None
    start = dt.time(h1, m1)
    end = dt.time.max if h2 == 24 else dt.time(h2, m2)  # "24:00" closes the day
    return (start, end) if start < end else None


def _day_error(text: str) -> str | None:
    if _parse_days([text]) is None:
        hint = _did_you_mean(str(text).lower()[:3], DAY_NAMES)
        return f"must be a day (mon, tue, wed, thu, fri, sat, sun) or a range like mon-fri, not {text!r}{hint}"
    return None


def _parse_days(items: Sequence[str]) -> frozenset[int] | None:
    days: set[int] = set()
    for item in items:
        first, _, last = str(item).strip().lower().partition("-")
        start, end = _day_index(first), _day_index(last or first)
        if start is None or end is None:
            return None
        span = range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)]  # fri-mon wraps
        days.update(span)
    return frozenset(days)


def _day_index(word: str) -> int | None:
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    word = word.strip()
    if word in DAY_NAMES:
        return DAY_NAMES.index(word)
    return full.index(word) if word in full else None


def _team_error(key: str) -> str | None:
    if not _TEAM.match(key):
        return f"team {key!r} must be written as in CODEOWNERS: @org/team-slug (GitLab: @group/subgroup)"
    return None


def _repo_error(text: str) -> str | None:
    return None if _REPO.match(text) else f'must be "owner/name" (GitLab: "group/sub/project"), not {text!r}'


def _tz_error(text: str) -> str | None:
    return None if _TZ_SHAPE.match(text) else f"must be an IANA time zone name such as Europe/Berlin, not {text!r}"


def _date_error(value: Any) -> str | None:
    return None if _as_date(value) is not None else f"must be a date written YYYY-MM-DD, not {_show(value)}"


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _positive(value: int) -> str | None:
    return None if 1 <= value <= 100 else f"must be a whole number from 1 to 100, not {value}"


_STR = _Scalar((str,), "text")
_BOOL = _Scalar((bool,), "true or false")
_DATE = _Scalar((str, dt.date), "a date written YYYY-MM-DD", _date_error)

SCHEMA = _Map(fields={
    "release": _Map(fields={
        "manifest": _STR, "tag": _STR, "tag_message": _STR, "changelog": _STR,
        "github_release": _BOOL, "tag_components": _BOOL, "allow_prerelease": _BOOL,
    }),
    "components": _Map(values=_Map(fields={
        "repo": _Scalar((str,), '"owner/name"', _repo_error),
        "kind": _Enum(Kind),
        "tag_prefix": _STR,
    })),
    "approvals": _Map(fields={
        "mode": _Enum(ApprovalMode),
        "teams": _Map(values=_Scalar((int,), "a whole number", _positive), key=_team_error),
        "invalidate_on_push": _Enum(Invalidate),
        "distinct": _BOOL, "allow_author": _BOOL, "ignore_bots": _BOOL, "request_reviews": _BOOL,
    }),
    "versioning": _Map(fields={
        "file": _STR,
        "bump_from": _Enum(BumpFrom),
        "ignore_paths": _List(_STR),
        "requires": _Map(values=_STR),
    }),
    "windows": _Map(fields={
        "timezone": _Scalar((str,), "a time zone name", _tz_error),
        "allow": _List(_Map(fields={
            "days": _List(_Scalar((str,), "a day name", _day_error)),
            "hours": _Scalar((str,), '"HH:MM-HH:MM"', _hours_error),
        })),
        "freeze": _List(_Map(fields={"from": _DATE, "to": _DATE, "reason": _STR})),
        "override_label": _STR,
    }),
    "access": _Map(fields={  # bot/core/access_policy.py says what each key means
        **{kind: _Map(fields={
            "writers": _Scalar((str, list), '"owning teams" or a list of teams', _access.writers_error),
            "min_approvals": _Scalar((int,), "a whole number", _access.approvals_error),
            "code_owner_review": _BOOL,
        }) for kind in ("infrastructure", "application", "release")},
        "require_checks": _BOOL, "enforce": _BOOL, "enforce_permissions": _BOOL,
        "bypass": _List(_Scalar((str,), "a bypass actor", _access.bypass_error)),
    }),
    "notify": _List(_Map(fields={
        "kind": _Enum(_announcements.TargetKind),
        "url_env": _Scalar((str,), "an environment variable name", _announcements.env_name_error),
        "secret_env": _Scalar((str,), "an environment variable name", _announcements.env_name_error),
        "on": _List(_Enum(_announcements.AnnouncementEvent)),
        "environments": _List(_STR),
    })),
    "environments": _List(_Map(fields={
        "name": _Scalar((str,), "a name", _environments.name_error),
        "manifest": _STR, "changelog": _STR, "allow_prerelease": _BOOL, "tag_prefix": _STR,
        "verified_in": _STR, "verification": _List(_STR),
        "soak": _Scalar((str, int), "a duration such as 2h", _environments.duration_error),
        "rollback_skips_verification": _BOOL,
    })),
})
_REQUIRED = {("environments", "*"): ("name", "manifest"), ("components", "*"): ("repo", "kind"), ("windows", "allow", "*"): ("days",), ("windows", "freeze", "*"): ("from", "to")}


@dataclass(frozen=True)
class _Layer:
    source: ConfigSource
    data: dict
    loaded: Loaded


def load_config(
    layers: Sequence[ConfigSource], *, repo: str, timezones: Collection[str] | None = None
) -> ConfigResult:
    """Merge layers lowest first (defaults, org, repo), validate, and say which repo it manages.

    The last layer is the repository's own file. `timezones` (zoneinfo.available_timezones(), read at the
    edge) lets an unknown zone fail with its line; without it only the name's shape is checked here."""
    problems: list[Problem] = []
    parsed: list[_Layer] = []
    mentioned = False
    for source in layers:
        if source.text is None:
            continue
        layer, found = _parse_layer(source, timezones)
        problems.extend(found)
        if layer is not None and not found:
            parsed.append(layer)
        elif repo.lower().encode() in source.text.lower():
            # A broken org file cannot say whether it lists this repo; if it names it, fail loudly rather
            # than go silent on every repository the org meant to manage.
            mentioned = True
    merged: dict = {}
    for layer in parsed:
        merged = _deep_merge(merged, layer.data)
    problems.extend(_missing_required(merged, parsed))
    own_file = bool(layers) and layers[-1].text is not None
    listed = any(
        isinstance(item, dict) and str(item.get("repo", "")).lower() == repo.lower()
        for item in (merged.get("components") or {}).values()
    )
    return ConfigResult(config=_build(merged, managed=own_file or listed or mentioned), problems=tuple(problems))


def _parse_layer(source: ConfigSource, timezones: Collection[str] | None) -> tuple[_Layer | None, list[Problem]]:
    try:
        loaded = yamlsafe.load(source.text or b"", max_bytes=MAX_CONFIG_BYTES)
    except YamlError as exc:
        hint = ' (quote team names: "@org/team": 2)' if "'@' that cannot start any token" in exc.message else ""
        return None, [Problem(source.path, exc.line, exc.message + hint)]
    data = {} if loaded.data is None else loaded.data
    if not isinstance(data, dict):
        return None, [Problem(source.path, loaded.line_of(), f"the file must be a mapping of settings, not {_show(data)}")]
    _announcements.unbool_on(data, loaded.lines)  # YAML 1.1 reads a bare `on:` key as true (SPEC writes `on:`)
    found = SCHEMA.check(data, ())
    found += [(("notify", *path), message) for path, message in _announcements.problems(data.get("notify"))]
    found += [(("environments", *path), message) for path, message in _environments.problems(data.get("environments"))]
    tz = (data.get("windows") or {}).get("timezone") if isinstance(data.get("windows"), dict) else None
    if timezones is not None and isinstance(tz, str) and _TZ_SHAPE.match(tz) and tz not in timezones:
        found.append((("windows", "timezone"), f"windows.timezone: unknown time zone {tz!r}{_did_you_mean(tz, sorted(timezones))}"))
    for index, item in enumerate(data.get("windows", {}).get("freeze", []) if isinstance(data.get("windows"), dict) else []):
        start, end = (_as_date(item.get(key)) if isinstance(item, dict) else None for key in ("from", "to"))
        if start and end and start > end:
            found.append((("windows", "freeze", index, "to"), f"windows.freeze[{index}] ends ({end}) before it starts ({start})"))
    problems = [Problem(source.path, loaded.line_of(*path), message) for path, message in found]
    return _Layer(source, data, loaded), problems


def _deep_merge(lower: dict, upper: dict) -> dict:
    """Mappings merge key by key; anything else (lists included) in the upper layer replaces the lower."""
    merged = dict(lower)
    for key, value in upper.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _missing_required(merged: dict, layers: Sequence[_Layer]) -> list[Problem]:
    problems = []
    for (*prefix, _star), required in _REQUIRED.items():
        container = merged
        for part in prefix:
            container = container.get(part) if isinstance(container, dict) else None
        items = container.items() if isinstance(container, dict) else enumerate(container or ())
        for key, item in items:
            path = (*prefix, key)
            for name in required:
                if isinstance(item, dict) and name not in item:
                    # Blame the highest layer that wrote this entry: that is where a person would add the key.
                    layer = next((l for l in reversed(layers) if l.loaded.lines.get(path)), layers[-1])
                    problems.append(Problem(layer.source.path, layer.loaded.line_of(*path),
                                            f"{_dotted(path)}: missing required key {name!r}"))
    return problems


def _build(data: dict, *, managed: bool) -> Config:
    components = {
        name: Component(name=name, repo=item["repo"], kind=Kind(item["kind"]), tag_prefix=item.get("tag_prefix", "v"))
        for name, item in (data.get("components") or {}).items()
        if "repo" in item and "kind" in item
    }
    approvals = dict(data.get("approvals") or {})
    teams = {team.lower(): minimum for team, minimum in (approvals.get("teams") or {}).items()}
    return Config(
        managed=managed,
        release=ReleaseConfig(**data["release"]) if isinstance(data.get("release"), dict) else None,
        components=_frozen(components),
        approvals=ApprovalsConfig(
            mode=ApprovalMode(approvals.get("mode", ApprovalMode.EACH_TEAM.value)),
            teams=_frozen(teams),
            invalidate_on_push=Invalidate(approvals.get("invalidate_on_push", Invalidate.OWNED_FILES.value)),
            **{key: approvals[key] for key in ("distinct", "allow_author", "ignore_bots", "request_reviews") if key in approvals},
        ),
        versioning=_build_versioning(data["versioning"]) if isinstance(data.get("versioning"), dict) else None,
        windows=_build_windows(data["windows"]) if isinstance(data.get("windows"), dict) else None,
        access=_access.build(data.get("access")),
        environments=_build_environments(data),
        notify=_announcements.build(data.get("notify")),
    )


def _build_versioning(data: dict) -> VersioningConfig:
    return VersioningConfig(
        file=data.get("file", "VERSION"),
        bump_from=BumpFrom(data.get("bump_from", BumpFrom.CONVENTIONAL_COMMITS.value)),
        ignore_paths=tuple(data.get("ignore_paths", ())),
        requires=_frozen(data.get("requires") or {}),
    )


def _build_windows(data: dict) -> WindowsConfig:
    allow = []
    for item in data.get("allow", ()):
        if "days" not in item:
            continue
        start, end = _parse_hours(item.get("hours", "00:00-24:00")) or (dt.time.min, dt.time.max)
        allow.append(AllowWindow(days=_parse_days(item["days"]) or frozenset(), start=start, end=end))
    freeze = tuple(
        Freeze(start=_as_date(item["from"]), end=_as_date(item["to"]), reason=item.get("reason", ""))
        for item in data.get("freeze", ())
        if "from" in item and "to" in item
    )
    return WindowsConfig(
        timezone=data.get("timezone", "UTC"), allow=tuple(allow), freeze=freeze,
        override_label=data.get("override_label", "emergency-release"),
    )


def _build_environments(data: dict) -> tuple[_environments.Environment, ...]:
    release = data.get("release") if isinstance(data.get("release"), dict) else {}
    if not isinstance(data.get("environments"), list) or not data["environments"]:
        return ()  # Config.environments empty: bot.core.environments.of(config) supplies the implicit one
    return _environments.build(data["environments"], default_manifest=release.get("manifest", "release.yml"),
                               default_changelog=release.get("changelog", "CHANGELOG.md"),
                               default_allow_prerelease=bool(release.get("allow_prerelease", False)))
