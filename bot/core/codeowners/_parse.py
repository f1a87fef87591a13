"""CODEOWNERS text -> rules, sections and per-line errors, by GitHub's or GitLab's syntax; never raises."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ._glob import Compiled, PatternError, Platform, compile_github, compile_gitlab

# GitHub: "CODEOWNERS files must be under 3 MB in size. A CODEOWNERS file over this limit will not be loaded"
# https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners#codeowners-file-size
MAX_BYTES = 3 * 1024 * 1024

# GitLab's name for the entries before the first section heading.
DEFAULT_SECTION = "codeowners"

# A token runs to the next unescaped blank ("path\ with\ spaces/" is one token). Only ASCII blanks separate:
# paths may contain U+00A0 or U+202F, which str.split() would wrongly treat as separators.
_TOKEN = re.compile(r"(?:[^ \t\f\v\\]|\\.|\\$)+")

_GITHUB_OWNER = re.compile(
    r"@[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)?"  # @user, @org/team-slug
    r"|[^@\s/]+@[^@\s/]+\.[^@\s/]+"  # e-mail
)
_GITLAB_OWNER = re.compile(
    r"@@?[\w.-]+(?:/[\w.-]+)*"  # @user, @group/subgroup, @@role
    r"|[^@\s/]+@[^@\s/]+\.[^@\s/]+"
)
_GITLAB_HEADER = re.compile(r"(?P<optional>\^)?\[(?P<name>[^\]]*)\](?:\[(?P<approvals>[^\]]*)\])?(?P<rest>.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CodeownersError:
    """One problem on one line, shaped like GitHub's GET /repos/{owner}/{repo}/codeowners/errors items."""

    line: int
    kind: str
    message: str
    source: str
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    name: str  # first spelling seen; later duplicates (compared case-insensitively) merge into it


@dataclass(frozen=True, slots=True)
class Rule:
    line: int
    pattern: str  # as written (GitLab: without the leading "!")
    owners: tuple[str, ...]
    compiled: Compiled
    section: int = 0
    exclusion: bool = False
    optional: bool = False
    approvals_required: int = 1


@dataclass(frozen=True, slots=True)
class Parsed:
    platform: Platform
    rules: tuple[Rule, ...]
    sections: tuple[Section, ...]
    errors: tuple[CodeownersError, ...]


def parse_text(text: str | bytes, platform: Platform) -> Parsed:
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        error = CodeownersError(1, "File too large", f"CODEOWNERS is {size:,} bytes; the limit is {MAX_BYTES:,} (3 MB)", "")
        return Parsed(platform, (), (Section(DEFAULT_SECTION),), (error,))
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    if platform is Platform.GITLAB:
        return _parse_gitlab(text)
    return _parse_github(text)


def _lines(text: str):
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        stripped = line.strip(" \t\f\v")
        if stripped and not stripped.startswith("#"):
            yield number, line, stripped


def _parse_github(text: str) -> Parsed:
    rules: list[Rule] = []
    errors: list[CodeownersError] = []
    for number, line, stripped in _lines(text):
        pattern, *rest = _TOKEN.findall(stripped)
        owners: list[str] = []
        invalid: list[str] = []
        for token in rest:
            if token.startswith("#"):  # GitHub docs' example file uses "#" after the owners as an inline comment
                break
            (owners if _GITHUB_OWNER.fullmatch(token) else invalid).append(token)
        try:
            compiled = compile_github(pattern)
        except PatternError as exc:
            errors.append(CodeownersError(number, "Invalid pattern", f"Invalid pattern on line {number}: {exc}", line, exc.suggestion))
            continue
        if invalid:
            # "If any line in your CODEOWNERS file contains invalid syntax, that line will be skipped." (GitHub docs)
            for token in invalid:
                errors.append(CodeownersError(number, "Invalid owner", f"Invalid owner on line {number}: `{token}`", line))
            continue
        rules.append(Rule(number, pattern, tuple(owners), compiled))
    return Parsed(Platform.GITHUB, tuple(rules), (Section(""),), tuple(errors))


