"""`/rollback [RELEASE_ID]` (SPEC §7): an owning team's member asks, the app opens a pull request restoring it."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping

from bot.core import environments as envs
from bot.core import release as core
from bot.core.codeowners import parse
from bot.core.config import Config
from bot.core.environments import Environment
from bot.core.manifest import parse_manifest
from bot.forge.base import Forge, Permission, PullRequest
from bot.forge.errors import AlreadyExists, TeamNotFound
from bot.handlers import Context
from bot.handlers.configs import fetch_codeowners, fetch_config
from bot.handlers.history import environment_of, release_history, release_named
from bot.routing import Router
from bot.webhooks.event import Event

router = Router()
log = logging.getLogger(__name__)
# A comment answered is remembered by its id this long: the same note delivered again (a group and a project
# hook both set, a GitLab older than 17.4 resending without Idempotency-Key) gets no second answer.
ANSWERED_TTL = 7 * 24 * 3600


def answered_key(forge: str, repo: str, comment_id: int) -> str:
    return f"rollback:answered:{forge}:{repo}:{comment_id}"


@dataclass(frozen=True)
class Target:
    release_id: str
    versions: Mapping[str, str]
    environment: Environment | None = None  # whose manifest the rollback restores


@router.register("comment")  # GitHub issue_comment.created, GitLab Note Hook on a merge request
def on_rollback_comment(event: Event, ctx: Context) -> None:
    command = core.parse_rollback_command(event.comment_body)
    if command is None or event.sender_is_bot or not event.repo or event.issue_number is None:
        return
    forge, repo, number = ctx.forge, event.repo, event.issue_number
    answered = answered_key(forge.kind, repo, event.comment_id) if ctx.store is not None and event.comment_id else None
    if answered is not None and ctx.store.get_json(answered):
        log.info("rollback comment %s on %s already answered", event.comment_id, repo)
        return

    def reply(text: str) -> None:
        forge.comment(repo, number, text)
        if answered is not None:
            ctx.store.set_json(answered, True, ttl=ANSWERED_TTL)

    user = event.comment_author or event.sender or ""
    branch = event.default_branch or forge.get_default_branch(repo)
    head = forge.get_branch_sha(repo, branch)
    config = fetch_config(forge, repo, ref=head).config
    if not config.managed or config.release is None:
        return  # not a release repo: stay silent (SPEC §3: safe on every repository)
    environment, command = environment_for(config, command)
    owners = manifest_owners(forge, repo, ref=head, path=environment.manifest)
    if not may_roll_back(forge, repo, user=user, owners=owners):
        reply(refusal(user, owners=owners, path=environment.manifest))
        return
    current = forge.get_file(repo, environment.manifest, ref=head)
    target, problem = resolve_target(forge, repo, config, command=command, current=current.content if current else None,
                                     environment=environment)
    if target is None:
        reply(problem)
        return
    asked_in = forge.links.pull_ref(number)  # `!N` on GitLab: `#N` there names an issue
    notes = f"Rollback to {target.release_id}, requested by @{user} in {asked_in}"
    content = core.rollback_manifest_text(current.content if current else None, versions=target.versions, config=config, notes=notes)
    pull, opened = open_rollback_pull(
        forge, repo, base=branch, head_sha=head, path=environment.manifest, content=content, target=target, number=number,
    )
    reply(answer(pull, target=target, opened=opened))


# --------------------------------------------------------------------------------------------- who may


def manifest_owners(forge: Forge, repo: str, *, ref: str, path: str) -> tuple[str, ...]:
    """The owners CODEOWNERS names for the manifest at the default branch's head."""
    found = fetch_codeowners(forge, repo, ref=ref)
    if not found:
        return ()
    # every section that applies (GitLab; GitHub: the one deciding line), optional ones ask nothing
    matches = parse(found[1], platform=forge.layout.codeowners_dialect).sections_of(path)
    return tuple(dict.fromkeys(o for m in matches if not m.optional for o in m.owners))


def may_roll_back(forge: Forge, repo: str, *, user: str, owners: tuple[str, ...]) -> bool:
    """A member of an owning team (or an individual owner). An unowned manifest: anyone who may push."""
    if not owners:
        return forge.permission(repo, user) >= Permission.WRITE
    login = user.lower()
    for owner in owners:
        if "/" in owner:
            try:
                if login in {m.lower() for m in forge.team_members(owner)}:
                    return True
            except TeamNotFound:
                log.warning("CODEOWNERS of %s names %s, which the app cannot see", repo, owner)
        elif owner.lstrip("@").lower() == login:
            return True
        elif forge.kind == "gitlab" and owner.startswith("@"):
            # GitLab: a slash-less @name may be a top-level group (GL-core)
            try:
                if login in {m.lower() for m in forge.team_members(owner)}:
                    return True
            except TeamNotFound:
                pass  # a user, not a group
    return False


def refusal(user: str, *, owners: tuple[str, ...], path: str) -> str:
    if not owners:
        return f"Sorry @{user}, only people who can push to this repository can start a rollback."
    named = ", ".join(f"`{o}`" for o in owners)  # code spans: no team-wide notification for a refusal
    return (
        f"Sorry @{user}, only members of the teams that own `{path}` ({named}) can start a rollback. "
        "Ask one of them to comment `/rollback`."
    )


# --------------------------------------------------------------------------------------------- which release


