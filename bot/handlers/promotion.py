"""`release-coordinator/promotion` on the release repo (SPEC §4): an environment after the first gets a version set
only after it was released to `verified_in`, verified there and soaked. Fetch -> judge in core -> publish.

Re-evaluated on every pull request event, at the moment the soak ends (bot.handlers.rechecks), when a status,
check run or deployment status arrives on a staging release's commit that a promotion waits for, and by the
periodic sweep (bot.handlers.window.periodic) as the fallback.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Sequence

from bot.core import environments as envs
from bot.core.checks import CheckResult, Conclusion, Problem
from bot.core.config import Config
from bot.core.environments import Environment
from bot.core.manifest import combine_checks, parse_manifest, problems_check, unchanged_check
from bot.core.promotion import PROMOTION, Outcome, PromotionVerdict, judge_promotion, match, promotion_check
from bot.core.release import ReleaseRecord
from bot.forge.protocol import Forge
from bot.handlers import Context, KeyValue, announce
from bot.handlers.configs import fetch_config
from bot.handlers.history import TAG_SCAN_LIMIT, release_history
from bot.handlers.manifest import merge_group_details_url, publish_each, release_merge_group, touched_environments
from bot.handlers.publish import publish_check
from bot.handlers.rechecks import DUE, RECHECK_EVENT, Recheck, schedule
from bot.model import PullRequest, Tag
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()

# {sha: [pull numbers]}: promotions waiting on (or failed by) the verification of that earlier-environment release
# commit, so a status arriving there re-evaluates just them. Kept a week: the periodic sweep covers the rest.
WAITING_TTL = 7 * 24 * 3600


def waiting_key(forge: str, repo: str) -> str:
    return f"promotion:waiting:{forge}:{repo}"


@router.register("pull.changed")
@router.register("pull.recheck")
@router.register(RECHECK_EVENT, DUE)
def on_pull(event: Event, ctx: Context) -> None:
    publish_each(event, ctx, check_name=PROMOTION, evaluate=lambda pull: evaluate_pull(ctx, pull, account=event.account))


@router.register("merge_group", "checks_requested")
def on_merge_group(event: Event, ctx: Context) -> None:
    """The queue's commit is judged again (SPEC §5: not a blind pass): its environments' manifests at the group sha."""
    found = release_merge_group(event, ctx, check_name=PROMOTION)
    if found is None:
        return
    config, _base_sha, changed = found
    if not any(e.gated for e in envs.of(config)):
        return
    details_url = merge_group_details_url(event, ctx)
    gated = [e for e in changed if e.gated]
    if not gated:
        result = unchanged_check(PROMOTION, head_sha=event.head_sha, details_url=details_url)
    else:
        tags = ctx.forge.list_annotated_tags(event.repo, limit=TAG_SCAN_LIMIT)
        results = []
        for environment in gated:
            verdict = judge(ctx.forge, event.repo, config, environment, head_sha=event.head_sha, now=ctx.now, tags=tags)
            check = verdict if isinstance(verdict, CheckResult) else promotion_check(verdict, head_sha=event.head_sha)
            # the queue waits for nothing: a promotion still soaking or waiting for verification fails there
            if check.conclusion is Conclusion.PENDING:
                check = dataclasses.replace(check, conclusion=Conclusion.FAILURE,
                                            summary=check.summary + "\n\nIn the merge queue a waiting promotion fails: "
                                            "the queue would wait for nothing. Queue it again once this check passes "
                                            "on the pull request.")
            results.append(dataclasses.replace(check, details_url=details_url))
        result = combine_checks(results)
    publish_check(ctx.forge, event.repo, result, store=ctx.store)


# A verification signal changed on some commit of the release repo. https://docs.github.com/en/webhooks/webhook-events-and-payloads
# (status: sha; check_run: check_run.head_sha; deployment_status: deployment.sha)
@router.register("status")
@router.register("check_run", "completed")
@router.register("deployment_status")
@router.register("Pipeline Hook")  # GitLab: a pipeline on that commit changed status (external statuses send no hook)
def on_verification(event: Event, ctx: Context) -> None:
    if ctx.store is None or not event.repo or not event.head_sha:
        return
    waiting = ctx.store.get_json(waiting_key(event.forge, event.repo)) or {}
    for number in waiting.get(event.head_sha, ()):
        pull = ctx.forge.get_pull(event.repo, int(number))
        if pull.state != "open":
            continue
        result = evaluate_pull(ctx, pull, account=event.account)
        if result is not None:
            publish_check(ctx, pull, result)


def evaluate_pull(ctx: Context, pull: PullRequest, *, account: int | None) -> CheckResult | None:
    """The promotion check for one pull request; None when the repository has no environment after the first.
    account: the GitHub installation id (None on GitLab), for the recheck and the periodic sweep."""
    forge = ctx.forge
    loaded = fetch_config(forge, pull.repo, ref=pull.base_sha)
    config = loaded.config
    # An invalid config fails the manifest check with its lines; without a valid one there is no gate to judge.
    if not config.managed or not loaded.ok or config.release is None:
        return None
    environments = envs.of(config)
    if not any(e.gated for e in environments):
        return None
    if ctx.store is not None and (account is not None or forge.kind != "github"):  # GitLab: one token, account None
        remember_repo(ctx.store, pull.repo, account, forge=forge.kind)
    details_url = ctx.details_url(pull.repo, pull.number)
    files = forge.list_pull_files(pull.repo, pull.number, head_sha=pull.head_sha, base_sha=pull.base_sha)
    touched = touched_environments(files, config)
    gated = [e for e in touched if e.gated]
    if not gated:
        if not touched:
            return unchanged_check(PROMOTION, head_sha=pull.head_sha, details_url=details_url)
        names = ", ".join(e.name for e in touched)
        return CheckResult(name=PROMOTION, head_sha=pull.head_sha, conclusion=Conclusion.SUCCESS,
                           title=f"Nothing to promote: {names} needs no earlier environment",
                           summary=f"This pull request changes the manifest of {names}, the first environment: "
                                   "a release goes there without a promotion gate.", details_url=details_url)
    tags = forge.list_annotated_tags(pull.repo, limit=TAG_SCAN_LIMIT)
    results = []
    for environment in gated:
        verdict = judge(forge, pull.repo, config, environment, head_sha=pull.head_sha, now=ctx.now, tags=tags)
        if isinstance(verdict, CheckResult):
            results.append(dataclasses.replace(verdict, details_url=details_url))
            continue
        follow_up(ctx, pull, verdict, account=account)
        announce.promotion_blocked(ctx, pull, config, verdict)  # once per version set, when verification failed
        results.append(promotion_check(verdict, head_sha=pull.head_sha, details_url=details_url))
    return combine_checks(results)


def judge(forge: Forge, repo: str, config: Config, environment: Environment, *, head_sha: str, now: dt.datetime,
          tags: Sequence[Tag] | None = None) -> PromotionVerdict | CheckResult:
    """The verdict for one environment's manifest at head_sha, or a failing check when that manifest cannot be read."""
    path = environment.manifest
    found = forge.get_file(repo, path, ref=head_sha)
    if found is None:
        return problems_check(PROMOTION, head_sha=head_sha, title=f"{path} deleted",
                              problems=(Problem(path, None, f"this change deletes {path}: nothing can be promoted"),))
    manifest, problems = parse_manifest(found.content, path=path, config=config,
                                        allow_prerelease=environment.allow_prerelease)
    if manifest is None:
        return problems_check(PROMOTION, head_sha=head_sha, title=f"{path} is not a valid manifest", problems=problems,
                              lead=f"The promotion gate needs a valid `{path}` (the manifest check lists the problems):")
    if manifest.rollback and environment.rollback_skips_verification:
        return judge_promotion(environment, versions=manifest.versions, rollback=True, history=(), now=now)
    history, checks = promotion_evidence(forge, repo, config, environment, versions=manifest.versions, tags=tags)
    return judge_promotion(environment, versions=manifest.versions, rollback=manifest.rollback, history=history,
                           checks=checks, now=now)


