"""`release-coordinator owners`: each path's owners and the CODEOWNERS line that decided it (SPEC §9)."""
from __future__ import annotations

import argparse
import json
import sys

from bot.core.codeowners import Codeowners, Match, SectionMatch, parse

USAGE_ERROR = 2


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "owners", help="who owns each path, and which CODEOWNERS line decided it",
        description="Paths come from the arguments, or from standard input (one per line) when none are given. "
                    "CODEOWNERS errors are printed to standard error with their line; the valid lines still apply.",
    )
    parser.add_argument("--codeowners", required=True, metavar="FILE", help="the CODEOWNERS file to read")
    parser.add_argument("--gitlab", action="store_true", help="GitLab rules: sections, one answer per matching section")
    parser.add_argument("--json", action="store_true",
                        help='print a JSON list of {"path", "owners", "line", "pattern"} (line null when no rule '
                             'matched); with --gitlab one object per matching section, adding "section", '
                             '"optional" and "approvals_required"')
    parser.add_argument("paths", nargs="*", metavar="PATH", help="repository-relative paths, e.g. src/app.py")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        with open(args.codeowners, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        print(f"owners: cannot read {args.codeowners}: {exc.strerror}", file=sys.stderr)
        return USAGE_ERROR
    codeowners = parse(data, platform="gitlab" if args.gitlab else "github")
    for error in codeowners.errors:
        print(f"{args.codeowners}:{error.line}: {error_text(error)}", file=sys.stderr)
    paths = args.paths or [line.rstrip("\r\n") for line in sys.stdin if line.rstrip("\r\n")]
    paths = [path.removeprefix("./") for path in paths]
    # One write of the whole answer: a write (or print) per row or per JSON token was half the run time on a
    # 27k-path corpus.
    if args.json:
        rendered = _answer(codeowners, paths, gitlab=args.gitlab,
                           render=lambda row: _indented(row, "\n  ")[_PATH_PREFIX:],
                           join=lambda path, rest: _ROW_START + _encode_str(path) + rest)
        sys.stdout.write(("[\n  " + ",\n  ".join(rendered) + "\n]" if rendered else "[]") + "\n")
    else:
        rendered = _answer(codeowners, paths, gitlab=args.gitlab, render=lambda row: _text(row, args.codeowners),
                           join=str.__add__)
        if rendered:
            sys.stdout.write("\n".join(rendered) + "\n")
    return 0


def _answer(codeowners: Codeowners, paths: list[str], *, gitlab: bool, render, join) -> list[str]:
    """One rendered row per path (GitLab: per path and matching section), each rule's row rendered once:
    107k paths share 2k rules, so a row is its path joined to its rule's rendering of a row whose path is ""
    (`render` of that row, then `join(path, rendered)`). Same bytes as rendering every row (tests)."""
    rendered: list[str] = []
    cache: dict = {}
    if gitlab:
        resolved = codeowners.resolve_sections(paths)
        for path in paths:
            for section in resolved[path] or (None,):
                rest = cache.get(section)
                if rest is None:
                    rest = cache[section] = render(_gitlab_row("", section))
                rendered.append(join(path, rest))
    else:
        resolved = codeowners.resolve(paths)
        for path in paths:
            match = resolved[path]
            key = None if match is None else (match.owners, match.line, match.pattern)
            rest = cache.get(key)
            if rest is None:
                rest = cache[key] = render(_github_row("", match))
            rendered.append(join(path, rest))
    return rendered


def dumps_indented(value) -> str:
    """Exactly `json.dumps(value, indent=2, ensure_ascii=False)`, several times faster for the rows above.

    With `indent` set, json falls back to its pure-Python encoder, which makes a generator step per token; here
    strings go through json's C string encoder and each container is joined once."""
    return _indented(value, "\n")


_encode_str = json.encoder.encode_basestring  # the C function when available: what ensure_ascii=False uses
# A row at the list's indent renders as '{\n    "path": "P",\n    ...': keep what follows the path.
_ROW_START = '{\n    "path": '
_PATH_PREFIX = len(_ROW_START + '""')


def _indented(value, newline: str) -> str:
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        keys = _keys
        items = [f"{keys.get(key) or _key(key)}: {_indented(item, inner)}" for key, item in value.items()]
        return "{" + inner + ("," + inner).join(items) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join([_indented(item, inner) for item in value]) + newline + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, str):
        return _encode_str(value)
    if isinstance(value, dict):
        return _indented(dict(value), newline)
    if isinstance(value, (list, tuple)):
        return _indented(list(value), newline)
    return json.dumps(value, ensure_ascii=False)  # floats and anything else: json's own spelling


_keys: dict[str, str] = {}  # the same few keys on every row: encode each once


def _key(key) -> str:
    if isinstance(key, str):
        encoded = _keys[key] = _encode_str(key)
        return encoded
    return json.dumps({key: 0}, ensure_ascii=False)[1:-4]  # json's own spelling of a non-str key, e.g. 1 -> "1"


def _github_rows(codeowners: Codeowners, paths: list[str]) -> list[dict]:
    resolved = codeowners.resolve(paths)
    return [_github_row(path, resolved[path]) for path in paths]


def _github_row(path: str, match: Match | None) -> dict:
    if match is None:
        return {"path": path, "owners": [], "line": None, "pattern": None}
    return {"path": path, "owners": list(match.owners), "line": match.line, "pattern": match.pattern}


def _gitlab_rows(codeowners: Codeowners, paths: list[str]) -> list[dict]:
    resolved = codeowners.resolve_sections(paths)
    rows: list[dict] = []
    for path in paths:
        sections = resolved[path]
        if not sections:
            rows.append(_gitlab_row(path, None))
        rows.extend(_gitlab_row(path, section) for section in sections)
    return rows


def _gitlab_row(path: str, section: SectionMatch | None) -> dict:
    if section is None:  # no section has a rule for the path
        return {"path": path, "section": None, "optional": None, "approvals_required": None,
                "owners": [], "line": None, "pattern": None}
    return {"path": path, "section": section.section, "optional": section.optional,
            "approvals_required": section.approvals_required, "owners": list(section.owners),
            "line": section.line, "pattern": section.pattern}


def _text(row: dict, filename: str) -> str:
    owners = " ".join(row["owners"]) or ("(unowned)" if row["line"] is not None else "(no owner)")
    decided = f"{filename}:{row['line']}: {row['pattern']}" if row["line"] is not None else "no rule matched"
    if row.get("section") is not None:
        heading = f"{'^' if row['optional'] else ''}[{row['section']}]"
        if row["approvals_required"] != 1:
            heading += f"[{row['approvals_required']}]"
        return f"{row['path']}\t{heading}\t{owners}\t{decided}"
    return f"{row['path']}\t{owners}\t{decided}"


def error_text(error) -> str:
    """"Invalid pattern: `!x` is not supported (…)", not "Invalid pattern: Invalid pattern on line 5: …": the
    message is GitHub's wording (kind and line included), and the line is already in the FILE:LINE prefix."""
    repeated = f"{error.kind} on line {error.line}: "
    message = error.message[len(repeated):] if error.message.startswith(repeated) else error.message
    text = message if message.lower().startswith(error.kind.lower()) else f"{error.kind}: {message}"
    return text + (f" ({error.suggestion})" if error.suggestion else "")
