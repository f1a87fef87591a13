"""The release manifest (SPEC §2): both forms, validated with line numbers, and release-tag trailers (§6)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import semver

from bot.core import conventional, versioning, yamlsafe
from bot.core.checks import MANIFEST, Annotation, CheckResult, Conclusion, Level, Problem
from bot.core.config import Config, Kind
from bot.core.release import ReleaseTrailers, versions_equal

MAX_MANIFEST_BYTES = 64 * 1024

_SHORT_KEYS = {"application_version": Kind.APPLICATION, "infrastructure_version": Kind.INFRASTRUCTURE}
_RELEASE_KEYS = ("components", "rollback", "notes", *_SHORT_KEYS)


@dataclass(frozen=True)
class Manifest:
    versions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # component -> version
    rollback: bool = False
    notes: str = ""
    # component -> 1-based line of its version, so checks against the world can annotate the right line
    lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), compare=False)

    def line(self, component: str) -> int | None:
        return self.lines.get(component)


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def check_version(value: Any, *, allow_prerelease: bool) -> str | None:
    """Why value is not usable as a manifest version, or None. SemVer 2.0.0 via the semver package."""
    if isinstance(value, bool) or value is None:
        return f"`{value}` is not a version; write a semver version such as 1.5.3"
    if isinstance(value, (int, float)):
        # YAML 1.1 reads 1.5 as a float and 2 as an int: the text the author meant is already lost.
        return (f"YAML reads `{value}` as a number, not a version; write the full semver version "
                f"(e.g. \"{value}.0\" if that is what you meant), quoted if in doubt")
    if not isinstance(value, str):
        return f"expected a version string, found {type(value).__name__}"
    if value[:1] in ("v", "V") and semver.Version.is_valid(value[1:]):
        return (f"write {value[1:]}, not {value}: manifest versions carry no `v` "
                "(the tag prefix is added from the config)")
    if not semver.Version.is_valid(value):
        return f"`{value}` is not a semver 2.0.0 version (MAJOR.MINOR.PATCH, e.g. 1.5.3)"
    version = semver.Version.parse(value)
    if version.build:
        return (f"build metadata `+{version.build}` is not allowed: semver ignores it when comparing, "
                f"so two releases could not be told apart; write {version.replace(build=None)}")
    if version.prerelease and not allow_prerelease:
        return (f"pre-release version {value} needs `release.allow_prerelease: true` in the config "
                "(with `environments:`, that environment's `allow_prerelease`)")
    return None


def parse_manifest(text: bytes, *, path: str, config: Config,
                   allow_prerelease: bool | None = None) -> tuple[Manifest | None, tuple[Problem, ...]]:
    """Both forms of SPEC §2 -> Manifest keyed by component name, or the problems with their lines.

    With no components in config (the CLI without --config), names are not checked and the short form's
    keys map to the kind names `application` and `infrastructure`. allow_prerelease: the environment's
    setting (SPEC §3 `environments:`); None: `release.allow_prerelease`."""
    try:
        loaded = yamlsafe.load(text, max_bytes=MAX_MANIFEST_BYTES)
    except yamlsafe.YamlError as exc:
        return None, (Problem(path, exc.line, exc.message),)
    problems: list[Problem] = []

    def problem(message: str, *keys: Any) -> None:
        problems.append(Problem(path, loaded.line_of(*keys), message))

    data = loaded.data
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        problem(f"the manifest must be a mapping with a `release:` key, found {found}")
        return None, tuple(problems)
    for key in data:
        if key != "release":
            problem(f"unknown key `{key}`{did_you_mean(key, ['release'])}; the manifest has one key, `release`", key)
    release = data.get("release")
    if "release" not in data:
        problem("missing `release:` mapping")
        return None, tuple(problems)
    if not isinstance(release, dict):
        problem("`release` must be a mapping of versions", "release")
        return None, tuple(problems)
    for key in release:
        if key not in _RELEASE_KEYS:
            problem(f"unknown key `{key}`{did_you_mean(key, _RELEASE_KEYS)}; allowed: {', '.join(_RELEASE_KEYS)}",
                    "release", key)

    raw, lines = _component_versions(release, config, problem, loaded)
    allow_pre = bool(config.release and config.release.allow_prerelease) if allow_prerelease is None else allow_prerelease
    versions: dict[str, str] = {}
    for name, value in raw.items():
        why = check_version(value, allow_prerelease=allow_pre)
        if why:
            problems.append(Problem(path, lines.get(name), f"{name}: {why}"))
        else:
            versions[name] = value
    rollback = release.get("rollback", False)
    if not isinstance(rollback, bool):
        problem(f"`rollback` must be true or false, found `{rollback}`", "release", "rollback")
    notes = release.get("notes") or ""
    if not isinstance(notes, str):
        problem("`notes` must be text (quote it)", "release", "notes")
    if problems:
        return None, tuple(sorted(problems, key=lambda p: p.line or 0))
    return Manifest(MappingProxyType(versions), rollback, notes, MappingProxyType(lines)), ()


def _component_versions(release: dict, config: Config, problem, loaded: yamlsafe.Loaded) -> tuple[dict, dict]:
    """name -> raw value and name -> line, from whichever form the manifest uses; reports naming mistakes."""
    short = [k for k in release if k in _SHORT_KEYS]
    known = config.components
    raw: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if "components" in release and short:
        problem("use either `components:` or application_version/infrastructure_version, not both",
                "release", short[0])
        return raw, lines
    if "components" in release:
        components = release["components"]
        if not isinstance(components, dict) or not components:
            problem("`components` must map component names to versions", "release", "components")
            return raw, lines
        for name, value in components.items():
            if known and name not in known:
                problem(f"unknown component `{name}`{did_you_mean(name, known)}; the config names "
                        f"{', '.join(sorted(known))}", "release", "components", name)
                continue
            raw[str(name)] = value
            lines[str(name)] = loaded.line_of("release", "components", name) or 1
        for name in sorted(set(known) - {str(k) for k in components}):
            problem(f"missing component `{name}` (every component in the config ships in each release)",
                    "release", "components")
        return raw, lines
    if not short:
        problem("no versions: write `application_version:`/`infrastructure_version:` or `components:`", "release")
        return raw, lines
    for key, kind in _SHORT_KEYS.items():
        of_kind = sorted(n for n, c in known.items() if c.kind == kind)
        if not known:
            if key in release:
                raw[kind.value] = release[key]
                lines[kind.value] = loaded.line_of("release", key) or 1
        elif key in release and len(of_kind) == 1:
            raw[of_kind[0]] = release[key]
            lines[of_kind[0]] = loaded.line_of("release", key) or 1
        elif key in release:
            names = ", ".join(of_kind) or "none"
            problem(f"`{key}` needs exactly one component of kind {kind.value} in the config (it has: {names}); "
                    f"use `components:` instead", "release", key)
        elif len(of_kind) == 1:
            problem(f"missing `{key}` for component `{of_kind[0]}`", "release")
        elif of_kind:
            problem(f"missing versions for {', '.join(of_kind)}: use `components:`", "release")
    return raw, lines


# --- the manifest against the world: tags, history, commits, compatibility

@dataclass(frozen=True)
class World:
    """What the handler fetched for one manifest; every field keyed by component name."""

    base: Manifest | None = None  # the base branch's manifest (None: first release, or unreadable there)
    base_invalid: bool = False  # the base branch has a manifest, but it does not parse: nothing to compare with
    tags: Mapping[str, bool] = field(default_factory=dict)  # the new version's tag exists in the component repo
    # earlier coordinated releases, newest first, from release tags' trailers (bot.core.release.parse_release_trailers)
    history: tuple[ReleaseTrailers, ...] = ()
    commits: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # (sha, message) old..new tag
    unknown_commits: Mapping[str, str] = field(default_factory=dict)  # why commits could not be listed
    requires: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # ranges declared at the new tag
    requires_errors: Mapping[str, str] = field(default_factory=dict)  # the config's first problem at the new tag


@dataclass(frozen=True)
class Row:
    component: str
    kind: str
    old: str
    new: str
    bump: str
    commits: str
    compatibility: str


@dataclass(frozen=True)
class ManifestVerdict:
    rows: tuple[Row, ...]
    problems: tuple[Problem, ...]
    details: tuple[str, ...] = ()  # extra markdown lines (commits that forced a level)
    rollback_of: str | None = None


def judge_manifest(manifest: Manifest, *, path: str, config: Config, world: World) -> ManifestVerdict:
    """SPEC §4 manifest rules beyond syntax: tags exist, versions move forward (or a valid rollback), each bump
    agrees with the component's Conventional Commits, and every declared `requires` range holds."""
    problems: list[Problem] = []
    details: list[str] = []
    base = dict(world.base.versions) if world.base else {}
    release_line = manifest.line(next(iter(manifest.versions), "")) or 1
    if world.base_invalid:
        problems.append(Problem(path, release_line, "the base branch's manifest is invalid, so versions could not be "
                                "compared with the current release", Level.WARNING))
    rollback_of = None
    if manifest.rollback:
        match = next((r for r in world.history if versions_equal(r.versions, manifest.versions)), None)
        if match is None:
            known = "; ".join(f"{r.release_id} ({_versions_text(r.versions)})" for r in world.history[:3]) or "none"
            problems.append(Problem(path, release_line, "rollback: true, but no earlier coordinated release has "
                                    f"exactly these versions. Latest releases: {known}"))
        else:
            rollback_of = match.release_id
    if base and all(base.get(n) == v for n, v in manifest.versions.items()):
        problems.append(Problem(path, release_line, "no component version changed: there is nothing to release"))
    rows = []
    for name, text in manifest.versions.items():
        component = config.components.get(name)
        line = manifest.line(name)
        new = semver.Version.parse(text)
        old_text = base.get(name)
        old = semver.Version.parse(old_text) if old_text and semver.Version.is_valid(old_text) else None
        tag = component.tag(text) if component else text
        if world.tags.get(name) is False:
            where = component.repo if component else "its repository"
            problems.append(Problem(path, line, f"{name} {text}: no tag `{tag}` in {where}"))
        bump = "new" if old is None else versioning.bump_between(old, new)
        if bump == "downgrade":
            if manifest.rollback:
                bump = "rollback"
            else:
                problems.append(Problem(path, line, f"{name} goes back from {old} to {new}; a newer version is "
                                        "needed, or `rollback: true` with an earlier release's exact versions"))
        commits_cell = _judge_commits(name, old, new, bump, component, world, path, line, problems, details)
        compat = _judge_requires(name, manifest, component, world, path, problems)
        kind = component.kind.value if component else "?"
        rows.append(Row(name, kind, str(old or "—"), text, bump, commits_cell, compat))
    return ManifestVerdict(tuple(rows), tuple(sorted(problems, key=lambda p: p.line or 0)), tuple(details), rollback_of)


