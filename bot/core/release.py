"""The coordinated release (SPEC §6, §7) as values: release id, tag message and trailers, changelog, rollback."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, NamedTuple

import semver

from bot.core import conventional
from bot.core.checks import Problem


class GitHubWebLinks:
    """Web links on GitHub (or GHES) from its root URL: what `web_url` strings mean. A forge's own links value
    (bot.forge.layout.WebLinks: GitLab routes under /-/) may be passed wherever a web_url is taken instead."""

    def __init__(self, web_url: str) -> None:
        self.web_url = web_url.rstrip("/")

    def pull(self, repo: str, number: int) -> str:
        return f"{self.web_url}/{repo}/pull/{number}"

    def commit(self, repo: str, sha: str) -> str:
        return f"{self.web_url}/{repo}/commit/{sha}"

    def compare(self, repo: str, base: str, head: str) -> str:
        return f"{self.web_url}/{repo}/compare/{base}...{head}"

    def release(self, repo: str, tag: str) -> str:
        return f"{self.web_url}/{repo}/releases/tag/{tag}"


def web_links(web_url) -> "GitHubWebLinks":
    """A web_url string (GitHub's root, as the CLI takes it) or a forge's links value, as links."""
    return GitHubWebLinks(web_url) if isinstance(web_url, str) else web_url
from bot.core.config import CONFIG_PATH, Component, Config, Kind
from bot.core.environments import Environment

RELEASE_CHECK = "release-coordinator/release"

# Git trailers (git-interpret-trailers(1)): "Key: value" lines in the message's last paragraph. Machines read
# these instead of the tag name, which is ambiguous once versions carry pre-release parts (SPEC §6).
RELEASE_ID = "Release-Id"
COMPONENT_VERSION = "Component-Version"
ROLLBACK_OF = "Rollback-Of"  # the earlier release whose versions a rollback restores
ENVIRONMENT = "Environment"  # with `environments:`, the environment the release went to
VERIFIED_IN = "Verified-In"  # on promotion: "TAG SHA" of the earlier environment's release of the same set
REPEAT_OF = "Repeat-Of"  # moving forward again to a version set released before: that release's tag

_TRAILER = re.compile(r"^(?P<key>[A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(?P<value>.*?)\s*$")
_SIGNATURE = re.compile(r"\n-----BEGIN (?:PGP|SSH) SIGNATURE-----.*\Z", re.DOTALL)
_MAX_COMMITS_SHOWN = 250  # per component, so one huge range cannot drown the others
MAX_RELEASE_BODY = 120_000  # GitHub refuses a release body over 125,000 characters


# --------------------------------------------------------------------------------------------- trailers


class ReleaseTrailers(NamedTuple):
    release_id: str | None
    versions: Mapping[str, str]  # component name -> version
    rollback_of: str | None


class Lineage(NamedTuple):
    """The trailers SPEC §6 adds with environments: where a release went and what it follows from."""

    environment: str | None = None
    repeat_of: str | None = None
    verified_in: tuple[str, str] | None = None  # (tag, sha) of the earlier environment's release


@dataclass(frozen=True)
class ReleaseRecord:
    """One coordinated release as the history knows it: a tag of the release repo, its commit and versions."""

    tag: str
    commit_sha: str
    versions: Mapping[str, str]
    environment: str | None = None  # None: no Environment trailer (before `environments:`, or none configured)
    rollback_of: str | None = None
    repeat_of: str | None = None
    tagged_at: dt.datetime | None = None
    from_manifest: bool = False  # no trailers: the versions were read from the manifest at the tagged commit

    @property
    def original(self) -> bool:
        """Neither a rollback nor a repeat: the release that first shipped its version set."""
        return self.rollback_of is None and self.repeat_of is None


def parse_trailers(message: str) -> dict[str, tuple[str, ...]]:
    """Every trailer of a commit or tag message, keys as first written, values in order."""
    body = _SIGNATURE.sub("", message.replace("\r\n", "\n")).strip("\n")
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", body) if p.strip()]
    if len(paragraphs) < 2:  # git: a message that is only trailers has no body to trail
        return {}
    found: dict[str, list[str]] = {}
    canonical: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.match(line)
        if match is None:
            return {}  # a prose paragraph that merely contains a colon is not a trailer block
        key = canonical.setdefault(match["key"].lower(), match["key"])  # git compares keys case-insensitively
        found.setdefault(key, []).append(match["value"])
    return {key: tuple(values) for key, values in found.items()}


def _trailer(trailers: Mapping[str, tuple[str, ...]], key: str) -> tuple[str, ...]:
    return next((values for name, values in trailers.items() if name.lower() == key.lower()), ())


def parse_release_trailers(message: str | None) -> ReleaseTrailers:
    """(release_id, versions, rollback_of) from a release tag's message; release_id None when it is not ours."""
    trailers = parse_trailers(message or "")
    release_id = next(iter(_trailer(trailers, RELEASE_ID)), None)
    if not release_id:
        return ReleaseTrailers(None, MappingProxyType({}), None)
    versions = {}
    for value in _trailer(trailers, COMPONENT_VERSION):
        name, sep, version = value.rpartition("=")  # versions never contain "=", names might
        if sep and name.strip() and version.strip():
            versions[name.strip()] = version.strip()
    rollback_of = next(iter(_trailer(trailers, ROLLBACK_OF)), None) or None
    return ReleaseTrailers(release_id, MappingProxyType(dict(sorted(versions.items()))), rollback_of)


def parse_lineage(message: str | None) -> Lineage:
    """Environment, Repeat-Of and Verified-In trailers of a release tag's message."""
    trailers = parse_trailers(message or "")
    environment = next(iter(_trailer(trailers, ENVIRONMENT)), None) or None
    repeat_of = next(iter(_trailer(trailers, REPEAT_OF)), None) or None
    tag, _, sha = (next(iter(_trailer(trailers, VERIFIED_IN)), None) or "").partition(" ")
    return Lineage(environment, repeat_of, (tag, sha.strip()) if tag and sha.strip() else None)


# --------------------------------------------------------------------------------------------- templates


class TemplateError(ValueError):
    """A release.tag / release.tag_message template that cannot be filled from the manifest."""


_TOKEN = re.compile(r"\{\{|\}\}|\{(?P<name>[^{}]*)\}")
_SUFFIX = "_version"


def render_template(
    template: str, *, versions: Mapping[str, str], components: Mapping[str, Component], extra: Mapping[str, str] = MappingProxyType({})
) -> str:
    """Fill {application_version}, {infrastructure_version} and {<component-name>_version} placeholders.

    Placeholders are matched literally, not with str.format, so component names with dashes or dots work:
    `{payments-app_version}`. A component named exactly "application" wins over the kind placeholder.
    `{{` and `}}` stand for literal braces. `extra` adds names such as `release_id` (tag messages only).
    """

    def fill(match: re.Match) -> str:
        if match["name"] is None:
            return match.group()[0]
        name = match["name"].strip()
        if name in extra:
            return extra[name]
        if name.endswith(_SUFFIX):
            key = name[: -len(_SUFFIX)]
            if key in versions:
                return versions[key]
            kinds = {kind.value: kind for kind in Kind}
            if key in kinds:
                of_kind = sorted(c.name for c in components.values() if c.kind is kinds[key])
                if len(of_kind) == 1 and of_kind[0] in versions:
                    return versions[of_kind[0]]
                if len(of_kind) != 1:
                    raise TemplateError(
                        f"{{{name}}} needs exactly one component of kind {key}, the config has "
                        f"{len(of_kind)} ({', '.join(of_kind) or 'none'}); use {{<component-name>_version}}"
                    )
                raise TemplateError(f"{{{name}}}: the manifest has no version for {of_kind[0]}")
            raise TemplateError(f"{{{name}}}: no component named {key!r} in the manifest")
        known = ", ".join(f"{{{n}_version}}" for n in sorted(versions))
        raise TemplateError(f"unknown placeholder {{{name}}}; known: {known}")

    return _TOKEN.sub(fill, template)


def ref_name_problem(name: str) -> str | None:
    """Why git would refuse `refs/tags/<name>` (git-check-ref-format(1)), or None when it is fine."""
    if not name:
        return "the tag name is empty"
    if re.search(r"[\x00-\x20\x7f~^:?*\[\\]", name):
        return f"tag name {name!r} contains a space, a control character or one of ~ ^ : ? * [ \\"
    if ".." in name or "@{" in name or "//" in name or name == "@":
        return f"tag name {name!r} contains '..', '@{{' or '//'"
    if name.startswith(("/", "-")) or name.endswith(("/", ".", ".lock")):
        return f"tag name {name!r} starts with '/' or '-', or ends with '/', '.' or '.lock'"
    if any(part.startswith(".") for part in name.split("/")):
        return f"tag name {name!r} has a path component starting with '.'"
    return None


def rollback_release_id(restored_id: str, *, pull_number: int) -> str:
    """A rollback needs its own tag: the restored release's tag already exists on an older commit.
    The pull request number makes it unique and stable across replays."""
    return f"{restored_id}-rollback-pr{pull_number}"


def repeat_release_id(plain_id: str, *, pull_number: int) -> str:
    """Moving forward again to a version set released before (SPEC §6): the plain id exists once, on the first
    release of the set; each later one is named after its pull request, stable across replays."""
    return f"{plain_id}-pr{pull_number}"


# --------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Approval:
    team: str  # "@org/slug", or a label for individual owners
    user: str
    sha: str | None  # the head sha the approval was given on


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    # The pull request the forge says brought this commit (Forge.merged_pulls_for_commits): asked only when the
    # message names none (a rebase merge, a GitLab squash without its trailer). None: unknown or none.
    pull_number: int | None = None
    parents: tuple[str, ...] = ()  # first parent first; a merge commit has two


@dataclass(frozen=True)
class ComponentChange:
    name: str
    repo: str  # "owner/name"
    old: str | None  # None: first release of this component
    new: str
    commits: tuple[CommitInfo, ...] | None = ()  # None: the forge could not list them
    tag_prefix: str = "v"

    def compare_url(self, web_url: str) -> str:
        older, newer = (self.new, self.old) if self.direction == "rolled back" else (self.old, self.new)
        return web_links(web_url).compare(self.repo, f"{self.tag_prefix}{older}", f"{self.tag_prefix}{newer}")

    @property
    def direction(self) -> str:
        """"added", "unchanged", "upgraded" or "rolled back" (the new version is older)."""
        if self.old is None:
            return "added"
        if self.old == self.new:
            return "unchanged"
        try:
            older = semver.Version.parse(self.new) < semver.Version.parse(self.old)
        except ValueError:
            older = False
        return "rolled back" if older else "upgraded"


@dataclass(frozen=True)
class Provenance:
    """Where the release came from: the merged pull request and who approved it."""

    pull_number: int | None = None
    pull_url: str | None = None
    head_sha: str | None = None
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class ReleasePlan:
    release_id: str
    title: str  # the tag_message template line
    tag_message: str
    changelog_entry: str  # Markdown, starting with "## [release id]"
    release_body: str  # the entry without its heading, for the GitHub Release
    versions: Mapping[str, str]
    rollback_of: str | None = None
    environment: str | None = None  # with `environments:`, where this release goes
    repeat_of: str | None = None
    verified_in: tuple[str, str] | None = None  # (tag, sha) of the earlier environment's release


# --------------------------------------------------------------------------------------------- planning


def plan_release(
    *,
    config: Config,
    versions: Mapping[str, str],
    rollback: bool,
    notes: str,
    changes: tuple[ComponentChange, ...],
    provenance: Provenance,
    date: dt.date,
    restored_id: str | None = None,
    repeat_of: str | None = None,
    environment: Environment | None = None,
    verified_in: tuple[str, str] | None = None,
    web_url: str = "https://github.com",
    release_repo: str | None = None,
    config_path: str = CONFIG_PATH,  # where the problems point: GitLab's .gitlab/release-coordinator.yml
) -> tuple[ReleasePlan | None, tuple[Problem, ...]]:
    """Everything merging this manifest writes, or the config problems that prevent it.

    For a rollback, `restored_id` is the earlier release with these versions (None when no tag records
    it); the rollback gets its own id, derived from that release's and the pull request number. `repeat_of`:
    not a rollback, but this environment released these versions before (that release's tag): the release is
    named after the pull request (SPEC §6). `environment` prefixes the id and adds the Environment trailer when
    configured; `verified_in` (tag, sha) is the earlier environment's release this promotion was verified by.
    """
    release = config.release
    if release is None:
        return None, (Problem(config_path, None, "this repository has no `release:` section"),)
    try:
        base_id = render_template(release.tag, versions=versions, components=config.components)
    except TemplateError as exc:
        return None, (Problem(config_path, None, f"release.tag: {exc}"),)
    if environment is not None:
        base_id = environment.release_id(base_id)
    release_id = base_id
    if rollback and provenance.pull_number is not None:
        release_id = rollback_release_id(restored_id or base_id, pull_number=provenance.pull_number)
    elif repeat_of is not None and provenance.pull_number is not None:
        release_id = repeat_release_id(base_id, pull_number=provenance.pull_number)
    bad_name = ref_name_problem(release_id)
    if bad_name:
        return None, (Problem(config_path, None, f"release.tag: {bad_name}"),)
    try:
        title = render_template(
            release.tag_message, versions=versions, components=config.components, extra={"release_id": release_id}
        )
    except TemplateError as exc:
        return None, (Problem(config_path, None, f"release.tag_message: {exc}"),)
    rollback_of = (restored_id or None) if rollback else None
    message = render_tag_message(
        title=title, release_id=release_id, versions=versions, provenance=provenance, rollback_of=rollback_of,
        environment=environment.name if environment is not None and environment.configured else None,
        repeat_of=None if rollback else repeat_of, verified_in=verified_in,
    )
    release_url = web_links(web_url).release(release_repo, release_id) if release_repo else None
    body = render_notes(
        title=title, changes=changes, provenance=provenance, notes=notes, rollback=rollback,
        rollback_of=rollback_of, web_url=web_url, release_repo=release_repo,
    )
    env_name = environment.name if environment is not None and environment.configured else None
    body = _with_lineage(body, environment=env_name, repeat_of=None if rollback else repeat_of, verified_in=verified_in)
    heading = f"[{release_id}]({release_url})" if release_url else f"[{release_id}]"
    entry = f"## {heading} - {date.isoformat()}\n\n{body}"
    if len(body) > MAX_RELEASE_BODY:
        cut = body.rfind("\n", 0, MAX_RELEASE_BODY - 200)
        body = body[:cut] + f"\n\n…the full notes are in the changelog entry for {release_id}.\n"
    plan = ReleasePlan(
        release_id=release_id, title=title, tag_message=message, changelog_entry=entry, release_body=body,
        versions=MappingProxyType(dict(versions)), rollback_of=rollback_of, environment=env_name,
        repeat_of=None if rollback else repeat_of, verified_in=verified_in,
    )
    return plan, ()


def _with_lineage(body: str, *, environment: str | None, repeat_of: str | None,
                  verified_in: tuple[str, str] | None) -> str:
    """The lines after the title that say where this release went and what it follows from."""
    lines = []
    if environment:
        lines.append(f"**Environment:** {environment}")
    if verified_in:
        lines.append(f"**Verified in:** `{verified_in[0]}` at `{verified_in[1][:12]}`")
    if repeat_of:
        lines.append(f"**Repeat of:** `{repeat_of}` (these versions were released before)")
    if not lines:
        return body
    block = "  \n".join(lines)  # a Markdown line break between them
    title, sep, rest = body.partition("\n\n")
    if not sep:
        return f"{body}\n\n{block}\n"
    return f"{title}\n\n{block}\n\n{rest}"


def render_tag_message(
    *,
    title: str,
    release_id: str,
    versions: Mapping[str, str],
    provenance: Provenance,
    rollback_of: str | None = None,
    environment: str | None = None,
    repeat_of: str | None = None,
    verified_in: tuple[str, str] | None = None,
) -> str:
    """Template line, provenance paragraph, then the trailer block (always the last paragraph)."""
    lines = [title.strip() or release_id, ""]
    if provenance.pull_url or provenance.pull_number is not None:
        lines.append(f"Pull request: {provenance.pull_url or '#' + str(provenance.pull_number)}")
    if provenance.head_sha:
        lines.append(f"Pull request head: {provenance.head_sha}")
    if provenance.approvals:
        lines.append("Approved by:")
        for team, approvals in _by_team(provenance.approvals):
            who = ", ".join(f"{a.user} at {a.sha[:12]}" if a.sha else a.user for a in approvals)
            lines.append(f"  {team}: {who}")
    if len(lines) > 2:
        lines.append("")
    lines.append(f"{RELEASE_ID}: {release_id}")
    lines.extend(f"{COMPONENT_VERSION}: {name}={version}" for name, version in sorted(versions.items()))
    if rollback_of:
        lines.append(f"{ROLLBACK_OF}: {rollback_of}")
    if repeat_of:
        lines.append(f"{REPEAT_OF}: {repeat_of}")
    if environment:
        lines.append(f"{ENVIRONMENT}: {environment}")
    if verified_in:
        lines.append(f"{VERIFIED_IN}: {verified_in[0]} {verified_in[1]}")
    return "\n".join(lines) + "\n"


def _by_team(approvals: tuple[Approval, ...]) -> list[tuple[str, list[Approval]]]:
    teams: dict[str, list[Approval]] = {}
    for approval in approvals:
        teams.setdefault(approval.team, []).append(approval)
    return list(teams.items())


# --------------------------------------------------------------------------------------------- changelog

_GROUPS = ("Breaking changes", "Features", "Fixes", "Other")
_MERGE_HEADER = re.compile(r"^Merge (pull request|branch|remote-tracking branch) ")
_BARE_REF = re.compile(r"(?<![\w/\[])([#!])(\d+)\b")  # #12, and GitLab's merge request !12


def render_notes(
    *,
    title: str,
    changes: tuple[ComponentChange, ...],
    provenance: Provenance,
    notes: str,
    rollback: bool,
    rollback_of: str | None,
    web_url: str = "https://github.com",
    release_repo: str | None = None,
) -> str:
    """The Markdown shared by the changelog entry and the GitHub Release body."""
    out = [title.strip(), ""]
    if rollback:
        restored = f"`{rollback_of}`" if rollback_of else "an earlier release (no release tag records these versions)"
        out += [f"**Rollback:** restores the versions of {restored}.", ""]
    out += ["| Component | Version | Change |", "| --- | --- | --- |"]
    for change in changes:
        version = change.new if change.old in (None, change.new) else f"{change.old} → {change.new}"
        out.append(f"| {_cell(change.name)} | {version} | {change.direction} |")
    out.append("")
    for change in changes:
        if change.direction in ("unchanged", "added"):
            continue
        out += _component_section(change, web_url=web_url)
    if provenance.approvals:
        out += ["### Approvals", ""]
        for team, approvals in _by_team(provenance.approvals):
            out.append(f"- `{team}`: " + ", ".join(f"@{a.user}" for a in approvals))
        out.append("")
    if notes.strip():
        out += ["### Notes", "", notes.strip(), ""]
    if provenance.pull_number is not None and release_repo:
        link = provenance.pull_url or web_links(web_url).pull(release_repo, provenance.pull_number)
        out += [f"Released by [{release_repo}#{provenance.pull_number}]({link}).", ""]
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def component_notes(change: ComponentChange, *, web_url: str,
                    authors: Mapping[str, str] = MappingProxyType({})) -> list[str]:
    """One component's changelog section (heading, Breaking / Features / Fixes / Other), as Markdown lines;
    `authors` (commit sha -> login) adds "by @login" to each line. The release plan (bot.core.plan) reuses it."""
    return _component_section(change, web_url=web_url, authors=authors)


def _component_section(change: ComponentChange, *, web_url: str,
                       authors: Mapping[str, str] = MappingProxyType({})) -> list[str]:
    withdrawn = change.direction == "rolled back"
    heading = f"### {change.name} [{change.old} → {change.new}]({change.compare_url(web_url)})"
    out = [heading + (" (rollback)" if withdrawn else ""), ""]
    if change.commits is None:
        return out + [f"_The commits between {change.old} and {change.new} could not be read from {change.repo}._", ""]
    if withdrawn:
        out += [f"These changes from {change.repo} are withdrawn:", ""]
    groups: dict[str, list[str]] = {group: [] for group in _GROUPS}
    shown = [c for c in change.commits if not _MERGE_HEADER.match(c.message)]
    for commit in shown[:_MAX_COMMITS_SHOWN]:
        parsed = conventional.parse(commit.message)
        groups[parsed.group].append(_commit_line(commit, parsed, repo=change.repo, web_url=web_url,
                                                 author=authors.get(commit.sha)))
    if not shown:
        out += ["_No commits between these versions._", ""]
    for group in _GROUPS:
        if groups[group]:
            out += [f"#### {group}", "", *groups[group], ""]
    if len(shown) > _MAX_COMMITS_SHOWN:
        more = len(shown) - _MAX_COMMITS_SHOWN
        out += [f"…and {more} more commits ([compare]({change.compare_url(web_url)})).", ""]
    return out


def _commit_line(commit: CommitInfo, parsed: conventional.ConventionalCommit, *, repo: str, web_url: str,
                 author: str | None = None) -> str:
    description = parsed.description
    if parsed.pull_number is not None:
        description = re.sub(r"\s*\((?:#|!)\d+\)\s*$", "", description)
    # In a file or release of the release repo a bare #12 would point at the release repo's own issue 12.
    description = _BARE_REF.sub(lambda m: f"{repo}{m.group(1)}{m.group(2)}", description)
    scope = f"**{parsed.scope}:** " if parsed.scope else ""
    line = f"- {scope}{description}"
    number = parsed.pull_number if parsed.pull_number is not None else commit.pull_number
    if number is not None:
        ref = getattr(web_links(web_url), "pull_ref", lambda n: f"#{n}")(number)  # !12 on GitLab
        line += f" ([{ref}]({web_links(web_url).pull(repo, number)}))"
    line += f" ([`{commit.sha[:7]}`]({web_links(web_url).commit(repo, commit.sha)}))"
    return line + (f" by @{author}" if author else "")


DEFAULT_CHANGELOG_HEADER = (
    "# Changelog\n\nCoordinated releases, newest first. Written by release-coordinator when a release "
    "manifest change merges.\n\n"
)


def has_entry(changelog: str, release_id: str) -> bool:
    return re.search(rf"^## \[{re.escape(release_id)}\]", changelog, re.MULTILINE) is not None


def prepend_entry(existing: bytes | None, *, entry: str, release_id: str) -> bytes | None:
    """The changelog with `entry` before the first `## ` entry (the title and preamble stay on top, the rest
    byte-for-byte). None when an entry for this release id is already there: nothing to write."""
    if existing is None or not existing.strip():
        return (DEFAULT_CHANGELOG_HEADER + entry.rstrip("\n") + "\n").encode()
    text = existing.decode("utf-8", errors="surrogateescape")
    if has_entry(text, release_id):
        return None
    newline = "\r\n" if "\r\n" in text else "\n"
    block = entry.rstrip("\n").replace("\n", newline) + newline + newline
    first = re.search(r"^## ", text, re.MULTILINE)
    if first is None:  # only a preamble so far
        # append the blank line(s) the entry needs; never rewrite the preamble's own bytes (a stray CR included)
        head = text if text.endswith(newline * 2) else text + (newline if text.endswith(newline) else newline * 2)
        return (head + block.rstrip("\r\n") + newline).encode("utf-8", errors="surrogateescape")
    return (text[: first.start()] + block + text[first.start():]).encode("utf-8", errors="surrogateescape")


# --------------------------------------------------------------------------------------------- rollback


@dataclass(frozen=True)
class RollbackCommand:
    target: str | None  # release id named in the comment; None: the release before the current one


_COMMAND = re.compile(r"\A\s*/rollback(?:[ \t]+(?P<target>\S+))?[ \t]*(?:\r?\n|\Z)")


def parse_rollback_command(body: str | None) -> RollbackCommand | None:
    """`/rollback` or `/rollback RELEASE_ID` at the start of a comment; None for anything else."""
    match = _COMMAND.match(body or "")
    if match is None:
        return None
    return RollbackCommand(target=match["target"])


_PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def rollback_manifest_text(
    current: bytes | None, *, versions: Mapping[str, str], config: Config, notes: str
) -> bytes:
    """The manifest that restores `versions`, with `rollback: true`, in the same form as `current`:
    the short form when the current file uses it and the components allow it, else the general form.
    Leading comment lines of the current file are kept."""
    text = (current or b"").decode("utf-8", errors="replace")
    header = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        header.append(line)
    short_keys = _short_form_keys(config, versions)
    short = short_keys is not None and re.search(r"^\s+(application|infrastructure)_version\s*:", text, re.MULTILINE)
    lines = [*header, "release:"]
    if short:
        lines += [f"  {key}: {versions[name]}" for key, name in short_keys]
    else:
        lines.append("  components:")
        lines += [f"    {_yaml_key(name)}: {version}" for name, version in sorted(versions.items())]
    lines.append("  rollback: true")
    if notes:
        lines.append(f"  notes: {json.dumps(notes, ensure_ascii=False)}")  # a JSON string is a YAML string
    return ("\n".join(lines) + "\n").encode()


def _short_form_keys(config: Config, versions: Mapping[str, str]) -> list[tuple[str, str]] | None:
    keys = []
    for kind in (Kind.APPLICATION, Kind.INFRASTRUCTURE):
        names = [c.name for c in config.components.values() if c.kind is kind]
        if len(names) != 1 or names[0] not in versions:
            return None
        keys.append((f"{kind.value}_version", names[0]))
    return keys if len(versions) == 2 else None


def _yaml_key(name: str) -> str:
    return name if _PLAIN_KEY.fullmatch(name) and name.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "~") else json.dumps(name)


def versions_equal(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Same components at the same versions; build metadata counts, as it names a different tag."""
    return dict(a) == dict(b)
