"""Access control as code (SPEC §3 `access:`, §4 `release-coordinator/access`): a repository's effective settings
as plain values, judged against the policy. Findings are values that carry their reasons: what is expected, what
is there, and how to fix it (the settings page and the exact API call). Pure: the adapters read, this decides.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from bot.core.access_policy import OWNING_TEAMS, AccessPolicy, AccessRule

ACCESS = "release-coordinator/access"
APPROVALS_CHECK, MANIFEST_CHECK, WINDOW_CHECK = (
    "release-coordinator/approvals", "release-coordinator/manifest", "release-coordinator/window")
RULESET_NAME = "release-coordinator"  # the ruleset enforce creates and keeps
# https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user (role_name)
LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
WRITE = LEVELS.index("write")


def rank(permission: str) -> int:
    """How much a permission allows; a custom role GitHub reports by its base role, unknown names as read."""
    return LEVELS.index(permission) if permission in LEVELS else 1


class Severity(enum.Enum):
    DRIFT = "drift"  # a setting differs from the policy: someone must change it
    UNVERIFIED = "unverified"  # the app could not read it: a permission to grant; never reported as clean
    NOTICE = "notice"  # worth knowing; nothing has to change


# --- the effective state, as the adapters read it ---------------------------------------------------------------

@dataclass(frozen=True)
class Reviews:
    """Required pull request reviews (branch protection's required_pull_request_reviews, a ruleset's pull_request)."""

    approvals: int = 0
    code_owner_review: bool = False
    dismiss_stale: bool = False
    author_can_approve: bool = False  # GitLab's "Prevent approval by author" off; GitHub never counts the author


@dataclass(frozen=True)
class Protection:
    """One source of rules that applies to the default branch: classic branch protection or one ruleset.

    bypass: who can get past these rules, in the policy's spelling ("role:admin", "org-admins", "@org/team",
    "app:ID", "deploy-keys", "@login" for a person); None when the forge did not show it (GitHub shows a
    ruleset's bypass actors only to those who may edit the ruleset)."""

    kind: str  # "branch protection" | "ruleset"
    name: str = ""  # the ruleset's name
    ruleset_id: int | None = None
    level: str = "repository"  # "repository" | "organization" | "enterprise"
    reviews: Reviews | None = None
    checks: frozenset[str] = frozenset()  # "*": every status must pass (GitLab's "Pipelines must succeed")
    blocks_force_push: bool = False
    blocks_deletion: bool = False
    bypass: frozenset[str] | None = frozenset()
    # What enforce must keep when it rewrites this source (never lowers): branch protection as the body of
    # PUT .../protection that reproduces it; a ruleset's rules as GitHub lists them. JSON text, so it stays a value.
    settings_json: str = ""

    @property
    def label(self) -> str:
        if self.kind == "ruleset":
            return f"{self.level} ruleset '{self.name}'"
        return "branch protection"

    @property
    def settings(self) -> Any:
        return json.loads(self.settings_json) if self.settings_json else None


@dataclass(frozen=True)
class Grant:
    """Write-relevant access: a team ("@org/slug") or a person (login), with GitHub's role name."""

    who: str
    permission: str  # admin | maintain | write | triage | read (a custom role: its base role)
    via: str  # "team" | "direct" | "outside collaborator"


@dataclass(frozen=True)
class Unreadable:
    """Something the app could not read: which permission the App needs, and what the forge said."""

    what: str  # "branch protection", "rulesets", "teams", "collaborators", "outside collaborators", "repository"
    permission: str  # e.g. 'Repository permissions > Administration: read'
    detail: str = ""


@dataclass(frozen=True)
class RepoState:
    repo: str
    default_branch: str
    protections: tuple[Protection, ...] = ()
    teams: tuple[Grant, ...] = ()
    people: tuple[Grant, ...] = ()  # direct collaborators; outside collaborators among them say so in `via`
    base_permission: str | None = None  # the org's base permission for members; None when not visible
    unreadable: tuple[Unreadable, ...] = ()
    settings_url: str = ""  # the repository's web URL, for "how to fix" links
    api: str = ""  # the API path prefix of the repository, e.g. /repos/acme/infra
    # How to fix a finding on this forge, by finding code, when it differs from GitHub's (the adapter knows):
    # ((code, settings page, API call), ...); "{who}" in them stands for the team or person concerned.
    fix_hints: tuple[tuple[str, str, str], ...] = ()
    can_enforce: bool = True  # capability: enforce's writes exist for this forge (GitHub); else plan nothing

    def cannot_read(self, what: str) -> bool:
        return any(u.what == what for u in self.unreadable)


# --- what a repository must have -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """The policy for one repository, resolved: which teams, how many approvals, which checks."""

    repo: str
    roles: tuple[str, ...]  # "release", "infrastructure", "application" (a release repo may also be a component)
    writers: frozenset[str]  # teams, lower-case
    writers_from: str  # how the writers were found, for the report
    min_approvals: int
    code_owner_review: bool
    checks: frozenset[str]
    our_staleness: bool  # the approvals check is required and discards stale approvals itself
    bypass: frozenset[str]
    allow_author: bool = False  # approvals.allow_author: the author's own approval may count
    enforce: bool = False
    enforce_permissions: bool = False


def target_for(repo: str, *, roles: Iterable[str], policy: AccessPolicy, owning_teams: frozenset[str] | None,
               codeowners_path: str | None, invalidate_on_push: str, windows: bool, allow_author: bool = False) -> Target:
    """Resolve the policy for `repo`. owning_teams: the teams its CODEOWNERS names (None: no CODEOWNERS).
    A release repo that is also a component meets both rules: its component kind's writers, the higher number."""
    roles = tuple(dict.fromkeys(roles))
    rules: list[AccessRule] = [getattr(policy, role) for role in roles]
    writer_rule = next((getattr(policy, r) for r in roles if r != "release"), rules[0])
    writers: set[str] = set()
    sources = []
    for item in writer_rule.writers:
        if item == OWNING_TEAMS:
            writers |= owning_teams or set()
            sources.append(f"the teams {codeowners_path} names" if codeowners_path else "CODEOWNERS (none found)")
        else:
            writers.add(item.lower())
            sources.append(item)
    checks: set[str] = set()
    if policy.require_checks:
        checks.add(APPROVALS_CHECK)
        if "release" in roles:
            checks.add(MANIFEST_CHECK)
            if windows:  # the window check is posted only when windows are configured: requiring it otherwise blocks every merge
                checks.add(WINDOW_CHECK)
    return Target(
        repo=repo, roles=roles, writers=frozenset(writers), writers_from=", ".join(sources),
        min_approvals=max(rule.min_approvals for rule in rules),
        code_owner_review=any(rule.code_owner_review for rule in rules),
        checks=frozenset(checks), our_staleness=APPROVALS_CHECK in checks and invalidate_on_push != "never",
        bypass=frozenset(b.lower() for b in policy.bypass), allow_author=allow_author, enforce=policy.enforce,
        enforce_permissions=policy.enforce and policy.enforce_permissions,
    )


def owning_teams(owners: Iterable[str]) -> frozenset[str]:
    """The teams among CODEOWNERS owners (GitHub "@org/team", GitLab "@group/sub"), lower-case."""
    return frozenset(o.lower() for o in owners if o.startswith("@") and "/" in o)


# --- findings ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fix:
    where: str  # the settings page, as a person finds it
    api: str = ""  # the exact call, e.g. 'PUT /repos/acme/infra/branches/main/protection'
    body: str = ""  # its JSON body, when it has one


@dataclass(frozen=True)
class Finding:
    repo: str
    code: str  # stable: unprotected, approvals, code-owner-review, required-check, stale-reviews, force-push,
    # deletion, bypass, writer-team, writer-person, outside-collaborator, base-permission, unreadable, not-visible,
    # writers-missing, no-writers, bypass-hidden
    severity: Severity
    expected: str
    actual: str
    fix: Fix

    @property
    def title(self) -> str:
        return _TITLES.get(self.code, self.code)


_TITLES = {
    "unprotected": "Default branch is not protected", "approvals": "Too few required approvals",
    "code-owner-review": "Code-owner review not required", "required-check": "Check not required",
    "stale-reviews": "Stale approvals keep counting", "force-push": "Force pushes allowed",
    "deletion": "Branch deletion allowed", "bypass": "Protection can be bypassed",
    "writer-team": "Team with write access not in the policy", "writer-person": "Person with direct write access",
    "outside-collaborator": "Outside collaborator", "base-permission": "Every org member can write",
    "unreadable": "Could not read the settings", "not-visible": "Repository not visible to the app",
    "writers-missing": "Listed writer team cannot write", "no-writers": "No writer team resolved",
    "bypass-hidden": "Bypass list not visible", "author-approval": "Authors may approve their own changes",
    "config-invalid": "Repository config invalid",
}


@dataclass(frozen=True)
class RepoAudit:
    repo: str
    findings: tuple[Finding, ...]
    target: Target | None = None
    protections: tuple[str, ...] = ()  # labels of what protects the default branch, for the report

    @property
    def drift(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.DRIFT)

    @property
    def unverified(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.UNVERIFIED)


def with_config_problems(audit: RepoAudit, problems: Iterable[Any]) -> RepoAudit:
    """A repository whose own config is invalid was judged without it (by the release repo's and org's policy)."""
    problems = [str(p) for p in problems]
    if not problems:
        return audit
    notice = Finding(audit.repo, "config-invalid", Severity.NOTICE, "a valid release-coordinator config",
                     f"{len(problems)} problem(s), so its own access: overrides were not applied: {'; '.join(problems[:3])}",
                     Fix("fix the config (its checks show each error with its line)"))
    return replace(audit, findings=audit.findings + (notice,))


def not_visible(repo: str, *, detail: str, install_url: str = "") -> RepoAudit:
    """A managed repository the app cannot see: not installed there, or gone."""
    return RepoAudit(repo, (Finding(repo, "not-visible", Severity.UNVERIFIED, "the app can read the repository",
                                    detail, Fix(f"install the App on {repo}" + (f" ({install_url})" if install_url else ""))),))


def evaluate(target: Target, state: RepoState) -> RepoAudit:
    """Judge one repository's effective settings against its policy."""
    findings: list[Finding] = []
    findings += _unreadable(state)
    findings += _protection(target, state)
    findings += _writers(target, state)
    return RepoAudit(target.repo, tuple(findings), target, tuple(p.label for p in state.protections))


def _unreadable(state: RepoState) -> list[Finding]:
    by_permission: dict[str, list[Unreadable]] = {}
    for item in state.unreadable:
        by_permission.setdefault(item.permission, []).append(item)
    return [
        Finding(state.repo, "unreadable", Severity.UNVERIFIED, f"the app can read {', '.join(u.what for u in items)}",
                "; ".join(f"{u.what}: {u.detail}" if u.detail else u.what for u in items),
                Fix(f"grant the App {permission} (GitHub: the App's settings page > Permissions & events; then an "
                    f"org owner accepts the new permission on the installation)"))
        for permission, items in by_permission.items()
    ]


def _protection(target: Target, state: RepoState) -> list[Finding]:
    repo, branch = state.repo, state.default_branch
    known = not state.cannot_read("branch protection")  # rulesets are readable with metadata alone; classic is not
    sources = state.protections
    page = f"{state.settings_url}/settings/branches" if state.settings_url else "Settings > Branches / Rules"
    fix_call = _fix_call(state)

    def fix(what: str, code: str = "") -> Fix:
        return _hint(state, code) or Fix(f"{page}: {what}", *fix_call)

    def drift(code: str, expected: str, actual: str, what: str) -> Finding:
        return Finding(repo, code, Severity.DRIFT, expected, actual, fix(what, code))

    if not sources:
        if not known:
            return []  # the unreadable finding says why; rulesets alone are no answer either way
        return [drift("unprotected", f"branch protection or a ruleset on {branch}", f"nothing protects {branch}",
                      f"protect {branch} (require pull requests, {target.min_approvals} approval(s), the checks)")]
    findings: list[Finding] = []
    bypassed: list[tuple[str, list[Protection]]] = []  # requirements met only where someone may bypass
    allowed = target.bypass

    def met(test) -> tuple[list[Protection], list[Protection]]:
        """(sources meeting the requirement that only allowed actors can bypass, all sources meeting it)"""
        meeting = [p for p in sources if test(p)]
        return [p for p in meeting if p.bypass is not None and p.bypass <= allowed], meeting

    def requirement(code: str, test, expected: str, actual: str, what: str) -> None:
        firm, meeting = met(test)
        if firm:
            return
        if meeting:
            hidden = [p for p in meeting if p.bypass is None]
            if hidden and len(hidden) == len(meeting):
                return  # bypass list not visible: the bypass-hidden notice says so once
            bypassed.append((code, meeting))
        elif known:
            findings.append(drift(code, expected, actual, what))

    reviews = [p.reviews for p in sources if p.reviews is not None]
    most = max((r.approvals for r in reviews), default=0)
    if target.min_approvals:
        requirement("approvals", lambda p: p.reviews is not None and p.reviews.approvals >= target.min_approvals,
                    f"at least {target.min_approvals} approving review(s) required",
                    f"{most} required" if reviews else "pull requests not required",
                    f"require a pull request with {target.min_approvals} approval(s)")
    if target.code_owner_review:
        requirement("code-owner-review", lambda p: p.reviews is not None and p.reviews.code_owner_review,
                    "review from code owners required", "not required", "require review from code owners")
    for check in sorted(target.checks):
        requirement("required-check", lambda p, c=check: c in p.checks or "*" in p.checks, f"{check} is a required status check",
                    f"required: {', '.join(sorted(set().union(*(p.checks for p in sources)))) or 'none'}",
                    f"add {check} to the required status checks")
    if not target.our_staleness:
        requirement("stale-reviews", lambda p: p.reviews is not None and p.reviews.dismiss_stale,
                    "stale approvals dismissed on push (or the approvals check required with invalidate_on_push)",
                    "approvals given before a push keep counting", "dismiss stale pull request approvals")
    if not target.allow_author and any(r.author_can_approve for r in reviews):
        findings.append(drift("author-approval", "the author's own approval does not count",
                              "authors may approve their own merge requests", "prevent approval by author"))
    requirement("force-push", lambda p: p.blocks_force_push, "force pushes blocked", "allowed", "block force pushes")
    requirement("deletion", lambda p: p.blocks_deletion, "deletion blocked", "allowed", "block deletions")
    if bypassed:
        who = sorted({b for _, meeting in bypassed for p in meeting if p.bypass for b in p.bypass - allowed})
        labels = sorted({p.label for _, meeting in bypassed for p in meeting})
        findings.append(drift("bypass", f"no bypass beyond {_names(allowed) or 'nobody (administrators included)'}",
                              f"{', '.join(who)} can bypass {', '.join(labels)}, which alone requires "
                              f"{', '.join(dict.fromkeys(code for code, _ in bypassed))}",
                              "do not allow bypassing the settings (include administrators) / remove extra bypass actors"))
    hidden = [p.label for p in sources if p.bypass is None]
    if hidden:
        findings.append(Finding(repo, "bypass-hidden", Severity.NOTICE, "who may bypass each ruleset is known",
                                f"GitHub does not show the bypass list of {', '.join(hidden)} to the app",
                                Fix(f"{page}: check each ruleset's bypass list by hand")))
    return findings


def _hint(state: RepoState, code: str, who: str = "") -> Fix | None:
    for hint_code, where, api in state.fix_hints:
        if hint_code == code:
            return Fix(where.replace("{who}", who), api.replace("{who}", who))
    return None


def _fix_call(state: RepoState) -> tuple[str, str]:
    """The call enforce would make (plan() spells out the body)."""
    classic = next((p for p in state.protections if p.kind == "branch protection"), None)
    ours = next((p for p in state.protections if p.kind == "ruleset" and p.name == RULESET_NAME and p.level == "repository"), None)
    if classic is not None or (not state.protections and state.cannot_read("rulesets")):
        return f"PUT {state.api}/branches/{state.default_branch}/protection", ""
    if ours is not None:
        return f"PUT {state.api}/rulesets/{ours.ruleset_id}", ""
    return f"POST {state.api}/rulesets (a ruleset named {RULESET_NAME!r} on ~DEFAULT_BRANCH)", ""


def _writers(target: Target, state: RepoState) -> list[Finding]:
    repo = state.repo
    findings: list[Finding] = []
    org = repo.split("/", 1)[0]
    access_page = f"{state.settings_url}/settings/access" if state.settings_url else "Settings > Collaborators and teams"
    if not target.writers:
        findings.append(Finding(repo, "no-writers", Severity.NOTICE, "at least one team may write",
                                f"writers resolve to no team ({target.writers_from})",
                                Fix("name teams in CODEOWNERS or list writers under access: in the config")))
    if not state.cannot_read("teams"):
        granted = {t.who.lower(): t for t in state.teams}
        for team in sorted(granted):
            grant = granted[team]
            if rank(grant.permission) >= WRITE and team not in target.writers:
                slug = team.split("/", 1)[-1]
                findings.append(Finding(
                    repo, "writer-team", Severity.DRIFT,
                    f"only {_names(target.writers) or 'no team'} may write; others at most triage",
                    f"{team} has {grant.permission}",
                    _hint(state, "writer-team", team) or Fix(f"{access_page}: set {team} to Triage or Read",
                        f"PUT /orgs/{org}/teams/{slug}/repos/{repo}", json.dumps({"permission": "triage"}))))
        for team in sorted(target.writers - set(granted)):
            findings.append(Finding(repo, "writers-missing", Severity.NOTICE, f"{team} may write",
                                    f"{team} has no write access", Fix(f"{access_page}: add {team} with Write")))
    if not state.cannot_read("collaborators"):
        for person in sorted(state.people, key=lambda g: g.who.lower()):
            outside = person.via == "outside collaborator"
            if rank(person.permission) >= WRITE:
                findings.append(Finding(
                    repo, "outside-collaborator" if outside else "writer-person", Severity.DRIFT,
                    "write access only through the writer teams",
                    f"{person.who} has {person.permission} as {'an outside' if outside else 'a direct'} collaborator",
                    _hint(state, "writer-person", person.who) or Fix(
                        f"{access_page}: lower {person.who} to Triage (or add them to a writer team and remove the direct grant)",
                        f"PUT {state.api}/collaborators/{person.who}", json.dumps({"permission": "triage"}))))
            elif outside:
                findings.append(Finding(repo, "outside-collaborator", Severity.NOTICE, "outside collaborators are known",
                                        f"{person.who} has {person.permission} as an outside collaborator",
                                        Fix(f"{access_page}: confirm or remove {person.who}")))
    if state.base_permission is not None and rank(state.base_permission) >= WRITE:
        findings.append(Finding(repo, "base-permission", Severity.DRIFT, "org members at most read by default",
                                f"the org's base permission is {state.base_permission}: every member can write",
                                Fix(f"https://github.com/organizations/{org}/settings/member_privileges: Base permissions > Read",
                                    f"PATCH /orgs/{org}", json.dumps({"default_repository_permission": "read"}))))
    return findings


def _names(teams: Iterable[str]) -> str:
    return ", ".join(sorted(teams))


# --- the report over every managed repository --------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    release_repo: str
    repos: tuple[RepoAudit, ...]
    applied: tuple[str, ...] = ()  # what enforce changed in this run, one line each
    failed: tuple[str, ...] = ()  # what enforce tried and could not change

    @property
    def status(self) -> str:
        """clean | drift | unverified (drift wins: it needs a fix; unverified needs a permission)."""
        if any(r.drift for r in self.repos):
            return "drift"
        if any(r.unverified for r in self.repos):
            return "unverified"
        return "clean"

    def count(self, severity: Severity) -> int:
        return sum(1 for r in self.repos for f in r.findings if f.severity is severity)


# --- enforce: the changes that would make the settings meet the policy, never lowering anything ----------------

@dataclass(frozen=True)
class Change:
    repo: str
    summary: str  # one line for the log and the issue
    method: str
    path: str
    body_json: str = ""

    @property
    def body(self) -> Any:
        return json.loads(self.body_json) if self.body_json else None

    def describe(self) -> str:
        return f"{self.method} {self.path} {self.body_json}".rstrip()


def plan(target: Target, state: RepoState) -> tuple[Change, ...]:
    """What enforce would change for `repo`: the missing protection in the source the repository already uses
    (branch protection if it has one, else the `release-coordinator` ruleset), and with enforce_permissions the
    write access of teams and people not listed lowered to triage. Nothing is planned on what cannot be read."""
    changes: list[Change] = []
    if not state.can_enforce:
        return ()
    if not state.cannot_read("branch protection"):
        changes += _protection_change(target, state)
    if target.enforce_permissions:
        for finding in _writers(target, state):
            if finding.severity is Severity.DRIFT and finding.fix.api.startswith("PUT ") and finding.code != "base-permission":
                method, path = finding.fix.api.split(" ", 1)
                changes.append(Change(state.repo, f"lower {finding.actual} to triage", method, path, finding.fix.body))
    return tuple(changes)


def _protection_change(target: Target, state: RepoState) -> list[Change]:
    missing = {f.code for f in _protection(replace(target, bypass=frozenset(target.bypass) | _all_bypass(state)), state)
               if f.severity is Severity.DRIFT}
    if not missing:
        return []
    classic = next((p for p in state.protections if p.kind == "branch protection"), None)
    if classic is not None:
        body = _raised_protection(classic.settings or {}, target)
        return [Change(state.repo, f"raise branch protection on {state.default_branch} ({', '.join(sorted(missing))})",
                       "PUT", f"{state.api}/branches/{state.default_branch}/protection", _dump(body))]
    ours = next((p for p in state.protections if p.kind == "ruleset" and p.name == RULESET_NAME and p.level == "repository"), None)
    rules = _raised_rules(ours.settings or [] if ours else [], target)
    body = {"name": RULESET_NAME, "target": "branch", "enforcement": "active",
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}}, "rules": rules,
            "bypass_actors": _bypass_actors(target.bypass)}
    if ours is not None:
        return [Change(state.repo, f"raise ruleset {RULESET_NAME!r} ({', '.join(sorted(missing))})", "PUT",
                       f"{state.api}/rulesets/{ours.ruleset_id}", _dump(body))]
    return [Change(state.repo, f"create ruleset {RULESET_NAME!r} on the default branch ({', '.join(sorted(missing))})",
                   "POST", f"{state.api}/rulesets", _dump(body))]


