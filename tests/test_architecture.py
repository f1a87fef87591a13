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


HANDLERS = CORE.parent / "handlers"
FORGE_SPECIFIC = ("github", "gitlab", "bot.forge.github", "bot.forge.gitlab")


def _modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_handlers_and_core_know_no_particular_forge():
    """Handlers speak the Forge protocol (bot.forge.protocol, bot.model); an SDK or an adapter module is imported
    only inside bot/forge and by the composition roots (worker, commands) that pick the adapter."""
    offenders = {}
    for path in [*HANDLERS.rglob("*.py"), *CORE.rglob("*.py")]:
        bad = {m for m in _modules(path) if any(m == f or m.startswith(f + ".") or m.startswith(f + "_") for f in FORGE_SPECIFIC)}
        if bad:
            offenders[str(path.relative_to(CORE.parents[1]))] = sorted(bad)
    assert offenders == {}
