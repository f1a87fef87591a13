"""`release-coordinator/manifest` on the release repo: fetch the manifest and its world, judge in core, publish."""
from __future__ import annotations

from typing import Callable, Iterator

from bot.core import environments as envs
from bot.core import versioning
from bot.core.checks import MANIFEST, CheckResult, Problem
from bot.core.config import Config, ConfigResult
from bot.core.environments import Environment
from bot.core.manifest import (
    Manifest, World, combine_checks, config_problems, judge_manifest, manifest_check, parse_manifest,
    problems_check, unchanged_check,
)
from bot.forge.base import ChangedFile, Forge, PullRequest
from bot.forge.errors import NotFound
from bot.handlers import Context
from bot.handlers.configs import config_path, fetch_config, with_rules_tip
from bot.handlers.publish import publish_check, rerequested
from bot.handlers.rechecks import RECHECK_EVENT
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()

PULL_ACTIONS = ("opened", "synchronize", "reopened", "edited", "ready_for_review", "labeled", "unlabeled")


# --- shared by the manifest, semver and window handlers

def pulls_of(event: Event, ctx: Context, *, check_name: str) -> Iterator[PullRequest]:
    """The open pull requests an event asks us to (re-)evaluate; a check_run re-run or one of our timed rechecks
    (bot.handlers.rechecks) only for the check it names."""
    if event.name in ("check_run", RECHECK_EVENT) and event.check_name not in (None, check_name):
        return
    if event.pull is not None:
        # pull_request and pull_request_review deliveries carry the whole pull request as of the event: no GET.
        # https://docs.github.com/en/webhooks/webhook-events-and-payloads#pull_request
        if event.pull.state == "open":
            yield with_rules_tip(ctx, event.pull)  # the base branch's rules, even where base.sha lags (GL-core)
        return
    numbers = (event.pull_number,) if event.pull_number else event.pull_numbers
    if not numbers and event.head_sha and event.name in ("check_run", "check_suite"):
        # check suites list only same-repo pull requests; forks' must be looked up by head sha
        numbers = ctx.forge.pulls_for_commit(event.repo, event.head_sha)
    for number in numbers:
        pull = ctx.pulls.get((event.repo, number))
        if pull is None:
            pull = ctx.pulls[(event.repo, number)] = ctx.forge.get_pull(event.repo, number)
        if pull.state == "open":
            yield with_rules_tip(ctx, pull)


def publish_each(event: Event, ctx: Context, *, check_name: str,
                 evaluate: Callable[[PullRequest], CheckResult | None]) -> None:
    """What every check does on a pull request event: evaluate each pull request the event names, publish what
    comes back (None: nothing to post there)."""
    for pull in pulls_of(event, ctx, check_name=check_name):
        result = evaluate(pull)
        if result is not None:
            publish_check(ctx, pull, result, force=rerequested(event))


def merge_group_details_url(event: Event, ctx: Context) -> str | None:
    """The details page of the pull request a merge group was made for (the queue's last one)."""
    return ctx.details_url(event.repo, event.pull_numbers[-1]) if event.pull_numbers and event.repo else None


def merge_group_base_sha(event: Event, ctx: Context) -> str:
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads#merge_group (merge_group.base_sha)
    return event.base_sha or ctx.forge.get_branch_sha(event.repo, event.base_ref)


def touches(files: tuple[ChangedFile, ...], path: str) -> bool:
    return any(path in (f.path, f.previous_path) for f in files)


def touched_environments(files: tuple[ChangedFile, ...], config: Config) -> tuple[Environment, ...]:
    """The environments whose manifest a change touches (a rename counts under both paths), in config order."""
    paths = [p for f in files for p in (f.path, f.previous_path) if p]
    return envs.touched(envs.of(config), paths)


def manifests_changed(forge: Forge, repo: str, config: Config, *, base_sha: str, head_sha: str) -> tuple[Environment, ...]:
    """The environments whose manifest differs between two commits (a merge group against its base)."""
    changed = []
    for environment in envs.of(config):
        base, head = (forge.get_file(repo, environment.manifest, ref=ref) for ref in (base_sha, head_sha))
        if (base and base.content) != (head and head.content):
            changed.append(environment)
    return tuple(changed)


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

    def evaluate(pull: PullRequest) -> CheckResult | None:
        result = evaluate_pull(ctx.forge, pull, details_url=ctx.details_url(pull.repo, pull.number))
        return release_plan.with_release_plan(result, ctx, pull)  # the plan in the summary; plan_ready

    publish_each(event, ctx, check_name=MANIFEST, evaluate=evaluate)


@router.register("merge_group", "checks_requested")
def on_merge_group(event: Event, ctx: Context) -> None:
    found = release_merge_group(event, ctx, check_name=MANIFEST)
    if found is None:
        return
    config, base_sha, changed = found
    details_url = merge_group_details_url(event, ctx)
    if not changed:  # SPEC §4: on every pull request of the release repo, so the queue can require it too
        result = unchanged_check(MANIFEST, head_sha=event.head_sha, details_url=details_url)
    else:
        result = combine_checks([judge(ctx.forge, event.repo, config, env, base_sha=base_sha, head_sha=event.head_sha,
                                       details_url=details_url) for env in changed])
    publish_check(ctx.forge, event.repo, result, store=ctx.store)


