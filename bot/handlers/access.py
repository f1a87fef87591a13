"""The access audit (SPEC §3 `access:`, §4 `release-coordinator/access`): fetch each managed repository's settings,
judge them in bot.core.access, publish one check and one kept-in-place issue on the release repo; daily too."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Callable, Iterable

import yaml

from bot import logs
from bot.core import codeowners, yamlsafe
from bot.core.access import (
    Change, RepoAudit, Report, Target, evaluate, from_json, not_visible, owning_teams, plan, target_for, to_json,
    with_config_problems,
)
from bot.core.access_render import ISSUE_TITLE, issue_step, render_check, render_issue
from bot.core.config import MAX_CONFIG_BYTES, Config, ConfigResult, ConfigSource, load_config
from bot.forge.access import access_for
from bot.forge.errors import ForgeError, NotFound, PermissionDenied, TransientError
from bot.forge.base import FileRef
from bot.handlers import Context, KeyValue
from bot.handlers.configs import builtin_defaults
from bot.handlers.publish import publish_commit_check
from bot.routing import Router
from bot.webhooks.event import Event

log = logging.getLogger("bot.handlers.access")
router = Router()

DAILY = dt.timedelta(hours=24)
INSTALLATIONS_KEY = "access:installations"  # {"forge:account": last full audit, ISO} for the daily run
INDEX_KEY = "access:index"  # {"forge:release repo": {"status", "audited_at", "repos": {repo: {severity: n}}}}
CONFIG_BATCH = 40  # repositories per get_files (one GraphQL query on GitHub): bounded query size


def access_signature(*, key, forge: str, repo: str) -> str:
    """The /access page shows who can write where: it opens from the signed link the check carries, like the
    details pages (bot.links), over its own subject so a pull request's link opens no access report."""
    secret = key.reveal() if hasattr(key, "reveal") else str(key)
    return hmac.new(secret.encode(), f"access:{forge}:{repo}".encode(), hashlib.sha256).hexdigest()[:32]


def access_url(public_url: str, *, key, forge: str, repo: str) -> str | None:
    if not public_url:
        return None
    url = f"{public_url.rstrip('/')}/access/{forge}/{repo}"
    return url + (f"?sig={access_signature(key=key, forge=forge, repo=repo)}" if key is not None else "")


def report_key(forge: str, repo: str) -> str:
    return f"access:report:{forge}:{repo}"


def issue_key(forge: str, repo: str) -> str:
    return f"access:issue:{forge}:{repo}"


# GitHub sends these where the settings the audit reads change; installation ones to every App.
# https://docs.github.com/en/webhooks/webhook-events-and-payloads
@router.register("installation", "created", "new_permissions_accepted", "unsuspend")
@router.register("installation_repositories", "added", "removed")
@router.register("branch_protection_rule")
@router.register("repository_ruleset")
@router.register("member")
@router.register("team_add")
@router.register("team", "added_to_repository", "removed_from_repository", "edited", "deleted")
def on_settings_changed(event: Event, ctx: Context) -> None:
    audit_and_publish(ctx, account=event.account)


@router.register("push")
def on_push(event: Event, ctx: Context) -> None:
    """The check sits on the release repo's default branch head: when the head moves, the last report is posted
    on the new head at once (no new audit: pushes change no settings)."""
    if ctx.store is None or not event.head_sha or not event.base_ref or event.base_ref != event.default_branch:
        return
    kind = getattr(ctx.forge, "kind", "github")
    saved = ctx.store.get_json(report_key(kind, event.repo))
    if not saved:
        return
    result = render_check(from_json(saved), head_sha=event.head_sha,
                          details_url=access_url(ctx.public_url, key=ctx.details_link_key, forge=kind, repo=event.repo))
    publish_commit_check(ctx, event.repo, result)


def periodic(contexts: Callable[[int | None], Context], store: KeyValue, now: dt.datetime, *,
             forge: str = "github") -> int:
    """Every installation audited in the last run that is due again (24 h): settings also change without an
    event GitHub sends to apps (an org's base permission, a person's org role). Returns how many ran."""
    seen = store.get_json(INSTALLATIONS_KEY) or {}
    if forge == "gitlab":
        # GitLab sends no hook when protection, approval rules or members change, and has no installation event:
        # its one token is audited daily from the first tick on.
        seen.setdefault("gitlab:None", dt.datetime.min.replace(tzinfo=dt.timezone.utc).isoformat())
    ran = 0
    for key, last in sorted(seen.items()):
        kind, _, account = key.partition(":")
        if kind != forge or now - dt.datetime.fromisoformat(last) < DAILY:
            continue
        ctx = contexts(None if account in ("", "None") else int(account))
        try:
            audit_and_publish(ctx, account=None if account in ("", "None") else int(account))
        except ForgeError as exc:  # one installation's outage must not stop the others' daily audit
            logs.event(log, "daily access audit failed", level=logging.WARNING, account=account, error=str(exc))
        ran += 1
    return ran


@dataclass(frozen=True)
class Audited:
    """One release repo's audit: the report, the planned changes (enforce: those it made), where to publish."""

    report: Report
    default_branch: str
    planned: tuple[Change, ...] = ()


