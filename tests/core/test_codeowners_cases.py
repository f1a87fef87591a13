"""The 441 shared CODEOWNERS cases (hmarr, sbdchd, GitHub docs, GitLab docs), with the disputed ones decided."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.codeowners import parse

CASES = json.loads((Path(__file__).parents[2] / "fixtures" / "codeowners" / "cases.json").read_text("utf-8"))

# The 14 disputed cases, decided by GitHub's documentation ("About code owners", CODEOWNERS syntax):
# "There are some syntax rules for gitignore files that do not work in CODEOWNERS files: ... Using [ ] to define a
# character range" and "If any line in your CODEOWNERS file contains invalid syntax, that line will be skipped."
# So a pattern with an unescaped "[" is reported as an invalid pattern and the line owns nothing: neither the
# gitignore reading (sbdchd) nor the literal reading (hmarr) applies.
BRACKETS_SKIPPED = "GitHub: [ ] is unsupported; the line is an Invalid pattern error and is skipped, so nothing matches"
# "foo/**/" ends with "/", so (gitignore, which GitHub follows here) it matches directories only: every directory
# below foo, and the files inside them. A changed path "foo/bar" is a file (pull request file lists hold files),
# so it is not matched; sbdchd checked this against git check-ignore, hmarr's literal reading differs.
DIRECTORY_ONLY = "gitignore: a trailing / matches directories only; the file foo/bar is not below a directory foo/*/"
DISPUTED = {
    "hmarr-137": (False, DIRECTORY_ONLY),
    "sbdchd-142": (False, DIRECTORY_ONLY),
    "hmarr-146": (False, BRACKETS_SKIPPED),
    "hmarr-147": (False, BRACKETS_SKIPPED),
    "hmarr-148": (False, BRACKETS_SKIPPED),
    "hmarr-149": (False, BRACKETS_SKIPPED),
    "sbdchd-104": (False, BRACKETS_SKIPPED),
    "sbdchd-105": (False, BRACKETS_SKIPPED),
    "sbdchd-106": (False, BRACKETS_SKIPPED),
    "sbdchd-107": (False, BRACKETS_SKIPPED),
    "sbdchd-108": (False, BRACKETS_SKIPPED),
    "sbdchd-109": (False, BRACKETS_SKIPPED),
    "sbdchd-110": (False, BRACKETS_SKIPPED),
    "sbdchd-198": (False, BRACKETS_SKIPPED),
}


def test_every_disputed_case_has_a_decision() -> None:
    assert {case["id"] for case in CASES if case.get("disputed")} == set(DISPUTED)
    assert len(CASES) == 441


def _flatten(sections) -> list[str]:
    owners: list[str] = []
    for section in sections:
        owners.extend(owner for owner in section.owners if owner not in owners)
    return owners


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict) -> None:
    codeowners = parse(case["codeowners"], platform=case["platform"])
    expected = DISPUTED[case["id"]][0] if case["id"] in DISPUTED else case["match"]
    if case["platform"] == "github":
        match = codeowners.owners_of(case["path"])
        assert (match is not None) == expected, case["name"]
        if match is not None and "owners" in case:
            assert list(match.owners) == case["owners"]
        assert codeowners.resolve([case["path"]]) == {case["path"]: match}
        return
    sections = codeowners.sections_of(case["path"])
    if "owners_by_section" in case:
        assert {section.section: list(section.owners) for section in sections} == case["owners_by_section"]
    else:
        assert bool(sections) == expected, case["name"]
    if "owners" in case:
        assert _flatten(sections) == case["owners"]
    assert codeowners.resolve_sections([case["path"]]) == {case["path"]: sections}


@pytest.mark.parametrize("case_id", sorted(k for k, (_, why) in DISPUTED.items() if why == BRACKETS_SKIPPED))
def test_disputed_bracket_lines_are_reported_as_invalid_patterns(case_id: str) -> None:
    case = next(case for case in CASES if case["id"] == case_id)
    codeowners = parse(case["codeowners"])
    assert [(error.line, error.kind) for error in codeowners.errors] == [(1, "Invalid pattern")]
    assert codeowners.rules == ()
