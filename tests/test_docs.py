"""The documentation cannot drift from the code: docs/configuration.md names every key the config schema knows
(and no other), with the defaults config/defaults.yml and the config dataclasses have; the docs and the README link
each other; nothing points to a SPEC.md outside the repository."""
from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path

import pytest
import yaml

from bot.core import config

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "configuration.md"


def schema_paths(spec, prefix: str = "") -> set[str]:
    """Every key a config file may hold, dotted: `approvals.mode`, `components.NAME.repo`, `windows.allow[].days`.
    New sections (access:, environments:, notify:, ...) are picked up here as soon as SCHEMA has them."""
    paths: set[str] = set()
    fields = getattr(spec, "fields", None)
    values = getattr(spec, "values", None)
    item = getattr(spec, "item", None)
    if fields:
        for name, child in fields.items():
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            paths |= schema_paths(child, path)
    elif values is not None and (getattr(values, "fields", None) or getattr(values, "values", None)):
        paths |= schema_paths(values, f"{prefix}.NAME")
    elif item is not None and (getattr(item, "fields", None) or getattr(item, "item", None)):
        paths |= schema_paths(item, f"{prefix}[]")
    return paths


def documented() -> dict[str, list[str]]:
    """The reference's key tables: `key` -> the row's cells (default, meaning, example)."""
    rows = {}
    for line in REFERENCE.read_text("utf-8").splitlines():
        match = re.match(r"^\| `([a-z_]+(?:\[\])?(?:\.[A-Za-z_]+(?:\[\])?)*)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split(" | ")]
    return rows


def rendered(value) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == {} or value == [] or value == ():
        return "{}" if isinstance(value, dict) else "[]"
    return str(value)


def flattened(data, prefix: str = ""):
    """(dotted key, default) for every leaf of config/defaults.yml; an empty mapping is a leaf."""
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from flattened(value, path)
        else:
            yield path, value


def test_every_schema_key_is_documented_and_nothing_else():
    keys = schema_paths(config.SCHEMA)
    assert {"approvals.mode", "components.NAME.repo", "windows.allow[].days"} <= keys  # the walk itself works
    rows = documented()
    text = REFERENCE.read_text("utf-8")
    sections = {key for key in keys if "." not in key and "[" not in key and f"## `{key}:`" in text}
    assert set(config.SCHEMA.fields) <= sections | rows.keys(), "a section without its heading"
    assert sorted(keys - rows.keys() - sections) == [], "keys of the schema missing from docs/configuration.md"
    assert sorted(rows.keys() - keys) == [], "docs/configuration.md documents keys the schema does not have"


def test_every_row_has_a_default_a_meaning_and_an_example_unless_it_is_a_section():
    for key, cells in documented().items():
        assert len(cells) == 3, (key, cells)
        default, meaning, example = cells
        assert meaning, key
        assert (default and example) or not default, key  # a section row (access.infrastructure) may leave both empty


@pytest.mark.parametrize("path, value", list(flattened(yaml.safe_load((ROOT / "config" / "defaults.yml").read_text()))))
def test_the_documented_default_is_the_one_in_config_defaults_yml(path, value):
    default = documented()[path][0]
    assert f"`{rendered(value)}`" in default, (path, value, default)


@pytest.mark.parametrize("section, cls", [
    ("release", config.ReleaseConfig), ("versioning", config.VersioningConfig), ("windows", config.WindowsConfig),
    ("approvals", config.ApprovalsConfig),
])
def test_the_documented_default_is_the_code_s_for_keys_defaults_yml_leaves_out(section, cls):
    rows = documented()
    for item in dataclasses.fields(cls):
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            continue
        value = item.default if item.default is not dataclasses.MISSING else item.default_factory()
        key = f"{section}.{item.name}"
        if key in rows and not isinstance(value, (tuple, frozenset)) or key in rows and not value:
            assert f"`{rendered(dict(value) if hasattr(value, 'keys') else value)}`" in rows[key][0], (key, value)


def test_component_tag_prefix_default():
    field = next(f for f in dataclasses.fields(config.Component) if f.name == "tag_prefix")
    assert f"`{field.default}`" in documented()["components.NAME.tag_prefix"][0]


def test_docs_exist_and_the_readme_links_them():
    readme = (ROOT / "README.md").read_text("utf-8")
    for page in ("configuration.md", "manifest.md", "checks.md"):
        assert (DOCS / page).is_file(), page
        assert f"docs/{page}" in readme, f"README does not link docs/{page}"


FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def heading_ids(page: Path) -> set[str]:
    """GitHub's ids: lower-case, punctuation but `-` and `_` dropped, spaces to `-`, repeats numbered -1, -2..."""
    ids: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", FENCE.sub("", page.read_text("utf-8")), re.M):
        base = re.sub(r"[^\w\- ]", "", re.sub(r"[`*]", "", heading).strip().lower()).replace(" ", "-")
        anchor, n = base, 0
        while anchor in ids:
            n += 1
            anchor = f"{base}-{n}"
        ids.add(anchor)
    return ids


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_in_the_docs_resolve(page):
    """Every relative link and image ([text](target), ![alt](target)) is a file in the repository, and every
    #anchor a heading of the page it names."""
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", page.read_text("utf-8")))
               if not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # http:, https:, mailto: are not files here
    assert targets or page.name != "README.md"  # the README links the docs and the screenshots
    broken = []
    for target in targets:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or ROOT not in file.parents:
            broken.append(f"{target}: no such file in the repository")
        elif anchor and file.suffix == ".md" and anchor not in heading_ids(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert broken == []


def test_every_screenshot_is_shown_by_the_readme():
    readme = (ROOT / "README.md").read_text("utf-8")
    shots = sorted(p.relative_to(ROOT).as_posix() for p in (DOCS / "screenshots").glob("*.png"))
    assert shots and [s for s in shots if s not in readme] == []


def test_the_cli_help_names_a_readme_section_that_exists():
    from bot.cli import build_parser

    [section] = re.findall(r"\(README: ([^)]+)\)", build_parser().description)
    assert re.sub(r"[^\w\- ]", "", section.lower()).replace(" ", "-") in heading_ids(ROOT / "README.md")


@pytest.mark.parametrize("path", ["README.md", "config/defaults.yml", *[
    str(p.relative_to(ROOT)) for p in sorted(DOCS.glob("*.md"))]])
def test_nothing_points_to_a_spec_outside_the_repository(path):
    text = (ROOT / path).read_text("utf-8")
    assert "SPEC.md" not in text and "SPEC §" not in text, path


def test_the_cli_help_points_to_no_spec_outside_the_repository():
    from bot.cli import COMMANDS, build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    texts += [sub.format_help() for sub in subparsers.choices.values()]
    assert len(texts) > len(COMMANDS) // 2
    for text in texts:
        assert "SPEC" not in text, text.splitlines()[0]


def test_no_test_reads_an_absolute_path_of_one_machine():
    """Fixtures come from the clone (Path(__file__).parents[...]) or shared/ beside it (tests.conftest.shared_path)."""
    machine_paths = re.compile(r"""["'](/work/|/home/|/Users/|/root/|/tmp/[A-Za-z]|[A-Z]:\\\\)""")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "tests").rglob("*.py"))
                 for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if machine_paths.search(line)]
    assert offenders == []
