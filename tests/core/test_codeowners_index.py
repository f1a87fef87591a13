"""The rule index never changes an answer: indexed lookup equals testing every rule from the last line up."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.codeowners import parse

SEGMENTS = ["a", "b", "ab", "a.py", "*", "*.py", "a*", "?", "**", "[ab]"]
NAMES = ["a", "b", "ab", "a.py", "b.py", "c"]
OWNERS = ["@t1", "@t2", ""]

lines = st.builds(
    lambda bang, anchored, segments, directory, owner: (
        ("!" if bang else "") + ("/" if anchored else "") + "/".join(segments) + ("/" if directory else "") + " " + owner
    ).rstrip(),
    st.booleans(), st.booleans(), st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3), st.booleans(),
    st.sampled_from(OWNERS),
)
headers = st.sampled_from(["[One]", "^[Two] @t3", "[one][2]", "[Three]"])
files = st.lists(st.one_of(lines, lines, lines, headers), min_size=1, max_size=12).map("\n".join)
paths = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join), min_size=1, max_size=10)


def brute_github(codeowners, path: str):
    for rule in reversed(codeowners.rules):
        if rule.compiled.regex().fullmatch("/" + path):
            return rule.line
    return None


def brute_gitlab(codeowners, path: str):
    decided: dict[int, int] = {}
    excluded: set[int] = set()
    for rule in reversed(codeowners.rules):
        if rule.section in excluded or not rule.compiled.regex().fullmatch("/" + path):
            continue
        if rule.exclusion:
            excluded.add(rule.section)
            decided.pop(rule.section, None)
        else:
            decided.setdefault(rule.section, rule.line)
    return sorted(decided.values())


@settings(max_examples=150, deadline=None)
@given(text=files, candidates=paths)
def test_indexed_github_lookup_equals_brute_force(text: str, candidates: list[str]) -> None:
    codeowners = parse(text)
    for path, match in codeowners.resolve(candidates).items():
        assert (match.line if match else None) == brute_github(codeowners, path)


@settings(max_examples=150, deadline=None)
@given(text=files, candidates=paths)
def test_indexed_gitlab_lookup_equals_brute_force(text: str, candidates: list[str]) -> None:
    codeowners = parse(text, platform="gitlab")
    for path, sections in codeowners.resolve_sections(candidates).items():
        assert sorted(section.line for section in sections) == brute_gitlab(codeowners, path)
