"""Version files, required levels from commits and labels, one-step bumps, ranges and ignore_paths globs."""
from __future__ import annotations

import pytest
import semver

from bot.core.checks import SEMVER, Conclusion
from bot.core.conventional import Bump
from bot.core.versioning import (
    VersionFileError, is_one_step, judge_semver, parse_range, path_ignored, read_version, required_bump, satisfies,
    satisfies_level, semver_check,
)

V = semver.Version.parse


@pytest.mark.parametrize("spec, content, version", [
    ("VERSION", b"1.2.3\n", "1.2.3"),
    ("VERSION", b"  2.0.0-rc.1  \n\n", "2.0.0-rc.1"),
    ("Chart.yaml#version", b"apiVersion: v2\nname: payments\nversion: 0.4.1\nappVersion: \"1.5.3\"\n", "0.4.1"),
    ("pyproject.toml#project.version", b'[project]\nname = "x"\nversion = "3.1.4"\n', "3.1.4"),
    ("package.json#version", b'{"name": "x", "version": "10.0.0"}', "10.0.0"),
])
def test_version_files(spec, content, version):
    assert read_version(spec, content) == version


@pytest.mark.parametrize("spec, content, words", [
    ("VERSION", b"\n", "VERSION is empty"),
    ("Chart.yaml#version", b"name: x\n", "Chart.yaml has no `version`"),
    ("Chart.yaml#version", b"version: 1.5\n", "write the version as a quoted string"),
    ("pyproject.toml#project.version", b"[project\n", "invalid TOML"),
    ("package.json#version", b"{", "invalid JSON"),
])
def test_unreadable_version_files(spec, content, words):
    with pytest.raises(VersionFileError) as caught:
        read_version(spec, content)
    assert words in caught.value.message


@pytest.mark.parametrize("base, head, level, ok", [
    ("1.2.3", "1.3.0", Bump.MINOR, True),
    ("1.2.3", "1.3.1", Bump.MINOR, False),
    ("1.2.3", "1.4.0", Bump.MINOR, False),
    ("1.2.3", "1.2.4", Bump.MINOR, False),
    ("1.2.3", "1.2.4", Bump.PATCH, True),
    ("1.2.3", "2.0.0", Bump.MAJOR, True),
    ("1.2.3", "2.0.1", Bump.MAJOR, False),
    ("1.2.3", "1.3.0-rc.1", Bump.MINOR, True),  # a pre-release of the target
    ("1.3.0-rc.1", "1.3.0", Bump.MINOR, True),  # next_version: a pre-release base finalises, bump_minor would skip
    ("1.3.0-rc.1", "1.4.0", Bump.MINOR, False),
    ("1.3.0-rc.1", "1.3.0-rc.2", Bump.MINOR, True),
    ("1.3.0-rc.2", "1.3.0-rc.1", Bump.MINOR, False),
    ("2.0.0-beta.1", "2.0.0", Bump.MAJOR, True),
    ("0.9.4", "1.0.0", Bump.MAJOR, True),
])
def test_exactly_one_step(base, head, level, ok):
    assert is_one_step(V(base), V(head), level) is ok


@pytest.mark.parametrize("old, new, level, ok", [
    ("1.5.2", "1.5.3", Bump.MINOR, False),
    ("1.5.2", "1.6.0", Bump.MINOR, True),
    ("1.5.2", "1.7.0", Bump.MINOR, True),  # several component releases between two coordinated ones
    ("1.5.2", "1.6.0-rc.1", Bump.MINOR, True),
    ("1.6.0-rc.1", "1.6.0", Bump.MINOR, True),
    ("1.6.0-rc.1", "1.6.0", Bump.MAJOR, False),
])
def test_at_least_a_level(old, new, level, ok):
    assert satisfies_level(V(old), V(new), level) is ok


@pytest.mark.parametrize("messages, base, level, forcing", [
    (["fix: a", "feat(api): b", "docs: c"], "1.2.3", Bump.MINOR, ["feat(api): b"]),
    (["fix: a", "feat!: drop v1"], "1.2.3", Bump.MAJOR, ["feat!: drop v1"]),
    (["refactor: x\n\nBREAKING CHANGE: config renamed"], "1.2.3", Bump.MAJOR, ["refactor: x"]),
    (["feat!: drop v1"], "0.4.0", Bump.MINOR, ["feat!: drop v1"]),  # below 1.0.0 breaking needs minor
    (["perf: faster"], "1.0.0", Bump.PATCH, ["perf: faster"]),
    (["chore: deps", "ci: cache"], "1.0.0", Bump.NONE, []),
])
def test_required_level_from_commits(messages, base, level, forcing):
    need = required_bump([(f"{i:040x}", m) for i, m in enumerate(messages)], title=None, labels=(),
                         bump_from="conventional-commits", base=V(base))
    assert need.level is level and [r.header for r in need.reasons] == forcing


def test_title_counts_and_non_conventional_is_reported():
    need = required_bump([("a" * 40, "update stuff")], title="feat: new export", labels=(),
                         bump_from="conventional-commits", base=V("1.0.0"))
    assert need.level is Bump.MINOR and need.reasons[0].source == "PR title"
    assert [r.header for r in need.nonconventional] == ["update stuff"]


@pytest.mark.parametrize("bump_from, labels, commits, level, problems", [
    ("labels", {"semver:minor"}, ["feat!: x"], Bump.MINOR, 0),
    ("labels", set(), ["feat: x"], Bump.NONE, 1),
    ("both", {"semver:patch"}, ["feat: x"], Bump.MINOR, 0),
    ("both", {"semver:major", "bug"}, ["fix: x"], Bump.MAJOR, 0),
])
def test_labels(bump_from, labels, commits, level, problems):
    need = required_bump([("b" * 40, m) for m in commits], title=None, labels=labels, bump_from=bump_from,
                         base=V("1.0.0"))
    assert need.level is level and len(need.problems) == problems


