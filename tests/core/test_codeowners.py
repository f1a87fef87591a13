"""CODEOWNERS rules one by one: GitHub syntax and errors, GitLab sections, lookup and limits."""
from __future__ import annotations

import pytest

from bot.core.codeowners import MAX_BYTES, Match, SectionMatch, parse

# --- GitHub: syntax ---------------------------------------------------------------------------------------------

GITHUB_FILE = """\
# Default owners
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
"""


@pytest.mark.parametrize(
    ("path", "owners", "line"),
    [
        ("README.md", ("@global-owner1", "@global-owner2"), 2),
        ("src/app.js", ("@js-owner",), 3),  # the trailing "#..." is an inline comment, not owners
        ("main.go", ("docs@example.com",), 4),
        ("notes/todo.txt", ("@octo-org/octocats",), 5),
        ("build/logs/2024/today.log", ("@octocat",), 11),  # **/logs (line 11) comes after /build/logs/ (line 6)
        ("docs/getting-started.md", ("@doctocat",), 9),  # /docs/ is later than docs/*
        ("web/apps/index.html", ("@octocat",), 8),
        ("scripts/deploy.sh", ("@doctocat", "@octocat"), 10),
        ("apps/github/main.rb", (), 13),  # a line without owners makes the path unowned
        ("apps/web/index.js", ("@octocat",), 12),
    ],
)
def test_github_docs_example_last_match_wins(path: str, owners: tuple[str, ...], line: int) -> None:
    match = parse(GITHUB_FILE).owners_of(path)
    assert match is not None
    assert (match.owners, match.line) == (owners, line)


def test_no_matching_line_is_none_and_unowned_line_is_an_empty_match() -> None:
    codeowners = parse("/src/ @dev\n/src/vendor/\n")
    assert codeowners.owners_of("README.md") is None
    assert codeowners.owners_of("src/vendor/lib.c") == Match("src/vendor/lib.c", (), 2, "/src/vendor/")
    assert codeowners.owners_of("src/main.c") == Match("src/main.c", ("@dev",), 1, "/src/")


def test_resolve_answers_every_path_like_owners_of() -> None:
    codeowners = parse(GITHUB_FILE)
    paths = ["README.md", "src/app.js", "apps/github/x", "Docs/x.md"]
    assert codeowners.resolve(paths) == {path: codeowners.owners_of(path) for path in paths}
    assert parse("/docs/ @a").resolve(["Docs/x.md", "docs/x.md"])["Docs/x.md"] is None  # paths are case sensitive


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("path\\ with\\ spaces/ @owner", "path with spaces/README.md"),
        ("/a\u00a0b.md @owner", "a\u00a0b.md"),  # U+00A0 is part of the path, not a separator
        ("  /indented @owner", "indented/file"),
        ("/crlf/ @owner\r\n", "crlf/file"),
        ("\ufeff/bom/ @owner", "bom/file"),
        ("f\\*o @owner", "f*o"),
    ],
)
def test_github_escapes_and_whitespace(text: str, path: str) -> None:
    match = parse(text).owners_of(path)
    assert match is not None and match.owners == ("@owner",)


# --- GitHub: errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("!secret.txt @owner", "Invalid pattern"),  # negation does not work in CODEOWNERS
        ("\\#notes.md @owner", "Invalid pattern"),  # nor escaping a leading #
        ("*.[ch] @owner", "Invalid pattern"),  # nor [ ] ranges
        ("***/*.rb @monalisa", "Invalid pattern"),  # GitHub's own example in the codeowners/errors API docs
        ("/ @owner", "Invalid pattern"),
        ("* user", "Invalid owner"),  # GitHub's example: an owner without @ and not an e-mail
        ("docs/ @ok not/valid", "Invalid owner"),
    ],
)
def test_github_invalid_line_is_reported_and_skipped(line: str, kind: str) -> None:
    codeowners = parse(f"* @fallback\n{line}\n/ok/ @ok\n")
    [error] = [error for error in codeowners.errors if error.kind == kind]
    assert (error.line, error.source) == (2, line)
    assert f"line 2" in error.message
    assert [rule.line for rule in codeowners.rules] == [1, 3]  # the valid lines still apply
    assert codeowners.owners_of("secret.txt").owners == ("@fallback",)
    assert codeowners.owners_of("ok/x").owners == ("@ok",)


def test_three_asterisks_come_with_githubs_suggestion() -> None:
    [error] = parse("***/*.rb @monalisa").errors
    assert error.suggestion == "Did you mean `**/*.rb`?"


def test_bytes_in_any_encoding_never_raise() -> None:
    codeowners = parse(b"/caf\xe9/ @owner\n/ok/ @ok\n")
    assert codeowners.owners_of("ok/file").owners == ("@ok",)


