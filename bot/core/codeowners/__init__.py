"""CODEOWNERS for GitHub and GitLab: parse once, then answer who owns a path and which line decided it."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._glob import Platform
from ._index import Index
from ._parse import DEFAULT_SECTION, MAX_BYTES, CodeownersError, Parsed, Rule, Section, parse_text

__all__ = [
    "DEFAULT_SECTION",
    "MAX_BYTES",
    "Codeowners",
    "CodeownersError",
    "Match",
    "Platform",
    "Rule",
    "Section",
    "SectionMatch",
    "parse",
]


@dataclass(frozen=True, slots=True)
class Match:
    """GitHub: the last line matching `path` decided it; owners == () means that line leaves it unowned."""

    path: str
    owners: tuple[str, ...]
    line: int
    pattern: str


@dataclass(frozen=True, slots=True)
class SectionMatch:
    """GitLab: the line that decided `path` within one section; each section is its own approval rule.

    `section` is the name as first spelled in the file (duplicates merge case-insensitively); `optional` and
    `approvals_required` come from the heading the deciding line sits under, since a merged name may appear once
    as "[Database]" and once as "^[Database]"."""

    section: str
    optional: bool
    approvals_required: int
    owners: tuple[str, ...]
    line: int
    pattern: str


def parse(text: str | bytes, *, platform: str = "github") -> Codeowners:
    """Parse a CODEOWNERS file; bad lines become `errors` and the valid lines still apply. Never raises on content."""
    return Codeowners(parse_text(text, Platform(platform)))


class Codeowners:
    """A parsed CODEOWNERS file with its rules indexed for lookup (build it with `parse`)."""

    __slots__ = ("_parsed", "_rules", "_index", "_matchers")

    def __init__(self, parsed: Parsed) -> None:
        self._parsed = parsed
        self._rules: tuple[Rule, ...] = parsed.rules
        self._index = Index([rule.compiled for rule in parsed.rules], [(rule.section, rule.exclusion) for rule in parsed.rules])
        self._matchers: list = [None] * len(parsed.rules)  # rid -> regex fullmatch, compiled on first use

    @property
    def platform(self) -> str:
        return self._parsed.platform.value

    @property
    def errors(self) -> tuple[CodeownersError, ...]:
        return self._parsed.errors

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The valid lines, in file order (invalid ones are in `errors`)."""
        return self._rules

    @property
    def sections(self) -> tuple[Section, ...]:
        """GitLab: "codeowners" (lines before any heading) then each distinct section, in file order."""
        return self._parsed.sections

    def __repr__(self) -> str:
        return f"<Codeowners {self.platform} rules={len(self._rules)} errors={len(self.errors)}>"

    # GitHub --------------------------------------------------------------------------------------------------------

    def owners_of(self, path: str) -> Match | None:
        """GitHub rules: the last matching line wins; None when no line matches."""
        if self._parsed.platform is Platform.GITLAB:
            raise ValueError("a GitLab CODEOWNERS has sections: use sections_of()")
        rid = self._last_match(path)
        if rid < 0:
            return None
        rule = self._rules[rid]
        return Match(path, rule.owners, rule.line, rule.pattern)

    def resolve(self, paths: Iterable[str]) -> dict[str, Match | None]:
        """owners_of for many paths at once (a pull request's files): each directory is looked up once."""
        if self._parsed.platform is Platform.GITLAB:
            raise ValueError("a GitLab CODEOWNERS has sections: use resolve_sections()")
        rules = self._rules
        cache: dict = {}
        resolved: dict[str, Match | None] = {}
        for path in paths:
            rid = self._last_match(path, cache)
            rule = rules[rid] if rid >= 0 else None
            resolved[path] = None if rule is None else Match(path, rule.owners, rule.line, rule.pattern)
        return resolved

    def _last_match(self, path: str, cache: dict | None = None) -> int:
        known, maybe = self._index.candidates(path, cache)
        best = max(known) if known else -1
        if maybe:
            slashed = None
            matchers = self._matchers
            for rid in sorted(set(maybe), reverse=True):
                if rid <= best:
                    break
                slashed = slashed or "/" + path
                if (matchers[rid] or self._compile(rid))(slashed):
                    return rid
        return best

    def _compile(self, rid: int):
        matcher = self._matchers[rid] = self._rules[rid].compiled.regex().fullmatch
        return matcher

    # GitLab --------------------------------------------------------------------------------------------------------

    def sections_of(self, path: str) -> tuple[SectionMatch, ...]:
        """GitLab rules: per section, the last matching line wins, unless a `!` line of that section excludes the
        path (https://docs.gitlab.com/user/project/codeowners/reference/#exclusion-patterns). One entry per matching
        section, in file order. On a GitHub file: the single deciding line, as a section named ""."""
        if self._parsed.platform is Platform.GITHUB:
            match = self.owners_of(path)
            return () if match is None else (SectionMatch("", False, 1, match.owners, match.line, match.pattern),)
        return self._sections(path, None)

    def _sections(self, path: str, cache: dict | None) -> tuple[SectionMatch, ...]:
        known, maybe = self._index.candidates(path, cache)
        known_set = set(known)
        rules = self._rules
        matchers = self._matchers
        slashed = "/" + path
        decided: dict[int, Rule] = {}
        excluded: set[int] = set()
        for rid in sorted(known_set.union(maybe), reverse=True):
            rule = rules[rid]
            section = rule.section
            if section in excluded or (section in decided and not rule.exclusion):
                continue
            if rid in known_set or (matchers[rid] or self._compile(rid))(slashed):
                if rule.exclusion:
                    excluded.add(section)
                    decided.pop(section, None)
                else:
                    decided[section] = rule
        names = self._parsed.sections
        return tuple(
            SectionMatch(names[section].name, rule.optional, rule.approvals_required, rule.owners, rule.line, rule.pattern)
            for section, rule in sorted(decided.items())
        )

    def resolve_sections(self, paths: Iterable[str]) -> dict[str, tuple[SectionMatch, ...]]:
        """sections_of for many paths at once: each directory is looked up once."""
        if self._parsed.platform is Platform.GITHUB:
            return {path: self.sections_of(path) for path in paths}
        cache: dict = {}
        return {path: self._sections(path, cache) for path in paths}
