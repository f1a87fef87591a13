"""Conventional Commits 1.0.0 (https://www.conventionalcommits.org/en/v1.0.0/): parse a message, rank its bump."""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Bump(enum.IntEnum):
    """Ordered so max() picks the strongest requirement."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3


# type(scope)!: description  -- the header grammar of the spec, §1-§5
_HEADER = re.compile(r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?: (?P<description>\S.*)$")
# §12/§16: BREAKING CHANGE (or BREAKING-CHANGE) footer token, case-sensitive
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ?", re.MULTILINE)
_PR_REF = re.compile(r"\((?:#|!)(\d+)\)\s*$")  # GitHub's (#12); GitLab's merge requests are !12


@dataclass(frozen=True)
class ConventionalCommit:
    type: str | None  # lower-cased; None when the header is not conventional
    scope: str | None
    breaking: bool
    description: str  # the header's description, or the whole first line when not conventional
    pull_number: int | None  # "(#123)" at the end of a squash-merge header

    @property
    def is_conventional(self) -> bool:
        return self.type is not None

    @property
    def bump(self) -> Bump:
        if self.breaking:
            return Bump.MAJOR
        if self.type == "feat":
            return Bump.MINOR
        if self.type in ("fix", "perf"):
            return Bump.PATCH
        return Bump.NONE

    @property
    def group(self) -> str:
        """Changelog section: Breaking changes / Features / Fixes / Other."""
        if self.breaking:
            return "Breaking changes"
        if self.type == "feat":
            return "Features"
        if self.type in ("fix", "perf"):
            return "Fixes"
        return "Other"


def parse(message: str) -> ConventionalCommit:
    header, _, body = message.strip().partition("\n")
    header = header.strip()
    pr_match = _PR_REF.search(header)
    pull_number = int(pr_match.group(1)) if pr_match else None
    match = _HEADER.match(header)
    if not match:
        return ConventionalCommit(None, None, bool(_BREAKING_FOOTER.search(body)), header, pull_number)
    breaking = bool(match.group("bang")) or bool(_BREAKING_FOOTER.search(body))
    return ConventionalCommit(
        type=match.group("type").lower(),
        scope=match.group("scope") or None,
        breaking=breaking,
        description=match.group("description").strip(),
        pull_number=pull_number,
    )