def _judge_commits(name, old, new, bump, component, world, path, line, problems, details) -> str:
    if name in world.unknown_commits:
        return world.unknown_commits[name]
    if name not in world.commits or old is None or bump in ("downgrade", "rollback", "none"):
        return "—"
    commits = world.commits[name]
    need = versioning.required_bump(commits, title=None, labels=(), bump_from="conventional-commits", base=old)
    counts: dict[str, int] = {}
    for _, message in commits:
        parsed = conventional.parse(message)
        key = "breaking" if parsed.breaking else (parsed.type or "other")
        counts[key] = counts.get(key, 0) + 1
    cell = f"{len(commits)}" + (f" ({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))})" if counts else "")
    if not versioning.satisfies_level(old, new, need.level):
        old_tag = component.tag(str(old)) if component else str(old)
        forcing = "; ".join(f"{r.source} {r.header}" for r in need.reasons[:5])
        problems.append(Problem(path, line, f"{name} {old} → {new} is a {bump} bump, but the commits since "
                                f"`{old_tag}` need at least {versioning.bump_name(need.level)}: {forcing}"))
        cell += f" — needs {versioning.bump_name(need.level)}"
    if need.reasons:
        if details:
            details.append("")  # a blank line ends the previous markdown list
        details.append(f"**{name}** needs at least {versioning.bump_name(need.level)} because of:")
        details += [f"- {r.source}: {r.header}" for r in need.reasons[:10]]
    return cell


