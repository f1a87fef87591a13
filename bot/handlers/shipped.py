"""After a release is tagged (issue 14): list the component pull requests it ships in the Release, tell each of
them once per environment ("Shipped in RELEASE to ENV on DATE"), record the release for the history page, and
queue the announcements. Called from bot.handlers.release; every step is keyed and skipped when done.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from typing import Any, Mapping, Sequence

from bot import logs
from bot.core import plan as core_plan
from bot.core import release as core_release
from bot.core.announcements import AnnouncementEvent
from bot.core.config import Config
from bot.core.manifest import parse_manifest
from bot.forge.errors import NotFound, PermissionDenied
from bot.handlers import Context
from bot.model import PullRequest, Tag
from bot.notify import deliver
from bot.notify.render import Announcement

log = logging.getLogger(__name__)

SHIPPED_TOPIC = "shipped-in"  # Forge.ensure_note topic, one per environment: "shipped-in:production"
DEFAULT_ENVIRONMENT = "production"  # the name said when the config has no `environments:`
MAX_SHIPPED_COMMENTS = 200  # per release and environment; GitHub paces writes 1 s apart (see bot.forge.http)
HISTORY_LIMIT = 500  # releases kept per release repo for the history page
BACKFILL_LIMIT = 50  # release tags made before the history record existed, read once into it


def environment_of(config: Config, plan: core_release.ReleasePlan) -> tuple[str, str]:
    """(name people read, manifest path) of the environment this release went to."""
    name = getattr(plan, "environment", None)
    for environment in getattr(config, "environments", ()) or ():
        if environment.name == name:
            return environment.name, environment.manifest
    return DEFAULT_ENVIRONMENT, config.release.manifest


def previous_versions(ctx: Context, pull: PullRequest, config: Config, plan: core_release.ReleasePlan) -> dict[str, str]:
    """The environment's manifest before the merge (at the pull request's base)."""
    _name, path = environment_of(config, plan)
    found = ctx.forge.get_file(pull.repo, path, ref=pull.base_sha)
    manifest = parse_manifest(found.content, path=path, config=config)[0] if found is not None else None
    return dict(manifest.versions) if manifest is not None else {}


def carried_by(ctx: Context, pull: PullRequest, config: Config,
               plan: core_release.ReleasePlan) -> tuple[core_plan.CarriedPull, ...]:
    """The component pull requests between each component's old and new tag (compare commits: squash "(#N)",
    merge-commit headers, GitLab's "See merge request"). A rollback ships none."""
    if plan.rollback_of is not None:
        return ()
    from bot.handlers.release import component_changes  # the changelog's own compare, paginated by the adapter

    changes = component_changes(ctx.forge, config, old=previous_versions(ctx, pull, config, plan), new=plan.versions)
    return core_plan.carried_pulls(changes)


def with_shipped_list(ctx: Context, pull: PullRequest, config: Config,
                      plan: core_release.ReleasePlan) -> tuple[core_release.ReleasePlan, tuple[core_plan.CarriedPull, ...]]:
    """The plan whose Release body (and changelog entry, which the body repeats) also lists the pull requests it
    ships, and those pull requests."""
    carried = carried_by(ctx, pull, config, plan)
    section = core_plan.shipped_section(carried, pull_url=ctx.forge.links.pull, pull_ref=ctx.forge.links.pull_ref)
    if not section:
        return plan, carried
    body = plan.release_body.rstrip("\n") + "\n\n" + section
    if len(body) > core_release.MAX_RELEASE_BODY:
        return plan, carried  # the entry's commit lines link each pull request already
    entry = plan.changelog_entry.rstrip("\n") + "\n\n" + section
    return dataclasses.replace(plan, release_body=body, changelog_entry=entry), carried


def shipped_key(forge: str, repo: str, number: int, environment: str) -> str:
    return f"shipped:{forge}:{repo}!{number}:{environment}"


