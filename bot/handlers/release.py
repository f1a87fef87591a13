"""Release on merge (SPEC §6): tag, component tags, changelog entry, GitHub Release; each step skipped when done.
With `environments:`, each environment whose manifest the merge changes gets its own release (id, changelog,
Release); a promotion records the earlier environment's release it was verified by (Verified-In)."""
from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass
from typing import Mapping

from bot.core import environments as envs
from bot.core import release as core
from bot.core.approvals import Evaluation, from_json, latest_approvals
from bot.core.checks import Annotation, CheckResult, Conclusion, Problem
from bot.core.codeowners import parse
from bot.core.config import Config, ReleaseConfig
from bot.core.environments import Environment
from bot.core.manifest import Manifest, combine_checks, parse_manifest
from bot.core.promotion import Outcome, judge_promotion
from bot.forge.base import Forge, PullRequest
from bot.forge.errors import AlreadyExists, Conflict, NotFound, TeamNotFound, TransientError
from bot.handlers import Context, attribution, shipped
from bot.handlers.approvals import details_key
from bot.handlers.configs import fetch_codeowners, fetch_config
from bot.handlers.history import release_history
from bot.handlers.manifest import touched_environments
from bot.handlers.publish import publish_check
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()
log = logging.getLogger(__name__)

CHANGELOG_ATTEMPTS = 5  # a concurrent push to the default branch makes the blob sha stale: re-read, retry
TAG_SCAN_LIMIT = 1000  # tags listed (with their messages, 100 per request) when a release is not under its template name
MAX_SUMMARY = 65_000  # check run output.summary is capped at 65535 characters


@router.register("pull.merged")  # GitHub pull_request.closed (merged), GitLab Merge Request Hook merge
def on_pull_request_merged(event: Event, ctx: Context) -> None:
    if not event.merged or not event.repo or event.pull_number is None:
        return
    forge, repo = ctx.forge, event.repo
    pull = forge.get_pull(repo, event.pull_number)
    default_branch = event.default_branch or forge.get_default_branch(repo)
    if pull.base_ref != default_branch or not pull.merge_commit_sha:
        return
    loaded = fetch_config(forge, repo, ref=pull.base_sha)
    config = loaded.config
    if not config.managed or (config.release is None and not loaded.problems):
        return
    files = forge.list_pull_files(repo, pull.number)
    details_url = ctx.details_url(repo, pull.number)  # the merged pull request's page
    if loaded.problems:
        # An invalid config drops the repo's layer; the default manifest path still tells a release merge apart.
        if any(ReleaseConfig().manifest in (f.path, f.previous_path) for f in files):
            _fail(forge, repo, pull.merge_commit_sha, "No release: fix the problems below", loaded.problems,
                  details_url=details_url)
        return
    touched = touched_environments(files, config)
    if not touched:
        return
    tags = forge.list_annotated_tags(repo, limit=TAG_SCAN_LIMIT)  # the history, read once for every environment
    results = [release_environment(ctx, pull, config, environment, branch=default_branch, tags=tags,
                                   details_url=details_url) for environment in touched]
    publish_check(forge, repo, combine_checks(results))


def release_environment(ctx: Context, pull: PullRequest, config: Config, environment: Environment, *, branch: str,
                        tags, details_url: str | None) -> CheckResult:
    """One environment's release of the merge: plan, write, then tell (shipped-in notes, announcements)."""
    forge, repo, sha = ctx.forge, pull.repo, pull.merge_commit_sha
    plan, problems = fetch_and_plan(forge, ctx, pull, config, environment, tags=tags)
    if plan is None:
        return _failure(repo, sha, "No release: fix the problems below", problems, details_url=details_url)
    plan, carried = shipped.with_shipped_list(ctx, pull, config, plan)  # the Release lists the PRs it ships
    failure = publish_release(forge, repo, plan=plan, config=config, sha=sha, branch=branch,
                              changelog=environment.changelog)
    if failure is not None:
        return _failure(repo, sha, failure, (), details_url=details_url)
    shipped.after_release(ctx, pull, config, plan, carried, tags=tags)  # shipped-in notes, history, announcements
    return _success(plan, sha=sha, details_url=details_url)


# --------------------------------------------------------------------------------------------- fetch


