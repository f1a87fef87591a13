"""`release-coordinator/manifest` on the release repo: fetch the manifest and its world, judge in core, publish."""
from __future__ import annotations

from typing import Iterator

from bot.core import versioning
from bot.core.checks import MANIFEST, CheckResult, Problem
from bot.core.config import CONFIG_PATH, Config, ConfigResult
from bot.core.manifest import (
    Manifest, World, config_problems, judge_manifest, manifest_check, parse_manifest, problems_check,
)
from bot.core.release import parse_release_trailers
from bot.forge.base import ChangedFile, Forge, PullRequest
from bot.forge.errors import NotFound
from bot.handlers import Context
from bot.handlers.configs import fetch_config
from bot.handlers.publish import publish_check, rerequested
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()

PULL_ACTIONS = ("opened", "synchronize", "reopened", "edited", "ready_for_review", "labeled", "unlabeled")


# --- shared by the manifest, semver and window handlers

def pulls_of(event: Event, ctx: Context, *, check_name: str) -> Iterator[PullRequest]:
    """The open pull requests an event asks us to (re-)evaluate; check_run re-runs only for our own name."""
    if event.name == "check_run" and event.check_name not in (None, check_name):
        return
    if event.pull is not None:
        # pull_request and pull_request_review deliveries carry the whole pull request as of the event: no GET.
        # https://docs.github.com/en/webhooks/webhook-events-and-payloads#pull_request
        if event.pull.state == "open":
            yield event.pull
        return
    numbers = (event.pull_number,) if event.pull_number else event.pull_numbers
    if not numbers and event.head_sha and event.name in ("check_run", "check_suite"):
        # check suites list only same-repo pull requests; forks' must be looked up by head sha
        numbers = ctx.forge.pulls_for_commit(event.repo, event.head_sha)
    for number in numbers:
        pull = ctx.forge.get_pull(event.repo, number)
        if pull.state == "open":
            yield pull


def merge_group_details_url(event: Event, ctx: Context) -> str | None:
    """The details page of the pull request a merge group was made for (the queue's last one)."""
    return ctx.details_url(event.repo, event.pull_numbers[-1]) if event.pull_numbers and event.repo else None


def merge_group_base_sha(event: Event, ctx: Context) -> str:
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads#merge_group (merge_group.base_sha)
    return event.base_sha or ctx.forge.get_branch_sha(event.repo, event.base_ref)


def touches(files: tuple[ChangedFile, ...], path: str) -> bool:
    return any(path in (f.path, f.previous_path) for f in files)


def config_failure(name: str, result: ConfigResult, *, head_sha: str, details_url: str | None) -> CheckResult:
    """SPEC §3: an invalid config fails every check with the error and its line."""
    return problems_check(name, head_sha=head_sha, title="Invalid release-coordinator config",
                          problems=result.problems, details_url=details_url,
                          lead="The configuration (read from the base branch) has errors; fix them first:")


# --- the manifest check

@router.register("pull.changed")  # every forge; GitLab merge requests too (GL-core)
@router.register("pull.recheck")
def on_pull(event: Event, ctx: Context) -> None:
    from bot.handlers import release_plan  # imports the approvals handler, which imports this module

    for pull in pulls_of(event, ctx, check_name=MANIFEST):
        result = evaluate_pull(ctx.forge, pull, details_url=ctx.details_url(pull.repo, pull.number))
        result = release_plan.with_release_plan(result, ctx, pull)  # the plan in the summary; plan_ready
        if result is not None:
            publish_check(ctx, pull, result, force=rerequested(event))


@router.register("merge_group", "checks_requested")
def on_merge_group(event: Event, ctx: Context) -> None:
    found = release_merge_group(event, ctx, check_name=MANIFEST)
    if found is None:
        return
    config, base_sha = found
    result = judge(ctx.forge, event.repo, config, base_sha=base_sha, head_sha=event.head_sha,
                   details_url=merge_group_details_url(event, ctx))
    publish_check(ctx.forge, event.repo, result, store=ctx.store)


def release_merge_group(event: Event, ctx: Context, *, check_name: str) -> tuple[Config, str] | None:
    """(config, base sha) of a release repo's merge group that changes the manifest; None when nothing of
    ours is to be judged there. An invalid config fails `check_name` on the group's commit (SPEC §3)."""
    base_sha = merge_group_base_sha(event, ctx)
    loaded = fetch_config(ctx.forge, event.repo, ref=base_sha)
    if not loaded.config.managed:
        return None
    if not loaded.ok:
        failure = config_failure(check_name, loaded, head_sha=event.head_sha, details_url=merge_group_details_url(event, ctx))
        publish_check(ctx.forge, event.repo, failure, store=ctx.store)
        return None
    release = loaded.config.release
    if release is None:
        return None
    base, head = (ctx.forge.get_file(event.repo, release.manifest, ref=ref) for ref in (base_sha, event.head_sha))
    if (base and base.content) == (head and head.content):
        return None  # the group does not change the manifest
    return loaded.config, base_sha


