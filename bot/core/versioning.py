"""Version files, required bump levels and semver ranges (SPEC §3 `versioning`, §4 semver check)."""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from typing import Iterable, Sequence

import semver

from bot.core import yamlsafe
from bot.core.checks import SEMVER, Annotation, CheckResult, Conclusion, Level
from bot.core.conventional import Bump, ConventionalCommit, parse

MAX_VERSION_FILE_BYTES = 1024 * 1024
LABELS = {"semver:major": Bump.MAJOR, "semver:minor": Bump.MINOR, "semver:patch": Bump.PATCH}
_PART = {Bump.MAJOR: "major", Bump.MINOR: "minor", Bump.PATCH: "patch"}


class VersionFileError(ValueError):
    """The version file exists but yields no version; message says why (with the line when known)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


def split_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """"pyproject.toml#project.version" -> ("pyproject.toml", ("project", "version")); "VERSION" -> ("VERSION", ())."""
    path, _, keys = spec.partition("#")
    return path, tuple(k for k in keys.split(".") if k)


def read_version(spec: str, content: bytes) -> str:
    """The version string a version file holds, by its format (plain text, YAML, TOML, JSON)."""
    path, keys = split_spec(spec)
    lower = path.lower()
    if not keys:
        text = content.decode("utf-8", errors="replace").strip()
        first = text.splitlines()[0].strip() if text else ""
        if not first:
            raise VersionFileError(f"{path} is empty", 1)
        return first
    if lower.endswith((".yaml", ".yml")):
        try:
            loaded = yamlsafe.load(content, max_bytes=MAX_VERSION_FILE_BYTES)
        except yamlsafe.YamlError as exc:
            raise VersionFileError(f"{path}: {exc.message}", exc.line) from None
        data, line = loaded.data, loaded.line_of(*keys)
    elif lower.endswith(".toml"):
        _refuse_deep_nesting(path, content, hash_comments=True)
        try:
            data = tomllib.loads(content.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise VersionFileError(f"{path}: invalid TOML: {exc}") from None
        line = None
    elif lower.endswith(".json"):
        _refuse_deep_nesting(path, content, hash_comments=False)
        try:
            data = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VersionFileError(f"{path}: invalid JSON: {exc}", getattr(exc, "lineno", None)) from None
        line = None
    else:
        raise VersionFileError(f"{path}: cannot read keys from this file type; use .yaml, .toml or .json")
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            raise VersionFileError(f"{path} has no `{'.'.join(keys)}`", line)
        data = data[key]
    if not isinstance(data, str):
        raise VersionFileError(f"{path}: `{'.'.join(keys)}` is {data!r}; write the version as a quoted string", line)
    return data.strip()


def _refuse_deep_nesting(path: str, content: bytes, *, hash_comments: bool) -> None:
    # json and tomllib recurse per level: a pull request's 100,000-deep array would crash the check, not fail it
    line = yamlsafe.too_deep(content.decode("utf-8", errors="replace"), hash_comments=hash_comments)
    if line is not None:
        raise VersionFileError(f"{path}: nests deeper than {yamlsafe.MAX_DEPTH} levels", line)


def parse_version(text: str) -> semver.Version | None:
    return semver.Version.parse(text) if semver.Version.is_valid(text) else None


def version_problem(text: str) -> str | None:
    if text[:1] in ("v", "V") and semver.Version.is_valid(text[1:]):
        return f"write {text[1:]}, not {text}"
    if not semver.Version.is_valid(text):
        return f"`{text}` is not a semver 2.0.0 version (MAJOR.MINOR.PATCH, e.g. 1.5.3)"
    return None


# --- bump levels

def bump_name(level: Bump) -> str:
    return _PART.get(level, "none")


def effective(level: Bump, *, base: semver.Version | None) -> Bump:
    """SemVer §4: below 1.0.0 anything may change, so a breaking change needs only a minor bump."""
    if level is Bump.MAJOR and base is not None and base.major == 0:
        return Bump.MINOR
    return level


def bump_between(old: semver.Version, new: semver.Version) -> str:
    """What moved from old to new: major | minor | patch | pre-release | none | downgrade."""
    if new < old:
        return "downgrade"
    if new.major != old.major:
        return "major"
    if new.minor != old.minor:
        return "minor"
    if new.patch != old.patch:
        return "patch"
    return "pre-release" if new.prerelease != old.prerelease else "none"


def satisfies_level(old: semver.Version, new: semver.Version, level: Bump) -> bool:
    """new moves at least `level` past old, by semver's next_version rules (a pre-release of the target counts)."""
    if level is Bump.NONE:
        return new >= old
    floor = old.next_version(_PART[level])
    return new.replace(prerelease=None, build=None) >= floor.replace(prerelease=None, build=None) and new > old


def allowed_next(base: semver.Version, level: Bump) -> semver.Version | None:
    """The one release version exactly one step at `level` after base (semver's next_version)."""
    return None if level is Bump.NONE else base.next_version(_PART[level])


