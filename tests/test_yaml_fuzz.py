"""Every YAML reader (yamlsafe.load and the manifest, config and version-file readers on it) answers any input
with a value or a clear error carrying a line: never RecursionError or another crash."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.core import versioning, yamlsafe
from bot.core.config import ConfigSource, load_config
from bot.core.manifest import parse_manifest

ISSUE_INPUT = "release: " + "[" * 5000 + "]" * 5000  # the reproduction in issue 11
CONFIG = load_config([], repo="acme/release").config


def deep_block_mapping(depth: int) -> str:
    return "".join("  " * level + "k:\n" for level in range(depth)) + "  " * depth + "k: v\n"


DEEP_CASES = {
    "flow sequences, the issue's input": (ISSUE_INPUT, 1),
    "flow mappings": ("a: " + "{b: " * 3000 + "1" + "}" * 3000, 1),
    "block mappings 200 deep": (deep_block_mapping(200), yamlsafe.MAX_DEPTH + 1),
    "block sequences 100 deep": ("".join("  " * i + "-\n" for i in range(100)) + "  " * 100 + "- x\n",
                                 yamlsafe.MAX_DEPTH + 1),
    "deep key": ("? " + "[" * 3000 + "]" * 3000 + "\n: 1\n", 1),
}


@pytest.mark.parametrize("text, line", DEEP_CASES.values(), ids=DEEP_CASES.keys())
def test_deep_nesting_is_a_clear_error_with_its_line(text: str, line: int) -> None:
    with pytest.raises(yamlsafe.YamlError) as caught:
        yamlsafe.load(text, max_bytes=1 << 20)
    assert f"deeper than {yamlsafe.MAX_DEPTH} levels" in caught.value.message
    assert caught.value.line == line


def test_nesting_up_to_the_limit_still_reads() -> None:
    text = "[" * yamlsafe.MAX_DEPTH + "1" + "]" * yamlsafe.MAX_DEPTH
    value = yamlsafe.load(text, max_bytes=1 << 20).data
    for _ in range(yamlsafe.MAX_DEPTH):
        [value] = value
    assert value == 1
    with pytest.raises(yamlsafe.YamlError):
        yamlsafe.load("[" + text + "]", max_bytes=1 << 20)


def test_the_limit_is_checked_before_composing_not_by_catching_recursion(monkeypatch) -> None:
    # Far below any recursion limit, the depth check alone must refuse it.
    monkeypatch.setattr(yamlsafe, "MAX_DEPTH", 3)
    with pytest.raises(yamlsafe.YamlError, match="deeper than 3 levels"):
        yamlsafe.load("a: [[[1]]]", max_bytes=100)
    assert yamlsafe.load("a: [[1]]", max_bytes=100).data == {"a": [[1]]}


def test_manifest_reader_reports_deep_nesting_as_a_problem() -> None:
    manifest, problems = parse_manifest(ISSUE_INPUT.encode(), path="release.yml", config=CONFIG)
    assert manifest is None
    assert [(p.file, p.line) for p in problems] == [("release.yml", 1)]
    assert "deeper than" in problems[0].message


def test_config_reader_reports_deep_nesting_as_a_problem() -> None:
    result = load_config([ConfigSource(".github/release-coordinator.yml", deep_block_mapping(100).encode())],
                         repo="acme/app")
    assert [(p.file, p.line) for p in result.problems] == [(".github/release-coordinator.yml", 65)]


def test_version_file_reader_reports_deep_nesting() -> None:
    with pytest.raises(versioning.VersionFileError, match="deeper than"):
        versioning.read_version("Chart.yaml#version", ISSUE_INPUT.encode())


def test_validate_cli_prints_the_error_with_its_line_not_a_traceback(tmp_path, capsys) -> None:
    manifest = tmp_path / "release.yml"
    manifest.write_text(ISSUE_INPUT)
    assert main(["validate", str(manifest)]) == 1
    out = capsys.readouterr()
    assert f"{manifest}:1: YAML nests deeper than {yamlsafe.MAX_DEPTH} levels" in out.out + out.err
    assert "Traceback" not in out.out + out.err


BAD_SCALARS = {
    "int tag on a word": ("a: !!int abc", "cannot read 'abc' as an integer"),
    "float tag on a word": ("a: !!float x", "cannot read 'x' as a number"),
    "a date that is no day": ("freeze: 2026-13-45", "cannot read '2026-13-45' as a date"),
    "timestamp tag on a word": ("a: !!timestamp soon", "cannot read 'soon' as a date"),
    "python tag": ("a: !!python/object:os.system x", "cannot read value"),
}


@pytest.mark.parametrize("text, message", BAD_SCALARS.values(), ids=BAD_SCALARS.keys())
def test_values_yaml_cannot_convert_are_errors_with_their_line(text: str, message: str) -> None:
    with pytest.raises(yamlsafe.YamlError) as caught:
        yamlsafe.load("x: 1\n" + text, max_bytes=1000)
    assert message in caught.value.message
    assert caught.value.line == 2


# YAML's own punctuation, indentation, tags and a few letters: dense in structure, so most examples reach the
# composer and the constructor instead of stopping at the scanner.
TOKENS = list("[]{}:,-?&*!|>'\"#%@` \n\t.0123456789abz<=~\\") + [
    "!!int ", "!!float ", "!!timestamp ", "!!binary ", "!!set ", "!!python/name:x ", "<<: ", "2026-02-30",
    "release:", "\u00e9", "\x00", "\ufeff", "  ", "\n  - ", "&a ", "*a",
]
YAMLISH = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)
ANY_TEXT = st.one_of(YAMLISH, st.text(max_size=200), st.binary(max_size=200))


@settings(max_examples=400, deadline=None)
@given(ANY_TEXT)
def test_yamlsafe_load_never_crashes(text) -> None:
    try:
        loaded = yamlsafe.load(text, max_bytes=1 << 16)
    except yamlsafe.YamlError as exc:
        assert exc.message and (exc.line is None or exc.line >= 1)
    else:
        assert loaded.line_of() is not None


@settings(max_examples=250, deadline=None)
@given(ANY_TEXT)
def test_manifest_reader_never_crashes(text) -> None:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    manifest, problems = parse_manifest(raw, path="release.yml", config=CONFIG)
    assert manifest is not None or problems  # no manifest means at least one problem says why
    for problem in problems:
        assert problem.file == "release.yml" and problem.message


@settings(max_examples=250, deadline=None)
@given(ANY_TEXT)
def test_config_reader_never_crashes(text) -> None:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    result = load_config([ConfigSource(".github/release-coordinator.yml", raw)], repo="acme/app")
    for problem in result.problems:
        assert problem.file == ".github/release-coordinator.yml" and problem.message


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT)
def test_version_file_reader_never_crashes(text) -> None:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        version = versioning.read_version("Chart.yaml#version", raw)
    except versioning.VersionFileError as exc:
        assert str(exc)
    else:
        assert isinstance(version, str)


# --- JSON and TOML version files (package.json#version, pyproject.toml#project.version): json and tomllib recurse

DEEP_VERSION_FILES = {
    "json arrays": ("package.json#version", b"[" * 100_000 + b"]" * 100_000, 1),
    "json objects": ("package.json#version", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 1),
    "toml arrays on line 3": ("pyproject.toml#project.version", b"[project]\nversion = '1.0.0'\nx = "
                              + b"[" * 100_000 + b"]" * 100_000, 3),
    "toml inline tables": ("pyproject.toml#project.version", b"a = " + b"{b = " * 50_000 + b"1" + b"}" * 50_000, 1),
}


@pytest.mark.parametrize("spec, body, line", DEEP_VERSION_FILES.values(), ids=DEEP_VERSION_FILES.keys())
def test_deep_json_and_toml_version_files_are_errors_with_their_line(spec, body, line) -> None:
    with pytest.raises(versioning.VersionFileError) as caught:
        versioning.read_version(spec, body)
    assert f"deeper than {yamlsafe.MAX_DEPTH} levels" in str(caught.value) and caught.value.line == line


def test_brackets_inside_strings_and_comments_do_not_count() -> None:
    deep = "[" * 200
    assert versioning.read_version("package.json#version", f'{{"version": "1.2.3", "x": "{deep}\\""}}'.encode()) == "1.2.3"
    toml = f"# {deep}\n[project]\nversion = \"2.0.0\"\nx = '{deep}'\ny = \"\\\"{deep}\"\n"
    assert versioning.read_version("pyproject.toml#project.version", toml.encode()) == "2.0.0"


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet="[]{}\"'#\\ab\n", max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                         max_size=3),
                           max_leaves=30)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_too_deep_counts_json_nesting_exactly(value) -> None:
    import json

    text = json.dumps(value, indent=1)
    depth = _depth(value)
    assert (yamlsafe.too_deep(text, hash_comments=False, limit=depth) is None)
    if depth:
        assert yamlsafe.too_deep(text, hash_comments=False, limit=depth - 1) is not None


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT, st.sampled_from(["package.json#version", "pyproject.toml#project.version"]))
def test_json_and_toml_version_readers_never_crash(text, spec) -> None:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        versioning.read_version(spec, raw)
    except versioning.VersionFileError as exc:
        assert str(exc)
