"""GitLab patterns against a plain recursive reading of File.fnmatch?(FNM_PATHNAME | FNM_DOTMATCH).

GitLab's matcher is EE code (not copied) and no Ruby is available here, so the oracle below is the documented
behaviour written the slow, obvious way: normalise the pattern as the GitLab docs describe ("README.md" is any
README.md, "docs/" is everything below docs), then match segment by segment, "**/" standing for zero or more
directories and everything else matched within one segment.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.core.codeowners import parse

SEGMENTS = ["a", "b", "ab", ".a", "*", "a*", "*b", "?", "[ab]", "[!a]", "**", "*.py"]
NAMES = ["a", "b", "ab", "ba", ".a", "x.py"]

patterns = st.builds(
    lambda anchored, segments, directory: ("/" if anchored else "") + "/".join(segments) + ("/" if directory else ""),
    st.booleans(), st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4), st.booleans(),
)
paths = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join), min_size=1, max_size=12)


def gitlab_normalise(pattern: str) -> str:
    if pattern == "*":
        return "/**/*"
    if not pattern.startswith("/"):
        pattern = "/**/" + pattern
    if pattern.endswith("/"):
        pattern += "**/*"
    return pattern


def fnmatch_pathname(pattern: str, path: str) -> bool:
    return _segments(pattern.split("/"), path.split("/"))


def _segments(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    if pattern[0] == "**" and len(pattern) > 1:  # "**/": zero or more directories
        return any(_segments(pattern[1:], path[skip:]) for skip in range(len(path) + 1))
    if not path:
        return False
    return fnmatchcase(path[0], pattern[0]) and _segments(pattern[1:], path[1:])


@settings(max_examples=200, deadline=None)
@given(pattern=patterns, candidates=paths)
@example(pattern="a/**/", candidates=["a/b", "x/a/b/c", "a"])
@example(pattern="/**/a/**/b/**/", candidates=["a/b/x.py", "c/a/ab/b/x.py", "a/b"])
def test_gitlab_patterns_match_like_fnmatch_pathname(pattern: str, candidates: list[str]) -> None:
    assume(not pattern.startswith("["))  # a line starting with "[" is a section heading on GitLab
    codeowners = parse(f"{pattern} @owner", platform="gitlab")
    for path in candidates:
        expected = fnmatch_pathname(gitlab_normalise(pattern), "/" + path)
        assert bool(codeowners.sections_of(path)) == expected, (pattern, path)


def test_globstar_directory_pattern_covers_files_directly_inside() -> None:
    # Regression (found by the gitlab-org-gitlab corpus): "/**/lib/**/ci/parsers/**/" normalises to
    # ".../parsers/**/**/*", and each "**/" may match no directory at all.
    codeowners = parse("[Verify]\n/**/lib/**/ci/parsers/**/ @verify\n", platform="gitlab")
    assert codeowners.sections_of("lib/gitlab/ci/parsers/instrumentation.rb")[0].line == 2
    assert codeowners.sections_of("lib/gitlab/ci/parsers/sub/x.rb")[0].line == 2
    assert codeowners.sections_of("lib/gitlab/ci/other.rb") == ()
