"""What made `owners` fast must not change a byte: the hand-indented JSON equals json.dumps(indent=2), and the
CLI imports only the subcommand it runs (issue 11)."""
from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
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


def test_cli_json_equals_json_dump_of_the_same_rows(tmp_path, capsys) -> None:
    codeowners = tmp_path / "CODEOWNERS"
    codeowners.write_text("* @all\n[Docs][2]\ndocs/ @docs \"@x y\"\n^[Ruby]\n*.rb @ruby\n!/config/**/*.rb\n")
    paths = ["docs/a.rb", "config/x.rb", "é\t\"quoted\"", "x"]
    assert main(["owners", "--codeowners", str(codeowners), "--gitlab", "--json", *paths]) == 0
    out = capsys.readouterr().out
    assert out == json.dumps(json.loads(out), indent=2, ensure_ascii=False) + "\n"


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
