"""What made `owners` fast must not change a byte: the hand-indented JSON equals json.dumps(indent=2), and the
CLI imports only the subcommand it runs (issue 11)."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.commands import owners as owners_module
from bot.commands.owners import dumps_indented

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5) | st.integers() | st.booleans() | st.none(), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_dumps_indented_is_byte_identical_to_json_dumps(value) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False)


CLI_CASES = {
    "github": ([], "* @all\n/docs/ @docs \"@x y\"\n*.rb\n/only/here @o\n"),
    "gitlab": (["--gitlab"], "* @all\n[Docs][2]\ndocs/ @docs\n^[Ruby]\n*.rb @ruby\n!/config/**/*.rb\n[Only]\n/only/ @o\n"),
    "gitlab, no default section": (["--gitlab"], "[Docs]\n/docs/ @docs\n"),
}


@pytest.mark.parametrize("flags, text", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_cli_json_is_json_dumps_of_the_rows(tmp_path, capsys, flags, text) -> None:
    # the per-rule rendering cache must give exactly json.dumps(indent=2) of the rows the text output uses
    codeowners = tmp_path / "CODEOWNERS"
    codeowners.write_text(text)
    paths = ["docs/a.rb", "config/x.rb", "é\t\"quoted\"", "x", "docs/a.rb", "only/here/x", "src/none.py"]
    assert main(["owners", "--codeowners", str(codeowners), *flags, "--json", *paths]) == 0
    out = capsys.readouterr().out
    parsed = owners_module.parse(codeowners.read_bytes(), platform="gitlab" if flags else "github")
    rows = (owners_module._gitlab_rows if flags else owners_module._github_rows)(parsed, paths)
    assert out == json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def test_cli_json_of_no_paths_is_an_empty_list(tmp_path, capsys, monkeypatch) -> None:
    codeowners = tmp_path / "CODEOWNERS"
    codeowners.write_text("* @all\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["owners", "--codeowners", str(codeowners), "--json"]) == 0
    assert capsys.readouterr().out == "[]\n"


def test_owners_does_not_import_the_queue_or_the_web_app(tmp_path) -> None:
    codeowners = tmp_path / "CODEOWNERS"
    codeowners.write_text("* @all\n")
    probe = ("import sys; from bot.cli import main; code = main(['owners', '--codeowners', sys.argv[1], 'a']); "
             "loaded = sorted(m for m in ('huey', 'redis', 'flask', 'github', 'gitlab', 'bot.queue') "
             "if m in sys.modules); print(code, loaded)")
    done = subprocess.run([sys.executable, "-c", probe, str(codeowners)], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "0 []"


def test_help_still_lists_every_command(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("serve", "worker", "validate", "owners", "plan", "replay", "dead-letters"):
        assert name in out


@pytest.mark.parametrize("flags, text", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_cli_text_is_each_rows_text(tmp_path, capsys, flags, text) -> None:
    codeowners = tmp_path / "CODEOWNERS"
    codeowners.write_text(text)
    paths = ["docs/a.rb", "config/x.rb", "é\t\"quoted\"", "x", "docs/a.rb", "only/here/x", "src/none.py"]
    assert main(["owners", "--codeowners", str(codeowners), *flags, *paths]) == 0
    out = capsys.readouterr().out
    parsed = owners_module.parse(codeowners.read_bytes(), platform="gitlab" if flags else "github")
    rows = (owners_module._gitlab_rows if flags else owners_module._github_rows)(parsed, paths)
    assert out == "".join(owners_module._text(row, str(codeowners)) + "\n" for row in rows)
