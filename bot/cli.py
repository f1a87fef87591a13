"""release-coordinator: serve | web | worker | validate | owners | plan | replay | dead-letters | audit (README: Running it).

Each subcommand lives in bot/commands/<name>.py with add_parser(subparsers) and run(args) -> exit code.
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

COMMANDS = ("serve", "web", "worker", "validate", "owners", "plan", "replay", "dead_letters", "audit")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only` (a subcommand's name) just that subcommand's module is imported: importing every
    subcommand (the queue, huey and redis behind serve and worker) was a tenth of a second on every `owners` or
    `validate` run."""
    parser = argparse.ArgumentParser(prog="release-coordinator", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS if only is None else (only,):
        try:
            module = import_module(f"bot.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `release-coordinator NAME ...` needs NAME's module only; anything else (--help, a typo) gets every command.
    named = argv[0].replace("-", "_") if argv else None
    parser = build_parser(named if named in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for usage errors, as SPEC §9 asks
        return int(exc.code or 0)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
