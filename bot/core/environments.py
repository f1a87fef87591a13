"""Environments a release moves through (SPEC §3 `environments:`): parsed, validated with lines, and resolved.

Absent, the release repo has one implicit environment: `release.manifest`, today's tags, no promotion gate.
This module imports nothing from bot.core.config (config imports it), so it stays a leaf.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from bot.core.config import Config

_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MAX_SOAK = dt.timedelta(days=90)  # a soak longer than a quarter is a typo (2000h for 200h), not a policy


@dataclass(frozen=True)
class Environment:
    """One environment of `environments:` (docs/configuration.md is generated from these docstrings).

    name: what trailers (`Environment: NAME`), summaries and `verified_in` call it.
    manifest: the environment's release manifest in the release repo, e.g. environments/staging/release.yml.
    allow_prerelease: pre-release versions (1.6.0-rc.1) are valid in this manifest; default true for every
        environment but the last, false for the last (production).
    tag_prefix: put before the release id: "staging/" makes staging/release-1.5.3-2.1.0; default "NAME/" for
        every environment but the last, "" for the last, which keeps today's ids.
    changelog: the changelog this environment's releases are prepended to; default `release.changelog` for the
        last environment and CHANGELOG.md beside the manifest for the others.
    verified_in: the earlier environment whose release of the same version set this one needs first; default
        the environment before it. None for the first environment.
    verification: names of commit statuses, check runs or GitHub Deployment environments that must be `success`
        on that earlier release's commit.
    soak: how long ago that earlier release must have been tagged (`30m`, `2h`, `1d`, `1h30m`); default 0.
    rollback_skips_verification: a manifest with `rollback: true` passes the promotion gate without it (the
        summary says it skipped); default false.
    """

    name: str
    manifest: str
    allow_prerelease: bool = False
    tag_prefix: str = ""
    changelog: str = "CHANGELOG.md"
    verified_in: str | None = None
    verification: tuple[str, ...] = ()
    soak: dt.timedelta = dt.timedelta(0)
    rollback_skips_verification: bool = False
    configured: bool = True  # False: the implicit single environment of a config without `environments:`

    def release_id(self, plain_id: str) -> str:
        return f"{self.tag_prefix}{plain_id}"

    @property
    def gated(self) -> bool:
        """The promotion check applies: an environment after the first."""
        return self.verified_in is not None


def parse_duration(text: Any) -> dt.timedelta | None:
    """`30m`, `2h`, `1d`, `1h30m`, `45s`, `0` -> timedelta; None when it is not one."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return dt.timedelta(0) if text == 0 else None  # a bare number has no unit: 2 hours or 2 days?
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        return None
    parts = {key: int(value) for key, value in match.groupdict().items() if value}
    return dt.timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0),
                        seconds=parts.get("s", 0))


def duration_error(value: Any) -> str | None:
    found = parse_duration(value)
    if found is None:
        return f"must be a duration such as 30m, 2h, 1d or 1h30m, not {value!r}"
    if found > MAX_SOAK:
        return f"is longer than {MAX_SOAK.days} days ({value!r}); write a shorter soak"
    return None


def name_error(value: str) -> str | None:
    if _NAME.match(value):
        return None
    return f"must be lower-case letters, digits, '.', '_' or '-' (it becomes part of tag names), not {value!r}"


def problems(data: Any) -> list[tuple[tuple, str]]:
    """Rules across entries that the schema cannot express: (path, message) with the path to blame."""
    if not isinstance(data, list):
        return []
    found: list[tuple[tuple, str]] = []
    seen_names: dict[str, int] = {}
    seen_manifests: dict[str, int] = {}
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            continue
        name, manifest = item.get("name"), item.get("manifest")
        if isinstance(name, str):
            if name in seen_names:
                found.append(((index, "name"), f"environments[{index}].name {name!r} is also environments[{seen_names[name]}]'s"))
            seen_names.setdefault(name, index)
        if isinstance(manifest, str):
            if manifest in seen_manifests:
                found.append(((index, "manifest"), f"environments[{index}].manifest {manifest!r} is also "
                              f"environments[{seen_manifests[manifest]}]'s: each environment needs its own file"))
            seen_manifests.setdefault(manifest, index)
        verified_in = item.get("verified_in")
        if index == 0 and verified_in is not None:
            found.append(((index, "verified_in"), "environments[0] is the first environment: nothing comes before it "
                          "to be verified in (remove verified_in)"))
        elif isinstance(verified_in, str):
            earlier = [e.get("name") for e in data[:index] if isinstance(e, dict)]
            if verified_in not in earlier:
                listed = ", ".join(str(n) for n in earlier) or "none"
                found.append(((index, "verified_in"), f"environments[{index}].verified_in {verified_in!r} must name an "
                              f"earlier environment (before it: {listed})"))
        if index == 0 and (item.get("verification") or item.get("soak")):
            key = "verification" if item.get("verification") else "soak"
            found.append(((index, key), f"environments[0].{key}: the first environment has no earlier one to verify in"))
    return found


def build(data: Any, *, default_manifest: str, default_changelog: str,
          default_allow_prerelease: bool) -> tuple[Environment, ...]:
    """The environments in order; the implicit single one when the section is absent or empty."""
    items = [item for item in data if isinstance(item, dict) and "name" in item and "manifest" in item] \
        if isinstance(data, list) else []
    if not items:
        return (Environment(name="default", manifest=default_manifest, allow_prerelease=default_allow_prerelease,
                            changelog=default_changelog, configured=False),)
    built = []
    for index, item in enumerate(items):
        last = index == len(items) - 1
        manifest = item["manifest"]
        folder = manifest.rpartition("/")[0]
        changelog = item.get("changelog") or (default_changelog if last or not folder else f"{folder}/CHANGELOG.md")
        verified_in = item.get("verified_in") or (items[index - 1]["name"] if index else None)
        built.append(Environment(
            name=item["name"], manifest=manifest,
            allow_prerelease=item.get("allow_prerelease", not last),
            tag_prefix=item.get("tag_prefix", "" if last else f"{item['name']}/"),
            changelog=changelog,
            verified_in=verified_in if index else None,
            verification=tuple(item.get("verification") or ()),
            soak=parse_duration(item.get("soak", "0")) or dt.timedelta(0),
            rollback_skips_verification=bool(item.get("rollback_skips_verification", False)),
        ))
    return tuple(built)


def of(config: Config) -> tuple[Environment, ...]:
    """The release repo's environments in order: the configured ones, or the implicit single one."""
    if config.environments:
        return config.environments
    release = config.release
    if release is None:
        return ()
    return (Environment(name="default", manifest=release.manifest, allow_prerelease=release.allow_prerelease,
                        changelog=release.changelog, configured=False),)


def by_name(environments: Sequence[Environment], name: str | None) -> Environment | None:
    return next((e for e in environments if e.name == name), None)


def touched(environments: Sequence[Environment], paths: Sequence[str]) -> tuple[Environment, ...]:
    """The environments whose manifest a change touches, in their configured order."""
    wanted = set(paths)
    return tuple(e for e in environments if e.manifest in wanted)


def describe_duration(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds <= 0:
        return "0m"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{secs}s" if secs and not days else ""]
    return "".join(parts) or "0m"
