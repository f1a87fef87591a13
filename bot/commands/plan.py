"""`release-coordinator plan`: what merging the current manifest would tag and write, from local git checkouts."""
from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping

from bot.core import release as core
from bot.core.config import CONFIG_PATH, Config, ConfigSource, load_config
from bot.core.manifest import parse_manifest
from bot.handlers.configs import builtin_defaults

_REMOTE_NAME = re.compile(r"[:/](?P<name>[^/:\s]+/[^/:\s]+?)(?:\.git)?/?$")  # the last two path parts


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "plan", help="dry run: print the tag, tag message and changelog entry a merge would produce",
        description="Reads the release repo's HEAD and each component checkout with git; writes nothing.",
    )
    parser.add_argument("--release-repo", required=True, metavar="PATH", help="checkout of the release repository")
    parser.add_argument("--repo", action="append", default=[], metavar="NAME=PATH",
                        help="checkout of component NAME (repeat for each component)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="release date, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--pull", type=int, metavar="NUMBER", help="the release pull request's number, if known")
    parser.add_argument("--web-url", default="https://github.com", help="for links (GitHub Enterprise Server: its URL)")
    parser.set_defaults(run=run)


class GitError(Exception):
    """git refused: not a repository, unknown revision."""


def git(path: str, *args: str) -> str:
    done = subprocess.run(["git", "-C", path, *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise GitError(done.stderr.decode("utf-8", errors="replace").strip() or f"git {' '.join(args)} failed")
    return done.stdout.decode("utf-8", errors="replace")


def show(path: str, rev: str, file: str) -> bytes | None:
    done = subprocess.run(["git", "-C", path, "show", f"{rev}:{file}"], capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


@dataclass(frozen=True)
class ReleaseTag:
    name: str
    commit: str
    message: str


def release_tags(path: str) -> list[ReleaseTag]:
    """Annotated tags carrying release trailers, newest first (tagger date)."""
    out = git(path, "for-each-ref", "--sort=-creatordate", "--format=%(refname:short)%00%(*objectname)%00%(contents)%1e", "refs/tags")
    tags = []
    for record in out.split("\x1e"):
        parts = record.lstrip("\n").split("\x00", 2)
        if len(parts) == 3 and parts[1] and core.parse_release_trailers(parts[2]).release_id:
            tags.append(ReleaseTag(parts[0], parts[1], parts[2]))
    return tags


def commits_between(path: str, older: str, newer: str) -> tuple[core.CommitInfo, ...]:
    """Commits in newer not in older, oldest first, as the compare API lists them."""
    out = git(path, "log", "--reverse", "--format=%H%x00%B%x1e", f"{older}..{newer}")
    commits = []
    for record in out.split("\x1e"):
        sha, sep, message = record.lstrip("\n").partition("\x00")
        if sep:
            commits.append(core.CommitInfo(sha, message.strip()))
    return tuple(commits)


def run(args: argparse.Namespace) -> int:
    checkouts = {}
    for item in args.repo:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            print(f"--repo expects NAME=PATH, got {item!r}", file=sys.stderr)
            return 2
        checkouts[name] = path
    try:
        return _plan(args, checkouts)
    except GitError as exc:
        print(f"git: {exc}", file=sys.stderr)
        return 2


def _plan(args: argparse.Namespace, checkouts: Mapping[str, str]) -> int:
    repo_path = args.release_repo
    head = git(repo_path, "rev-parse", "HEAD").strip()
    repo_name = _github_name(repo_path)
    layers = [builtin_defaults(), ConfigSource(CONFIG_PATH, show(repo_path, "HEAD", CONFIG_PATH))]
    loaded = load_config(layers, repo=repo_name or "local/release")
    if loaded.problems or loaded.config.release is None:
        for problem in loaded.problems or (f"{CONFIG_PATH}: no `release:` section at HEAD",):
            print(problem, file=sys.stderr)
        return 1
    config = loaded.config
    path = config.release.manifest
    text = show(repo_path, "HEAD", path)
    if text is None:
        print(f"{path}: not found at HEAD of {repo_path}", file=sys.stderr)
        return 1
    manifest, problems = parse_manifest(text, path=path, config=config)
    if manifest is None or problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    tags = [t for t in release_tags(repo_path) if t.commit != head]  # HEAD's own tag is this release, not the previous
    previous_id, old_versions = None, {}
    if tags:
        previous_id, old_versions = core.parse_release_trailers(tags[0].message)[:2]
    else:
        before = show(repo_path, "HEAD~1", path)
        old = parse_manifest(before, path=path, config=config)[0] if before is not None else None
        old_versions = dict(old.versions) if old else {}
    restored = None
    if manifest.rollback:
        restored = next((t.name for t in tags if _restores(t.message, manifest.versions)), None)
    changes = _changes(config, checkouts, old=old_versions, new=manifest.versions)
    plan, problems = core.plan_release(
        config=config, versions=manifest.versions, rollback=manifest.rollback, notes=manifest.notes,
        changes=changes,
        provenance=_provenance(args, repo_name), date=args.date or dt.datetime.now(dt.timezone.utc).date(),
        restored_id=restored, previous_id=previous_id, web_url=args.web_url.rstrip("/"), release_repo=repo_name,
    )
    if plan is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    print(f"Tag: {plan.release_id} (on {head[:12]}, {repo_path})")
    print("Dry run: nothing was written. At merge the tag message also names the pull request's head sha and the")
    print("approvers per team.\n")
    if manifest.rollback and args.pull is None:
        print("note: a rollback's tag is named after its pull request: pass --pull NUMBER", file=sys.stderr)
    print("--- tag message ---")
    print(plan.tag_message)
    print(f"--- changelog entry ({config.release.changelog}) ---")
    print(plan.changelog_entry)
    print("--- release plan ---")
    print(_release_plan(config, changes, plan.release_id, web_url=args.web_url.rstrip("/")))
    return 0


def _release_plan(config: Config, changes: tuple[core.ComponentChange, ...], release_id: str, *, web_url: str) -> str:
    """The plan the release pull request's manifest check shows (bot.core.plan), without approvals: a local dry
    run knows no reviews. When it can ship is judged on the config's windows at this moment."""
    from bot.core import plan as release_plan
    from bot.core import windows

    now = dt.datetime.now(dt.timezone.utc)
    window = windows.evaluate(config.windows, now=now) if config.windows is not None else None
    view = release_plan.build_plan(release_id=release_id, changes=changes, evaluation=None, window=window)
    text = release_plan.render_plan(view, web_url=web_url, windows=config.windows)
    return text.replace("**Approvals:** not evaluated for this head yet; the approvals check will say who must "
                        "approve.", "**Approvals:** not known to a local dry run (the approvals check says who must "
                        "approve).")


def _provenance(args: argparse.Namespace, repo_name: str | None) -> core.Provenance:
    if args.pull is None:
        return core.Provenance()
    url = f"{args.web_url.rstrip('/')}/{repo_name}/pull/{args.pull}" if repo_name else None
    return core.Provenance(pull_number=args.pull, pull_url=url)


def _restores(message: str, versions: Mapping[str, str]) -> bool:
    trailers = core.parse_release_trailers(message)
    return trailers.rollback_of is None and core.versions_equal(trailers.versions, versions)


def _changes(config: Config, checkouts: Mapping[str, str], *, old: Mapping[str, str], new: Mapping[str, str]) -> tuple[core.ComponentChange, ...]:
    changes = []
    for name in sorted(new):
        component = config.components.get(name)
        repo, prefix = (component.repo, component.tag_prefix) if component else (name, "v")
        change = core.ComponentChange(name, repo, old.get(name), new[name], (), prefix)
        if change.direction in ("upgraded", "rolled back"):
            older, newer = (change.new, change.old) if change.direction == "rolled back" else (change.old, change.new)
            commits = None
            if name in checkouts:
                try:
                    commits = commits_between(checkouts[name], f"{prefix}{older}", f"{prefix}{newer}")
                except GitError as exc:
                    print(f"warning: {name}: {exc}", file=sys.stderr)
            else:
                print(f"warning: no --repo {name}=PATH given; its commits are left out", file=sys.stderr)
            change = core.ComponentChange(name, repo, change.old, change.new, commits, prefix)
        changes.append(change)
    return tuple(changes)


def _github_name(path: str) -> str | None:
    """owner/name from the `origin` remote (GitHub or GitHub Enterprise Server), for links; None without one."""
    try:
        url = git(path, "remote", "get-url", "origin").strip()
    except GitError:
        return None
    match = _REMOTE_NAME.search(url)
    return match["name"] if match else None
