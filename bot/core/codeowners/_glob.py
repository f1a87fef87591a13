"""CODEOWNERS patterns -> segment lists and compiled regexes, with GitHub's and GitLab's anchoring rules."""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# End of a pattern: what may follow the last segment in the path.
ANY = "any"  # the path itself or anything below it (a pattern naming a directory covers its files)
DIR = "dir"  # something below it only (trailing "/": directories only)
EXACT = "exact"  # nothing (GitHub's trailing "/*"; GitLab patterns, which File.fnmatch? matches whole)

GLOBSTAR = "**"


class Platform(str, Enum):
    GITHUB = "github"
    GITLAB = "gitlab"


class PatternError(ValueError):
    """A pattern the platform refuses; .suggestion is GitHub's style of hint, or None."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


@dataclass(frozen=True, slots=True)
class Compiled:
    """A pattern as segments ("**" = zero or more directories) plus how its end may match."""

    segments: tuple[str, ...]  # raw (still escaped) segments; a floating pattern starts with "**"
    end: str  # ANY | DIR | EXACT
    gitlab: bool  # fnmatch rules: [ ] classes, and a final "**" is a plain "*"

    def regex(self) -> re.Pattern[str]:
        """Full-matches "/" + path. Built on demand: the index decides most rules without one."""
        source = _regex(list(self.segments), self.end, classes=self.gitlab, trailing_star=self.gitlab)
        return re.compile(source, re.DOTALL)

    def literal(self, segment: str) -> str | None:
        """The segment's text when it has no wildcard, unescaped; None otherwise."""
        return _literal(segment, classes=self.gitlab)


_WILD = frozenset("*?[")


def _literal(segment: str, *, classes: bool) -> str | None:
    if segment == GLOBSTAR:
        return None
    if "\\" not in segment:
        if "*" in segment or "?" in segment or (classes and "[" in segment):
            return None
        return segment
    out = []
    chars = iter(segment)
    for ch in chars:
        if ch == "\\":
            out.append(next(chars, "\\"))
        elif ch in _WILD and (ch != "[" or classes):
            return None
        else:
            out.append(ch)
    return "".join(out)


def literal_suffix(segment: str) -> str:
    """The unescaped literal text after the segment's last wildcard ('.rb' for '*.rb'); '' with brackets."""
    if "[" in segment or "]" in segment:
        return ""
    out: list[str] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "\\" and i + 1 < len(segment):
            out.append(segment[i + 1])
            i += 2
            continue
        if ch in _WILD:
            out.clear()
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _split_segments(pattern: str) -> list[str]:
    # "a/**/**/b" is "a/**/b": back-to-back "zero or more directories" collapse (which also keeps the regex free
    # of nested "(?:/.*)?" groups). A final "**" is not one of them (GitLab reads it as "*"), so it stays.
    raw = pattern.split("/")
    last = len(raw) - 1
    segments: list[str] = []
    for position, segment in enumerate(raw):
        if segment == GLOBSTAR and position < last and segments and segments[-1] == GLOBSTAR:
            continue
        segments.append(segment)
    return segments


def compile_github(pattern: str) -> Compiled:
    """gitignore-style anchoring as GitHub documents it for CODEOWNERS.

    https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners#codeowners-syntax
    and https://git-scm.com/docs/gitignore#_pattern_format: a leading or middle "/" anchors to the root, a trailing
    "/" matches directories only, "*" stays within one segment, "**" spans directories. GitHub departs from
    gitignore in one documented place: "docs/*" matches files directly in docs/ and not nested files.
    """
    if pattern.startswith("!"):
        raise PatternError("Negation with ! is not supported in CODEOWNERS")
    if pattern.startswith("\\#"):
        # GitHub docs: escaping a leading # with \ "does not work" in CODEOWNERS.
        raise PatternError("Escaping a leading # with \\ is not supported in CODEOWNERS")
    if _has_unescaped(pattern, "["):
        raise PatternError("Character ranges with [ ] are not supported in CODEOWNERS")
    if "***" in pattern:
        raise PatternError("Three consecutive asterisks", suggestion=f"Did you mean `{re.sub(r'[*]{3,}', '**', pattern)}`?")
    if pattern == "/":
        raise PatternError("The pattern `/` never matches a file", suggestion="Did you mean `*` instead?")
    anchored = pattern.startswith("/")
    body = pattern[1:] if anchored else pattern
    end = ANY
    if body.endswith("/"):
        end = DIR
        body = body.rstrip("/")
    segments = _split_segments(body)
    if len(segments) > 1:
        anchored = True
    if not anchored and segments[0] != GLOBSTAR:
        segments.insert(0, GLOBSTAR)
    if end == ANY and segments[-1] == "*":
        end = EXACT
    return Compiled(tuple(segments), end, False)


