"""`release-coordinator/window` on the release repo: in a window, outside freezes, or overridden. Flips by itself:
a recheck is scheduled for the moment the window opens or closes (bot.handlers.rechecks); every 5 minutes a sweep
re-evaluates the open pull requests of the release repos seen so far (window and promotion) as the fallback."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, ContextManager, Iterator

from bot.core import environments as envs
from bot.core.checks import WINDOW, CheckResult, Problem
from bot.core.config import CONFIG_PATH, Config, WindowsConfig
from bot.core.manifest import problems_check, unchanged_check
from bot.core.windows import WindowState, evaluate, window_check, zone_problem
from bot.forge.errors import NotFound, PermissionDenied
from bot.forge.protocol import Forge
from bot.handlers import Context, KeyValue
from bot.handlers.configs import fetch_config
from bot.handlers.manifest import (
    config_failure, merge_group_details_url, publish_each, release_merge_group, touched_environments,
)
from bot.handlers.publish import flush_notes, publish_check
from bot.handlers.rechecks import DUE, RECHECK_EVENT, Recheck, schedule
from bot.model import PullRequest
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()

REPOS_KEY = "window:repos"  # {"owner/name": installation_id} of release repos with windows or promotion gates
# Both kept without a ttl: periodic() drops a repo once it has no open PR (or is gone) and a PR once it is
# closed, so they stay as small as the open release PRs. Expiring REPOS_KEY would stop the 5-minute polling.


def repos_key(forge: str = "github") -> str:
    return REPOS_KEY if forge == "github" else f"{REPOS_KEY}:{forge}"  # GitHub's keeps its pre-GitLab name


def pulls_key(repo: str) -> str:
    # {"number": [head_sha, base_sha, is_release_pr]}: spares listing each PR's files every 5 minutes
    return f"window:pulls:{repo}"


@router.register("pull.changed")
@router.register("pull.recheck")
@router.register(RECHECK_EVENT, DUE)
def on_pull(event: Event, ctx: Context) -> None:
    publish_each(event, ctx, check_name=WINDOW, evaluate=lambda pull: evaluate_pull(ctx, pull, account=event.account))


@router.register("merge_group", "checks_requested")
def on_merge_group(event: Event, ctx: Context) -> None:
    found = release_merge_group(event, ctx, check_name=WINDOW)
    windows = found[0].windows if found is not None else None
    if windows is None:
        return
    details_url = merge_group_details_url(event, ctx)
    if not found[2]:  # SPEC §4: on every pull request of the release repo, the queue's commit included
        result = unchanged_check(WINDOW, head_sha=event.head_sha, details_url=details_url)
    else:
        # the queue's last pull request carries the override label, if any
        labels = frozenset().union(*(ctx.forge.get_pull(event.repo, n).labels for n in event.pull_numbers))
        result = judge(windows, now=ctx.now, labels=labels, head_sha=event.head_sha, details_url=details_url,
                       queued=True)
    publish_check(ctx.forge, event.repo, result, store=ctx.store)


def evaluate_pull(ctx: Context, pull: PullRequest, *, account: int | None) -> CheckResult | None:
    """The window check for one pull request of a release repo with `windows:`; "manifest unchanged" when it
    touches no environment's manifest (SPEC §4); None elsewhere. Schedules the recheck for when it flips."""
    forge, store = ctx.forge, ctx.store
    loaded = fetch_config(forge, pull.repo, ref=pull.base_sha)
    if not loaded.config.managed:
        return None
    details_url = ctx.details_url(pull.repo, pull.number)
    if not loaded.ok:
        return config_failure(WINDOW, loaded, head_sha=pull.head_sha, details_url=details_url)
    config = loaded.config
    if config.release is None:
        return None
    # GitLab acts with one token: its account is None, and its repos are polled too (GL-core)
    if store is not None and (account is not None or forge.kind != "github") and (config.windows is not None or any(e.gated for e in envs.of(config))):
        remember_repo(store, pull.repo, account, forge=forge.kind)
    if config.windows is None:
        return None
    if not _is_release_pull(forge, store, pull, config):
        return unchanged_check(WINDOW, head_sha=pull.head_sha, details_url=details_url)
    zone = zone_problem(config.windows.timezone)
    if zone:
        return judge(config.windows, now=ctx.now, labels=pull.labels, head_sha=pull.head_sha, details_url=details_url,
                     config_path=forge.layout.config_path)
    state = evaluate(config.windows, now=ctx.now, labels=pull.labels)
    moment = flips_at(state)
    if moment is not None:
        schedule(ctx, Recheck(forge=forge.kind, account=account, repo=pull.repo, number=pull.number, check=WINDOW,
                              at=moment))
    return window_check(state, config.windows, head_sha=pull.head_sha, details_url=details_url)


