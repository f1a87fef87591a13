"""The release plan on a release pull request (issue 14): appended to the manifest check's summary (and so to the
details page), re-published when reviews change who must still approve, and announced (plan_ready) once the
approvals are complete. Fetch (manifests, compares, the saved approvals evaluation, the window) -> bot.core.plan.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from bot.core import environments as envs
from bot.core import plan as core_plan
from bot.core import release as core_release
from bot.core import windows as core_windows
from bot.core.announcements import AnnouncementEvent
from bot.core.approvals import Evaluation, from_json
from bot.core.checks import MANIFEST, CheckResult, Conclusion
from bot.core.config import Config
from bot.core.environments import Environment
from bot.core.manifest import parse_manifest
from bot.forge.errors import NotFound
from bot.handlers import Context, attribution, shipped
from bot.handlers.approvals import details_key
from bot.handlers.configs import fetch_config
from bot.handlers.publish import publish_check, rerequested
from bot.model import PullRequest
from bot.notify import deliver
from bot.notify.render import Announcement
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()

MAX_SUMMARY = 65_000  # check run output.summary is capped at 65535 characters


@dataclasses.dataclass(frozen=True)
class Planned:
    environment: Environment
    view: core_plan.ReleasePlanView
    versions: Mapping[str, str]
    previous: Mapping[str, str]


@router.register("pull.reviewed")
def on_review(event: Event, ctx: Context) -> None:
    """A review changes who must still approve: the manifest check (whose summary carries the plan) is judged
    again; it writes only when its text changed. The manifest handler covers every other event."""
    from bot.handlers.manifest import evaluate_pull, pulls_of

    for pull in pulls_of(event, ctx, check_name=MANIFEST):
        result = with_release_plan(evaluate_pull(ctx.forge, pull, details_url=ctx.details_url(pull.repo, pull.number)),
                                   ctx, pull)
        if result is not None:
            publish_check(ctx, pull, result, force=rerequested(event))


def with_release_plan(result: CheckResult | None, ctx: Context, pull: PullRequest) -> CheckResult | None:
    """The manifest check with the release plan of each environment the pull request changes appended; the
    result unchanged when there is no plan to show (not a release pull request, an unreadable manifest)."""
    if result is None or result.name != MANIFEST:
        return result
    loaded = fetch_config(ctx.forge, pull.repo, ref=pull.base_sha)
    if not loaded.ok or loaded.config.release is None:
        return result
    planned = plans_for(ctx, pull, loaded.config)
    if not planned:
        return result
    web_url = ctx.forge.links  # GitLab: compare and commit routes under /-/
    sections = []
    for item in planned:
        text = core_plan.render_plan(item.view, web_url=web_url, windows=loaded.config.windows)
        if item.environment.configured:
            text = text.replace(core_plan.PLAN_HEADING, f"{core_plan.PLAN_HEADING}: {item.environment.name}", 1)
        sections.append(text)
        if result.conclusion is not Conclusion.FAILURE:  # an invalid manifest is no plan to announce
            announce_plan_ready(ctx, pull, loaded.config, item)
    history = shipped.history_url(ctx.public_url, key=ctx.details_link_key, forge=ctx.forge.kind, repo=pull.repo)
    if history:
        sections.append(f"[Release history and Atom feed of {pull.repo}]({history})\n")
    summary = result.summary.rstrip("\n") + "\n\n" + "\n".join(sections)
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 200].rsplit("\n", 1)[0] + "\n\n…the plan is cut here (GitHub's limit).\n"
    return dataclasses.replace(result, summary=summary)


def plans_for(ctx: Context, pull: PullRequest, config: Config) -> tuple[Planned, ...]:
    files = ctx.forge.list_pull_files(pull.repo, pull.number, head_sha=pull.head_sha, base_sha=pull.base_sha)
    files = getattr(files, "files", files)
    paths = [p for f in files for p in (f.path, f.previous_path) if p]
    evaluation = saved_evaluation(ctx, pull)
    window = (core_windows.evaluate(config.windows, now=ctx.now, labels=pull.labels)
              if config.windows is not None and core_windows.zone_problem(config.windows.timezone) is None else None)
    planned = []
    for environment in envs.touched(envs.of(config), paths):
        new = _versions(ctx, pull.repo, config, environment.manifest, ref=pull.head_sha)
        if new is None:
            continue  # the manifest check says what is wrong with it
        manifest, versions = new
        old = _versions(ctx, pull.repo, config, environment.manifest, ref=pull.base_sha)
        previous = dict(old[1]) if old else {}
        changes, authors = fetch_changes(ctx, config, old=previous, new=versions)
        waits, holds = promotion_terms(ctx, pull, config, environment)
        planned.append(Planned(environment, core_plan.build_plan(
            release_id=release_id(config, environment, versions, rollback=manifest.rollback, pull=pull),
            changes=changes, evaluation=evaluation, window=window, authors=authors, waits=waits, holds=holds,
        ), versions, previous))
    return tuple(planned)


def promotion_terms(ctx: Context, pull: PullRequest, config: Config, environment: Environment):
    """What the promotion gate still waits for (its soak's end, a verification), for an environment after the
    first: the promotion handler's own judgement (bot.handlers.promotion.judge), so the plan and the check agree."""
    if not environment.gated:
        return (), ()
    from bot.handlers.promotion import judge  # imports the manifest handler, which imports this module lazily

    verdict = judge(ctx.forge, pull.repo, config, environment, head_sha=pull.head_sha, now=ctx.now)
    if isinstance(verdict, CheckResult):  # the manifest cannot be read: the checks say why
        return (), ("the promotion check passes",)
    return core_plan.promotion_terms(verdict)


def _versions(ctx: Context, repo: str, config: Config, path: str, *, ref: str):
    found = ctx.forge.get_file(repo, path, ref=ref)
    if found is None:
        return None
    manifest, problems = parse_manifest(found.content, path=path, config=config)
    return (manifest, dict(manifest.versions)) if manifest is not None and not problems else None


def release_id(config: Config, environment: Environment, versions: Mapping[str, str], *, rollback: bool,
               pull: PullRequest) -> str | None:
    try:
        plain = core_release.render_template(config.release.tag, versions=versions, components=config.components)
    except core_release.TemplateError:
        return None
    plain = environment.release_id(plain)
    return core_release.rollback_release_id(plain, pull_number=pull.number) if rollback else plain


def fetch_changes(ctx: Context, config: Config, *, old: Mapping[str, str], new: Mapping[str, str]):
    """Each component old -> new with its commits (the changelog's compare) and their authors' logins."""
    changes, authors = [], {}
    for name in sorted(new):
        component = config.components.get(name)
        change = core_release.ComponentChange(name, component.repo if component else name, old.get(name), new[name],
                                              (), component.tag_prefix if component else "v")
        if component is not None and change.direction in ("upgraded", "rolled back"):
            older, newer = (change.new, change.old) if change.direction == "rolled back" else (change.old, change.new)
            try:
                comparison = ctx.forge.compare(component.repo, component.tag(older), component.tag(newer))
            except NotFound:  # a version without its tag: the manifest check fails on it already
                commits = None
            else:
                commits = tuple(core_release.CommitInfo(c.sha, c.message, parents=c.parents) for c in comparison.commits)
                authors.update({c.sha: c.author for c in comparison.commits if c.author})
            change = dataclasses.replace(change, commits=commits)
        changes.append(change)
    # Pull requests of commits whose message names none (rebase merges); their authors where the commit's is
    # unknown (GitLab knows a commit's author by git name only).
    attributed, pull_authors = attribution.attribute_all(ctx.forge, tuple(changes))
    return attributed, {**pull_authors, **authors}


def saved_evaluation(ctx: Context, pull: PullRequest) -> Evaluation | None:
    """The approvals handler's evaluation of this head (it runs before us in every delivery), if any."""
    if ctx.store is None:
        return None
    saved = ctx.store.get_json(details_key(pull.repo, pull.number, forge=ctx.forge.kind))
    if not isinstance(saved, dict) or not isinstance(saved.get("evaluation"), dict):
        return None
    evaluation = from_json(saved["evaluation"])
    return evaluation if evaluation.head_sha == pull.head_sha else None


def announce_plan_ready(ctx: Context, pull: PullRequest, config: Config, item: Planned) -> int:
    """plan_ready once the approvals are complete: one job per target, keyed by pull request and release id,
    so re-evaluations (and replays) announce it once."""
    if not item.view.approvals_known or item.view.pending or item.view.release_id is None or pull.state != "open":
        return 0
    name = item.environment.name if item.environment.configured else "production"
    announcement = Announcement(
        event=AnnouncementEvent.PLAN_READY, forge=ctx.forge.kind, repository=pull.repo, environment=name,
        release_id=item.view.release_id, tag=None, components=dict(item.versions), previous=dict(item.previous),
        url=pull.html_url or ctx.forge.links.pull(pull.repo, pull.number), pull_request=_pull_json(ctx, pull),
        reason=f"can ship {item.view.ship.reason}" if item.view.ship.at is None else
        f"can ship {core_windows.local(item.view.ship.at, config.windows.timezone if config.windows else 'UTC')}",
    )
    return deliver.announce(ctx.jobs, getattr(config, "notify", ()), announcement)


def _pull_json(ctx: Context, pull: PullRequest) -> dict[str, Any]:
    return {"number": pull.number, "url": pull.html_url or ctx.forge.links.pull(pull.repo, pull.number),
            "title": pull.title}