def fetch_and_plan(
    forge: Forge, ctx: Context, pull: PullRequest, config: Config, environment: Environment | None = None, *,
    tags=None,
) -> tuple[core.ReleasePlan | None, tuple[Problem, ...]]:
    """Read the environment's manifest at the merge commit and the previous one at the base, the commits in
    between for each component, who approved, and the environment's release history; then let the core decide
    what to write."""
    environment = environment or envs.of(config)[0]
    path = environment.manifest
    found = forge.get_file(pull.repo, path, ref=pull.merge_commit_sha)
    if found is None:
        return None, (Problem(path, None, f"{path} does not exist at the merge commit"),)
    manifest, problems = parse_manifest(found.content, path=path, config=config,
                                        allow_prerelease=environment.allow_prerelease)
    if manifest is None or problems:
        return None, problems
    previous = _previous_manifest(forge, pull, path, config)
    old_versions = previous.versions if previous else {}
    listed = tags if tags is not None else forge.list_annotated_tags(pull.repo, limit=TAG_SCAN_LIMIT)
    # This merge's own tag (a replay) is not "released before": the ids come out the same the second time.
    history = [r for r in release_history(forge, pull.repo, config, environment=environment, tags=listed)
               if r.commit_sha != pull.merge_commit_sha]
    earlier = earlier_release(history, manifest.versions)
    return core.plan_release(
        config=config,
        versions=manifest.versions,
        rollback=manifest.rollback,
        notes=manifest.notes,
        changes=component_changes(forge, config, old=old_versions, new=manifest.versions),
        provenance=core.Provenance(
            pull_number=pull.number, pull_url=pull.html_url or None, head_sha=pull.head_sha,
            approvals=fetch_approvals(forge, ctx, pull, config),
        ),
        date=ctx.now.date(),
        restored_id=earlier.tag if earlier and manifest.rollback else None,
        repeat_of=earlier.tag if earlier and not manifest.rollback else None,
        environment=environment,
        verified_in=verified_in(forge, pull.repo, config, environment, manifest.versions, tags=listed, now=ctx.now,
                                rollback=manifest.rollback),
        web_url=getattr(forge, "links", None) or _web_url(pull),  # GitLab: its routes under /-/
        release_repo=pull.repo,
        config_path=forge.layout.config_path,
    )


def earlier_release(history, versions: Mapping[str, str]) -> core.ReleaseRecord | None:
    """The release of this environment that first shipped these versions (not a rollback or a repeat of it), else
    the newest one that did: what a rollback restores (Rollback-Of) and a repeat names (Repeat-Of)."""
    same = [r for r in history if core.versions_equal(r.versions, versions)]
    return next((r for r in same if r.original), same[0] if same else None)


def verified_in(forge: Forge, repo: str, config: Config, environment: Environment, versions: Mapping[str, str], *,
                tags, now: dt.datetime, rollback: bool = False) -> tuple[str, str] | None:
    """(tag, sha) of the earlier environment's release this promotion was verified by: only when the promotion
    gate passes at merge (the same set released there, its verification success, the soak over). A merge that
    went around it (an admin's, or a rollback skipping it) is released all the same, with no Verified-In."""
    if not environment.gated:
        return None
    from bot.handlers.promotion import promotion_evidence

    history, checks = promotion_evidence(forge, repo, config, environment, versions=versions, tags=tags)
    verdict = judge_promotion(environment, versions=versions, rollback=rollback, history=history, checks=checks, now=now)
    if verdict.outcome is Outcome.PROMOTABLE:
        return verdict.release.tag, verdict.release.commit_sha
    log.warning("release to %s in %s without a passing promotion gate (%s): no Verified-In",
                environment.name, repo, verdict.outcome.value)
    return None


def _previous_manifest(forge: Forge, pull: PullRequest, path: str, config: Config) -> Manifest | None:
    found = forge.get_file(pull.repo, path, ref=pull.base_sha)
    if found is None:
        return None
    manifest, _problems = parse_manifest(found.content, path=path, config=config, allow_prerelease=True)
    return manifest


def _web_url(pull: PullRequest) -> str:
    """https://github.com, or the GitHub Enterprise Server host, taken from the pull request's own link."""
    marker = f"/{pull.repo}/pull/"
    return pull.html_url.split(marker)[0] if marker in pull.html_url else "https://github.com"


def component_changes(
    forge: Forge, config: Config, *, old: Mapping[str, str], new: Mapping[str, str]
) -> tuple[core.ComponentChange, ...]:
    """Each component old -> new with the commits between its two version tags (compare API, paginated
    by the adapter). A rollback lists the commits it withdraws (the compare the other way round)."""
    changes = []
    for name in sorted(new):
        component = config.components.get(name)
        repo = component.repo if component else name
        prefix = component.tag_prefix if component else "v"
        change = core.ComponentChange(name, repo, old.get(name), new[name], (), prefix)
        if component is not None and change.direction in ("upgraded", "rolled back"):
            older, newer = (change.new, change.old) if change.direction == "rolled back" else (change.old, change.new)
            try:
                comparison = forge.compare(repo, component.tag(older), component.tag(newer))
                commits = tuple(core.CommitInfo(c.sha, c.message, parents=c.parents) for c in comparison.commits)
            except NotFound:  # a deleted tag never comes back: say so in the entry rather than retry forever
                commits = None
            change = core.ComponentChange(name, repo, change.old, change.new, commits, prefix)
        changes.append(change)
    # Each commit's pull request where its message names none (rebase merges): linked in the entry, shipped-in.
    return attribution.attribute_all(forge, tuple(changes))[0]


