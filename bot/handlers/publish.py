"""The results role (INTERFACES.md §3): every check a handler publishes goes through publish_check.

It writes the check only when what the forge shows changed (SPEC §4: a no-op re-evaluation writes nothing;
GitHub: a check run, GitLab: a commit status, see Forge.check_digest), and records the result per pull request
under `results:{forge}:{repo}!{number}`, from which the details page and GitLab's one summary note render.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from bot.core.checks import CheckResult
from bot.model import ExistingCheck, PullRequest

if TYPE_CHECKING:
    from bot.forge.protocol import Forge
    from bot.handlers import Context, KeyValue
    from bot.webhooks.event import Event

# A head sha is rarely judged again weeks after its push; one per (repo, head sha, check) would otherwise
# accumulate forever on a busy org.
CHECK_RECORD_TTL = 30 * 24 * 3600
# The per-pull-request results record: forgotten 90 days after its last write (a PR is rarely open longer).
RESULTS_TTL = 90 * 24 * 3600
SUMMARY_TOPIC = "summary"  # Forge.ensure_note topic of the one summary note (GitLab)


def rerequested(event: Event) -> bool:
    """A re-evaluation from scratch that must write even an unchanged result: GitHub's "Re-run" (check_run or
    check_suite rerequested: GitHub resets the suite to queued and leaves the app to write its check runs again)
    and GitLab's `/recheck` note. Both arrive as Event.kind "pull.recheck".
    https://docs.github.com/en/rest/checks/suites#rerequest-a-check-suite
    https://docs.github.com/en/rest/checks/runs#rerequest-a-check-run"""
    return event.kind == "pull.recheck" or (event.name in ("check_run", "check_suite") and event.action == "rerequested")


def results_key(forge: str, repo: str, number: int) -> str:
    return f"results:{forge}:{repo}!{number}"


def check_key(repo: str, *, head_sha: str, name: str, forge: str = "github") -> str:
    # GitHub's records keep their pre-GitLab key, so an upgrade writes no second check run on open pull requests
    prefix = "check:" if forge == "github" else f"check:{forge}:"
    return f"{prefix}{repo}@{head_sha}:{name}"


def publish_check(ctx: Any, pull: Any, result: Any = None, *, store: KeyValue | None = None, force: bool = False) -> bool:
    """publish_check(ctx, pull, result, *, force=False): write result for pull (a PullRequest, or None for a
    check on a commit no open pull request is headed by, e.g. a merge group's) and record it in the pull's
    results record. Returns True when the forge was written.

    force (a Re-run or /recheck, see rerequested()): write even when unchanged; on GitHub a fresh check run,
    which replaces the old one on the pull request; on GitLab a new status only if the state moves (GitLab
    refuses pending -> pending), and the note is written again.

    The older form publish_check(forge, repo, result, store=..., force=...) writes the check without a record
    (kept for callers not moved yet)."""
    from bot.handlers import Context

    if not isinstance(ctx, Context):  # the older form: (forge, repo, result)
        return write_check(ctx, pull, result, store=store, force=force)
    wrote = write_check(ctx.forge, pull.repo, result, store=ctx.store, force=force)
    record_result(ctx, pull, result, force=force)
    return wrote


def publish_commit_check(ctx: Context, repo: str, result: CheckResult, *, pull: PullRequest | None = None,
                         force: bool = False) -> bool:
    """A check on a commit that is not (or no longer) a pull request's head: a merge group's commit, the merge
    commit of a release. Recorded under `pull` when given (its details page and note show it)."""
    wrote = write_check(ctx.forge, repo, result, store=ctx.store, force=force)
    if pull is not None:
        record_result(ctx, pull, result, force=force)
    return wrote


def write_check(forge: Forge, repo: str, result: CheckResult, *, store: KeyValue | None = None,
                force: bool = False) -> bool:
    """Create or update the check keyed by (name, head_sha) when what the forge shows changed. True when it wrote.

    With a store, what we wrote is remembered per (repo, head sha, name), so a re-evaluation needs no GET of
    the checks. No record means we never wrote there: create directly. A record marked pending means a job
    died between its write and the record: only then ask the forge (find_check), so a retry never writes a
    second check. (A store that lost its records costs one extra check with the same name and head sha, which
    the forge shows in place of the first, as every update does. Records expire CHECK_RECORD_TTL after their
    last write.) Without a store, ask the forge every time."""
    digest = forge.check_digest(result)
    kind = getattr(forge, "kind", "github")
    if force and not getattr(forge, "summary_note", False):
        return _fresh(forge, repo, result, store=store, digest=digest, kind=kind)
    if store is None:
        return _write(forge, repo, result, forge.find_check(repo, head_sha=result.head_sha, name=result.name), digest)
    key = check_key(repo, head_sha=result.head_sha, name=result.name, forge=kind)
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


