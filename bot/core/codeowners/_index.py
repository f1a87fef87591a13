"""Rule index: from a path to the few rules that could match it, so no path is tested against every rule."""
from __future__ import annotations

from ._glob import ANY, DIR, EXACT, GLOBSTAR, Compiled, literal_suffix

# How an index entry decides once its key matched: outright, or only by running the rule's regex.
ALWAYS = 0  # the key alone proves the match
BELOW = 1  # proves it when the matched component is not the last (a directory)
LAST = 2  # proves it when the matched component is the last one (the path itself)
REGEX = 3  # a candidate: run the regex

_KIND = {ANY: ALWAYS, DIR: BELOW, EXACT: LAST}


class _Node:
    __slots__ = ("children", "entries", "known", "regex")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.entries: list[tuple[int, int]] = []  # while building; then split into known / regex
        self.known: tuple[tuple[int, int], ...] = ()
        self.regex: tuple[int, ...] = ()


class Index:
    """Each rule is filed under one key that every path it matches must have, the first of these that applies:

    1. a trie on the literal leading segments of anchored patterns ("/src/app/" lives at src -> app), unless a
       later literal segment is rarer ("/services/*/migrations/" is keyed by the component "migrations");
    2. a literal segment of a floating pattern ("apps/", "**/logs/*.txt") keyed by that component;
    3. the extension a segment ends with ("*.js" keyed by "js"), checked against each component's extension
       (a lone "*.js" is settled by a suffix test, no regex);
    4. the first two characters of a segment's literal prefix ("**/git_access*" keyed by "gi");
    5. the number of components a pattern without "**" must have ("/*" and "/*_VERSION": one);
    6. everything else, tested against every path (few in real files).
    """

    __slots__ = ("root", "components", "extensions", "prefixes", "by_count", "generic")

    def __init__(self, compiled: list[Compiled], groups: list[object]) -> None:
        """`groups[rid]`: rules of one group compete (GitLab: a section's entries, or its exclusions)."""
        self.root = _Node()
        # While building: key -> entries; then key -> (proven entries, regex candidates), see _compact.
        self.components: dict = {}
        self.extensions: dict = {}
        self.prefixes: dict[str, list[int]] = {}
        self.by_count: dict[int, list[int]] = {}
        self.generic: list[int] = []
        for rid, pattern in enumerate(compiled):
            self._add(rid, pattern)
        # Within a group the last matching rule wins, so of the rules a key proves the same way only the last one
        # can matter: keep one per (kind, group). A "*" default plus hundreds of "/dir/" rules stays cheap.
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.entries:
                node.known, node.regex = _compact(node.entries, groups)
                node.entries = []
            stack.extend(node.children.values())
        self.components = {key: _compact(entries, groups) for key, entries in self.components.items()}
        self.extensions = {key: _compact(entries, groups) for key, entries in self.extensions.items()}

    def _add(self, rid: int, pattern: Compiled) -> None:
        segments = pattern.segments
        literals = [pattern.literal(segment) for segment in segments]
        if _matches_everything(pattern):
            self.root.entries.append((rid, ALWAYS))
            return
        depth = 0
        while depth < len(segments) and literals[depth] is not None:
            depth += 1
        deeper = [literal for literal in literals[depth + 1 :] if literal is not None]
        if depth and deeper and depth < len(segments):
            # "/services/*/migrations/": "migrations" must be a component too, and it is rarer than "services".
            self.components.setdefault(deeper[-1], []).append((rid, REGEX))
            return
        if depth:
            node = self.root
            for literal in literals[:depth]:
                node = node.children.setdefault(literal, _Node())
            node.entries.append((rid, _KIND[pattern.end] if depth == len(segments) else REGEX))
            return
        if len(segments) == 2 and segments[0] == GLOBSTAR and literals[1] is not None:
            self.components.setdefault(literals[1], []).append((rid, _KIND[pattern.end]))
            return
        if len(segments) == 2 and segments[0] == GLOBSTAR and segments[1].startswith("*"):
            # "*.js": some component ends with ".js"; a suffix test settles it without a regex.
            suffix = pattern.literal(segments[1][1:])
            if suffix is not None and "." in suffix:
                self.extensions.setdefault(suffix.rpartition(".")[2], []).append((rid, _KIND[pattern.end], suffix))
                return
        named = [literal for literal in literals if literal is not None]
        if named:
            self.components.setdefault(named[-1], []).append((rid, REGEX))  # the last name is usually the rarest
            return
        for segment in reversed(segments):
            suffix = literal_suffix(segment) if segment != GLOBSTAR else ""
            if "." in suffix:
                self.extensions.setdefault(suffix.rpartition(".")[2], []).append((rid, REGEX, suffix))
                return
        for segment in reversed(segments):
            prefix = _literal_prefix(segment)
            if len(prefix) >= 2:
                self.prefixes.setdefault(prefix[:2], []).append(rid)
                return
        if GLOBSTAR not in segments and pattern.end == EXACT:
            self.by_count.setdefault(len(segments), []).append(rid)  # "/*": only paths of exactly one component
            return
        self.generic.append(rid)

    def candidates(self, path: str, cache: dict | None = None) -> tuple[list[int], list[int]]:
        """(rules that match for certain, rules that might and need their regex run).

        The directory's share is the same for every file in it; `cache` (directory -> share) keeps it across a
        batch of paths."""
        slash = path.rfind("/")
        if slash < 0:
            node, depth, known, maybe = self.root, 0, [], []
        else:
            directory = path[:slash]
            share = cache.get(directory) if cache is not None else None
            if share is None:
                share = self._directory(directory)
                if cache is not None:
                    cache[directory] = share
            node, depth, dir_known, dir_maybe = share
            known, maybe = [*dir_known], [*dir_maybe]
            path = path[slash + 1 :]
        for rid, _ in self.root.known:
            known.append(rid)
        if node is not None:
            node = node.children.get(path)
            if node is not None:
                maybe.extend(node.regex)
                for rid, kind in node.known:
                    if kind != BELOW:
                        known.append(rid)
        bucket = self.components.get(path)
        if bucket is not None:
            maybe.extend(bucket[1])
            for rid, kind in bucket[0]:
                if kind != BELOW:
                    known.append(rid)
        dot = path.rfind(".")
        if dot >= 0:
            bucket = self.extensions.get(path[dot + 1 :])
            if bucket is not None:
                maybe.extend(bucket[1])
                for rid, kind, suffix in bucket[0]:
                    if kind != BELOW and path.endswith(suffix):
                        known.append(rid)
        if self.prefixes:
            maybe.extend(self.prefixes.get(path[:2], ()))
        maybe.extend(self.by_count.get(depth + 1, ()))
        maybe.extend(self.generic)
        return known, maybe

    def _directory(self, directory: str) -> tuple[_Node | None, int, tuple[int, ...], tuple[int, ...]]:
        """For the directory of a path: (trie node reached or None, its component count, proven, candidates).
        Every component here has the file below it, so ALWAYS and BELOW prove a match and LAST never does."""
        known: list[int] = []
        maybe: list[int] = []
        parts = directory.split("/")
        node: _Node | None = self.root
        for part in parts:
            node = node.children.get(part)
            if node is None:
                break
            maybe.extend(node.regex)
            for rid, kind in node.known:
                if kind != LAST:
                    known.append(rid)
        components = self.components
        extensions = self.extensions
        prefixes = self.prefixes
        for part in parts:
            bucket = components.get(part)
            if bucket is not None:
                maybe.extend(bucket[1])
                for rid, kind in bucket[0]:
                    if kind != LAST:
                        known.append(rid)
            dot = part.rfind(".")
            if dot >= 0:
                bucket = extensions.get(part[dot + 1 :])
                if bucket is not None:
                    maybe.extend(bucket[1])
                    for rid, kind, suffix in bucket[0]:
                        if kind != LAST and part.endswith(suffix):
                            known.append(rid)
            if prefixes:
                maybe.extend(prefixes.get(part[:2], ()))
        return node, len(parts), tuple(known), tuple(maybe)


def _literal_prefix(segment: str) -> str:
    if segment == GLOBSTAR:
        return ""
    for position, char in enumerate(segment):
        if char in "*?[\\":
            return segment[:position]
    return segment


def _compact(entries: list, groups: list[object]) -> tuple[tuple, tuple[int, ...]]:
    """(the last proven entry per (kind, group[, suffix]), the regex candidates)."""
    last: dict[tuple, tuple] = {}
    regex = []
    for entry in entries:
        if entry[1] == REGEX:
            regex.append(entry[0])
            continue
        key = (entry[1], groups[entry[0]], *entry[2:])
        if key not in last or last[key][0] < entry[0]:
            last[key] = entry
    return tuple(sorted(last.values())), tuple(regex)


def _matches_everything(pattern: Compiled) -> bool:
    # "*" (both platforms) and GitHub's "**" / "/**" match every non-empty path.
    segments = pattern.segments
    return (segments == (GLOBSTAR, "*") and pattern.end == EXACT) or (segments == (GLOBSTAR,) and pattern.end == ANY and not pattern.gitlab)