def fetch_approvals(forge: Forge, ctx: Context, pull: PullRequest, config: Config) -> tuple[core.Approval, ...]:
    """Who approved, per team, and the sha each approved (their latest review's commit_id).

    The approvals handler's last evaluation of the final head (saved under `details:{repo}#{number}`) says
    which approvals counted for which team. Without one (no store, or it judged an older head): each
    reviewer's latest APPROVED review, under every owning team of the changed paths (CODEOWNERS at the
    base) they are a member of; approvers in none of them are listed as "reviewers"."""
    approved = {review.user: review.commit_id for review in latest_approvals(forge.list_reviews(pull.repo, pull.number))}
    evaluation = _saved_evaluation(ctx, pull)
    if evaluation is not None:
        return tuple(
            core.Approval(group.key, user, approved.get(user)) for group in evaluation.groups for user in group.approved_by
        )
    if not approved:
        return ()
    approvals, placed = [], set()
    for team in _owning_teams(forge, pull):
        try:
            members = {login.lower() for login in forge.team_members(team)}
        except TeamNotFound:
            continue
        for user in sorted(approved):
            if user.lower() in members:
                approvals.append(core.Approval(team, user, approved[user]))
                placed.add(user)
    approvals += [core.Approval("reviewers", user, approved[user]) for user in sorted(set(approved) - placed)]
    return tuple(approvals)


def _saved_evaluation(ctx: Context, pull: PullRequest) -> Evaluation | None:
    saved = ctx.store.get_json(details_key(pull.repo, pull.number, forge=ctx.forge.kind)) if ctx.store is not None else None
    if not isinstance(saved, dict) or not isinstance(saved.get("evaluation"), dict):
        return None
    evaluation = from_json(saved["evaluation"])
    return evaluation if evaluation.head_sha == pull.head_sha else None


def _owning_teams(forge: Forge, pull: PullRequest) -> list[str]:
    found = fetch_codeowners(forge, pull.repo, ref=pull.base_sha)
    if found is None:
        return []
    rules = parse(found[1], platform=forge.layout.codeowners_dialect)  # GitLab: sections
    teams: list[str] = []
    for changed in forge.list_pull_files(pull.repo, pull.number):
        for path in filter(None, (changed.path, changed.previous_path)):
            # every section that applies (GitLab; GitHub: the one deciding line)
            for owner in (o for m in rules.sections_of(path) if not m.optional for o in m.owners):
                if "/" in owner and owner not in teams:
                    teams.append(owner)
    return teams


# --------------------------------------------------------------------------------------------- publish


class TagState(enum.Enum):
    CREATED = "created"
    PRESENT = "present"  # already on this commit: a replay
    ELSEWHERE = "elsewhere"


@dataclass(frozen=True)
class TagOutcome:
    state: TagState
    commit_sha: str


def ensure_tag(forge: Forge, repo: str, *, name: str, message: str, sha: str) -> TagOutcome:
    """Create the annotated tag unless it exists; an existing tag is judged by the commit it points to."""
    existing = forge.get_tag(repo, name)
    if existing is None:
        try:
            forge.create_tag(repo, name=name, message=message, sha=sha)
            return TagOutcome(TagState.CREATED, sha)
        except AlreadyExists:  # another worker won the race: judge its tag like any existing one
            existing = forge.get_tag(repo, name)
            if existing is None:
                raise TransientError(f"tag {name} in {repo} is reported to exist but cannot be read") from None
    state = TagState.PRESENT if existing.commit_sha == sha else TagState.ELSEWHERE
    return TagOutcome(state, existing.commit_sha)


def publish_release(forge: Forge, repo: str, *, plan: core.ReleasePlan, config: Config, sha: str, branch: str,
                    changelog: str | None = None) -> str | None:
    """The writes, in order, each keyed and skipped when already true. Returns why it stopped, or None.
    changelog: the environment's changelog path (default `release.changelog`)."""
    changelog_path = changelog or config.release.changelog
    tag = ensure_tag(forge, repo, name=plan.release_id, message=plan.tag_message, sha=sha)
    if tag.state is TagState.ELSEWHERE:
        log.error("release tag %s in %s points at %s, not the merge commit %s: nothing written", plan.release_id, repo, tag.commit_sha, sha)
        return f"Tag {plan.release_id} already exists on {tag.commit_sha[:12]}, not on this merge commit; nothing was written"
    if config.release.tag_components:
        stopped = tag_components(forge, plan=plan, config=config)
        if stopped:
            return stopped
    written, refusal = write_changelog(forge, repo, path=changelog_path, branch=branch, plan=plan)
    if config.release.github_release and forge.get_release(repo, plan.release_id) is None:
        try:
            forge.create_release(repo, tag=plan.release_id, name=plan.release_id, body=plan.release_body)
        except AlreadyExists:  # a concurrent replay created it first: one release either way
            pass
    if written is Changelog.BLOCKED:
        return (f"Tagged {plan.release_id}, but {branch} refused the {changelog_path} commit ({refusal}). "
                f"Let the app push to {branch}, then redeliver this pull request's closed event")
    return None