def promotion_evidence(forge: Forge, repo: str, config: Config, environment: Environment, *, versions,
                       tags: Sequence[Tag] | None = None) -> tuple[tuple[ReleaseRecord, ...], tuple]:
    """The earlier environment's releases (newest first, the matching one with its tag date) and the verification
    reported on the matching one's commit: the reads the verdict needs, and no more."""
    earlier = envs.by_name(envs.of(config), environment.verified_in)
    listed = tags if tags is not None else forge.list_annotated_tags(repo, limit=TAG_SCAN_LIMIT)
    history = release_history(forge, repo, config, environment=earlier, tags=listed)
    release = match(history, versions)
    if release is None:
        return history, ()
    tag = next((t for t in listed if t.name == release.tag), None)
    dated = dataclasses.replace(release, tagged_at=forge.tag_date(repo, tag) if tag is not None else None)
    history = tuple(dated if r is release else r for r in history)
    checks = forge.commit_checks(repo, release.commit_sha, names=environment.verification) if environment.verification else ()
    return history, checks


def follow_up(ctx: Context, pull: PullRequest, verdict: PromotionVerdict, *, account: int | None) -> None:
    """What makes the check flip by itself: a recheck at the soak's end, and remembering which commit's
    verification this pull request waits for (on_verification)."""
    if verdict.recheck_at is not None:
        schedule(ctx, Recheck(forge=ctx.forge.kind, account=account, repo=pull.repo, number=pull.number,
                              check=PROMOTION, at=verdict.recheck_at))
    if ctx.store is None:
        return
    key = waiting_key(ctx.forge.kind, pull.repo)
    waiting = dict(ctx.store.get_json(key) or {})
    before = {sha: list(numbers) for sha, numbers in waiting.items()}
    for sha in list(waiting):
        waiting[sha] = [n for n in waiting[sha] if n != pull.number]
        if not waiting[sha]:
            del waiting[sha]
    if verdict.outcome in (Outcome.WAITING_FOR_VERIFICATION, Outcome.VERIFICATION_FAILED) and verdict.release:
        waiting.setdefault(verdict.release.commit_sha, []).append(pull.number)
    if waiting != before:
        ctx.store.set_json(key, waiting, ttl=WAITING_TTL)


def remember_repo(store: KeyValue, repo: str, account: int | None, *, forge: str = "github") -> None:
    """The periodic fallback sweeps the release repos window's handler lists (bot.handlers.window.repos_key)."""
    from bot.handlers.window import remember_repo as remember

    remember(store, repo, account, forge=forge)
