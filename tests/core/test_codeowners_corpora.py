"""Real CODEOWNERS files (shared/corpora, beside the clone): answers checked by reading the files by hand."""
from __future__ import annotations

from bot.core.codeowners import parse
from tests.conftest import shared_path

CORPORA = shared_path("corpora", "codeowners")  # beside the clone; skips naming the folder when it is not there


def load(name: str, platform: str):
    return parse((CORPORA / name / "CODEOWNERS").read_bytes(), platform=platform)


def test_nvidia_warp_path_in_two_optional_sections_with_default_owners() -> None:
    codeowners = load("nvidia-warp", "gitlab")
    sections = codeowners.sections_of("warp/native/tile.h")
    assert [(s.section, s.optional, s.owners, s.line, s.pattern) for s in sections] == [
        ("Native C++/CUDA", True, ("@mmacklin", "@lwawrzyniak", "@ncapens"), 57, "/warp/native/"),
        ("Tiles", True, ("@zcorse",), 78, "/warp/native/tile*"),
    ]
    assert [(s.section, s.optional, s.owners) for s in codeowners.sections_of(".gitignore")] == [("CI/CD", False, ("@ershi",))]
    assert codeowners.sections_of("src/unknown.py") == ()


def test_gitlab_exclusion_drops_docs_from_the_maintainers_section() -> None:
    codeowners = load("gitlab-org-gitlab", "gitlab")
    # "*" in [Maintainers] would cover it, but "!/doc/**/*.md" (line 154) excludes it from that section.
    assert [(s.section, s.line, s.pattern) for s in codeowners.sections_of("doc/api/index.md")] == [
        ("Documentation Pages", 864, "/doc/")
    ]
    assert [(s.section, s.line) for s in codeowners.sections_of("Gemfile.lock")] == [("Maintainers", 39)]
    assert codeowners.errors == ()


def test_esphome_dir_star_rules_do_not_reach_subdirectories() -> None:
    codeowners = load("esphome", "github")
    assert codeowners.owners_of("esphome/components/adc128s102/adc128s102.cpp").pattern == "esphome/components/adc128s102/*"
    assert codeowners.owners_of("esphome/components/adc128s102/sensor/__init__.py") is None


def test_nuttx_lines_with_pasted_diffstat_are_reported_and_skipped() -> None:
    codeowners = load("apache-nuttx", "github")
    bad_lines = sorted({error.line for error in codeowners.errors})
    assert len(bad_lines) == 19
    assert all(error.kind == "Invalid owner" for error in codeowners.errors)
    assert any("1 file changed" in error.source for error in codeowners.errors)
    assert not {rule.line for rule in codeowners.rules} & set(bad_lines)
