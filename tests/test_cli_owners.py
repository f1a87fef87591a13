"""`release-coordinator owners` as a user runs it: text and JSON answers, GitLab sections, errors on stderr."""
from __future__ import annotations

import io
import json

import pytest

from bot.cli import main

GITHUB = "*       @global-owner\n*.js    @js-owner\n/apps/ @octocat\n/apps/github\n!negated @x\n"
GITLAB = "* @admin\n\n^[Docs][2] @docs-team\ndocs/\n\n[Ruby]\n*.rb @ruby\n!/config/**/*.rb\n"


@pytest.fixture
def github_file(tmp_path):
    path = tmp_path / "CODEOWNERS"
    path.write_text(GITHUB, encoding="utf-8")
    return str(path)


@pytest.fixture
def gitlab_file(tmp_path):
    path = tmp_path / "CODEOWNERS"
    path.write_text(GITLAB, encoding="utf-8")
    return str(path)


def test_json_lists_each_path_with_owners_and_deciding_line(github_file, capsys) -> None:
    code = main(["owners", "--codeowners", github_file, "--json", "src/app.js", "apps/github/x.rb", "README"])
    out = capsys.readouterr()
    assert code == 0
    assert json.loads(out.out) == [
        {"path": "src/app.js", "owners": ["@js-owner"], "line": 2, "pattern": "*.js"},
        {"path": "apps/github/x.rb", "owners": [], "line": 4, "pattern": "/apps/github"},
        {"path": "README", "owners": ["@global-owner"], "line": 1, "pattern": "*"},
    ]
    assert f"{github_file}:5: Invalid pattern" in out.err  # the "!" line, reported and skipped
    assert "Invalid pattern: Invalid pattern" not in out.err and "on line 5" not in out.err  # said once


def test_json_line_is_null_when_no_rule_matched(tmp_path, capsys) -> None:
    path = tmp_path / "CODEOWNERS"
    path.write_text("/docs/ @docs\n", encoding="utf-8")
    assert main(["owners", "--codeowners", str(path), "--json", "src/a.py"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"path": "src/a.py", "owners": [], "line": None, "pattern": None}]


def test_text_output_names_owners_and_line(github_file, capsys) -> None:
    assert main(["owners", "--codeowners", github_file, "./src/app.js", "apps/github/x.rb"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"src/app.js\t@js-owner\t{github_file}:2: *.js",
        f"apps/github/x.rb\t(unowned)\t{github_file}:4: /apps/github",
    ]


def test_paths_from_stdin(github_file, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a.js\nb.txt\n"))
    assert main(["owners", "--codeowners", github_file, "--json"]) == 0
    assert [row["owners"] for row in json.loads(capsys.readouterr().out)] == [["@js-owner"], ["@global-owner"]]


def test_gitlab_json_has_one_entry_per_matching_section(gitlab_file, capsys) -> None:
    assert main(["owners", "--codeowners", gitlab_file, "--gitlab", "--json", "docs/a.rb", "config/x.rb", "x"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(row["path"], row["section"], row["owners"], row["line"]) for row in rows] == [
        ("docs/a.rb", "codeowners", ["@admin"], 1),
        ("docs/a.rb", "Docs", ["@docs-team"], 4),
        ("docs/a.rb", "Ruby", ["@ruby"], 7),
        ("config/x.rb", "codeowners", ["@admin"], 1),  # excluded from [Ruby] by line 8
        ("x", "codeowners", ["@admin"], 1),
    ]
    assert rows[1]["optional"] is True and rows[1]["approvals_required"] == 2


def test_gitlab_json_path_without_any_section(tmp_path, capsys) -> None:
    path = tmp_path / "CODEOWNERS"
    path.write_text("[Docs]\n/docs/ @docs\n", encoding="utf-8")
    assert main(["owners", "--codeowners", str(path), "--gitlab", "--json", "src/a.py"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["path"], row["section"], row["owners"], row["line"]) == ("src/a.py", None, [], None)


def test_gitlab_text_shows_section_headings(gitlab_file, capsys) -> None:
    assert main(["owners", "--codeowners", gitlab_file, "--gitlab", "docs/a.md"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"docs/a.md\t[codeowners]\t@admin\t{gitlab_file}:1: *",
        f"docs/a.md\t^[Docs][2]\t@docs-team\t{gitlab_file}:4: docs/",
    ]


def test_missing_file_is_a_usage_error(tmp_path, capsys) -> None:
    assert main(["owners", "--codeowners", str(tmp_path / "nope"), "x"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_missing_codeowners_option_is_a_usage_error(capsys) -> None:
    assert main(["owners", "x"]) == 2


@pytest.mark.parametrize("kind, message, suggestion, expected", [
    ("Invalid pattern", "Invalid pattern on line 5: `!x` is not supported", None, "Invalid pattern: `!x` is not supported"),
    ("Invalid owner", "Invalid owner on line 2: `nobody`", None, "Invalid owner: `nobody`"),
    ("Zero owners", "Entry on line 3 has no owners", None, "Zero owners: Entry on line 3 has no owners"),
    ("Invalid pattern", "Invalid pattern on line 7: `[a-z]`", "escape it", "Invalid pattern: `[a-z]` (escape it)"),
])
def test_an_error_says_its_kind_once(kind, message, suggestion, expected):
    from bot.commands.owners import error_text
    from bot.core.codeowners._parse import CodeownersError

    line = int(message.split("line ")[1].split()[0].rstrip(":"))
    assert error_text(CodeownersError(line, kind, message, "", suggestion)) == expected
