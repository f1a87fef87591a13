"""Property tests: GitHub-rule anchoring, `*`, `?` and `**` agree with the real `git check-ignore --no-index`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.core.codeowners import parse

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")

NAMES = ["a", "b", "ab", "ba", "a b", "x.py"]
SEGMENTS = ["a", "b", "ab", "a\\ b", "*", "a*", "*b", "?", "?b", "*.py", "**"]
# Every path gets checked with each pattern; a fixed pool plus a few drawn paths keeps one git call per example.
POOL = sorted(
    set(NAMES)
    | {f"{a}/{b}" for a in NAMES for b in NAMES}
    | {f"{a}/{b}/{c}" for a in ("a", "b", "ab") for b in ("a", "b", "ab") for c in ("a", "x.py")}
)

patterns = st.builds(
    lambda anchored, segments, directory: ("/" if anchored else "") + "/".join(segments) + ("/" if directory else ""),
    st.booleans(),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3),
    st.booleans(),
)
paths = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join), max_size=8)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gitoracle")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def git_matches(repo: Path, pattern: str, candidates: list[str]) -> set[str]:
    """Paths that `pattern` in a .gitignore covers, per git itself (-v -n prints every path; '::' = no match)."""
    (repo / ".gitignore").write_text(pattern + "\n", encoding="utf-8")
    result = subprocess.run(
        ["git", "-c", "core.quotePath=false", "check-ignore", "--no-index", "--stdin", "-v", "-n"],
        cwd=repo, input="\n".join(candidates) + "\n", capture_output=True, text=True, check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    matched = set()
    for line in result.stdout.splitlines():
        source, _, path = line.partition("\t")
        if source != "::":
            matched.add(path)
    return matched


def is_github_exception(pattern: str) -> bool:
    # GitHub docs: "docs/*" matches docs/getting-started.md but not docs/build-app/troubleshooting.md, where
    # gitignore would also cover the files inside the matched directory. Only a final bare "*" after a "/" differs.
    return "/" in pattern and pattern.split("/")[-1] == "*"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=patterns, extra=paths)
def test_pattern_matches_like_git(repo: Path, pattern: str, extra: list[str]) -> None:
    assume("***" not in pattern and not is_github_exception(pattern))
    candidates = sorted(set(POOL) | set(extra))
    codeowners = parse(f"{pattern} @owner")
    assert codeowners.errors == ()
    ours = {path for path in candidates if codeowners.owners_of(path) is not None}
    assert ours == git_matches(repo, pattern, candidates), pattern


trailing_star_patterns = st.builds(
    lambda anchored, segments: ("/" if anchored else "") + "/".join([*segments, "*"]),
    st.booleans(),
    st.lists(st.sampled_from(SEGMENTS), max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=trailing_star_patterns)
def test_github_trailing_star_is_stricter_than_git_only_below_subdirectories(repo: Path, pattern: str) -> None:
    assume("***" not in pattern and is_github_exception(pattern))
    codeowners = parse(f"{pattern} @owner")
    ours = {path for path in POOL if codeowners.owners_of(path) is not None}
    theirs = git_matches(repo, pattern, POOL)
    assert ours <= theirs
    # What git adds is exactly the files inside a directory that the pattern itself matches.
    for path in theirs - ours:
        parts = path.split("/")
        assert any(codeowners.owners_of("/".join(parts[:k])) for k in range(1, len(parts))), path


def test_oracle_sees_directories_through_their_files(repo: Path) -> None:
    # Guard for the oracle itself: git treats a leading component of a path as a directory.
    assert git_matches(repo, "foo/", ["foo/bar", "x/foo/baz", "foo"]) == {"foo/bar", "x/foo/baz"}