def _fresh(forge: Forge, repo: str, result: CheckResult, *, store: KeyValue | None, digest: str, kind: str) -> bool:
    """A forced write: always a new check, in place of the one we wrote before when we know it (the store's record;
    a record left pending by a job that died asks the forge), so an older run still in progress is concluded by
    the forge's rule (Forge.replace_check) instead of holding the check suite. Without a store: a new check."""
    if store is None:
        forge.create_check(repo, result)
        return True
    key = check_key(repo, head_sha=result.head_sha, name=result.name, forge=kind)
    record = store.get_json(key)
    previous = record.get("id") if record and not record.get("pending") else None
    if record and record.get("pending"):
        found = forge.find_check(repo, head_sha=result.head_sha, name=result.name)
        previous = found.id if found is not None else None
    # pending as in write_check: a job that dies after the create leaves the next evaluation to find_check
    store.set_json(key, {**(record or {"id": None, "digest": None}), "pending": True}, ttl=CHECK_RECORD_TTL)
    check_id = forge.create_check(repo, result) if previous is None else forge.replace_check(repo, previous, result)
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


# --- the per-pull-request results record, and the one summary note rendered from it

def result_json(result: CheckResult) -> dict[str, Any]:
    data = asdict(result)
    data["conclusion"] = result.conclusion.value
    data["annotations"] = [{**asdict(a), "level": a.level.value} for a in result.annotations]
    return data


def record_result(ctx: Context, pull: PullRequest, result: CheckResult, *, force: bool = False) -> None:
    """Keep `result` in the pull request's results record (the details page and the note read it) and, on a
    forge whose checks carry no summary (Forge.summary_note), mark the note to be brought up to date by
    flush_notes at the end of the delivery: one note write per event, not one per check."""
    key = results_key(ctx.forge.kind, pull.repo, pull.number)
    record = ctx.results.get(key)
    if record is None:
        record = (ctx.store.get_json(key) if ctx.store is not None else None) or {}
    checks = dict(record.get("checks") or {})
    entry = {**result_json(result), "head_sha": result.head_sha}
    previous = checks.get(result.name)
    unchanged = previous is not None and {k: v for k, v in previous.items() if k != "evaluated_at"} == entry
    if not unchanged:
        entry["evaluated_at"] = ctx.now.isoformat()
        checks[result.name] = entry
    updated = {**record, "forge": ctx.forge.kind, "repo": pull.repo, "number": pull.number, "title": pull.title,
               "html_url": pull.html_url, "head_sha": pull.head_sha, "checks": checks}
    ctx.results[key] = updated
    if updated != record and ctx.store is not None:
        ctx.store.set_json(key, updated, ttl=RESULTS_TTL)
    if getattr(ctx.forge, "summary_note", False):
        ctx.notes_due[key] = (pull, force)


def flush_notes(ctx: Context) -> int:
    """Bring each touched pull request's summary note in line with its results record; returns notes written.
    The rendered body's digest is kept in the record, so an unchanged summary costs no request at all."""
    written = 0
    for key, (pull, force) in list(ctx.notes_due.items()):
        record = ctx.results.get(key) or {}
        body = render_note(ctx.forge, record)
        digest = _digest(body)
        ctx.notes_due.pop(key, None)
        if record.get("note_digest") == digest and not force:
            continue
        ctx.forge.ensure_note(pull.repo, pull.number, topic=SUMMARY_TOPIC, body=body)
        written += 1
        record = {**record, "note_digest": digest}
        ctx.results[key] = record
        if ctx.store is not None:
            ctx.store.set_json(key, record, ttl=RESULTS_TTL)
    return written


_ICONS = {"success": "✅", "pending": "⏳", "failure": "❌", "action_required": "❌", "neutral": "➖", "skipped": "➖"}


def render_note(forge: Forge, record: dict[str, Any]) -> str:
    """The summary a check run would carry, for every check of the pull request's current head, in one note:
    per check its state and title, the summary (team / required / approved by / still missing ...), the text,
    and each annotation as a file#line link at the commit it was found on."""
    head = record.get("head_sha")
    checks = [c for _, c in sorted((record.get("checks") or {}).items()) if head is None or c.get("head_sha") == head]
    lines = ["## release-coordinator", ""]
    if head:
        lines += [f"Evaluated on {head[:8]}. Each check is also a commit status of the same name.", ""]
    for check in checks:
        icon = _ICONS.get(check.get("conclusion"), "❔")
        lines += [f"### {icon} `{check['name']}`: {check.get('title', '')}", ""]
        if check.get("summary"):
            lines += [check["summary"], ""]
        if check.get("text"):
            lines += [check["text"], ""]
        for a in check.get("annotations") or ():
            where = f"{a['path']}#L{a['start_line']}"
            url = forge.links.file(record.get("repo", ""), check.get("head_sha") or "HEAD", a["path"], a["start_line"])
            lines.append(f"- [{where}]({url}) ({a['level']}): {a['message']}")
        if check.get("annotations"):
            lines.append("")
        if check.get("details_url"):
            lines += [f"[Details]({check['details_url']})", ""]
    if not checks:
        lines.append("No checks for this head yet.")
    return "\n".join(lines).rstrip() + "\n"


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:32]