def evaluate_pull(forge: Forge, pull: PullRequest, *, details_url: str | None) -> CheckResult | None:
    """The manifest check for one pull request, or None when it is not ours to judge."""
    loaded = fetch_config(forge, pull.repo, ref=pull.base_sha)
    if not loaded.config.managed:
        return None
    if not loaded.ok:
        return config_failure(MANIFEST, loaded, head_sha=pull.head_sha, details_url=details_url)
    release = loaded.config.release
    if release is None or not touches(forge.list_pull_files(pull.repo, pull.number), release.manifest):
        return None
    return judge(forge, pull.repo, loaded.config, base_sha=pull.base_sha, head_sha=pull.head_sha,
                 details_url=details_url)


def judge(forge: Forge, repo: str, config: Config, *, base_sha: str, head_sha: str,
          details_url: str | None) -> CheckResult:
    path = config.release.manifest
    broken = config_problems(config, config_path=CONFIG_PATH)
    if broken:
        return problems_check(MANIFEST, head_sha=head_sha, title="Invalid release-coordinator config", problems=broken,
                              details_url=details_url)
    head = forge.get_file(repo, path, ref=head_sha)
    if head is None:
        problem = Problem(path, None, f"this change deletes {path}; a release repo needs its manifest")
        return problems_check(MANIFEST, head_sha=head_sha, title=f"{path} deleted", problems=(problem,),
                              details_url=details_url)
    manifest, problems = parse_manifest(head.content, path=path, config=config)
    if manifest is None:
        title = f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in {path}"
        return problems_check(MANIFEST, head_sha=head_sha, title=title, problems=problems, details_url=details_url,
                              lead=f"`{path}` is not a valid release manifest:")
    world = fetch_world(forge, repo, config, manifest, base_sha=base_sha)
    verdict = judge_manifest(manifest, path=path, config=config, world=world)
    return manifest_check(verdict, path=path, head_sha=head_sha, rollback=manifest.rollback, details_url=details_url)


def fetch_world(forge: Forge, repo: str, config: Config, manifest: Manifest, *, base_sha: str) -> World:
    """Everything the manifest is judged against: base manifest, tags, release history, commits, requires."""
    base_file = forge.get_file(repo, config.release.manifest, ref=base_sha)
    base = parse_manifest(base_file.content, path=config.release.manifest, config=config)[0] if base_file else None
    base_invalid = base_file is not None and base is None
    tags, commits, unknown, requires, requires_errors = {}, {}, {}, {}, {}
    for name, version in manifest.versions.items():
        component = config.components.get(name)
        if component is None:
            continue  # the CLI's structural mode only; the handler always has components
        tag = forge.get_tag(component.repo, component.tag(version))
        tags[name] = tag is not None
        if tag is None:
            continue
        old = base.versions.get(name) if base else None
        if old and old != version and versioning.parse_version(old) < versioning.parse_version(version):
            old_tag = component.tag(old)
            if forge.get_tag(component.repo, old_tag) is None:
                unknown[name] = f"old tag `{old_tag}` missing"
            else:
                try:
                    comparison = forge.compare(component.repo, old_tag, component.tag(version))
                except NotFound:
                    unknown[name] = f"cannot compare `{old_tag}`...`{tag.name}`"
                else:
                    commits[name] = tuple((c.sha, c.message) for c in comparison.commits)
        at_tag = fetch_config(forge, component.repo, ref=tag.name)
        if not at_tag.ok:
            requires_errors[name] = str(at_tag.problems[0])
        elif at_tag.config.versioning is not None:
            requires[name] = dict(at_tag.config.versioning.requires)
    history = fetch_history(forge, repo) if manifest.rollback else ()
    return World(base=base, base_invalid=base_invalid, tags=tags, history=history, commits=commits,
                 unknown_commits=unknown, requires=requires, requires_errors=requires_errors)


def fetch_history(forge: Forge, repo: str) -> tuple:
    """Earlier coordinated releases, newest first: the release repo's tags whose messages carry our trailers
    (SPEC §6), read with their messages in one listing (GitHub: a request per 100 tags, not two per tag)."""
    found = (parse_release_trailers(tag.message) for tag in forge.list_annotated_tags(repo) if tag.message)
    return tuple(trailers for trailers in found if trailers.release_id)