def _judge_requires(name, manifest, component, world, path, problems) -> str:
    if name in world.requires_errors:
        at = component.tag(manifest.versions[name]) if component else manifest.versions[name]
        problems.append(Problem(path, manifest.line(name), f"{name}: its config at `{at}` is invalid "
                                f"({world.requires_errors[name]}), so its `requires` cannot be checked"))
        return "config unreadable"
    declared = world.requires.get(name) or {}
    if not declared:
        return "—"
    cells = []
    at = component.tag(manifest.versions[name]) if component else manifest.versions[name]
    for other, text in sorted(declared.items()):
        comparators, why = versioning.parse_range(text)
        if why:
            problems.append(Problem(path, manifest.line(name), f"{name} at `{at}` declares requires {other}: "
                                    f"`{text}`, which is not a range: {why}"))
            cells.append(f"{other} `{text}`: bad range")
            continue
        if other not in manifest.versions:
            problems.append(Problem(path, manifest.line(name), f"{name} at `{at}` requires {other} `{text}`, "
                                    "which is not in this release", Level.WARNING))
            cells.append(f"{other} `{text}`: not in release")
            continue
        theirs = manifest.versions[other]
        if versioning.satisfies(semver.Version.parse(theirs), comparators):
            cells.append(f"{other} `{text}` ✓")
        else:
            problems.append(Problem(path, manifest.line(other), f"{other} {theirs} does not satisfy `{text}`, "
                                    f"which {name} {manifest.versions[name]} requires (declared at `{at}`)"))
            cells.append(f"{other} `{text}` ✗ ({theirs})")
    return "; ".join(cells)