def environment_for(config: Config, command: core.RollbackCommand) -> tuple[Environment, core.RollbackCommand]:
    """Which environment's manifest a rollback restores: the one the named release belongs to (its Environment
    trailer or tag prefix, judged by name here and again when the tag is read), `/rollback ENVIRONMENT`, or the
    last environment (production) for a bare `/rollback`."""
    environments = envs.of(config)
    named = envs.by_name(environments, command.target) if command.target else None
    if named is not None and len(environments) > 1:
        return named, core.RollbackCommand(target=None)
    if command.target:
        by_prefix = envs.by_name(environments, environment_of(command.target, None, environments))
        if by_prefix is not None:
            return by_prefix, command
    return environments[-1], command


def resolve_target(
    forge: Forge, repo: str, config: Config, *, command: core.RollbackCommand, current: bytes | None,
    environment: Environment | None = None,
) -> tuple[Target | None, str]:
    """The release named in the command, or the one before the current release: in the environment's release
    history (its release tags in the order they were made), the newest release with other versions after the
    release the manifest runs now. A release's versions come from its trailers or, for a tag made before the app
    was installed, from the manifest at the tagged commit. Returns the target, or why there is none as the answer."""
    environment = environment or envs.of(config)[-1]
    versions = {}
    if current is not None:
        manifest, _problems = parse_manifest(current, path=environment.manifest, config=config, allow_prerelease=True)
        versions = dict(manifest.versions) if manifest else {}
    wanted = command.target
    if wanted is not None and (core.ref_name_problem(wanted) or "`" in wanted):  # never echo arbitrary text back
        return None, "`/rollback` takes a release id, the name of a release tag, e.g. `/rollback release-1.5.2-2.0.9`."
    where = f" in {environment.name}" if environment.configured else ""
    if wanted is None:
        history = release_history(forge, repo, config, environment=environment)
        live = next((i for i, r in enumerate(history) if core.versions_equal(r.versions, versions)), None)
        if live is None:
            return None, (
                f"The manifest on the default branch ({_versions_text(versions) or 'unreadable'}) matches no release{where}, "
                "so I cannot tell which release came before it. Name one: `/rollback RELEASE_ID`."
            )
        before = next((r for r in history[live + 1:] if not core.versions_equal(r.versions, versions)), None)
        if before is None:
            return None, f"`{history[live].tag}` is the first release{where}: there is none before it to roll back to."
        return Target(before.tag, before.versions, environment), ""
    record = release_named(forge, repo, config, wanted)
    if record is None:
        return None, (f"I found no release `{wanted}`: no tag of that name in {repo} with `Release-Id` trailers or a "
                      f"readable `{environment.manifest}` at its commit.")
    if record.environment is not None and environment.configured and record.environment != environment.name:
        return None, f"`{wanted}` is a release of {record.environment}, not of {environment.name}."
    if core.versions_equal(record.versions, versions):
        return None, f"The manifest already has the versions of `{wanted}` ({_versions_text(versions)}); nothing to roll back."
    return Target(wanted, record.versions, environment), ""


def _versions_text(versions: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


# --------------------------------------------------------------------------------------------- the pull request


def open_rollback_pull(
    forge: Forge, repo: str, *, base: str, head_sha: str, path: str, content: bytes, target: Target, number: int
) -> tuple[PullRequest, bool]:
    """Branch `rollback/<release id>` from the default branch head, the manifest commit, the pull request.
    Each step is skipped when already done, so a replay answers with the same pull request."""
    prefix = f"rollback/{target.release_id}"
    for pull in forge.list_open_pulls(repo, base=base):
        if pull.head_ref in (prefix, f"{prefix}-{number}"):
            return pull, False
    branch = _branch(forge, repo, head_sha=head_sha, path=path, content=content, names=(prefix, f"{prefix}-{number}"))
    on_branch = forge.get_file(repo, path, ref=branch)
    if on_branch is None or on_branch.content != content:
        forge.update_file(
            repo, path, content=content, branch=branch, sha=on_branch.sha if on_branch else None,
            message=f"release: roll back to {target.release_id}",
        )
    body = (
        f"Restores the versions of release `{target.release_id}` ({_versions_text(target.versions)}) with "
        f"`rollback: true`, as asked in {forge.links.pull_ref(number)}.\n\nIt needs the usual approvals before it can merge; merging it "
        "tags the rollback and writes its changelog entry."
    )
    try:
        return forge.create_pull(repo, title=f"Roll back to {target.release_id}", body=body, head=branch, base=base), True
    except AlreadyExists:  # a concurrent replay opened it (422 "A pull request already exists")
        for pull in forge.list_open_pulls(repo, base=base):
            if pull.head_ref == branch:
                return pull, False
        raise


def _branch(forge: Forge, repo: str, *, head_sha: str, path: str, content: bytes, names: tuple[str, ...]) -> str:
    """The first name we can create, or one we created before (still at head, or already holding our
    manifest: a retry after a crash). A stale branch from an older rollback is left alone."""
    for name in names:
        try:
            forge.create_branch(repo, name=name, sha=head_sha)
            return name
        except AlreadyExists:
            on_branch = forge.get_file(repo, path, ref=name)
            if forge.get_branch_sha(repo, name) == head_sha or (on_branch and on_branch.content == content):
                return name
    return names[-1]  # every name is stale: reuse the last rather than fail; the PR shows the diff


def answer(pull: PullRequest, *, target: Target, opened: bool) -> str:
    link = pull.html_url or f"#{pull.number}"
    if opened:
        return (
            f"Opened {link} to roll back to `{target.release_id}` ({_versions_text(target.versions)}). "
            "It needs the usual approvals before it can merge."
        )
    return f"A rollback to `{target.release_id}` is already open: {link}"
