"""release-coordinator serve | worker | validate | owners | plan | replay (SPEC §9).

Each subcommand lives in bot/commands/<name>.py with add_parser(subparsers) and run(args) -> exit code.
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

COMMANDS = ("serve", "worker", "validate", "owners", "plan", "replay", "dead_letters")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="release-coordinator", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = import_module(f"bot.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for usage errors, as SPEC §9 asks
        return int(exc.code or 0)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