@dataclass(slots=True)
class _Heading:
    index: int
    optional: bool
    approvals: int
    owners: tuple[str, ...]


def _parse_gitlab(text: str) -> Parsed:
    """https://docs.gitlab.com/user/project/codeowners/reference/ (sections, defaults, exclusions, errors)."""
    rules: list[Rule] = []
    errors: list[CodeownersError] = []
    sections: list[Section] = [Section(DEFAULT_SECTION)]
    by_key: dict[str, int] = {DEFAULT_SECTION: 0}
    heading = _Heading(0, False, 1, ())
    for number, line, stripped in _lines(text):
        if stripped.startswith(("[", "^[")):
            parsed = _gitlab_heading(number, line, stripped, errors)
            if parsed is not None:
                name, optional, approvals, owners = parsed
                key = name.lower()
                if key not in by_key:
                    by_key[key] = len(sections)
                    sections.append(Section(name))
                heading = _Heading(by_key[key], optional, approvals, owners)
                continue
        exclusion = stripped.startswith("!")
        tokens = _TOKEN.findall(stripped[1:] if exclusion else stripped)
        if not tokens:
            errors.append(CodeownersError(number, "Invalid pattern", f"Exclusion on line {number} has no pattern", line))
            continue
        pattern, *rest = tokens
        owners = _gitlab_owners(number, line, rest, errors, kind="Malformed owners")
        if not owners and not exclusion:
            owners = heading.owners
            if not owners:
                errors.append(CodeownersError(number, "Zero owners", f"Entry on line {number} has no owners", line))
        rules.append(
            Rule(number, pattern, () if exclusion else owners, compile_gitlab(pattern), heading.index, exclusion,
                 heading.optional, heading.approvals)
        )
    return Parsed(Platform.GITLAB, tuple(rules), tuple(sections), tuple(errors))


def _gitlab_heading(number: int, line: str, stripped: str, errors: list[CodeownersError]):
    match = _GITLAB_HEADER.match(stripped)
    if match is None:
        # Docs, "Unparsable sections": GitLab reads an unterminated heading as an entry of the current section.
        errors.append(CodeownersError(number, "Invalid section format", f"Unparsable section heading on line {number}", line))
        return None
    name = match["name"].strip()
    if not name:
        errors.append(CodeownersError(number, "Missing section name", f"Section heading on line {number} has no name", line))
        return None
    approvals = 1
    if match["approvals"] is not None:
        if match["approvals"].isdigit() and int(match["approvals"]) >= 1:
            approvals = int(match["approvals"])
        else:
            # gitlab-org/gitlab#385881: a count below 1 (or not a number) is invalid and the default of 1 applies.
            errors.append(CodeownersError(number, "Invalid approval requirement",
                                          f"Section on line {number} needs a whole number of approvals of at least 1", line))
    rest = match["rest"]
    if rest and rest[0] not in " \t\f\v":
        errors.append(CodeownersError(number, "Invalid section format",
                                      f"Unexpected text after the section heading on line {number}", line))
        rest = ""
    owners = _gitlab_owners(number, line, _TOKEN.findall(rest), errors, kind="Invalid section owner format")
    return name, match["optional"] is not None, approvals, owners


def _gitlab_owners(number: int, line: str, tokens: list[str], errors: list[CodeownersError], *, kind: str) -> tuple[str, ...]:
    # Docs: "Inline comments are unsupported. Any Code Owners listed in a comment are parsed." Malformed owners
    # (no @, not an e-mail) are ignored and reported; the valid ones on the line still apply.
    owners = tuple(token for token in tokens if _GITLAB_OWNER.fullmatch(token))
    if len(owners) != len(tokens):
        bad = " ".join(f"`{token}`" for token in tokens if not _GITLAB_OWNER.fullmatch(token))
        errors.append(CodeownersError(number, kind, f"Ignored malformed owners on line {number}: {bad}", line))
    return owners
