"""The README and docs/*.md as a reader follows them: every relative link and image is a file in the repository,
every `#anchor` a heading of the page it names (GitHub's heading ids), and `release-coordinator --help` points
at a README section that exists."""
from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def heading_ids(page: pathlib.Path) -> set[str]:
    """GitHub's ids: lower-case, punctuation but `-` and `_` dropped, spaces to `-`, repeats numbered -1, -2..."""
    ids: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", FENCE.sub("", page.read_text()), re.M):
        base = re.sub(r"[^\w\- ]", "", re.sub(r"[`*]", "", heading).strip().lower()).replace(" ", "-")
        anchor, n = base, 0
        while anchor in ids:
            n += 1
            anchor = f"{base}-{n}"
        ids.add(anchor)
    return ids


def links(page: pathlib.Path) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", page.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: are not files here


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_to_a_file_and_a_heading(page):
    assert links(page) or page.name != "README.md"  # the README links the docs and screenshots
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or ROOT not in file.parents:
            broken.append(f"{target}: no such file in the repository")
        elif anchor and file.suffix == ".md" and anchor not in heading_ids(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert broken == []


def test_every_screenshot_is_shown_by_the_readme():
    readme = (ROOT / "README.md").read_text()
    shots = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs" / "screenshots").glob("*.png"))
    assert shots and [s for s in shots if s not in readme] == []


def test_the_cli_help_names_a_readme_section_that_exists():
    from bot.cli import build_parser

    description = build_parser().description
    [section] = re.findall(r"\(README: ([^)]+)\)", description)
    assert re.sub(r"[^\w\- ]", "", section.lower()).replace(" ", "-") in heading_ids(ROOT / "README.md")
