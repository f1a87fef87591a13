"""Safe YAML for files a pull request can write: size cap, no alias bombs, every value's line kept."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

# How deeply collections may nest. Our files nest four or five levels; PyYAML composes and we construct
# recursively, so a pull request writing `[[[[...` 5,000 deep would end the reader in RecursionError. The limit is
# checked as each collection starts, before any node below it is composed.
MAX_DEPTH = 64


class YamlError(ValueError):
    """A file that cannot be used; carries the 1-based line when YAML knows it."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Loaded:
    data: Any
    # (key, key, index, ...) path of every mapping key / sequence item -> 1-based line where it starts
    lines: dict[tuple, int]

    def line_of(self, *path: Any) -> int | None:
        """Line of the deepest known prefix of path (so a bad value points at its key at least)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def load(text: bytes | str, *, max_bytes: int) -> Loaded:
    """Parse one YAML document with yaml's SafeLoader rules; raise YamlError with the line on any problem."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise YamlError(f"file is {len(raw):,} bytes; the limit is {max_bytes:,} bytes")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not valid UTF-8 at byte {exc.start}") from None
    loader = None
    try:
        loader = _DepthLimitedLoader(decoded)  # its reader already refuses control characters
        node = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        line = decoded.count("\n", 0, exc.position) + 1
        raise YamlError(f"character U+{exc.character:04X} is not allowed in YAML", line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(f"YAML syntax error: {exc.problem or exc.context}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML error: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return Loaded(None, {(): 1})
    lines: dict[tuple, int] = {(): node.start_mark.line + 1}
    data = _construct(node, (), lines)
    return Loaded(data, lines)


def too_deep(text: str, *, hash_comments: bool, limit: int | None = None) -> int | None:
    """JSON and TOML version files: the 1-based line where `[`/`{` nest deeper than the limit, else None.

    json and tomllib parse recursively (a 100,000-deep array is a RecursionError), so the brackets are counted
    before either runs, outside "..." and '...' strings (backslash escapes in "...") and, for TOML, # comments."""
    limit = MAX_DEPTH if limit is None else limit
    depth, line, quote, index, size = 0, 1, "", 0, len(text)
    while index < size:
        char = text[index]
        if char == "\n":
            line += 1
        elif quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#" and hash_comments:
            end = text.find("\n", index)
            index = size if end < 0 else end
            continue
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line
        elif char in "]}":
            depth = max(depth - 1, 0)
        index += 1
    return None


class _DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses collections nested deeper than MAX_DEPTH, before composing them."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlError(f"YAML nests deeper than {MAX_DEPTH} levels here; flatten the structure",
                                mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    if getattr(node, "_rc_seen", False):
        # compose() hands back the anchored node again for each *alias. Our files never need anchors,
        # and refusing the first alias defeats "billion laughs" before any expansion happens.
        raise YamlError("YAML anchors and aliases are not allowed here", node.start_mark.line + 1)
    node._rc_seen = True  # type: ignore[attr-defined]
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError("YAML merge keys (<<) are not allowed here", key_node.start_mark.line + 1)
            key = _construct(key_node, path, {})
            if isinstance(key, (dict, list)):
                raise YamlError("a mapping key must be a plain value", key_node.start_mark.line + 1)
            if key in result:
                raise YamlError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, path + (key,), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            items.append(_construct(item, path + (index,), lines))
        return items
    try:
        return yaml.SafeLoader(" ").construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise YamlError(f"cannot read value: {exc.problem}", node.start_mark.line + 1) from None
    except (ValueError, TypeError, AttributeError, OverflowError, IndexError, KeyError):
        # SafeConstructor converts without checking first: `!!int abc`, `!!timestamp x` or the date 2026-13-45
        # raise from int(), a failed regex match or datetime(); an empty `!!int` indexes past its end.
        shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
        kind = _KINDS.get(node.tag, node.tag)
        raise YamlError(f"cannot read {shown!r} as {kind}", node.start_mark.line + 1) from None


_KINDS = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a date (YYYY-MM-DD, a real day)",
    "tag:yaml.org,2002:bool": "a boolean",
}