def _all_bypass(state: RepoState) -> frozenset[str]:
    # Enforce adds what is missing; it takes no one's bypass away (a ruleset's bypass list is a person's call),
    # except that branch protection's "do not allow bypassing" (enforce_admins) is itself a protection to apply.
    return frozenset(b for p in state.protections if p.bypass for b in p.bypass
                     if not (p.kind == "branch protection" and b == "role:admin"))


def _raised_protection(current: Mapping[str, Any], target: Target) -> dict[str, Any]:
    """The PUT .../protection body: the current settings with each requirement raised to the policy, nothing lowered.
    https://docs.github.com/en/rest/branches/branch-protection#update-branch-protection"""
    body = json.loads(json.dumps(current)) if current else {}
    body.setdefault("required_status_checks", None)
    body.setdefault("enforce_admins", False)
    body.setdefault("restrictions", None)
    reviews = body.get("required_pull_request_reviews") or {}
    reviews["required_approving_review_count"] = max(int(reviews.get("required_approving_review_count") or 0), target.min_approvals)
    reviews["require_code_owner_reviews"] = bool(reviews.get("require_code_owner_reviews")) or target.code_owner_review
    reviews["dismiss_stale_reviews"] = bool(reviews.get("dismiss_stale_reviews")) or not target.our_staleness
    body["required_pull_request_reviews"] = reviews
    if target.checks:
        status = body.get("required_status_checks") or {"strict": False, "checks": []}
        have = {c["context"] for c in status.get("checks") or ()}
        status["checks"] = list(status.get("checks") or ()) + [{"context": c} for c in sorted(target.checks - have)]
        status.pop("contexts", None)  # deprecated twin of checks; sending both is refused
        body["required_status_checks"] = status
    if "role:admin" not in target.bypass:
        body["enforce_admins"] = True
    body["allow_force_pushes"] = False
    body["allow_deletions"] = False
    return body