def is_one_step(base: semver.Version, head: semver.Version, level: Bump) -> bool:
    """head is the next `level` version after base, or a pre-release of it that still sorts after base."""
    target = allowed_next(base, level)
    if target is None:
        return head == base
    head = head.replace(build=None)
    if head == target:
        return True
    return head.prerelease is not None and head.replace(prerelease=None) == target and head > base


@dataclass(frozen=True)
class Reason:
    """One commit (or the PR title, or a label) and the level it asks for."""

    source: str  # short sha, "PR title" or "label"
    header: str
    level: Bump


@dataclass(frozen=True)
class Requirement:
    level: Bump
    reasons: tuple[Reason, ...]  # what forced `level` (the strongest ones)
    nonconventional: tuple[Reason, ...]  # reported, not fatal
    labels: tuple[str, ...]  # semver:* labels present
    problems: tuple[str, ...]  # e.g. bump_from: labels and no label


def required_bump(
    commits: Sequence[tuple[str, str]], *, title: str | None, labels: Iterable[str], bump_from: str,
    base: semver.Version | None, floor: Bump = Bump.NONE,
) -> Requirement:
    """The level a change needs: from Conventional Commits (sha, message) and the PR title (squash merges
    make it the commit), from `semver:*` labels, or both (the stronger wins); never below `floor`."""
    judged: list[Reason] = []
    nonconventional: list[Reason] = []
    messages = [(sha[:7], message) for sha, message in commits]
    if title is not None:
        messages.append(("PR title", title))
    for source, message in messages:
        parsed: ConventionalCommit = parse(message)
        header = message.strip().splitlines()[0] if message.strip() else ""
        if source != "PR title" and header.startswith(("Merge branch ", "Merge pull request ", "Merge remote")):
            continue  # merge commits carry no intent of their own
        reason = Reason(source, header, effective(parsed.bump, base=base))
        (judged if parsed.is_conventional or parsed.breaking else nonconventional).append(reason)
    present = tuple(sorted(label for label in set(labels) if label.lower() in LABELS))
    label_reasons = [Reason("label", label, LABELS[label.lower()]) for label in present]
    problems: list[str] = []
    use_commits = bump_from in ("conventional-commits", "both")
    use_labels = bump_from in ("labels", "both")
    if bump_from == "labels" and not present:
        problems.append("add one of the labels semver:major, semver:minor, semver:patch (versioning.bump_from: labels)")
    candidates = (judged if use_commits else []) + (label_reasons if use_labels else [])
    level = max([floor, *(r.level for r in candidates)])
    forcing = tuple(r for r in candidates if r.level == level and level is not Bump.NONE)
    return Requirement(level, forcing, tuple(nonconventional) if use_commits else (), present, tuple(problems))


# --- ranges for versioning.requires: space-separated comparators, all must hold

_COMPARATOR = re.compile(r"(>=|<=|==|!=|>|<|=)?\s*([^\s<>=!]+)")


def parse_range(text: str) -> tuple[tuple[str, ...], str | None]:
    """">=2.1.0 <3.0.0" -> ((">=2.1.0", "<3.0.0"), None) or ((), why it is not a range)."""
    if not isinstance(text, str) or not text.strip():
        return (), "empty range"
    if "||" in text:
        return (), "`||` is not supported; list comparators separated by spaces (all must hold)"
    leftover = _COMPARATOR.sub("", text).strip()
    if leftover:
        return (), f"cannot read `{leftover}`; write comparators like >=2.1.0 <3.0.0"
    comparators = []
    for op, version in _COMPARATOR.findall(text.strip()):
        if not semver.Version.is_valid(version):
            return (), f"`{op}{version}` is not a comparator like >=2.1.0"
        comparators.append(f"{'==' if op in ('', '=') else op}{version}")
    return tuple(comparators), None


def satisfies(version: semver.Version, comparators: Sequence[str]) -> bool:
    # semver's Version.match, one comparator at a time; pre-releases compare by plain precedence
    # (3.0.0-rc.1 < 3.0.0), unlike npm ranges.
    return all(version.match(c) for c in comparators)


# --- ignore_paths: fnmatch-style globs where `**` crosses `/` and `*`/`?` do not

def _glob_regex(pattern: str) -> re.Pattern:
    pattern = pattern.strip().lstrip("/")
    if "/" not in pattern.rstrip("/"):
        pattern = "**/" + pattern  # like .gitignore: a bare name ("*.md") matches at any depth
    if pattern.endswith("/"):
        pattern += "**"  # "docs/" means everything below docs
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def path_ignored(path: str, patterns: Iterable[str]) -> bool:
    return any(_glob_regex(p).match(path) for p in patterns if p and p.strip())


# --- the semver check, decided

@dataclass(frozen=True)
class SemverVerdict:
    ok: bool
    title: str
    lines: tuple[str, ...]  # summary markdown, one entry per line
    problem_line: int | None = None  # line in the version file to annotate, when the file is at fault
    problem: str | None = None


