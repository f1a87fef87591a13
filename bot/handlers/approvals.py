"""`release-coordinator/approvals` (SPEC §4, §5): fetch what the evaluation needs, evaluate in core, publish."""
from __future__ import annotations

import logging
from dataclasses import replace

from bot import logs
from bot.core import codeowners
from bot.core.approvals import (
    Evaluation, PullFacts, Rules, assume_best, changed_paths, evaluate, granted_by_teams, lookups_needed, owners_in,
    to_json,
)
from bot.core.approvals_render import MAX_PULL_FILES, render_check, render_config_failure
from bot.core.checks import APPROVALS, Level, Problem
from bot.core.config import ApprovalsConfig
from bot.core.windows import override_active
from bot.forge.errors import ForgeError, PermissionDenied, TransientError
from bot.forge.protocol import Forge
from bot.handlers import Context
from bot.handlers.configs import RuleFiles, fetch_rule_files, layout_of, parse_codeowners
from bot.handlers.manifest import merge_group_base_sha, pulls_of
from bot.handlers.publish import publish_check, publish_commit_check, rerequested
from bot.model import ChangedFile, PullRequest
from bot.routing import Router
from bot.webhooks.event import Event

log = logging.getLogger("bot.handlers.approvals")
router = Router()
# The store forgets both per-PR records 90 days after their last write (a PR is rarely open longer). A lapsed
# details page is written again by the PR's next evaluation; a lapsed "asked" list can ask a team once more.
DETAILS_TTL = REQUESTED_TTL = 90 * 24 * 3600


@router.register("pull.changed")  # GitLab: every MR update re-reads approvals (a push resets them with no hook)
@router.register("pull.reviewed")
@router.register("pull.recheck")
def on_pull(event: Event, ctx: Context) -> None:
    for pull in pulls_of(event, ctx, check_name=APPROVALS):
        checked = check_pull(ctx, pull, base_sha=pull.base_sha, force=rerequested(event))
        if checked is not None:
            evaluation, policy = checked
            save_details(ctx, pull, evaluation)
            if policy.request_reviews:
                request_reviews(ctx, pull, evaluation)


@router.register("merge_group", "checks_requested")
def on_merge_group(event: Event, ctx: Context) -> None:
    # Judged again on the queue's commit, by the rules at the tip the group merges onto: not a blind pass.
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads#merge_group
    base_sha = merge_group_base_sha(event, ctx)
    for number in event.pull_numbers:
        check_pull(ctx, ctx.forge.get_pull(event.repo, number), base_sha=base_sha, check_sha=event.head_sha)


def check_pull(
    ctx: Context, pull: PullRequest, *, base_sha: str, check_sha: str | None = None, force: bool = False
) -> tuple[Evaluation, ApprovalsConfig] | None:
    """Fetch -> evaluate -> publish one pull request; None when the repository is not managed or config is bad.
    force: write the check run even when unchanged (a Re-run, see publish.rerequested)."""
    forge, repo = ctx.forge, pull.repo
    details_url = ctx.details_url(repo, pull.number)
    at_base = fetch_rule_files(forge, repo, ref=base_sha)  # config and CODEOWNERS: one request
    loaded = at_base.config
    if not loaded.config.managed:
        return None  # SPEC §3: safe to install on a whole org
    if not loaded.ok:
        _publish(ctx, pull, render_config_failure(loaded.problems, head_sha=check_sha or pull.head_sha,
                                                  details_url=details_url), queued=check_sha is not None, force=force)
        if check_sha is None:  # the check links the details page: let it show the same errors, not "not evaluated"
            policy = loaded.config.approvals
            save_details(ctx, pull, Evaluation(
                head_sha=pull.head_sha, mode=policy.mode, invalidate_on_push=policy.invalidate_on_push,
                distinct=policy.distinct, groups=(), unowned=(), codeowners_path=None, problems=loaded.problems))
        return None
    files = forge.list_pull_files(repo, pull.number, head_sha=pull.head_sha, base_sha=pull.base_sha)
    base = rules_at(pull, at_base, files=files, forge=forge)
    head = None
    layout = layout_of(forge)
    if any(path in layout.rule_files for path in changed_paths(files)):
        at_head = fetch_rule_files(forge, repo, ref=pull.head_sha)
        if layout.config_path not in changed_paths(files):
            at_head = replace(at_head, config=loaded)
        head = rules_at(pull, at_head, files=files, forge=forge)
    facts = fetch_facts(forge, pull, files, rules=[base, head])
    if facts.groups:  # GitLab top-level groups ("@acme") named in CODEOWNERS: teams, not users
        base = replace(base, groups=facts.groups)
        head = replace(head, groups=facts.groups) if head is not None else None
    evaluation = evaluate(look_up(forge, pull, facts, rules=[base, head]), base, head)
    if check_sha is not None:
        evaluation = replace(evaluation, head_sha=check_sha)
    _publish(ctx, pull, render_check(evaluation, details_url=details_url, queued=check_sha is not None),
             queued=check_sha is not None, force=force)
    return evaluation, base.approvals


def _publish(ctx: Context, pull: PullRequest, result, *, queued: bool, force: bool) -> None:
    if queued:  # a merge group's commit: not the pull request's head, so not in its results record
        publish_commit_check(ctx, pull.repo, result)
    else:
        publish_check(ctx, pull, result, force=force)