def _raised_rules(current: Iterable[Mapping[str, Any]], target: Target) -> list[dict[str, Any]]:
    """A ruleset's rules with pull_request, required_status_checks, non_fast_forward and deletion raised to the
    policy; other rules kept as they are. https://docs.github.com/en/rest/repos/rules#update-a-repository-ruleset"""
    rules = {r["type"]: json.loads(json.dumps(r)) for r in current}
    pull = rules.setdefault("pull_request", {"type": "pull_request", "parameters": {}})
    p = pull.setdefault("parameters", {})
    p["required_approving_review_count"] = max(int(p.get("required_approving_review_count") or 0), target.min_approvals)
    p["require_code_owner_review"] = bool(p.get("require_code_owner_review")) or target.code_owner_review
    p["dismiss_stale_reviews_on_push"] = bool(p.get("dismiss_stale_reviews_on_push")) or not target.our_staleness
    p.setdefault("require_last_push_approval", False)
    p.setdefault("required_review_thread_resolution", False)
    if target.checks:
        status = rules.setdefault("required_status_checks", {"type": "required_status_checks", "parameters": {}})
        sp = status.setdefault("parameters", {})
        have = {c["context"] for c in sp.get("required_status_checks") or ()}
        sp["required_status_checks"] = list(sp.get("required_status_checks") or ()) + [
            {"context": c} for c in sorted(target.checks - have)]
        sp.setdefault("strict_required_status_checks_policy", False)
    rules.setdefault("non_fast_forward", {"type": "non_fast_forward"})
    rules.setdefault("deletion", {"type": "deletion"})
    return list(rules.values())