def _versions_text(versions: Mapping[str, str]) -> str:
    return ", ".join(f"{n} {v}" for n, v in sorted(versions.items()))


def config_problems(config: Config, *, config_path: str) -> tuple[Problem, ...]:
    """A release repo's config must name its components, or no manifest can be checked against the world."""
    if config.release is not None and not config.components:
        return (Problem(config_path, None, "`release` is set but `components` is empty: name each component's repo "
                        "and kind so the manifest can be checked"),)
    return ()


# --- rendering

def failing(problems: tuple[Problem, ...]) -> tuple[Problem, ...]:
    return tuple(p for p in problems if p.level is Level.FAILURE)


def problem_lines(problems: tuple[Problem, ...]) -> list[str]:
    icon = {Level.FAILURE: "❌", Level.WARNING: "⚠️", Level.NOTICE: "ℹ️"}
    return [f"- {icon[p.level]} `{p.file}`" + (f" line {p.line}" if p.line else "") + f": {p.message}"
            for p in problems]


def annotations_for(problems: tuple[Problem, ...]) -> tuple[Annotation, ...]:
    # Annotations must name a file of this repository; org-level config problems stay in the summary.
    # GitHub takes at most 50 per request: https://docs.github.com/en/rest/checks/runs#update-a-check-run
    return tuple(Annotation.from_problem(p) for p in problems if ":" not in p.file)[:50]


