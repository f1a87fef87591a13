"""`release-coordinator validate MANIFEST`: the manifest check's offline rules, for CI steps and pre-commit hooks."""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import zoneinfo

from bot.core import environments as envs
from bot.core.checks import Level, Problem
from bot.core.config import CONFIG_PATH, GITLAB_CONFIG_PATH, Config, ConfigResult, ConfigSource, load_config
from bot.core.manifest import Manifest, parse_manifest
from bot.handlers.configs import builtin_defaults

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate", help="validate a release manifest offline (exit 0 valid, 1 invalid, 2 usage)",
        description="Checks the manifest's syntax, keys, component names and versions against the config. "
                    "With --repo-path, also checks that each version's tag exists in a local checkout. With "
                    "`environments:` in the config, the environment whose manifest MANIFEST is (its path in the "
                    "repository) decides whether pre-release versions are allowed; --environment names it.",
    )
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest file, e.g. release.yml")
    parser.add_argument("--config", metavar="FILE",
                        help=f"the release repo's config (default: {CONFIG_PATH} in the current directory, if any)")
    parser.add_argument("--environment", metavar="NAME",
                        help="the environment of the config's `environments:` MANIFEST belongs to (default: the one "
                             "whose `manifest` path MANIFEST is, relative to the repository)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--repo-path", action="append", default=[], metavar="NAME=PATH",
                        help="local git checkout of component NAME: check its version's tag exists (repeatable)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    checkouts: dict[str, str] = {}
    for item in args.repo_path:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            return _usage(f"--repo-path expects NAME=PATH, got {item!r}")
        checkouts[name] = path
    manifest_path = pathlib.Path(args.manifest)
    if not manifest_path.is_file():
        return _usage(f"{args.manifest}: {_not_a_file(manifest_path)}")
    config_path = pathlib.Path(args.config) if args.config else pathlib.Path(CONFIG_PATH)
    if args.config and not config_path.is_file():
        return _usage(f"{args.config}: {_not_a_file(config_path)}")
    loaded = _load(config_path) if config_path.is_file() else ConfigResult(Config())
    problems = list(loaded.problems)
    manifest = environment = None
    if loaded.ok:
        environment, error = _environment(loaded.config, manifest_path, config_path, args.environment)
        if error:
            return _usage(error)
        manifest, found = parse_manifest(manifest_path.read_bytes(), path=args.manifest, config=loaded.config,
                                         allow_prerelease=environment.allow_prerelease if environment else None)
        problems += found
    if manifest is not None and checkouts:
        unknown = sorted(set(checkouts) - set(loaded.config.components))
        if unknown:
            return _usage(f"--repo-path names {', '.join(unknown)}, not components of the config"
                          + ("" if loaded.config.components else " (pass --config)"))
        problems += _missing_tags(manifest, loaded.config, checkouts, path=args.manifest)
    failing = [p for p in problems if p.level is Level.FAILURE]
    _report(args, manifest, problems, config=str(config_path) if config_path.is_file() else None,
            environment=environment.name if environment is not None and environment.configured else None)
    return EXIT_INVALID if failing else EXIT_VALID


def _environment(config: Config, manifest: pathlib.Path, config_path: pathlib.Path,
                 name: str | None) -> tuple[envs.Environment | None, str | None]:
    """The environment MANIFEST belongs to: --environment NAME, else the one whose `manifest` is MANIFEST's path in
    the repository (the config's repository when the config sits at its usual place, else the current directory);
    without `environments:`, the implicit one (release.allow_prerelease). (environment, usage error)."""
    configured = [e for e in envs.of(config) if e.configured]
    if name is not None:
        if not configured:
            return None, "--environment: the config has no `environments:`"
        found = envs.by_name(configured, name)
        listed = ", ".join(e.name for e in configured)
        return (found, None) if found else (None, f"--environment {name!r} is not in the config (it has {listed})")
    if not configured:
        return None, None
    resolved = manifest.resolve()
    roots = [pathlib.Path.cwd().resolve()]
    for usual in (CONFIG_PATH, GITLAB_CONFIG_PATH):
        if config_path.resolve().as_posix().endswith("/" + usual):
            roots.insert(0, config_path.resolve().parents[1])
    for root in roots:
        try:
            relative = resolved.relative_to(root).as_posix()
        except ValueError:
            continue
        found = next((e for e in configured if e.manifest == relative), None)
        if found is not None:
            return found, None
    listed = ", ".join(f"{e.name} ({e.manifest})" for e in configured)
    return None, (f"{manifest} is no environment's manifest (the config has {listed}): run it from the repository's "
                  "root or pass --environment NAME")


def _not_a_file(path: pathlib.Path) -> str:
    return "is a directory, not a file" if path.is_dir() else "no such file"


def _load(path: pathlib.Path) -> ConfigResult:
    # the release repo's own file is the last layer, as on GitHub; org defaults are not available offline
    layers = [builtin_defaults(), ConfigSource(str(path), path.read_bytes())]
    return load_config(layers, repo="local/release", timezones=zoneinfo.available_timezones())


def _missing_tags(manifest: Manifest, config: Config, checkouts: dict[str, str], *, path: str) -> list[Problem]:
    problems = []
    for name, version in manifest.versions.items():
        if name not in checkouts:
            continue
        tag = config.components[name].tag(version)
        # rev-parse -q --verify exits 1 quietly for a missing ref: https://git-scm.com/docs/git-rev-parse
        done = subprocess.run(["git", "-C", checkouts[name], "rev-parse", "-q", "--verify", f"refs/tags/{tag}"],
                              capture_output=True, check=False)
        if done.returncode == 128 or (done.returncode != 0 and done.stderr.strip()):
            problems.append(Problem(path, manifest.line(name), f"{name}: {checkouts[name]} is not a git checkout "
                                    f"({done.stderr.decode(errors='replace').strip()})"))
        elif done.returncode != 0:
            message = f"{name} {version}: no tag `{tag}` in {checkouts[name]}"
            problems.append(Problem(path, manifest.line(name), message))
    return problems


def _report(args, manifest: Manifest | None, problems: list[Problem], *, config: str | None,
            environment: str | None) -> None:
    valid = not any(p.level is Level.FAILURE for p in problems)
    if args.json:
        print(json.dumps({
            "manifest": args.manifest, "config": config, "environment": environment, "valid": valid,
            "versions": dict(manifest.versions) if manifest else None,
            "rollback": manifest.rollback if manifest else None,
            "problems": [{"file": p.file, "line": p.line, "level": p.level.value, "message": p.message}
                         for p in problems],
        }, indent=2))
        return
    for problem in problems:
        print(f"{problem}", file=sys.stderr if problem.level is Level.FAILURE else sys.stdout)
    if valid:
        versions = ", ".join(f"{n} {v}" for n, v in manifest.versions.items()) if manifest else ""
        checked = "" if config else " (no config: component names not checked; pass --config)"
        where = f" (environment {environment})" if environment else ""
        print(f"{args.manifest}: valid{where}: {versions}{checked}")


def _usage(message: str) -> int:
    print(f"release-coordinator validate: error: {message}", file=sys.stderr)
    return EXIT_USAGE
