"""bot/core decides without I/O: it may import only the stdlib, semver, yaml and itself."""
import ast
import pathlib
import sys

CORE = pathlib.Path(__file__).resolve().parents[1] / "bot" / "core"
ALLOWED_THIRD_PARTY = {"semver", "yaml"}
FORBIDDEN_STDLIB = {"socket", "subprocess", "urllib", "http", "requests", "sqlite3", "os"}


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_only_pure_modules():
    offenders = {}
    for path in CORE.rglob("*.py"):
        bad = {
            name for name in _imports(path)
            if name != "bot" and (name in FORBIDDEN_STDLIB or (name not in sys.stdlib_module_names and name not in ALLOWED_THIRD_PARTY))
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}