def comment_shipped(ctx: Context, *, release_repo: str, plan: core_release.ReleasePlan, environment: str,
                    carried: tuple[core_plan.CarriedPull, ...]) -> dict[str, int]:
    """One "Shipped in" note per carried pull request and environment (Forge.ensure_note: found by its marker,
    never a second one), in order, one at a time: the adapter spaces writes (GitHub asks for 1 s between
    content-creating requests and answers a secondary rate limit with Retry-After, which raises and makes the
    queue retry this delivery after it; the notes already written are then skipped by their store key).
    https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#avoid-concurrent-requests"""
    forge = ctx.forge
    body = core_plan.shipped_comment(release_id=plan.release_id, environment=environment, date=ctx.now.date(),
                                     release_url=forge.links.release(release_repo, plan.release_id))
    counts = {"written": 0, "present": 0, "skipped": 0}
    for pull in carried[:MAX_SHIPPED_COMMENTS]:
        key = shipped_key(forge.kind, pull.repo, pull.number, environment)
        if ctx.store is not None and ctx.store.get_json(key) == plan.release_id:
            counts["present"] += 1
            continue
        try:
            forge.ensure_note(pull.repo, pull.number, topic=f"{SHIPPED_TOPIC}:{environment}", body=body)
        except (NotFound, PermissionDenied) as exc:  # a "(#N)" that names an issue, a repo the app cannot write
            logs.event(log, "shipped-in comment skipped", level=logging.WARNING, repo=pull.repo,
                       number=pull.number, release_id=plan.release_id, error=str(exc))
            counts["skipped"] += 1
            continue
        if ctx.store is not None:
            ctx.store.set_json(key, plan.release_id)
        counts["written"] += 1
    if len(carried) > MAX_SHIPPED_COMMENTS:
        logs.event(log, "shipped-in comments capped", level=logging.WARNING, release_id=plan.release_id,
                   carried=len(carried), commented=MAX_SHIPPED_COMMENTS)
    return counts


def history_key(forge: str, repo: str) -> str:
    return f"releases:{forge}:{repo}"


def history_signature(*, key: Any, forge: str, repo: str) -> str:
    """The history page's link signature (bot.pages_history): HMAC-SHA256 over its own subject, so a pull
    request's details link or an access report's opens no history page, and the other way round."""
    secret = key.reveal() if hasattr(key, "reveal") else str(key)
    return hmac.new(secret.encode(), f"releases:{forge}:{repo}".encode(), hashlib.sha256).hexdigest()[:32]


def history_url(public_url: str, *, key: Any, forge: str, repo: str, feed: bool = False) -> str | None:
    """The signed link of a release repo's history page (or its Atom feed); None without PUBLIC_URL or a key."""
    if not public_url or key is None:
        return None
    path = f"/releases/{forge}/{repo}" + ("/feed.atom" if feed else "")
    return f"{public_url.rstrip('/')}{path}?sig={history_signature(key=key, forge=forge, repo=repo)}"


def record_release(ctx: Context, *, pull: PullRequest, config: Config, plan: core_release.ReleasePlan,
                   environment: str, previous: Mapping[str, str], carried: tuple[core_plan.CarriedPull, ...],
                   tags: Sequence[Tag] | None = None) -> None:
    """Append this release to the repo's history record (the history page and feed render from it), once."""
    if ctx.store is None:
        return
    key = history_key(ctx.forge.kind, pull.repo)
    record = ctx.store.get_json(key)
    if record is None:  # the first release recorded: earlier ones from the repo's release tags, once
        record = {"forge": ctx.forge.kind, "repo": pull.repo,
                  "releases": backfill(ctx, pull=pull, config=config, skip=plan.release_id, tags=tags)}
    if any(r.get("tag") == plan.release_id for r in record["releases"]):
        return
    links = ctx.forge.links
    verified = getattr(plan, "verified_in", None)
    record["releases"].append({
        "tag": plan.release_id, "environment": environment, "at": ctx.now.isoformat(),
        "commit_sha": pull.merge_commit_sha, "versions": dict(plan.versions), "previous": dict(previous),
        "rollback_of": plan.rollback_of, "repeat_of": getattr(plan, "repeat_of", None),
        "verified_in": list(verified) if verified else None, "title": plan.title,
        "url": links.release(pull.repo, plan.release_id), "tag_url": links.tag(pull.repo, plan.release_id),
        "changelog_url": links.file(pull.repo, pull.base_ref, _changelog_path(config, plan)),
        "pull_request": {"number": pull.number, "url": pull.html_url or links.pull(pull.repo, pull.number),
                         "title": pull.title},
        "carried": [{"repo": p.repo, "number": p.number, "component": p.component, "ref": links.pull_ref(p.number),
                     "url": links.pull(p.repo, p.number)} for p in carried],
    })
    record["releases"] = record["releases"][-HISTORY_LIMIT:]
    ctx.store.set_json(key, record)