def rules_at(pull: PullRequest, found: RuleFiles, *, files: tuple[ChangedFile, ...], forge: Forge | None = None) -> Rules:
    loaded = found.config
    windows = loaded.config.windows
    override = windows.override_label if override_active(windows, pull.labels) else None
    if found.codeowners is None:
        return Rules(loaded.config.approvals, None, {}, problems=loaded.problems, override_label=override)
    path, text = found.codeowners
    parsed = parse_codeowners(forge, text) if forge is not None else codeowners.parse(text, platform="github")
    problems = tuple(
        Problem(path, e.line, e.message + (f" ({e.suggestion})" if e.suggestion else ""), Level.WARNING)
        for e in parsed.errors
    )
    return Rules(loaded.config.approvals, path, ownership(parsed, changed_paths(files)), problems=loaded.problems + problems,
                 override_label=override)


def ownership(parsed: codeowners.Codeowners, paths: tuple[str, ...]) -> dict:
    """GitHub: the last matching line per path. GitLab: per path, the deciding line of every section that applies
    (optional `^[Section]`s ask nothing; https://docs.gitlab.com/ee/user/project/codeowners/#optional-sections)."""
    if parsed.platform != "gitlab":
        return parsed.resolve(paths)
    return {path: tuple(m for m in found if not m.optional) or None
            for path, found in parsed.resolve_sections(paths).items()}


def fetch_facts(forge: Forge, pull: PullRequest, files: tuple[ChangedFile, ...], *, rules: list[Rules | None]) -> PullFacts:
    repo = pull.repo
    reviews = forge.list_reviews(repo, pull.number)
    named = [owners_in(r) for r in rules if r is not None]
    wanted = sorted(set().union(*(teams for teams, _ in named)))
    # GitLab: "@acme" may be a user or a top-level group (namespaces are unique, so not both); ask the forge,
    # in the same request as the teams. GitHub teams always read "@org/slug".
    maybe_groups = sorted({f"@{login}" for _, logins in named for login in logins}) if forge.kind == "gitlab" else []
    try:
        teams = forge.get_teams(wanted + maybe_groups, repo=repo) if wanted or maybe_groups else {}
    except PermissionDenied:
        # 403 when the installation lacks the organization permission "Members: read"; a team that does not
        # exist or is secret comes back as None. Either way: a failing group naming team and permission.
        teams = dict.fromkeys(wanted)
    groups = frozenset(name for name in maybe_groups if teams.get(name) is not None)
    teams = {name: info for name, info in teams.items() if name not in maybe_groups or name in groups}
    return PullFacts(
        head_sha=pull.head_sha, author=pull.author, files=files, reviews=reviews, groups=groups,
        members={team: info.members for team, info in teams.items() if info is not None},
        unknown_teams=frozenset(team for team, info in teams.items() if info is None),
        permissions=granted_by_teams(teams),
        files_truncated=getattr(files, "truncated", len(files) >= MAX_PULL_FILES),  # PullFiles says; a plain tuple: by length
    )


def look_up(forge: Forge, pull: PullRequest, facts: PullFacts, *, rules: list[Rules | None]) -> PullFacts:
    """Compare reviewed commits with head and check reviewers' access, only as far as they decide the result."""
    while lookups := lookups_needed(facts, *rules):
        changed = {sha: forge.changed_since(pull, sha) for sha in lookups.commits}
        access = {user: forge.permission(pull.repo, user) for user in lookups.logins}
        facts = replace(facts, changed_since={**facts.changed_since, **changed}, permissions={**facts.permissions, **access})
    return assume_best(facts)


def save_details(ctx: Context, pull: PullRequest, evaluation: Evaluation) -> None:
    if ctx.store is None:
        return
    key = details_key(pull.repo, pull.number, forge=ctx.forge.kind)
    saved = {"repo": pull.repo, "number": pull.number, "title": pull.title, "html_url": pull.html_url,
             "evaluation": to_json(evaluation)}
    if ctx.store.get_json(key) != saved:
        ctx.store.set_json(key, saved, ttl=DETAILS_TTL)


def details_key(repo: str, number: int, *, forge: str = "github") -> str:
    # GitHub's records keep their pre-GitLab key (open pull requests keep their details page over an upgrade)
    return f"details:{repo}#{number}" if forge == "github" else f"details:{forge}:{repo}!{number}"


def request_reviews(ctx: Context, pull: PullRequest, evaluation: Evaluation) -> None:
    """Ask each team that still owes an approval, once per pull request (drafts wait for ready_for_review)."""
    if pull.draft:
        return
    key = f"requested:{pull.repo}#{pull.number}" if ctx.forge.kind == "github" else f"requested:{ctx.forge.kind}:{pull.repo}!{pull.number}"
    asked = set(ctx.store.get_json(key) or ()) if ctx.store is not None else set()
    already = asked | {team.lower() for team in pull.requested_teams}
    teams = frozenset(team for team in evaluation.missing_teams if team not in already)
    if not teams:
        return
    try:
        ctx.forge.request_reviewers(pull.repo, pull.number, teams=teams)
    except TransientError:
        raise
    except ForgeError as exc:
        # A courtesy, not the check: GitHub answers 422 when a team has no access to the repository. The
        # check run already names who can approve, so log it and do not ask again.
        logs.event(log, "review request refused", level=logging.WARNING, repo=pull.repo, number=pull.number,
                   teams=sorted(teams), error=str(exc))
    if ctx.store is not None:
        ctx.store.set_json(key, sorted(asked | teams), ttl=REQUESTED_TTL)
