"""Write a check run only when what the user would see changed (SPEC §4: a no-op re-evaluation writes nothing)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.checks import CheckResult, result_digest
from bot.forge.base import ExistingCheck, Forge

if TYPE_CHECKING:
    from bot.handlers import KeyValue
    from bot.webhooks.event import Event

# A head sha is rarely judged again weeks after its push; one per (repo, head sha, check) would otherwise
# accumulate forever on a busy org.
CHECK_RECORD_TTL = 30 * 24 * 3600


def rerequested(event: Event) -> bool:
    """A "Re-run" (check_run or check_suite rerequested): GitHub resets the check suite to queued and clears its
    conclusion, and leaves it to the app to write its check runs again, so an unchanged result must be written too.
    https://docs.github.com/en/rest/checks/suites#rerequest-a-check-suite
    https://docs.github.com/en/rest/checks/runs#rerequest-a-check-run"""
    return event.name in ("check_run", "check_suite") and event.action == "rerequested"


def publish_check(forge: Forge, repo: str, result: CheckResult, *, store: KeyValue | None = None,
                  force: bool = False) -> bool:
    """Create or update the check run keyed by (name, head_sha). Returns True when it wrote.

    force (a Re-run, see rerequested()): create a fresh check run even when the digest is unchanged; it replaces
    the old one on the pull request, as every later run with the same name and head sha does.

    With a store, what we wrote is remembered per (repo, head sha, name), so a re-evaluation needs no GET of
    the check runs. No record means we never wrote there: create directly. A record marked pending means a
    job died between its write and the record: only then ask GitHub (find_check), so a retry never writes a
    second run. (A store that lost its records costs one extra run with the same name and head sha, which
    GitHub shows in place of the first, as every update does: see GitHubForge.update_check. Records expire
    CHECK_RECORD_TTL after their last write, so a head sha judged again after that gets such a run too.)
    Without a store, ask GitHub every time."""
    digest = result_digest(result)
    if force:
        return _fresh(forge, repo, result, store=store, digest=digest)
    if store is None:
        return _write(forge, repo, result, forge.find_check(repo, head_sha=result.head_sha, name=result.name), digest)
    key = check_key(repo, head_sha=result.head_sha, name=result.name)
    record = store.get_json(key)
    if record is None:
        existing = None
    elif not record.get("pending"):
        existing = ExistingCheck(record["id"], record["digest"])
    else:
        existing = forge.find_check(repo, head_sha=result.head_sha, name=result.name)
    if existing is not None and existing.digest == digest:
        if record != {"id": existing.id, "digest": digest}:
            store.set_json(key, {"id": existing.id, "digest": digest}, ttl=CHECK_RECORD_TTL)
        return False
    store.set_json(key, {**(record or {"id": None, "digest": None}), "pending": True}, ttl=CHECK_RECORD_TTL)
    check_id = _create_or_update(forge, repo, result, existing)
    store.set_json(key, {"id": check_id, "digest": digest}, ttl=CHECK_RECORD_TTL)
    return True


def check_key(repo: str, *, head_sha: str, name: str) -> str:
    return f"check:{repo}@{head_sha}:{name}"


def _fresh(forge: Forge, repo: str, result: CheckResult, *, store: KeyValue | None, digest: str) -> bool:
    if store is None:
        forge.create_check(repo, result)
        return True
    key = check_key(repo, head_sha=result.head_sha, name=result.name)
    # pending as in publish_check: a job that dies after the create leaves the next evaluation to find_check
    store.set_json(key, {**(store.get_json(key) or {"id": None, "digest": None}), "pending": True}, ttl=CHECK_RECORD_TTL)
    check_id = forge.create_check(repo, result)
    store.set_json(key, {"id": check_id, "digest": digest}, ttl=CHECK_RECORD_TTL)
    return True


def _write(forge: Forge, repo: str, result: CheckResult, existing: ExistingCheck | None, digest: str) -> bool:
    if existing is not None and existing.digest == digest:
        return False
    _create_or_update(forge, repo, result, existing)
    return True


def _create_or_update(forge: Forge, repo: str, result: CheckResult, existing: ExistingCheck | None) -> int:
    if existing is None:
        return forge.create_check(repo, result)
    forge.update_check(repo, existing.id, result)
    return existing.id
