"""`release-coordinator/window` on release PRs: in a window, outside freezes, or overridden; re-checked every 5 min."""
from __future__ import annotations

import datetime as dt
from typing import Callable

from bot.core.checks import WINDOW, CheckResult, Problem
from bot.core.config import CONFIG_PATH, WindowsConfig
from bot.core.manifest import problems_check
from bot.core.windows import evaluate, window_check, zone_problem
from bot.forge.base import Forge, PullRequest
from bot.forge.errors import NotFound, PermissionDenied
from bot.handlers import Context, KeyValue
from bot.handlers.configs import fetch_config
from bot.handlers.manifest import (
    PULL_ACTIONS, config_failure, merge_group_details_url, pulls_of, release_merge_group, touches,
)
from bot.handlers.publish import publish_check, rerequested
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()

REPOS_KEY = "window:repos"  # {"owner/name": installation_id} of release repos with windows
# Both kept without a ttl: periodic() drops a repo once it has no open PR (or is gone) and a PR once it is
# closed, so they stay as small as the open release PRs. Expiring REPOS_KEY would stop the 5-minute polling.


def pulls_key(repo: str) -> str:
    # {"number": [head_sha, base_sha, is_release_pr]}: spares listing each PR's files every 5 minutes
    return f"window:pulls:{repo}"


@router.register("pull_request", *PULL_ACTIONS)
@router.register("check_run", "rerequested")
@router.register("check_suite", "requested", "rerequested")
def on_pull(event: Event, ctx: Context) -> None:
    for pull in pulls_of(event, ctx, check_name=WINDOW):
        result = evaluate_pull(ctx.forge, pull, now=ctx.now, store=ctx.store, installation_id=event.installation_id,
                               details_url=ctx.details_url(pull.repo, pull.number))
        if result is not None:
            publish_check(ctx.forge, pull.repo, result, store=ctx.store, force=rerequested(event))


@router.register("merge_group", "checks_requested")
def on_merge_group(event: Event, ctx: Context) -> None:
    found = release_merge_group(event, ctx, check_name=WINDOW)
    windows = found[0].windows if found is not None else None
    if windows is None:
        return
    # the queue's last pull request carries the override label, if any
    labels = frozenset().union(*(ctx.forge.get_pull(event.repo, n).labels for n in event.pull_numbers))
    result = judge(windows, now=ctx.now, labels=labels, head_sha=event.head_sha,
                   details_url=merge_group_details_url(event, ctx), queued=True)
    publish_check(ctx.forge, event.repo, result, store=ctx.store)


def evaluate_pull(forge: Forge, pull: PullRequest, *, now: dt.datetime, store: KeyValue | None,
                  installation_id: int | None, details_url: str | None) -> CheckResult | None:
    loaded = fetch_config(forge, pull.repo, ref=pull.base_sha)
    if not loaded.config.managed:
        return None
    if not loaded.ok:
        return config_failure(WINDOW, loaded, head_sha=pull.head_sha, details_url=details_url)
    release, windows = loaded.config.release, loaded.config.windows
    if release is None or windows is None:
        return None
    if store is not None and installation_id is not None:
        _remember_repo(store, pull.repo, installation_id)
    if not _is_release_pull(forge, store, pull, release.manifest):
        return None
    return judge(windows, now=now, labels=pull.labels, head_sha=pull.head_sha, details_url=details_url)


def judge(windows: WindowsConfig, *, now: dt.datetime, labels: frozenset[str], head_sha: str,
          details_url: str | None, queued: bool = False) -> CheckResult:
    zone = zone_problem(windows.timezone)
    if zone:  # fetch_config cannot list this machine's zones; an unknown one is still the user's mistake
        return problems_check(WINDOW, head_sha=head_sha, title="Invalid release-coordinator config",
                              problems=(Problem(CONFIG_PATH, None, zone),), details_url=details_url)
    return window_check(evaluate(windows, now=now, labels=labels), windows, head_sha=head_sha, details_url=details_url,
                        queued=queued)


def periodic(contexts: Callable[[int], Context], store: KeyValue, now: dt.datetime) -> int:
    """Re-evaluate every open release PR of the release repos seen so far, so a window opening or closing
    (or a freeze starting) updates the check without an event. Returns how many check runs it wrote."""
    repos = dict(store.get_json(REPOS_KEY) or {})
    written = 0
    dropped = {}
    for repo, installation_id in sorted(repos.items()):
        ctx = contexts(installation_id)
        try:
            pulls = ctx.forge.list_open_pulls(repo)
        except (NotFound, PermissionDenied):
            dropped[repo] = installation_id  # uninstalled or removed from the installation: stop polling it
            continue
        _forget_closed(store, repo, {p.number for p in pulls})
        if not pulls:
            dropped[repo] = installation_id  # the next pull request event adds it back
            continue
        for pull in pulls:
            result = evaluate_pull(ctx.forge, pull, now=now, store=store, installation_id=None,
                                   details_url=ctx.details_url(repo, pull.number))
            if result is not None:
                written += publish_check(ctx.forge, repo, result, store=store)
    if dropped:
        # re-read: a handler may have added a repo while we polled
        current = store.get_json(REPOS_KEY) or {}
        store.set_json(REPOS_KEY, {r: i for r, i in current.items() if dropped.get(r) != i})
    return written


def _remember_repo(store: KeyValue, repo: str, installation_id: int) -> None:
    repos = store.get_json(REPOS_KEY) or {}
    if repos.get(repo) != installation_id:
        store.set_json(REPOS_KEY, {**repos, repo: installation_id})


def _is_release_pull(forge: Forge, store: KeyValue | None, pull: PullRequest, manifest: str) -> bool:
    """Does this PR change the manifest? Remembered per (head, base) sha: the answer cannot change for them."""
    known = (store.get_json(pulls_key(pull.repo)) or {}) if store is not None else {}
    seen = known.get(str(pull.number))
    if seen and seen[:2] == [pull.head_sha, pull.base_sha]:
        return bool(seen[2])
    answer = touches(forge.list_pull_files(pull.repo, pull.number), manifest)
    if store is not None:
        store.set_json(pulls_key(pull.repo), {**known, str(pull.number): [pull.head_sha, pull.base_sha, answer]})
    return answer


def _forget_closed(store: KeyValue, repo: str, open_numbers: set[int]) -> None:
    known = store.get_json(pulls_key(repo)) or {}
    kept = {n: v for n, v in known.items() if int(n) in open_numbers}
    if kept != known:
        store.set_json(pulls_key(repo), kept)