def problems_check(name: str, *, head_sha: str, title: str, problems: tuple[Problem, ...], lead: str = "",
                   details_url: str | None = None) -> CheckResult:
    """A failing check that lists user mistakes, each annotated on its file and line."""
    summary = (lead + "\n\n" if lead else "") + "\n".join(problem_lines(problems))
    return CheckResult(name=name, head_sha=head_sha, conclusion=Conclusion.FAILURE, title=title, summary=summary,
                       annotations=annotations_for(problems), details_url=details_url)


def manifest_check(verdict: ManifestVerdict, *, path: str, head_sha: str, rollback: bool = False,
                   details_url: str | None = None) -> CheckResult:
    """The `release-coordinator/manifest` check run for a manifest that parsed."""
    bad = failing(verdict.problems)
    # A column of "—" in every row said nothing: the column shows only when some component declares `requires`.
    declared = any(r.compatibility != "—" for r in verdict.rows)
    table = ["| component | kind | from | to | bump | commits |" + (" compatibility |" if declared else ""),
             "| --- | --- | --- | --- | --- | --- |" + (" --- |" if declared else "")]
    table += [f"| {r.component} | {r.kind} | {r.old} | {r.new} | {r.bump} | {r.commits} |"
              + (f" {r.compatibility} |" if declared else "") for r in verdict.rows]
    if not declared and verdict.rows:
        table.append("\nNo component declares `versioning.requires`, so no compatibility between components is "
                     "checked.")
    if bad:
        title = f"{len(bad)} problem{'s' if len(bad) > 1 else ''} in {path}"
        lead = f"`{path}` cannot be released as it is:"
    elif rollback:
        title = f"Valid rollback to {verdict.rollback_of}"
        lead = f"`{path}` restores the versions of {verdict.rollback_of}."
    else:
        title = "Manifest valid: " + ", ".join(f"{r.component} {r.new}" for r in verdict.rows)
        lead = f"`{path}` is valid: every version is tagged, moves forward and agrees with its commits."
    parts = [lead]
    if verdict.problems:
        parts.append("\n".join(problem_lines(verdict.problems)))
    parts.append("\n".join(table))
    if verdict.details:
        parts.append("\n".join(verdict.details))
    return CheckResult(name=MANIFEST, head_sha=head_sha, conclusion=Conclusion.FAILURE if bad else Conclusion.SUCCESS,
                       title=title, summary="\n\n".join(parts), annotations=annotations_for(verdict.problems),
                       details_url=details_url)


_SEVERITY = {Conclusion.FAILURE: 3, Conclusion.ACTION_REQUIRED: 3, Conclusion.PENDING: 2, Conclusion.NEUTRAL: 1,
             Conclusion.SKIPPED: 1, Conclusion.SUCCESS: 0}


def unchanged_check(name: str, *, head_sha: str, details_url: str | None = None) -> CheckResult:
    """SPEC §4: on the release repo `manifest`, `window` and `promotion` are posted on every pull request, so that
    branch protection can require them; one that changes no environment's manifest releases nothing and passes."""
    return CheckResult(name=name, head_sha=head_sha, conclusion=Conclusion.SUCCESS, title="Manifest unchanged",
                       summary="This pull request changes no release manifest: it releases nothing, so there is "
                               "nothing to check here.", details_url=details_url)


def combine_checks(results: list[CheckResult]) -> CheckResult:
    """One check run for a change to several environments' manifests: the worst conclusion, each summary in turn."""
    if len(results) == 1:
        return results[0]
    worst = max(results, key=lambda r: _SEVERITY.get(r.conclusion, 3))
    return CheckResult(
        name=worst.name, head_sha=worst.head_sha, conclusion=worst.conclusion,
        title="; ".join(r.title for r in results)[:200],
        summary="\n\n---\n\n".join(r.summary for r in results),
        annotations=tuple(a for r in results for a in r.annotations)[:50], details_url=worst.details_url,
    )
