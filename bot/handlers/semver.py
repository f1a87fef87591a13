"""`release-coordinator/semver` on component repos: the version file's bump must match the changes."""
from __future__ import annotations

from dataclasses import replace

from bot.core.checks import SEMVER, CheckResult
from bot.core.versioning import judge_semver, semver_check, split_spec
from bot.forge.base import Forge, PullRequest
from bot.handlers import Context
from bot.handlers.configs import fetch_config
from bot.handlers.manifest import config_failure, merge_group_base_sha, publish_each
from bot.handlers.publish import publish_check
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()


# `edited` matters here: on squash merges the PR title becomes the commit, so a retitle can change the level.
@router.register("pull.changed")  # every forge; GitLab merge requests too (GL-core)
@router.register("pull.recheck")
def on_pull(event: Event, ctx: Context) -> None:
    publish_each(event, ctx, check_name=SEMVER,
                 evaluate=lambda pull: evaluate_pull(ctx.forge, pull, details_url=ctx.details_url(pull.repo, pull.number)))


@router.register("merge_group", "checks_requested")
def on_merge_group(event: Event, ctx: Context) -> None:
    # A required check must report on the queue's commit too, or the merge queue waits for it forever. The
    # version file is compared between the tip the group merges onto and the group's commit, by the rules at
    # that tip. https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/configuring-pull-request-merges/managing-a-merge-queue
    base_sha = merge_group_base_sha(event, ctx)
    for number in event.pull_numbers:
        pull = replace(ctx.forge.get_pull(event.repo, number), base_sha=base_sha, head_sha=event.head_sha)
        result = evaluate_pull(ctx.forge, pull, details_url=ctx.details_url(event.repo, number))
        if result is not None:
            publish_check(ctx.forge, event.repo, result, store=ctx.store)


def evaluate_pull(forge: Forge, pull: PullRequest, *, details_url: str | None) -> CheckResult | None:
    loaded = fetch_config(forge, pull.repo, ref=pull.base_sha)
    if not loaded.config.managed:
        return None
    if not loaded.ok:
        return config_failure(SEMVER, loaded, head_sha=pull.head_sha, details_url=details_url)
    versioning = loaded.config.versioning
    if versioning is None:
        return None
    path = split_spec(versioning.file)[0]
    base, head = (forge.get_file(pull.repo, path, ref=ref) for ref in (pull.base_sha, pull.head_sha))
    files = forge.list_pull_files(pull.repo, pull.number)
    commits = forge.list_pull_commits(pull.repo, pull.number)
    verdict = judge_semver(
        spec=versioning.file, base_content=base and base.content, head_content=head and head.content,
        changed_paths=[p for f in files for p in (f.path, f.previous_path) if p],
        ignore_paths=versioning.ignore_paths, commits=[(c.sha, c.message) for c in commits], title=pull.title,
        labels=pull.labels, bump_from=versioning.bump_from.value,
    )
    return semver_check(verdict, spec=versioning.file, head_sha=pull.head_sha, details_url=details_url)