def tag_components(forge: Forge, *, plan: core.ReleasePlan, config: Config) -> str | None:
    """Tag each component repo's version commit with the release id (`tag_components: true`)."""
    for name, version in sorted(plan.versions.items()):
        component = config.components.get(name)
        if component is None:
            continue
        version_tag = forge.get_tag(component.repo, component.tag(version))
        if version_tag is None:
            return f"{component.repo} has no tag {component.tag(version)}; component tags stopped at {name}"
        message = f"{plan.title}\n\n{core.RELEASE_ID}: {plan.release_id}\n{core.COMPONENT_VERSION}: {name}={version}\n"
        outcome = ensure_tag(forge, component.repo, name=plan.release_id, message=message, sha=version_tag.commit_sha)
        if outcome.state is TagState.ELSEWHERE:
            log.error("component tag %s in %s points at %s, not %s", plan.release_id, component.repo, outcome.commit_sha, version_tag.commit_sha)
            return f"Tag {plan.release_id} in {component.repo} already exists on {outcome.commit_sha[:12]}, not on {component.tag(version)}"
    return None


class Changelog(enum.Enum):
    WRITTEN = "written"
    PRESENT = "present"  # an entry for this release id is there already: a replay
    BLOCKED = "blocked"  # refused although nobody else changed the file: branch protection


def write_changelog(forge: Forge, repo: str, *, path: str, branch: str, plan: core.ReleasePlan) -> tuple[Changelog, str]:
    """Prepend the entry in one commit on the default branch. The blob sha guards against clobbering a
    concurrent update: on a conflict, re-read and try again
    (https://docs.github.com/en/rest/repos/contents#create-or-update-file-contents). A protected branch also
    answers 409 ("Changes must be made through a pull request"); then the file has not moved, and retrying
    cannot help."""
    refused: tuple[str | None, Conflict] | None = None
    for _attempt in range(CHANGELOG_ATTEMPTS):
        current = forge.get_file(repo, path, ref=branch)
        sha = current.sha if current else None
        if refused is not None and refused[0] == sha:
            log.error("%s in %s: the update was refused but the file did not change: %s", path, repo, refused[1])
            return Changelog.BLOCKED, str(refused[1])
        updated = core.prepend_entry(current.content if current else None, entry=plan.changelog_entry, release_id=plan.release_id)
        if updated is None:
            return Changelog.PRESENT, ""
        try:
            forge.update_file(repo, path, content=updated, message=f"docs(changelog): {plan.release_id}", branch=branch, sha=sha)
            return Changelog.WRITTEN, ""
        except Conflict as exc:
            log.info("changelog %s in %s changed under us; re-reading", path, repo)
            refused = (sha, exc)
    raise TransientError(f"{path} in {repo} kept changing; {CHANGELOG_ATTEMPTS} attempts failed")


# --------------------------------------------------------------------------------------------- check runs


def _fail(forge: Forge, repo: str, sha: str, title: str, problems: tuple[Problem, ...], *,
          details_url: str | None = None) -> None:
    publish_check(forge, repo, _failure(repo, sha, title, problems, details_url=details_url))


def _failure(repo: str, sha: str, title: str, problems: tuple[Problem, ...], *,
             details_url: str | None = None) -> CheckResult:
    summary = "\n".join(f"- {p}" for p in problems) or title
    log.error("release in %s at %s failed: %s", repo, sha, summary)
    return CheckResult(
        name=core.RELEASE_CHECK, head_sha=sha, conclusion=Conclusion.FAILURE, title=title[:200], summary=summary,
        annotations=tuple(Annotation.from_problem(p) for p in problems if p.line), details_url=details_url,
    )


def _success(plan: core.ReleasePlan, *, sha: str, details_url: str | None = None) -> CheckResult:
    return CheckResult(
        name=core.RELEASE_CHECK, head_sha=sha, conclusion=Conclusion.SUCCESS, title=f"Released {plan.release_id}",
        summary=plan.release_body[:MAX_SUMMARY], details_url=details_url,
    )