# https://docs.github.com/en/rest/repos/rules#create-a-repository-ruleset (bypass_actors): repository roles are
# RepositoryRole 5 (admin), 2 (maintain), 4 (write); organization owners OrganizationAdmin 1.
ROLE_IDS = {"role:admin": 5, "role:maintain": 2, "role:write": 4}


def _bypass_actors(allowed: Iterable[str]) -> list[dict[str, Any]]:
    actors = []
    for actor in sorted(allowed):
        if actor in ROLE_IDS:
            actors.append({"actor_id": ROLE_IDS[actor], "actor_type": "RepositoryRole", "bypass_mode": "always"})
        elif actor == "org-admins":
            actors.append({"actor_id": 1, "actor_type": "OrganizationAdmin", "bypass_mode": "always"})
        elif actor.startswith("app:"):
            actors.append({"actor_id": int(actor[4:]), "actor_type": "Integration", "bypass_mode": "always"})
        elif actor == "deploy-keys":
            actors.append({"actor_id": None, "actor_type": "DeployKey", "bypass_mode": "always"})
        # teams need their numeric id, which the policy does not carry: add them on the ruleset page
    return actors


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# --- JSON for the store, the page and `audit --json` ------------------------------------------------------------

def to_json(report: Report, *, audited_at: str = "") -> dict[str, Any]:
    return {
        "release_repo": report.release_repo, "status": report.status, "audited_at": audited_at,
        "applied": list(report.applied), "failed": list(report.failed),
        "repos": [{
            "repo": audit.repo, "roles": list(audit.target.roles) if audit.target else [],
            "writers": sorted(audit.target.writers) if audit.target else [],
            "writers_from": audit.target.writers_from if audit.target else "",
            "min_approvals": audit.target.min_approvals if audit.target else None,
            "checks": sorted(audit.target.checks) if audit.target else [],
            "protections": list(audit.protections),
            "findings": [{"code": f.code, "severity": f.severity.value, "title": f.title, "expected": f.expected,
                          "actual": f.actual, "fix": {"where": f.fix.where, "api": f.fix.api, "body": f.fix.body}}
                         for f in audit.findings],
        } for audit in report.repos],
    }


def from_json(data: Mapping[str, Any]) -> Report:
    repos = []
    for item in data.get("repos") or ():
        findings = tuple(Finding(item["repo"], f["code"], Severity(f["severity"]), f["expected"], f["actual"],
                                 Fix(f["fix"]["where"], f["fix"].get("api", ""), f["fix"].get("body", "")))
                         for f in item.get("findings") or ())
        target = None
        if item.get("roles"):  # enough of the policy to render the report as it was (the "Policy:" line)
            target = Target(repo=item["repo"], roles=tuple(item["roles"]), writers=frozenset(item.get("writers") or ()),
                            writers_from=item.get("writers_from") or "", min_approvals=int(item.get("min_approvals") or 0),
                            code_owner_review=False, checks=frozenset(item.get("checks") or ()), our_staleness=False,
                            bypass=frozenset())
        repos.append(RepoAudit(item["repo"], findings, target, protections=tuple(item.get("protections") or ())))
    return Report(data["release_repo"], tuple(repos), tuple(data.get("applied") or ()), tuple(data.get("failed") or ()))
