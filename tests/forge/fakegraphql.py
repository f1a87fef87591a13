"""Just enough GraphQL for FakeGitHub: a small parser (operation, variables, aliases, arguments, inline
fragments) and an executor over plain dicts. Errors come back as GitHub sends them: HTTP 200 with an
`errors` array whose entries carry `type`, `path` and `message`, the failed field being null in `data`.
https://docs.github.com/en/graphql/guides/forming-calls-with-graphql"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# (parent type name, field name) -> fn(parent dict, arguments) -> value; other fields are read from the dict.
Resolvers = Mapping[tuple[str, str], Callable[[dict, dict], Any]]

_TOKEN = re.compile(r'\s*(?:(\.\.\.)|([{}():,!$\[\]=@])|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)|([_A-Za-z][_0-9A-Za-z]*))')


class GraphQLError(Exception):
    """A field failed: becomes one entry of `errors` (with its type, e.g. NOT_FOUND or FORBIDDEN) and a null."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_


@dataclass
class Selection:
    name: str
    alias: str
    args: dict[str, Any] = field(default_factory=dict)
    children: list["Selection"] | None = None
    on_type: str | None = None  # set for an inline fragment `... on Type { }`


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, Any]) -> None:
        text = re.sub(r"#[^\n]*", "", text).strip()
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise SyntaxError(f"unexpected {text[pos:pos + 20]!r}")
            self.tokens.append(next(g for g in match.groups() if g is not None))
            pos = match.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0
        self.variables = variables

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise SyntaxError(f"expected {expected or 'a token'}, got {token!r}")
        self.i += 1
        return token

    def document(self) -> list[Selection]:
        if self.peek() == "query":
            self.take()
            if self.peek() not in ("(", "{"):
                self.take()  # the operation's name
            if self.peek() == "(":
                self._skip_group()  # variable definitions; their types are not checked here
        selections = self.selection_set()
        if self.peek() is not None:
            raise SyntaxError(f"unexpected {self.peek()!r} after the operation")
        return selections

    def _skip_group(self) -> None:
        depth = 0
        while True:
            token = self.take()
            depth += token == "("
            depth -= token == ")"
            if depth == 0:
                return

    def selection_set(self) -> list[Selection]:
        self.take("{")
        selections = []
        while self.peek() != "}":
            if self.peek() == "...":
                self.take()
                self.take("on")
                on_type = self.take()
                selections.append(Selection(name="...", alias="...", children=self.selection_set(), on_type=on_type))
                continue
            alias = name = self.take()
            if self.peek() == ":":
                self.take()
                name = self.take()
            args = self.arguments() if self.peek() == "(" else {}
            children = self.selection_set() if self.peek() == "{" else None
            selections.append(Selection(name=name, alias=alias, args=args, children=children))
        self.take("}")
        return selections

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        args: dict[str, Any] = {}
        while self.peek() != ")":
            name = self.take()
            self.take(":")
            args[name] = self.value()
            if self.peek() == ",":
                self.take()
        self.take(")")
        return args

    def value(self) -> Any:
        token = self.take()
        if token == "$":
            name = self.take()
            if name not in self.variables:
                raise SyntaxError(f"variable ${name} is not provided")
            return self.variables[name]
        if token.startswith('"'):
            return token[1:-1].encode().decode("unicode_escape")
        if token in ("{", "["):  # input object and list literals, e.g. orderBy: {field: TAG_COMMIT_DATE, direction: DESC}
            close, items = ("}", {}) if token == "{" else ("]", [])
            while self.peek() != close:
                if isinstance(items, dict):
                    key = self.take()
                    self.take(":")
                    items[key] = self.value()
                else:
                    items.append(self.value())
                if self.peek() == ",":
                    self.take()
            self.take(close)
            return items
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        return {"true": True, "false": False, "null": None}.get(token, token)  # enum values stay names


def execute(query: str, variables: Mapping[str, Any] | None, resolvers: Resolvers) -> dict[str, Any]:
    """The JSON body GitHub would answer for `query`: {"data": ..., "errors": [...] when any}."""
    try:
        selections = _Parser(query, variables or {}).document()
    except SyntaxError as exc:
        return {"errors": [{"message": f"Parse error: {exc}"}]}
    errors: list[dict] = []
    data = _object(selections, {"__typename": "Query"}, [], resolvers, errors)
    return {"data": data, **({"errors": errors} if errors else {})}


def _object(selections: list[Selection], obj: dict, path: list, resolvers: Resolvers, errors: list[dict]) -> dict:
    out: dict[str, Any] = {}
    type_name = obj.get("__typename", "")
    for sel in selections:
        if sel.on_type is not None:
            if sel.on_type == type_name:
                out.update(_object(sel.children or [], obj, path, resolvers, errors))
            continue
        resolver = resolvers.get((type_name, sel.name))
        try:
            value = resolver(obj, sel.args) if resolver else obj.get(sel.name)
        except GraphQLError as exc:
            errors.append({"type": exc.type, "path": path + [sel.alias], "message": str(exc),
                           "locations": [{"line": 1, "column": 1}]})
            out[sel.alias] = None
            continue
        out[sel.alias] = _complete(value, sel, path + [sel.alias], resolvers, errors)
    return out


def _complete(value: Any, sel: Selection, path: list, resolvers: Resolvers, errors: list[dict]) -> Any:
    if value is None or sel.children is None:
        return value
    if isinstance(value, list):
        return [_complete(item, sel, path + [i], resolvers, errors) for i, item in enumerate(value)]
    return _object(sel.children, value, path, resolvers, errors)