def release_merge_group(event: Event, ctx: Context, *, check_name: str) -> tuple[Config, str, tuple[Environment, ...]] | None:
    """(config, base sha, environments whose manifest the group changes) of a release repo's merge group; None
    when it is not a release repo. An invalid config fails `check_name` on the group's commit (SPEC §3)."""
    base_sha = merge_group_base_sha(event, ctx)
    loaded = fetch_config(ctx.forge, event.repo, ref=base_sha)
    if not loaded.config.managed:
        return None
    if not loaded.ok:
        failure = config_failure(check_name, loaded, head_sha=event.head_sha, details_url=merge_group_details_url(event, ctx))
        publish_check(ctx.forge, event.repo, failure, store=ctx.store)
        return None
    if loaded.config.release is None:
        return None
    changed = manifests_changed(ctx.forge, event.repo, loaded.config, base_sha=base_sha, head_sha=event.head_sha)
    return loaded.config, base_sha, changed


def evaluate_pull(forge: Forge, pull: PullRequest, *, details_url: str | None) -> CheckResult | None:
    """The manifest check for one pull request, or None when it is not ours to judge. On the release repo every
    pull request gets it (SPEC §4): "manifest unchanged" when it touches no environment's manifest."""
    loaded = fetch_config(forge, pull.repo, ref=pull.base_sha)
    if not loaded.config.managed:
        return None
    if not loaded.ok:
        return config_failure(MANIFEST, loaded, head_sha=pull.head_sha, details_url=details_url)
    if loaded.config.release is None:
        return None
    files = forge.list_pull_files(pull.repo, pull.number, head_sha=pull.head_sha, base_sha=pull.base_sha)
    touched = touched_environments(files, loaded.config)
    if not touched:
        return unchanged_check(MANIFEST, head_sha=pull.head_sha, details_url=details_url)
    return combine_checks([judge(forge, pull.repo, loaded.config, env, base_sha=pull.base_sha, head_sha=pull.head_sha,
                                 details_url=details_url) for env in touched])


def judge(forge: Forge, repo: str, config: Config, environment: Environment, *, base_sha: str, head_sha: str,
          details_url: str | None) -> CheckResult:
    path = environment.manifest
    broken = config_problems(config, config_path=config_path(forge))  # GitLab: .gitlab/release-coordinator.yml
    if broken:
        return problems_check(MANIFEST, head_sha=head_sha, title="Invalid release-coordinator config", problems=broken,
                              details_url=details_url)
    head = forge.get_file(repo, path, ref=head_sha)
    if head is None:
        problem = Problem(path, None, f"this change deletes {path}; a release repo needs its manifest")
        return problems_check(MANIFEST, head_sha=head_sha, title=f"{path} deleted", problems=(problem,),
                              details_url=details_url)
    manifest, problems = parse_manifest(head.content, path=path, config=config,
                                        allow_prerelease=environment.allow_prerelease)
    if manifest is None:
        title = f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in {path}"
        return problems_check(MANIFEST, head_sha=head_sha, title=title, problems=problems, details_url=details_url,
                              lead=f"`{path}` is not a valid release manifest:")
    world = fetch_world(forge, repo, config, manifest, environment, base_sha=base_sha)
    verdict = judge_manifest(manifest, path=path, config=config, world=world)
    return manifest_check(verdict, path=path, head_sha=head_sha, rollback=manifest.rollback, details_url=details_url)


def fetch_world(forge: Forge, repo: str, config: Config, manifest: Manifest, environment: Environment, *,
                base_sha: str) -> World:
    """Everything the manifest is judged against: base manifest, tags, release history, commits, requires."""
    path = environment.manifest
    base_file = forge.get_file(repo, path, ref=base_sha)
    base = parse_manifest(base_file.content, path=path, config=config, allow_prerelease=True)[0] if base_file else None
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
    history = fetch_history(forge, repo, config, environment) if manifest.rollback else ()
    return World(base=base, base_invalid=base_invalid, tags=tags, history=history, commits=commits,
                 unknown_commits=unknown, requires=requires, requires_errors=requires_errors)


def fetch_history(forge: Forge, repo: str, config: Config | None = None, environment: Environment | None = None) -> tuple:
    """Earlier coordinated releases, newest first, as the trailers the manifest's rollback rule compares: read
    from the release repo's tags with their messages in one listing (GitHub: a request per 100 tags). With a
    config, only `environment`'s (a rollback must restore a release of its own environment), trailer-less tags
    made before the app included (bot.handlers.history)."""
    from bot.core.release import ReleaseTrailers, parse_release_trailers
    from bot.handlers.history import release_history

    if config is None:
        found = (parse_release_trailers(tag.message) for tag in forge.list_annotated_tags(repo) if tag.message)
        return tuple(trailers for trailers in found if trailers.release_id)
    return tuple(ReleaseTrailers(r.tag, r.versions, r.rollback_of)
                 for r in release_history(forge, repo, config, environment=environment))
