"""bot/journal is one package with a protocol and one module per backend, and no import cycle between them."""
import ast
import pathlib
import subprocess
import sys

import pytest

from bot.journal import Journal
from bot.journal.redis import RedisJournal
from bot.journal.sqlite import SqliteJournal

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bot" / "journal"


def imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_backend_imports_only_the_shared_base(backend):
    journal_imports = {m for m in imported_modules(PACKAGE / f"{backend}.py") if m.startswith("bot.journal")}
    assert journal_imports == {"bot.journal.base"}


def test_base_imports_no_backend():
    assert not {m for m in imported_modules(PACKAGE / "base.py") if m.startswith("bot")}


@pytest.mark.parametrize("module", ["bot.journal.redis", "bot.journal.sqlite", "bot.journal", "bot.journal.base"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    # A cycle shows up as an ImportError only when the module in the middle of it is imported first.
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("cls", [SqliteJournal, RedisJournal])
def test_both_backends_implement_the_whole_protocol(cls):
    wanted = {name for name in vars(Journal) if not name.startswith("_")}
    assert wanted - set(dir(cls)) == set()


def test_callers_keep_importing_from_bot_journal():
    from bot.journal import Claim, DeadLetter, Delivery, SqliteJournal as Lazy, State, open_journal  # noqa: F401

    assert Lazy is SqliteJournal