def test_files_over_three_megabytes_are_rejected_whole() -> None:
    line = b"/dir/file.c @owner\n"
    too_big = line * (MAX_BYTES // len(line) + 1)
    codeowners = parse(too_big)
    assert [error.kind for error in codeowners.errors] == ["File too large"]
    assert codeowners.rules == ()
    assert codeowners.owners_of("dir/file.c") is None
    just_fits = line * (MAX_BYTES // len(line))
    assert parse(just_fits).owners_of("dir/file.c").owners == ("@owner",)


def test_owners_are_kept_as_written() -> None:
    match = parse("* @Org/Team-A user@Example.com @Some-User").owners_of("x")
    assert match.owners == ("@Org/Team-A", "user@Example.com", "@Some-User")


def test_github_anchors_a_middle_slash_where_gitlab_floats() -> None:
    text = "internal/README.md @docs"
    assert parse(text).owners_of("docs/internal/README.md") is None
    assert [s.owners for s in parse(text, platform="gitlab").sections_of("docs/internal/README.md")] == [("@docs",)]


def test_github_file_through_the_section_api() -> None:
    codeowners = parse("/src/ @dev")
    assert codeowners.sections_of("src/a.py") == (SectionMatch("", False, 1, ("@dev",), 1, "/src/"),)
    assert codeowners.sections_of("other") == ()


# --- GitLab: sections -------------------------------------------------------------------------------------------

GITLAB_FILE = """\
* @admin

[Documentation][2] @docs-team
docs/
README.md

^[Database] @database-team @agarcia
model/db/
config/db/database-setup.md @docs-team

[DOCUMENTATION]
README.md @tech-writers
"""


def test_gitlab_sections_each_decide_their_own_owner() -> None:
    codeowners = parse(GITLAB_FILE, platform="gitlab")
    assert codeowners.errors == ()
    assert codeowners.sections_of("README.md") == (
        SectionMatch("codeowners", False, 1, ("@admin",), 1, "*"),
        # duplicate "[DOCUMENTATION]" merges into the first spelling; its later line wins inside the section
        SectionMatch("Documentation", False, 1, ("@tech-writers",), 12, "README.md"),
    )
    assert codeowners.sections_of("docs/guide.md")[1] == SectionMatch("Documentation", False, 2, ("@docs-team",), 4, "docs/")
    assert codeowners.sections_of("model/db/schema.rb")[1] == SectionMatch(
        "Database", True, 1, ("@database-team", "@agarcia"), 8, "model/db/"
    )
    assert codeowners.sections_of("config/db/database-setup.md")[1].owners == ("@docs-team",)


def test_gitlab_exclusions_remove_a_path_from_their_section_only() -> None:
    text = "* @everyone\n!*.lock\n\n[Ruby]\n*.rb @ruby\n!/config/**/*.rb\n/config/routes.rb @ops\n"
    codeowners = parse(text, platform="gitlab")
    assert codeowners.sections_of("Gemfile.lock") == ()
    assert [s.section for s in codeowners.sections_of("config/routes.rb")] == ["codeowners"]  # no re-include
    assert [s.section for s in codeowners.sections_of("app/user.rb")] == ["codeowners", "Ruby"]


def test_gitlab_bare_name_does_not_cover_the_directory_contents() -> None:
    codeowners = parse("docs @docs\nlib/ @lib\n\\#notes.md @pound\n", platform="gitlab")
    assert codeowners.sections_of("docs/index.md") == ()
    assert codeowners.sections_of("ee/lib/x.rb")[0].owners == ("@lib",)
    assert codeowners.sections_of("#notes.md")[0].owners == ("@pound",)  # GitLab supports \#


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("[Section][0] @a", "Invalid approval requirement"),
        ("[]", "Missing section name"),
        ("[Section name", "Invalid section format"),
        ("docs/ @ok not_an_owner", "Malformed owners"),
        ("docs/", "Zero owners"),
        ("[Backend] not-an-owner", "Invalid section owner format"),
    ],
)
def test_gitlab_errors_carry_their_line(line: str, kind: str) -> None:
    codeowners = parse(f"* @admin\n{line}\n", platform="gitlab")
    # A heading that does not parse is also read as an entry, which may add its own owner errors on that line.
    assert codeowners.errors[0].kind == kind
    assert {(error.line, error.source) for error in codeowners.errors} == {(2, line)}


def test_gitlab_keeps_valid_owners_and_applies_broken_headings_as_entries() -> None:
    codeowners = parse("* @group\n[Section name\ndocs/ @docs @@maintainer\nx.md @a # ping @b\n", platform="gitlab")
    assert codeowners.sections_of("docs/a.md") == (SectionMatch("codeowners", False, 1, ("@docs", "@@maintainer"), 3, "docs/"),)
    assert codeowners.sections_of("x.md")[0].owners == ("@a", "@b")  # inline comments are not comments on GitLab


def test_gitlab_invalid_approvals_fall_back_to_one() -> None:
    codeowners = parse("[Section][0] @a\n*\n", platform="gitlab")
    assert codeowners.sections_of("x")[0].approvals_required == 1


def test_gitlab_file_refuses_the_single_owner_api() -> None:
    with pytest.raises(ValueError, match="sections_of"):
        parse("* @a", platform="gitlab").owners_of("x")


def test_resolve_sections_answers_every_path() -> None:
    codeowners = parse(GITLAB_FILE, platform="gitlab")
    paths = ["README.md", "model/db/x", "nothing/here"]
    assert codeowners.resolve_sections(paths) == {path: codeowners.sections_of(path) for path in paths}
