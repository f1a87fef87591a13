"""`release-coordinator plan`: what merging the current manifest would tag and write, from local git checkouts."""
from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from typing import Mapping

from bot.commands.plan_git import GitError, LocalReleaseRepo, parse_verification
from bot.core import environments as envs
from bot.core import plan as core_plan
from bot.core import release as core
from bot.core.config import CONFIG_PATH, Config, ConfigSource, load_config
from bot.core.environments import Environment
from bot.core.manifest import parse_manifest
from bot.handlers.configs import builtin_defaults

_REMOTE_NAME = re.compile(r"[:/](?P<name>[^/:\s]+/[^/:\s]+?)(?:\.git)?/?$")  # the last two path parts


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "plan", help="dry run: the tag, tag message, changelog entry and release plan a merge would produce "
                     "(--rollback: the rollback drill)",
        description="Reads the release repo's HEAD and each component checkout with git; writes nothing.",
    )
    parser.add_argument("--release-repo", required=True, metavar="PATH", help="checkout of the release repository")
    parser.add_argument("--repo", action="append", default=[], metavar="NAME=PATH",
                        help="checkout of component NAME (repeat for each component)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="release date, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--pull", type=int, metavar="NUMBER", help="the release pull request's number, if known")
    parser.add_argument("--web-url", default="https://github.com", help="for links (GitHub Enterprise Server: its URL)")
    parser.add_argument("--environment", metavar="NAME",
                        help="with `environments:` in the config: the environment whose manifest to plan; for one after "
                             "the first, also print the promotion verdict")
    parser.add_argument("--verification", action="append", default=[], metavar="NAME=STATE",
                        help="a verification's state on the earlier environment's release commit, as CI knows it "
                             "(success|pending|failure; git has no commit statuses); repeat for each")
    parser.add_argument("--rollback", nargs="?", const="", metavar="RELEASE_ID",
                        help="drill: print the manifest, tag and changelog entry a rollback to RELEASE_ID (default: the "
                             "release before the current one) would produce")
    parser.set_defaults(run=run)


def git(path: str, *args: str) -> str:
    done = subprocess.run(["git", "-C", path, *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise GitError(done.stderr.decode("utf-8", errors="replace").strip() or f"git {' '.join(args)} failed")
    return done.stdout.decode("utf-8", errors="replace")


def show(path: str, rev: str, file: str) -> bytes | None:
    done = subprocess.run(["git", "-C", path, "show", f"{rev}:{file}"], capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


def commits_between(path: str, older: str, newer: str) -> tuple[core.CommitInfo, ...]:
    """Commits in newer not in older, oldest first, as the compare API lists them."""
    out = git(path, "log", "--reverse", "--format=%H%x00%P%x00%B%x1e", f"{older}..{newer}")
    commits = []
    for record in out.split("\x1e"):
        sha, sep, rest = record.lstrip("\n").partition("\x00")
        parents, _, message = rest.partition("\x00")
        if sep:  # parents: a merge commit's own commits are its pull request's too (bot.core.plan.pulls_by_message)
            commits.append(core.CommitInfo(sha, message.strip(), parents=tuple(parents.split())))
    return core_plan.with_pulls(tuple(commits))


def run(args: argparse.Namespace) -> int:
    checkouts = {}
    for item in args.repo:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            print(f"--repo expects NAME=PATH, got {item!r}", file=sys.stderr)
            return 2
        checkouts[name] = path
    verification, problem = parse_verification(args.verification)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        return _plan(args, checkouts, verification)
    except GitError as exc:
        print(f"git: {exc}", file=sys.stderr)
        return 2


def _plan(args: argparse.Namespace, checkouts: Mapping[str, str], verification: Mapping[str, str]) -> int:
    from bot.handlers.history import release_history
    from bot.handlers.release import earlier_release, verified_in

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
    environment, problem = _environment(config, args.environment)
    if environment is None:
        print(problem, file=sys.stderr)
        return 2
    local = LocalReleaseRepo(repo_path, verification=verification)
    if args.rollback is not None:
        return _rollback_drill(args, local, config, environment, checkouts, repo_name=repo_name, head=head)
    path = environment.manifest
    text = show(repo_path, "HEAD", path)
    if text is None:
        print(f"{path}: not found at HEAD of {repo_path}", file=sys.stderr)
        return 1
    manifest, problems = parse_manifest(text, path=path, config=config, allow_prerelease=environment.allow_prerelease)
    if manifest is None or problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    tags = local.list_annotated_tags(repo_name)
    # HEAD's own tag is this release, not the one before it
    history = [r for r in release_history(local, repo_name, config, environment=environment, tags=tags) if r.commit_sha != head]
    if history:
        old_versions = dict(history[0].versions)
    else:
        before = show(repo_path, "HEAD~1", path)
        old = parse_manifest(before, path=path, config=config, allow_prerelease=True)[0] if before is not None else None
        old_versions = dict(old.versions) if old else {}
    earlier = earlier_release(history, manifest.versions)
    changes = _changes(config, checkouts, old=old_versions, new=manifest.versions)
    plan, problems = core.plan_release(
        config=config, versions=manifest.versions, rollback=manifest.rollback, notes=manifest.notes,
        changes=changes,
        provenance=_provenance(args, repo_name), date=args.date or dt.datetime.now(dt.timezone.utc).date(),
        restored_id=earlier.tag if earlier and manifest.rollback else None,
        repeat_of=earlier.tag if earlier and not manifest.rollback else None, environment=environment,
        verified_in=verified_in(local, repo_name, config, environment, manifest.versions, tags=tags,
                                now=dt.datetime.now(dt.timezone.utc), rollback=manifest.rollback),
        web_url=args.web_url.rstrip("/"), release_repo=repo_name,
    )
    if plan is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    print(f"Tag: {plan.release_id} (on {head[:12]}, {repo_path})")
    print("Dry run: nothing was written. At merge the tag message also names the pull request's head sha and the")
    print("approvers per team.\n")
    if (manifest.rollback or earlier) and args.pull is None:
        print("note: a rollback's or a repeat's tag is named after its pull request: pass --pull NUMBER", file=sys.stderr)
    print("--- tag message ---")
    print(plan.tag_message)
    print(f"--- changelog entry ({environment.changelog}) ---")
    print(plan.changelog_entry)
    if environment.gated:
        print("--- promotion ---")
        print(_promotion(local, repo_name, config, environment, tags=tags))
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


def _environment(config: Config, name: str | None) -> tuple[Environment | None, str]:
    environments = envs.of(config)
    names = ", ".join(e.name for e in environments)
    if name is None:
        if config.environments:
            return None, f"the config names environments ({names}): pass --environment NAME"
        return environments[0], ""
    found = envs.by_name(environments, name) if config.environments else None
    if found is None:
        return None, (f"--environment {name}: the config names {names}" if config.environments else
                      f"--environment {name}: the config has no `environments:` section")
    return found, ""


def _promotion(local: LocalReleaseRepo, repo_name: str | None, config: Config, environment: Environment, *, tags) -> str:
    """The verdict the promotion check would give now, from the checkout's tags (and --verification)."""
    from bot.core.promotion import promotion_check
    from bot.handlers.promotion import judge

    verdict = judge(local, repo_name, config, environment, head_sha="HEAD", now=dt.datetime.now(dt.timezone.utc), tags=tags)
    check = verdict if not hasattr(verdict, "outcome") else promotion_check(verdict, head_sha="HEAD")
    state = {"success": "passes", "pending": "waits", "failure": "fails"}.get(check.conclusion.value, check.conclusion.value)
    return f"release-coordinator/promotion {state}: {check.title}\n\n{check.summary}\n"


def _rollback_drill(args: argparse.Namespace, local: LocalReleaseRepo, config: Config, environment: Environment,
                    checkouts: Mapping[str, str], *, repo_name: str | None, head: str) -> int:
    """What `/rollback [RELEASE_ID]` would open and its merge would tag and write, without writing anything."""
    from bot.handlers.rollback import resolve_target

    current = show(args.release_repo, "HEAD", environment.manifest)
    target, problem = resolve_target(local, repo_name, config, command=core.RollbackCommand(target=args.rollback or None),
                                     current=current, environment=environment)
    if target is None:
        print(problem, file=sys.stderr)
        return 1
    notes = f"Rollback to {target.release_id}"
    content = core.rollback_manifest_text(current, versions=target.versions, config=config, notes=notes)
    old = parse_manifest(current, path=environment.manifest, config=config, allow_prerelease=True)[0] if current else None
    changes = _changes(config, checkouts, old=dict(old.versions) if old else {}, new=target.versions)
    pull = args.pull if args.pull is not None else 0
    plan, problems = core.plan_release(
        config=config, versions=target.versions, rollback=True, notes=notes, changes=changes,
        provenance=core.Provenance(pull_number=pull), date=args.date or dt.datetime.now(dt.timezone.utc).date(),
        restored_id=target.release_id, environment=environment, web_url=args.web_url.rstrip("/"), release_repo=repo_name,
    )
    if plan is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    print(f"Rollback drill: restores {target.release_id} in {environment.name if environment.configured else repo_name or 'the release repo'}"
          f" (from {head[:12]}). Dry run: nothing was written.")
    if args.pull is None:
        print("note: the rollback's tag is named after its pull request (pr0 here): pass --pull NUMBER", file=sys.stderr)
    print(f"\n--- {environment.manifest} (the rollback pull request's change) ---")
    print(content.decode(), end="")
    print(f"\n--- tag: {plan.release_id} ---")
    print(plan.tag_message)
    print(f"--- changelog entry ({environment.changelog}) ---")
    print(plan.changelog_entry)
    return 0


def _provenance(args: argparse.Namespace, repo_name: str | None) -> core.Provenance:
    if args.pull is None:
        return core.Provenance()
    url = f"{args.web_url.rstrip('/')}/{repo_name}/pull/{args.pull}" if repo_name else None
    return core.Provenance(pull_number=args.pull, pull_url=url)


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