@pytest.mark.parametrize("pattern, path, ignored", [
    ("docs/**", "docs/guide/intro.md", True),
    ("docs/**", "src/docs/x", False),
    ("*.md", "README.md", True),
    ("*.md", "deep/dir/NOTES.md", True),
    ("*.md", "src/main.py", False),
    ("src/*.txt", "src/a/b.txt", False),
    ("src/**/*.txt", "src/a/b.txt", True),
    ("src/**/*.txt", "src/b.txt", True),
    (".github/", ".github/workflows/ci.yml", True),
])
def test_ignore_paths(pattern, path, ignored):
    assert path_ignored(path, [pattern]) is ignored


@pytest.mark.parametrize("text, version, ok", [
    (">=2.1.0 <3.0.0", "2.1.0", True),
    (">=2.1.0 <3.0.0", "2.9.9", True),
    (">=2.1.0 <3.0.0", "3.0.0", False),
    (">=2.1.0 <3.0.0", "2.0.9", False),
    (">= 2.1.0", "2.1.0", True),
    ("2.1.0", "2.1.0", True),
    ("!=2.1.1", "2.1.1", False),
])
def test_ranges(text, version, ok):
    comparators, why = parse_range(text)
    assert why is None and satisfies(V(version), comparators) is ok


@pytest.mark.parametrize("text", ["^2.1", ">=2.1 <3", "1.0.0 || 2.0.0", ""])
def test_bad_ranges(text):
    assert parse_range(text)[1]


def judge(base=b"1.2.3\n", head=b"1.3.0\n", *, paths=("src/app.py", "VERSION"), commits=("feat: export",),
          title="Add export", labels=(), bump_from="conventional-commits", spec="VERSION"):
    return judge_semver(spec=spec, base_content=base, head_content=head, changed_paths=list(paths),
                        ignore_paths=["docs/**", "*.md"], commits=[(f"{i:07x}aaaa", m) for i, m in enumerate(commits)],
                        title=title, labels=labels, bump_from=bump_from)


@pytest.mark.parametrize("kwargs, ok, title", [
    ({}, True, "1.2.3 → 1.3.0: one minor step"),
    ({"head": b"1.3.1\n"}, False, "1.2.3 → 1.3.1 is wrong: a minor change must go to 1.3.0 (or a pre-release of it)"),
    ({"head": b"1.2.3\n"}, False, "Version not bumped: needs a minor bump to 1.3.0"),
    ({"head": b"1.2.3\n", "paths": ("docs/x.md", "README.md")}, True, "Version stays 1.2.3: nothing to release"),
    ({"head": b"1.2.3\n", "commits": ("chore: tidy",), "title": "chore: tidy"}, False,
     "Version not bumped: needs a patch bump to 1.2.4"),
    ({"head": b"v1.3.0\n"}, False, "Not a semver version"),
    ({"head": None}, False, "VERSION not found"),
    ({"base": None, "head": b"0.1.0\n"}, True, "New version file: 0.1.0 (nothing to compare against)"),
    ({"bump_from": "labels", "labels": ()}, False,
     "add one of the labels semver:major, semver:minor, semver:patch (versioning.bump_from: labels)"),
])
def test_semver_verdicts(kwargs, ok, title):
    verdict = judge(**kwargs)
    assert (verdict.ok, verdict.title) == (ok, title)


def test_semver_check_names_forcing_commits_and_annotates_the_file():
    verdict = judge(spec="Chart.yaml#version", base=b"name: x\nversion: 1.2.3\n", head=b"name: x\nversion: 1.2.4\n",
                    paths=("templates/a.yaml", "Chart.yaml"), commits=("fix: probe", "feat(api): add refunds", "wip"))
    result = semver_check(verdict, spec="Chart.yaml#version", head_sha="abc")
    assert (result.name, result.conclusion) == (SEMVER, Conclusion.FAILURE)
    assert "- 0000001: feat(api): add refunds → minor" in result.summary
    assert "- 0000002: wip" in result.summary  # not conventional: reported, not fatal
    [annotation] = result.annotations
    assert (annotation.path, annotation.start_line) == ("Chart.yaml", 2)


from hypothesis import given, strategies as st  # noqa: E402

VERSIONS = st.builds(lambda a, b, c, pre: semver.Version(a, b, c, prerelease=pre),
                     st.integers(0, 20), st.integers(0, 20), st.integers(0, 20),
                     st.sampled_from([None, "rc.1", "alpha", "beta.2"]))
LEVELS = st.sampled_from([Bump.PATCH, Bump.MINOR, Bump.MAJOR])


@given(base=VERSIONS, level=LEVELS)
def test_next_version_is_the_one_release_step_and_moves_forward(base, level):
    target = base.next_version({Bump.PATCH: "patch", Bump.MINOR: "minor", Bump.MAJOR: "major"}[level])
    assert is_one_step(base, target, level) and target > base
    assert not is_one_step(base, target.bump_patch(), level)
    assert satisfies_level(base, target, level)


def test_non_conventional_title_is_linted_because_squash_merges_use_it():
    verdict = judge(title="Add export")
    assert verdict.ok
    assert any('The PR title "Add export" is not a Conventional Commit' in line for line in verdict.lines)
    assert not any("not a Conventional Commit" in line for line in judge(title="feat: add export").lines)