def audit_and_publish(ctx: Context, *, account: int | None) -> list[Audited]:
    """Fetch -> decide -> publish for every release repo the installation manages."""
    audited = audit(ctx.forge, enforce=True)
    for item in audited:
        publish(ctx, item)
    if ctx.store is not None:
        seen = ctx.store.get_json(INSTALLATIONS_KEY) or {}
        ctx.store.set_json(INSTALLATIONS_KEY, {**seen, f"{getattr(ctx.forge, 'kind', 'github')}:{account}": ctx.now.isoformat()})
    return audited


def audit(forge, *, enforce: bool, org: str | None = None) -> list[Audited]:
    """Every release repo the app can see (optionally only `org`'s), each with its managed repositories judged.
    enforce: apply the planned changes where the policy says `enforce: true` (the CLI plans only)."""
    role = access_for(forge)
    listing = dict(role.installation_repos())
    if org is not None:
        listing = {repo: branch for repo, branch in listing.items() if repo.split("/", 1)[0].lower() == org.lower()}
    texts = _rule_texts(forge, listing)
    results = []
    for release_repo in sorted(listing):
        loaded = _config(forge, release_repo, texts)
        if not (loaded.ok and loaded.config.managed and loaded.config.release is not None):
            continue
        results.append(_audit_release_repo(forge, role, release_repo, loaded.config, listing, texts, enforce=enforce))
    return results


def _audit_release_repo(forge, role, release_repo: str, config: Config, listing: dict[str, str],
                        texts: dict, *, enforce: bool) -> Audited:
    roles: dict[str, list[str]] = {release_repo: ["release"]}
    for component in config.components.values():
        roles.setdefault(component.repo, []).append(component.kind.value)
    release_layer = _access_layer(release_repo, texts.get((release_repo, "config")))
    audits: list[RepoAudit] = []
    planned: list[Change] = []
    applied: list[str] = []
    failed: list[str] = []
    for repo, its_roles in roles.items():
        branch = listing.get(repo) or _visible_branch(role, repo)
        if branch is None:
            audits.append(not_visible(repo, detail="the app is not installed on it, or it does not exist"))
            continue
        if (repo, "config") not in texts:
            texts.update(_rule_texts(forge, {repo: branch}))
        target, problems = _target(forge, repo, its_roles, texts, release_layer if repo != release_repo else None)
        try:
            state = role.read_repo(repo, branch=branch)
        except NotFound as exc:  # gone (or hidden) since the listing
            audits.append(not_visible(repo, detail=str(exc)))
            continue
        changes = plan(target, state)
        if enforce and target.enforce and changes:
            done, errors = _apply(role, changes)
            applied += done
            failed += errors
            if done:
                state = role.read_repo(repo, branch=branch)  # judge what is there now
        planned += changes
        audits.append(with_config_problems(evaluate(target, state), problems))
    report = Report(release_repo, tuple(audits), tuple(applied), tuple(failed))
    return Audited(report, listing[release_repo], tuple(planned))


def _apply(role, changes: Iterable[Change]) -> tuple[list[str], list[str]]:
    done, errors = [], []
    for change in changes:
        try:
            role.apply(change.method, change.path, change.body)
        except PermissionDenied as exc:
            errors.append(f"`{change.repo}`: {change.summary}: the App needs Repository permissions > "
                          f"Administration: write ({exc})")
            logs.event(log, "access enforce refused", level=logging.WARNING, repo=change.repo, change=change.describe())
            continue
        done.append(f"`{change.repo}`: {change.summary} (`{change.method} {change.path}`)")
        logs.event(log, "access enforce applied", repo=change.repo, change=change.describe())
    return done, errors


def _visible_branch(role, repo: str) -> str | None:
    try:
        return role.default_branch(repo)
    except PermissionDenied:
        return None


def _target(forge, repo: str, roles: list[str], texts: dict,
            release_layer: ConfigSource | None) -> tuple[Target, tuple]:
    loaded = _config(forge, repo, texts, extra=release_layer)
    config = loaded.config
    co = texts.get((repo, "codeowners"))
    teams = None
    if co is not None:
        parsed = codeowners.parse(co[1], platform=getattr(getattr(forge, "layout", None), "codeowners_dialect", "github"))
        teams = owning_teams(owner for rule in parsed.rules for owner in rule.owners)
    return target_for(repo, roles=roles, policy=config.access, owning_teams=teams,
                      codeowners_path=co[0] if co else None,
                      invalidate_on_push=config.approvals.invalidate_on_push.value, windows=config.windows is not None,
                      allow_author=config.approvals.allow_author), loaded.problems


def _layout(forge):
    from bot.forge.layout import github_layout

    return getattr(forge, "layout", None) or github_layout()