def backfill(ctx: Context, *, pull: PullRequest, config: Config, skip: str,
             tags: Sequence[Tag] | None = None) -> list[dict]:
    """History entries for the newest BACKFILL_LIMIT release tags made before the record existed (trailers or
    the manifest at the tag: bot.handlers.history), dated by their tagger date (one request each); a tag with no
    date (lightweight) is left out, as the timeline could not place it. Oldest first, like the record."""
    from bot.handlers.history import release_history

    links = ctx.forge.links
    listed = tags if tags is not None else ctx.forge.list_annotated_tags(pull.repo, limit=history_tags_limit())
    tags = {tag.name: tag for tag in listed}
    found = [r for r in release_history(ctx.forge, pull.repo, config, tags=tuple(listed)) if r.tag != skip]
    entries = []
    for record in reversed(found[:BACKFILL_LIMIT]):  # oldest first
        at = ctx.forge.tag_date(pull.repo, tags[record.tag]) if record.tag in tags else None
        if at is None:
            continue
        environment = record.environment or DEFAULT_ENVIRONMENT
        previous = next((e["versions"] for e in reversed(entries) if e["environment"] == environment), {})
        verified = core_release.parse_lineage(tags[record.tag].message).verified_in
        entries.append({
            "tag": record.tag, "environment": environment, "at": at.isoformat(), "commit_sha": record.commit_sha,
            "versions": dict(record.versions), "previous": dict(previous), "rollback_of": record.rollback_of,
            "repeat_of": record.repeat_of, "verified_in": list(verified) if verified else None, "title": "",
            "url": links.release(pull.repo, record.tag), "tag_url": links.tag(pull.repo, record.tag),
            "changelog_url": "", "pull_request": None, "carried": [], "backfilled": True,
        })
    return entries


def history_tags_limit() -> int:
    return BACKFILL_LIMIT * 4  # release tags among other tags: a few more listed than kept (100 per request)


def _changelog_path(config: Config, plan: core_release.ReleasePlan) -> str:
    name = getattr(plan, "environment", None)
    for environment in getattr(config, "environments", ()) or ():
        if environment.name == name and getattr(environment, "changelog", None):
            return environment.changelog
    return config.release.changelog


def announce(ctx: Context, config: Config, announcement: Announcement) -> int:
    return deliver.announce(ctx.jobs, getattr(config, "notify", ()), announcement)


def release_announcement(ctx: Context, *, pull: PullRequest, plan: core_release.ReleasePlan, environment: str,
                         previous: Mapping[str, str]) -> Announcement:
    rollback = plan.rollback_of is not None
    return Announcement(
        event=AnnouncementEvent.ROLLED_BACK if rollback else AnnouncementEvent.RELEASED,
        forge=ctx.forge.kind, repository=pull.repo, environment=environment, release_id=plan.release_id,
        tag=plan.release_id, components=dict(plan.versions), previous=dict(previous),
        url=ctx.forge.links.release(pull.repo, plan.release_id),
        pull_request=_pull_json(ctx, pull), reason=f"restores {plan.rollback_of}" if rollback else "",
    )


def _pull_json(ctx: Context, pull: PullRequest) -> dict[str, Any]:
    return {"number": pull.number, "url": pull.html_url or ctx.forge.links.pull(pull.repo, pull.number),
            "title": pull.title}


def after_release(ctx: Context, pull: PullRequest, config: Config, plan: core_release.ReleasePlan,
                  carried: tuple[core_plan.CarriedPull, ...] | None = None, *,
                  tags: Sequence[Tag] | None = None) -> None:
    """Once the release is tagged: shipped-in notes, the history record, the announcements (in that order, so
    a retry after a rate limit finds the notes done and announces exactly once: jobs are keyed too). `tags`:
    the release repo's tags as the release handler listed them (the history's first record reads them)."""
    environment, _path = environment_of(config, plan)
    if carried is None:
        carried = carried_by(ctx, pull, config, plan)
    previous = previous_versions(ctx, pull, config, plan)
    counts = comment_shipped(ctx, release_repo=pull.repo, plan=plan, environment=environment, carried=carried)
    record_release(ctx, pull=pull, config=config, plan=plan, environment=environment, previous=previous,
                   carried=carried, tags=tags)
    queued = announce(ctx, config, release_announcement(ctx, pull=pull, plan=plan, environment=environment,
                                                        previous=previous))
    logs.event(log, "release communicated", repo=pull.repo, release_id=plan.release_id, environment=environment,
               carried=len(carried), announcements=queued, **counts)