def flips_at(state: WindowState) -> dt.datetime | None:
    """When the check changes by time alone: the window opening (or the freeze ending), or the window closing.
    With the override label it passes either way: nothing to wait for."""
    if state.override:
        return None
    return state.closes_at if state.allowed else state.next_open


def judge(windows: WindowsConfig, *, now: dt.datetime, labels: frozenset[str], head_sha: str,
          details_url: str | None, queued: bool = False, config_path: str = CONFIG_PATH) -> CheckResult:
    zone = zone_problem(windows.timezone)
    if zone:  # fetch_config cannot list this machine's zones; an unknown one is still the user's mistake
        return problems_check(WINDOW, head_sha=head_sha, title="Invalid release-coordinator config",
                              problems=(Problem(config_path, None, zone),), details_url=details_url)
    return window_check(evaluate(windows, now=now, labels=labels), windows, head_sha=head_sha, details_url=details_url,
                        queued=queued)


def periodic(contexts: Callable[[int | None], Context], store: KeyValue, now: dt.datetime, *, forge: str = "github",
             lease: Callable[[str, str], ContextManager[bool]] | None = None) -> int:
    """The fallback: re-evaluate window and promotion on every open pull request of the release repos seen so far,
    so a window opening or closing, a freeze starting or a soak ending updates the checks even if a scheduled
    recheck was lost. Returns how many checks it wrote."""
    from bot.handlers import promotion  # imported here: promotion imports this module for remember_repo

    key = repos_key(forge)
    repos = dict(store.get_json(key) or {})
    written = 0
    dropped = {}
    for repo, account in _leased(sorted(repos.items()), lease, forge):
        ctx = contexts(account)
        ctx.now = now
        try:
            pulls = ctx.forge.list_open_pulls(repo)
        except (NotFound, PermissionDenied):
            dropped[repo] = account  # uninstalled or removed from the installation: stop polling it
            continue
        _forget_closed(store, repo, {p.number for p in pulls})
        if not pulls:
            dropped[repo] = account  # the next pull request event adds it back
            continue
        for pull in pulls:
            for evaluate_one in (evaluate_pull, promotion.evaluate_pull):
                result = evaluate_one(ctx, pull, account=account)
                if result is not None:
                    written += publish_check(ctx, pull, result)
        flush_notes(ctx)  # GitLab: the summary note follows a status that flipped by itself
    if dropped:
        # re-read: a handler may have added a repo while we polled
        current = store.get_json(key) or {}
        store.set_json(key, {r: i for r, i in current.items() if dropped.get(r) != i})
    return written


def _leased(repos: list[tuple[str, Any]], lease, forge: str) -> Iterator[tuple[str, Any]]:
    """Each repository while holding its lease (Queue.repo_lease), like every delivery: an evaluation here cannot
    publish over a newer one running for a delivery. A busy repository is skipped this round (its delivery, or the
    next sweep, evaluates it; the queue counts the deferral). The lease is released when the loop moves on."""
    for repo, account in repos:
        if lease is None:
            yield repo, account
            continue
        with lease(forge, repo) as held:
            if held:
                yield repo, account


def remember_repo(store: KeyValue, repo: str, account: int | None, *, forge: str = "github") -> None:
    key = repos_key(forge)
    repos = store.get_json(key) or {}
    if repo not in repos or repos.get(repo) != account:
        store.set_json(key, {**repos, repo: account})


def _is_release_pull(forge: Forge, store: KeyValue | None, pull: PullRequest, config: Config) -> bool:
    """Does this PR change an environment's manifest? Remembered per (head, base) sha: the answer cannot change."""
    known = (store.get_json(pulls_key(pull.repo)) or {}) if store is not None else {}
    seen = known.get(str(pull.number))
    if seen and seen[:2] == [pull.head_sha, pull.base_sha]:
        return bool(seen[2])
    files = forge.list_pull_files(pull.repo, pull.number, head_sha=pull.head_sha, base_sha=pull.base_sha)
    answer = bool(touched_environments(files, config))
    if store is not None:
        store.set_json(pulls_key(pull.repo), {**known, str(pull.number): [pull.head_sha, pull.base_sha, answer]})
    return answer


def _forget_closed(store: KeyValue, repo: str, open_numbers: set[int]) -> None:
    known = store.get_json(pulls_key(repo)) or {}
    kept = {n: v for n, v in known.items() if int(n) in open_numbers}
    if kept != known:
        store.set_json(pulls_key(repo), kept)