def judge_semver(
    *, spec: str, base_content: bytes | None, head_content: bytes | None, changed_paths: Sequence[str],
    ignore_paths: Sequence[str], commits: Sequence[tuple[str, str]], title: str | None, labels: Iterable[str],
    bump_from: str,
) -> SemverVerdict:
    """SPEC §4: outside ignore_paths, the version moves exactly one step at the level the changes require."""
    path = split_spec(spec)[0]
    if head_content is None:
        return SemverVerdict(False, f"{path} not found", (f"`versioning.file` is `{spec}`, but {path} does not exist "
                                                          "at the head of this pull request.",))
    try:
        head_text = read_version(spec, head_content)
    except VersionFileError as exc:
        return SemverVerdict(False, "Version file unreadable", (exc.message,), exc.line or 1, exc.message)
    why = version_problem(head_text)
    if why:
        return SemverVerdict(False, "Not a semver version", (f"{spec}: {why}",), _line_in(spec, head_content), why)
    head = semver.Version.parse(head_text)
    base: semver.Version | None = None
    if base_content is not None:
        try:
            base = parse_version(read_version(spec, base_content))
        except VersionFileError:
            base = None
    # the version file itself is the bump, not a change that needs one
    relevant = [p for p in changed_paths if p != path and not path_ignored(p, ignore_paths)]
    floor = Bump.PATCH if relevant else Bump.NONE
    need = required_bump(commits, title=title, labels=labels, bump_from=bump_from, base=base, floor=floor)
    if not relevant:  # commit messages cannot ask for a release of files that need none
        need = Requirement(Bump.NONE, (), need.nonconventional, need.labels, ())
    lines: list[str] = [f"| | version |", "| --- | --- |", f"| base | {base or '(none)'} |", f"| head | {head} |", ""]
    if relevant:
        shown = ", ".join(f"`{p}`" for p in relevant[:5])
        shown += f" and {len(relevant) - 5} more" if len(relevant) > 5 else ""
        lines.append(f"Files outside `ignore_paths` changed: {shown}, so a release is needed (at least patch).")
    else:
        lines.append("Only files under `ignore_paths` changed: no bump needed.")
    if need.reasons:
        lines += ["", f"**Required: {bump_name(need.level)}**, because of:"]
        lines += [f"- {r.source}: {_md(r.header)} → {bump_name(r.level)}" for r in need.reasons]
    commits_off = [r for r in need.nonconventional if r.source != "PR title"]
    if commits_off:
        lines += ["", "Not Conventional Commits (counted as no bump; see https://www.conventionalcommits.org/):"]
        lines += [f"- {r.source}: {_md(r.header)}" for r in commits_off]
    if any(r.source == "PR title" for r in need.nonconventional):
        lines += ["", f"⚠️ The PR title \"{_md(title or '')}\" is not a Conventional Commit. A squash merge makes it the "
                  "commit message, so write it as one, e.g. `feat: …`, `fix: …` or `feat!: …`."]
    for text in need.problems:
        lines += ["", f"**{text}**"]
    ok, verdict_title = _verdict(base, head, need.level)
    if need.problems:
        ok, verdict_title = False, need.problems[0]
    lines += ["", verdict_title]
    return SemverVerdict(ok, verdict_title, tuple(lines), None if ok else _line_in(spec, head_content),
                         None if ok else verdict_title)


def _verdict(base: semver.Version | None, head: semver.Version, level: Bump) -> tuple[bool, str]:
    if base is None:
        return True, f"New version file: {head} (nothing to compare against)"
    head_cmp = head.replace(build=None)
    if level is Bump.NONE:
        if head_cmp == base.replace(build=None):
            return True, f"Version stays {base}: nothing to release"
        if any(is_one_step(base, head_cmp, lvl) for lvl in (Bump.PATCH, Bump.MINOR, Bump.MAJOR)):
            return True, f"{base} → {head}: one step, nothing required it"
        return False, f"{base} → {head} is not one step from {base}"
    target = allowed_next(base, level)
    if is_one_step(base, head_cmp, level):
        return True, f"{base} → {head}: one {bump_name(level)} step"
    if head_cmp == base.replace(build=None):
        return False, f"Version not bumped: needs a {bump_name(level)} bump to {target}"
    return False, f"{base} → {head} is wrong: a {bump_name(level)} change must go to {target} (or a pre-release of it)"


def _line_in(spec: str, content: bytes) -> int:
    """Best-effort line of the version in its file, for the annotation."""
    path, keys = split_spec(spec)
    if not keys:
        return 1
    key = keys[-1]
    for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
        if re.match(rf'\s*"?{re.escape(key)}"?\s*[:=]', line):
            return number
    return 1


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def semver_check(verdict: SemverVerdict, *, spec: str, head_sha: str, details_url: str | None = None) -> CheckResult:
    """The `release-coordinator/semver` check run; a wrong version is annotated on the version file."""
    annotations = ()
    if verdict.problem:
        line = verdict.problem_line or 1
        annotations = (Annotation(path=split_spec(spec)[0], start_line=line, end_line=line, level=Level.FAILURE,
                                  message=verdict.problem, title="Version bump"),)
    conclusion = Conclusion.SUCCESS if verdict.ok else Conclusion.FAILURE
    return CheckResult(name=SEMVER, head_sha=head_sha, conclusion=conclusion, title=verdict.title, summary="\n".join(verdict.lines), annotations=annotations,
                       details_url=details_url)
