"""A release repo checkout read with git, answering the few Forge reads release history needs (tags with their
messages and tagger dates, files at a commit), so `plan` judges promotions and rollbacks with the same code the
app runs (bot.handlers.history, bot.handlers.promotion). Verification states are not in git: they are given."""
from __future__ import annotations

import datetime as dt
import subprocess
from typing import Mapping

from bot.core.promotion import CheckKind, CheckState, CommitCheck
from bot.model import FileContent, Tag


class GitError(Exception):
    """git refused: not a repository, unknown revision."""


def git(path: str, *args: str) -> str:
    done = subprocess.run(["git", "-C", path, *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise GitError(done.stderr.decode("utf-8", errors="replace").strip() or f"git {' '.join(args)} failed")
    return done.stdout.decode("utf-8", errors="replace")


_STATES = {"success": CheckState.SUCCESS, "pending": CheckState.PENDING, "failure": CheckState.FAILURE}


class LocalReleaseRepo:
    """Forge-shaped reads of one checkout; `repo` arguments are ignored (there is one repository)."""

    kind = "git"

    def __init__(self, path: str, *, verification: Mapping[str, str] = {}) -> None:
        self.path = path
        self.verification = dict(verification)  # NAME -> success | pending | failure, as CI knows them
        self._tags: tuple[Tag, ...] | None = None
        self._dates: dict[str, dt.datetime | None] = {}

    def list_annotated_tags(self, repo: str, *, limit: int | None = None) -> tuple[Tag, ...]:
        """Every tag, newest first (creator date: the tagger's, or a lightweight tag's commit's), with message and
        date."""
        if self._tags is None:
            out = git(self.path, "for-each-ref", "--sort=-creatordate",
                      "--format=%(refname:short)%00%(objecttype)%00%(objectname)%00%(*objectname)%00"
                      "%(taggerdate:iso-strict)%00%(committerdate:iso-strict)%00%(contents)%1e", "refs/tags")
            tags = []
            for record in out.split("\x1e"):
                parts = record.lstrip("\n").split("\x00", 6)
                if len(parts) != 7:
                    continue
                name, kind, sha, peeled, tagged, committed, message = parts
                date = tagged or committed  # a lightweight tag has no tagger: its commit's date stands in
                annotated = kind == "tag"
                tags.append(Tag(name=name, commit_sha=peeled if annotated else sha,
                                message=message if annotated else None, tag_sha=sha if annotated else None))
                self._dates[name] = dt.datetime.fromisoformat(date).astimezone(dt.timezone.utc) if date else None
            self._tags = tuple(self._newest_commit_first_within_a_second(tags))
        return self._tags[:limit] if limit is not None else self._tags

    def _newest_commit_first_within_a_second(self, tags: list[Tag]) -> list[Tag]:
        """Git dates have whole seconds and for-each-ref breaks ties by name, so two releases tagged in one second
        (a script, a CI job) could come out oldest first: among tags of one date, a descendant commit comes first
        (rev-list --topo-order shows children before their parents)."""
        dates = [self._dates.get(tag.name) for tag in tags]
        if len(set(dates)) == len(dates):
            return tags
        order = {sha: index for index, sha in enumerate(
            git(self.path, "rev-list", "--topo-order", *sorted({tag.commit_sha for tag in tags})).split())}
        epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        return sorted(tags, key=lambda tag: (-(self._dates.get(tag.name) or epoch).timestamp(),
                                             order.get(tag.commit_sha, len(order))))

    def get_tag(self, repo: str, name: str) -> Tag | None:
        return next((t for t in self.list_annotated_tags(repo) if t.name == name), None)

    def tag_date(self, repo: str, tag: Tag) -> dt.datetime | None:
        self.list_annotated_tags(repo)
        return self._dates.get(tag.name)

    def get_file(self, repo: str, path: str, *, ref: str) -> FileContent | None:
        done = subprocess.run(["git", "-C", self.path, "show", f"{ref}:{path}"], capture_output=True, check=False)
        return FileContent(done.stdout, "") if done.returncode == 0 else None

    def commit_checks(self, repo: str, sha: str, *, names=None) -> tuple[CommitCheck, ...]:
        return tuple(CommitCheck(name, CheckKind.STATUS, _STATES[state], f"{state} (given with --verification)")
                     for name, state in sorted(self.verification.items()))


def parse_verification(items: list[str]) -> tuple[dict[str, str], str | None]:
    """--verification NAME=STATE items -> {NAME: STATE}, or the usage error."""
    found = {}
    for item in items:
        name, sep, state = item.partition("=")
        if not sep or not name or state not in _STATES:
            return {}, f"--verification expects NAME=success|pending|failure, got {item!r}"
        found[name] = state
    return found, None