def compile_gitlab(pattern: str) -> Compiled:
    """GitLab: File.fnmatch?(pattern, "/" + path, FNM_PATHNAME | FNM_DOTMATCH) after normalising the pattern.

    https://docs.gitlab.com/user/project/codeowners/advanced/#pattern-matching and the path table in
    https://docs.gitlab.com/user/project/codeowners/reference/: a pattern without a leading "/" matches at any depth
    (even with a "/" in the middle), a trailing "/" covers everything below, and a bare name ("docs") matches only a
    file or directory of that name, not the files inside it.
    """
    if pattern == "*":
        pattern = "/**/*"
    elif not pattern.startswith("/"):
        pattern = "/**/" + pattern
    if pattern.endswith("/"):
        pattern += "**/*"
    segments = _split_segments(pattern[1:])
    end = EXACT
    if len(segments) > 2 and segments[-2:] == [GLOBSTAR, "*"]:
        # "/docs/**/*" matches exactly what "anything below /docs" does; the shorter form indexes better.
        segments, end = segments[:-2], DIR
    return Compiled(tuple(segments), end, True)


def _has_unescaped(pattern: str, char: str) -> bool:
    i = pattern.find(char)
    while i != -1:
        backslashes = 0
        j = i - 1
        while j >= 0 and pattern[j] == "\\":
            backslashes += 1
            j -= 1
        if backslashes % 2 == 0:
            return True
        i = pattern.find(char, i + 1)
    return False


def _regex(segments: list[str], end: str, *, classes: bool, trailing_star: bool) -> str:
    parts: list[str] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == GLOBSTAR:
            if i < last:
                parts.append("(?:/.*)?")  # zero or more directories
            elif trailing_star:
                parts.append("/[^/]*")  # fnmatch: a final ** is a plain *
            else:
                parts.append("/.+")  # gitignore: "foo/**" is everything inside foo
            continue
        parts.append("/" + _segment_regex(seg, classes=classes))
    parts.append({ANY: "(?:/.*)?", DIR: "/.*", EXACT: ""}[end])
    return "".join(parts)


def _segment_regex(seg: str, *, classes: bool) -> str:
    if not any(ch in seg for ch in "\\*?["):
        return re.escape(seg)
    out: list[str] = []
    i = 0
    n = len(seg)
    while i < n:
        ch = seg[i]
        if ch == "\\":
            if i + 1 < n:
                out.append(re.escape(seg[i + 1]))
                i += 2
            else:
                out.append(re.escape("\\"))
                i += 1
            continue
        if ch == "*":
            while i < n and seg[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[" and classes:
            cls, i = _char_class(seg, i)
            out.append(cls)
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _char_class(seg: str, start: int) -> tuple[str, int]:
    """fnmatch bracket expression at seg[start] == '['; an unterminated one is a literal '['."""
    i = start + 1
    negate = i < len(seg) and seg[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < len(seg):
        ch = seg[i]
        if ch == "]" and not first:
            body = "".join(items)
            return ("[^/" + body + "]" if negate else "(?:(?!/)[" + body + "])"), i + 1
        first = False
        if ch == "\\" and i + 1 < len(seg):
            ch = seg[i + 1]
            i += 1
        if i + 2 < len(seg) and seg[i + 1] == "-" and seg[i + 2] != "]":
            hi = seg[i + 2]
            if hi == "\\" and i + 3 < len(seg):
                hi = seg[i + 3]
                i += 1
            if ch <= hi:
                items.append(re.escape(ch) + "-" + re.escape(hi))
            i += 3
            continue
        items.append(re.escape(ch))
        i += 1
    return re.escape("["), start + 1