def _rule_texts(forge, listing: dict[str, str]) -> dict:
    """Config and CODEOWNERS of each repository on its default branch, and each owner's org config, in batches
    of get_files (one GraphQL query per CONFIG_BATCH repositories on GitHub)."""
    layout = _layout(forge)
    found: dict = {}
    repos = sorted(listing)
    for start in range(0, len(repos), CONFIG_BATCH):
        batch = repos[start:start + CONFIG_BATCH]
        wanted: list[FileRef] = []
        orgs = sorted({_org_repo(layout, repo) for repo in batch} - {None})
        for org_repo in orgs:
            wanted.append(FileRef(org_repo, layout.config_path, None))
        for repo in batch:
            wanted.append(FileRef(repo, layout.config_path, None))
            wanted += [FileRef(repo, path, None) for path in layout.codeowners_paths]
        files = iter(forge.get_files(tuple(wanted)))
        for org_repo in orgs:
            file = next(files)
            found[(org_repo, "org-config")] = file.content if file else None
        for repo in batch:
            file = next(files)
            found[(repo, "config")] = file.content if file else None
            owners = [next(files) for _ in layout.codeowners_paths]
            first = next(((path, f.content) for path, f in zip(layout.codeowners_paths, owners) if f is not None), None)
            found[(repo, "codeowners")] = first
    return found


def _org_repo(layout, repo: str) -> str | None:
    org_project = getattr(layout, "org_config_project", None)
    if org_project:
        return org_project
    per_owner = getattr(layout, "org_config_per_owner", ".github")
    return f"{repo.split('/', 1)[0]}/{per_owner}" if per_owner else None


def _config(forge, repo: str, texts: dict, *, extra: ConfigSource | None = None) -> ConfigResult:
    """defaults < org < (for a component: the release repo's `access:`) < the repository's own file."""
    layout = _layout(forge)
    org_repo = _org_repo(layout, repo)
    layers = [builtin_defaults(),
              ConfigSource(f"{org_repo}:{layout.config_path}", texts.get((org_repo, "org-config")) if org_repo != repo else None)]
    if extra is not None:
        layers.append(extra)
    layers.append(ConfigSource(layout.config_path, texts.get((repo, "config"))))
    return load_config(layers, repo=repo)


def _access_layer(release_repo: str, text: bytes | None) -> ConfigSource | None:
    """The release repo's `access:` as a layer of its own: its policy governs the components it lists, and each
    component's own file may still override it."""
    if not text:
        return None
    try:
        data = yamlsafe.load(text, max_bytes=MAX_CONFIG_BYTES).data
    except yamlsafe.YamlError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("access"), dict):
        return None
    return ConfigSource(f"{release_repo}:access", yaml.safe_dump({"access": data["access"]}).encode())


# --- publish: the check on the release repo's default branch head, the issue, the page's record, the gauge

def publish(ctx: Context, item: Audited) -> None:
    report = item.report
    forge, repo = ctx.forge, report.release_repo
    kind = getattr(forge, "kind", "github")
    head = forge.get_branch_sha(repo, item.default_branch)
    result = render_check(report, head_sha=head, details_url=access_url(ctx.public_url, key=ctx.details_link_key,
                                                                        forge=kind, repo=repo))
    publish_commit_check(ctx, repo, result)
    try:
        _ensure_issue(ctx, report, kind=kind)
    except TransientError:
        raise  # the queue retries the delivery; the check, written already, is not written twice
    except ForgeError as exc:  # issues disabled (410) or not allowed: the check and the page still carry the report
        logs.event(log, "access issue not written", level=logging.WARNING, repo=repo, error=str(exc))
    if ctx.store is not None:
        ctx.store.set_json(report_key(kind, repo), to_json(report, audited_at=ctx.now.isoformat()))
        index = ctx.store.get_json(INDEX_KEY) or {}
        index[f"{kind}:{repo}"] = {"status": report.status, "audited_at": ctx.now.isoformat(), "repos": {
            audit.repo: {s: sum(1 for f in audit.findings if f.severity.value == s)
                         for s in ("drift", "unverified", "notice")} for audit in report.repos}}
        ctx.store.set_json(INDEX_KEY, index)
    logs.event(log, "access audit", repo=repo, status=report.status, repos=len(report.repos),
               applied=len(report.applied))


def _ensure_issue(ctx: Context, report: Report, *, kind: str) -> None:
    role = access_for(ctx.forge)
    repo = report.release_repo
    remembered = (ctx.store.get_json(issue_key(kind, repo)) or {}).get("number") if ctx.store is not None else None
    existing = role.find_issue(repo, title=ISSUE_TITLE, number=remembered)
    step = issue_step(existing, report)
    number = existing.number if existing is not None else None
    if step == "create":
        number = role.create_issue(repo, title=ISSUE_TITLE, body=render_issue(report)).number
    elif step == "reopen":
        role.edit_issue(repo, existing.number, body=render_issue(report), state="open")
    elif step == "edit":
        role.edit_issue(repo, existing.number, body=render_issue(report))
    elif step == "close":
        role.edit_issue(repo, existing.number, body=render_issue(report), state="closed")
    if ctx.store is not None and number is not None and number != remembered:
        ctx.store.set_json(issue_key(kind, repo), {"number": number})
    if step != "none":
        logs.event(log, "access issue", repo=repo, step=step, number=number)
