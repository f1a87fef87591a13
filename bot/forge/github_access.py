"""GitHub's access settings as plain values (bot.core.access): branch protection, the rules and rulesets that apply
to a branch, team and collaborator grants; the drift issue; enforce's writes. A role beside GitHubForge, on the
same GitHubHttp (its ETags, its fresh cache, its request count). Raw JSON stops here.

Requests for one repository (bench/access.py): branch protection, rules for the branch, each ruleset in effect,
teams, direct collaborators; the org's outside collaborators and base permission once per org and run (FRESH_FOR).
Every GET is conditional (If-None-Match), so a warm audit's 304s cost no rate limit.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Iterable
from urllib.parse import quote

from bot.core.access import Grant, Protection, RepoState, Reviews, Unreadable, rank
from bot.core.access_render import ISSUE_MARKER, IssueView
from bot.forge.errors import NotFound, PermissionDenied
from bot.forge.http import GitHubHttp

ADMIN_READ = "Repository permissions > Administration: read"
METADATA_READ = "Repository permissions > Metadata: read"
MEMBERS_READ = "Organization permissions > Members: read"
ADMIN_WRITE = "Repository permissions > Administration: write"
# https://docs.github.com/en/rest/branches/branch-protection: a private repository on GitHub Free answers 403
# "Upgrade to GitHub Pro or make this repository public to enable this feature." — a plan, not a permission.
_PLAN = re.compile(r"upgrade to github pro|make this repository public", re.I)
_NEEDS = re.compile(r"needs permission: ([^)]+)\)")
# https://docs.github.com/en/rest/repos/rules#get-rules-for-a-branch: ruleset_source_type Repository | Organization
_LEVEL = {"repository": "repository", "organization": "organization", "enterprise": "enterprise"}
# RepositoryRole actor ids of the base roles (the ruleset API's bypass_actors; see bot.core.access.ROLE_IDS)
_ROLE_OF_ID = {5: "role:admin", 2: "role:maintain", 4: "role:write"}
ISSUE_PAGES = 3  # the drift issue's number is kept in the store; a lost store searches this many pages of 100


def _q(part: str) -> str:
    return quote(part, safe="")


class GitHubAccess:
    """Reads and writes of the access audit for one installation. `web_url`: https://github.com or the GHES host."""

    def __init__(self, http: GitHubHttp, *, web_url: str = "https://github.com") -> None:
        self.http = http
        self.web_url = web_url.rstrip("/")

    # --- which repositories
    def installation_repos(self) -> tuple[tuple[str, str], ...]:
        """(full name, default branch) of every repository the installation can see, archived ones left out.
        https://docs.github.com/en/rest/apps/installations#list-repositories-accessible-to-the-app-installation"""
        repos = self.http.get_pages("/installation/repositories", parse=lambda d: [
            (r["full_name"], r.get("default_branch") or "main", (r.get("owner") or {}).get("type"))
            for r in d.get("repositories") or () if not r.get("archived")])
        for full_name, _, owner_type in repos:  # spares _is_org a GET /repos per owner
            self.http.immutable.put(("owner-type", full_name.split("/", 1)[0].lower()), owner_type == "Organization")
        return tuple((full_name, branch) for full_name, branch, _ in repos)

    def default_branch(self, repo: str) -> str | None:
        """None when the repository does not exist or the app cannot see it."""
        try:
            return self.http.get(f"/repos/{repo}", parse=lambda d: d.get("default_branch") or "main")
        except NotFound:
            return None

    # --- the effective state
    def read_repo(self, repo: str, *, branch: str) -> RepoState:
        """Everything the audit judges for `repo`'s default branch `branch`. A read the app may not make becomes
        an Unreadable (which permission to grant), never an exception; outages still raise (the queue retries)."""
        unreadable: list[Unreadable] = []
        protections: list[Protection] = []
        classic = self._classic(repo, branch, unreadable)
        if classic is not None:
            protections.append(classic)
        protections += self._rulesets(repo, branch, unreadable)
        team_ids: dict[str, str] = {}
        teams = self._teams(repo, unreadable, team_ids)
        protections = [_named_teams(p, team_ids) for p in protections]
        people = self._people(repo, unreadable)
        org = repo.split("/", 1)[0]
        base = self._org(org).get("default_repository_permission") if self._is_org(repo) else None
        return RepoState(repo=repo, default_branch=branch, protections=tuple(protections), teams=tuple(teams),
                         people=tuple(people), base_permission=base, unreadable=tuple(unreadable),
                         settings_url=f"{self.web_url}/{repo}", api=f"/repos/{repo}")

    def _classic(self, repo: str, branch: str, unreadable: list[Unreadable]) -> Protection | None:
        # https://docs.github.com/en/rest/branches/branch-protection#get-branch-protection: 404 "Branch not protected"
        try:
            data = self.http.get(f"/repos/{repo}/branches/{_q(branch)}/protection")
        except NotFound:
            return None
        except PermissionDenied as exc:
            permission = ("a plan with protected branches for private repositories (GitHub Pro, Team or Enterprise), "
                          "or a public repository") if _PLAN.search(str(exc)) else _needed(exc, ADMIN_READ)
            unreadable.append(Unreadable("branch protection", permission, _detail(exc)))
            return None
        return classic_protection(data)

    def _rulesets(self, repo: str, branch: str, unreadable: list[Unreadable]) -> list[Protection]:
        # Effective rules from repository AND organization rulesets, active ones only ("evaluate" and "disabled"
        # are left out). https://docs.github.com/en/rest/repos/rules#get-rules-for-a-branch
        try:
            rules = self.http.get_pages(f"/repos/{repo}/rules/branches/{_q(branch)}", parse=lambda d: list(d or ()))
        except PermissionDenied as exc:
            unreadable.append(Unreadable("rulesets", _needed(exc, METADATA_READ), _detail(exc)))
            return []
        by_ruleset: dict[int, list[dict]] = {}
        for rule in rules:
            by_ruleset.setdefault(int(rule.get("ruleset_id") or 0), []).append(rule)
        return [self._ruleset(repo, ruleset_id, applied) for ruleset_id, applied in sorted(by_ruleset.items())]

    def _ruleset(self, repo: str, ruleset_id: int, applied: list[dict]) -> Protection:
        source_type = str(applied[0].get("ruleset_source_type") or "Repository").lower()
        source = str(applied[0].get("ruleset_source") or repo)
        key = ("ruleset", source.lower(), ruleset_id)  # an org ruleset is read once per run, not once per repo
        detail = self.http.fresh.get(key)
        if detail is self.http.fresh.MISSING:
            try:
                # includes_parents (default true) lets the repository endpoint answer for org rulesets too.
                # https://docs.github.com/en/rest/repos/rules#get-a-repository-ruleset
                detail = self.http.get(f"/repos/{repo}/rulesets/{ruleset_id}", {"includes_parents": "true"})
            except (NotFound, PermissionDenied):
                detail = {}
            self.http.fresh.put(key, detail)
        else:
            self.http.stats.cache_hits += 1
        return ruleset_protection(ruleset_id, applied, detail, level=_LEVEL.get(source_type, source_type))

    def _teams(self, repo: str, unreadable: list[Unreadable], ids: dict[str, str]) -> list[Grant]:
        # https://docs.github.com/en/rest/repos/repos#list-repository-teams; `ids` gets "team:ID" -> "@org/slug",
        # since a ruleset's bypass list names teams by id only
        if not self._is_org(repo):
            return []
        org = repo.split("/", 1)[0]
        try:
            found = self.http.get_pages(f"/repos/{repo}/teams", parse=lambda d: [
                (t.get("id"), f"@{org}/{t['slug']}".lower(), team_role(t)) for t in d])
        except PermissionDenied as exc:
            unreadable.append(Unreadable("teams", _needed(exc, ADMIN_READ), _detail(exc)))
            return []
        ids.update({f"team:{team_id}": name for team_id, name, _ in found})
        return [Grant(name, role, "team") for _, name, role in found]

    def _people(self, repo: str, unreadable: list[Unreadable]) -> list[Grant]:
        # affiliation=direct: people granted on the repository itself, org members or not (outside collaborators
        # among them); access through teams is judged per team. https://docs.github.com/en/rest/collaborators/collaborators#list-repository-collaborators
        try:
            direct = self.http.get_pages(f"/repos/{repo}/collaborators", {"affiliation": "direct"},
                                         parse=lambda d: [(u["login"], person_role(u)) for u in d])
        except PermissionDenied as exc:
            unreadable.append(Unreadable("collaborators", _needed(exc, METADATA_READ), _detail(exc)))
            return []
        outside: frozenset[str] = frozenset()
        if self._is_org(repo):
            try:
                outside = self._outside(repo.split("/", 1)[0])
            except PermissionDenied as exc:
                unreadable.append(Unreadable("outside collaborators", _needed(exc, MEMBERS_READ), _detail(exc)))
        return [Grant(login, role, "outside collaborator" if login.lower() in outside else "direct")
                for login, role in direct]

    def _outside(self, org: str) -> frozenset[str]:
        # https://docs.github.com/en/rest/orgs/outside-collaborators#list-outside-collaborators-for-an-organization
        key = ("outside", org.lower())
        cached = self.http.fresh.get(key)
        if cached is not self.http.fresh.MISSING:
            self.http.stats.cache_hits += 1
            return cached
        found = frozenset(self.http.get_pages(f"/orgs/{_q(org)}/outside_collaborators",
                                              parse=lambda d: [u["login"].lower() for u in d]))
        self.http.fresh.put(key, found)
        return found

    def _org(self, org: str) -> dict:
        """GET /orgs/{org}, once per run: `default_repository_permission` is shown only to those allowed to
        see the org's settings; absent, the base permission is simply not judged."""
        key = ("org", org.lower())
        cached = self.http.fresh.get(key)
        if cached is not self.http.fresh.MISSING:
            self.http.stats.cache_hits += 1
            return cached
        try:
            found = self.http.get(f"/orgs/{_q(org)}", parse=lambda d: {
                "default_repository_permission": d.get("default_repository_permission")})
        except (NotFound, PermissionDenied):
            found = {}
        self.http.fresh.put(key, found)
        return found

    def _is_org(self, repo: str) -> bool:
        # The owner's type: a personal repository has no teams, outside collaborators or base permission.
        owner = repo.split("/", 1)[0]
        key = ("owner-type", owner.lower())  # an account's type never changes: kept for good
        if key in self.http.immutable:
            return self.http.immutable.get(key)
        try:
            kind = self.http.get(f"/repos/{repo}", parse=lambda d: (d.get("owner") or {}).get("type"))
        except NotFound:
            kind = None
        answer = kind == "Organization"
        if kind is not None:
            self.http.immutable.put(key, answer)
        return answer

    # --- the drift issue (renovate's ensureIssue: one issue, found again, edited in place)
    def find_issue(self, repo: str, *, title: str, number: int | None = None) -> IssueView | None:
        """The bot's issue: by the number we remembered, else the newest issue (any state) with our marker."""
        if number is not None:
            try:
                found = self.http.get(f"/repos/{repo}/issues/{number}", parse=_issue)
            except NotFound:
                found = None
            if found is not None and ISSUE_MARKER in found.body:
                return found
        # https://docs.github.com/en/rest/issues/issues#list-repository-issues (pull requests are issues too)
        url, params = f"/repos/{repo}/issues", {"state": "all", "sort": "created", "direction": "desc"}
        issues = self.http.get_pages(url, params, limit=ISSUE_PAGES * 100, parse=lambda d: [
            _issue(i) for i in d if "pull_request" not in i and i.get("title") == title and ISSUE_MARKER in (i.get("body") or "")])
        return issues[0] if issues else None

    def create_issue(self, repo: str, *, title: str, body: str) -> IssueView:
        data = self.http.request("POST", f"/repos/{repo}/issues", body={"title": title, "body": body}).data
        return _issue(data)

    def edit_issue(self, repo: str, number: int, *, body: str | None = None, state: str | None = None) -> None:
        # https://docs.github.com/en/rest/issues/issues#update-an-issue; state_reason "completed" when closing
        patch: dict[str, Any] = {}
        if body is not None:
            patch["body"] = body
        if state is not None:
            patch["state"] = state
            if state == "closed":
                patch["state_reason"] = "completed"
        self.http.request("PATCH", f"/repos/{repo}/issues/{number}", body=patch)

    # --- enforce
    def apply(self, method: str, path: str, body: Any) -> None:
        """One change planned by bot.core.access.plan (PUT branch protection, POST/PUT a ruleset, PUT a grant)."""
        self.http.request(method, path, body=body)


def _named_teams(protection: Protection, ids: dict[str, str]) -> Protection:
    if not protection.bypass or not any(b.startswith("team:") for b in protection.bypass):
        return protection
    return replace(protection, bypass=frozenset(ids.get(b, b) for b in protection.bypass))


def _needed(exc: PermissionDenied, default: str) -> str:
    # GitHub names the permission an App lacks in X-Accepted-GitHub-Permissions (see bot.forge.http.error_for).
    match = _NEEDS.search(str(exc))
    return f"{default} (GitHub asks for: {match.group(1)})" if match else default


def _detail(exc: Exception) -> str:
    return str(exc)[:300]


def _issue(d: dict) -> IssueView:
    return IssueView(number=int(d["number"]), state=str(d.get("state") or "open"), body=d.get("body") or "")


# --- parsing: GitHub's JSON -> bot.core.access values

def _enabled(d: Any) -> bool:
    return bool(d.get("enabled")) if isinstance(d, dict) else bool(d)


def _slugs(d: Any, key: str, field: str) -> list[str]:
    return [item.get(field) for item in (d or {}).get(key) or () if isinstance(item, dict) and item.get(field)]


def classic_protection(d: dict) -> Protection:
    """GET .../branches/{branch}/protection -> a Protection, with the PUT body that reproduces it (for enforce).
    https://docs.github.com/en/rest/branches/branch-protection#get-branch-protection"""
    status = d.get("required_status_checks") or None
    checks = frozenset([c["context"] for c in (status or {}).get("checks") or () if c.get("context")]
                       + list((status or {}).get("contexts") or ()))
    pulls = d.get("required_pull_request_reviews") or None
    reviews = None if pulls is None else Reviews(
        approvals=int(pulls.get("required_approving_review_count") or 0),
        code_owner_review=bool(pulls.get("require_code_owner_reviews")),
        dismiss_stale=bool(pulls.get("dismiss_stale_reviews")))
    enforce_admins = _enabled(d.get("enforce_admins"))
    allowances = (pulls or {}).get("bypass_pull_request_allowances") or {}
    org = str(d.get("url") or "").split("/repos/", 1)[-1].split("/", 1)[0]
    bypass = set() if enforce_admins else {"role:admin"}  # admins bypass branch protection unless it says otherwise
    bypass |= {f"@{u}".lower() for u in _slugs(allowances, "users", "login")}
    bypass |= {f"@{org}/{t}".lower() for t in _slugs(allowances, "teams", "slug")}
    bypass |= {f"app:{a}" for a in _slugs(allowances, "apps", "slug")}
    body: dict[str, Any] = {
        "required_status_checks": None if status is None else {
            "strict": bool(status.get("strict")),
            "checks": [{"context": c["context"], **({"app_id": c["app_id"]} if c.get("app_id") else {})}
                       for c in status.get("checks") or ()] or [{"context": c} for c in status.get("contexts") or ()]},
        "enforce_admins": enforce_admins,
        "required_pull_request_reviews": None if pulls is None else {
            "dismiss_stale_reviews": bool(pulls.get("dismiss_stale_reviews")),
            "require_code_owner_reviews": bool(pulls.get("require_code_owner_reviews")),
            "required_approving_review_count": int(pulls.get("required_approving_review_count") or 0),
            "require_last_push_approval": bool(pulls.get("require_last_push_approval")),
            **({"dismissal_restrictions": {k: _slugs(pulls.get("dismissal_restrictions"), k, f)
                                           for k, f in (("users", "login"), ("teams", "slug"), ("apps", "slug"))}}
               if pulls.get("dismissal_restrictions") else {}),
            **({"bypass_pull_request_allowances": {k: _slugs(allowances, k, f)
                                                   for k, f in (("users", "login"), ("teams", "slug"), ("apps", "slug"))}}
               if allowances else {}),
        },
        "restrictions": None if not d.get("restrictions") else {
            k: _slugs(d["restrictions"], k, f) for k, f in (("users", "login"), ("teams", "slug"), ("apps", "slug"))},
        **{key: _enabled(d.get(key)) for key in ("required_linear_history", "allow_force_pushes", "allow_deletions",
                                                 "block_creations", "required_conversation_resolution", "lock_branch",
                                                 "allow_fork_syncing") if key in d},
    }
    return Protection(
        kind="branch protection", reviews=reviews, checks=checks,
        # classic protection blocks force pushes and deletion unless allowed: https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches
        blocks_force_push=not _enabled(d.get("allow_force_pushes")), blocks_deletion=not _enabled(d.get("allow_deletions")),
        bypass=frozenset(bypass), settings_json=json.dumps(body, sort_keys=True),
    )


def ruleset_protection(ruleset_id: int, applied: Iterable[dict], detail: dict, *, level: str) -> Protection:
    """The rules of one ruleset that apply to the branch (from rules/branches) -> a Protection. `detail` is
    GET .../rulesets/{id} (name, bypass_actors, its full rules) or {} when it could not be read."""
    applied = list(applied)
    reviews, checks, force, delete = None, set(), False, False
    for rule in applied:
        kind, params = rule.get("type"), rule.get("parameters") or {}
        if kind == "pull_request":
            mine = Reviews(int(params.get("required_approving_review_count") or 0),
                           bool(params.get("require_code_owner_review")), bool(params.get("dismiss_stale_reviews_on_push")))
            reviews = mine if reviews is None else Reviews(max(reviews.approvals, mine.approvals),
                                                           reviews.code_owner_review or mine.code_owner_review,
                                                           reviews.dismiss_stale or mine.dismiss_stale)
        elif kind == "required_status_checks":
            checks |= {c["context"] for c in params.get("required_status_checks") or () if c.get("context")}
        elif kind == "non_fast_forward":
            force = True
        elif kind == "deletion":
            delete = True
    actors = detail.get("bypass_actors")
    bypass = None if actors is None else frozenset(filter(None, (_actor(a, detail) for a in actors)))
    return Protection(
        kind="ruleset", name=str(detail.get("name") or f"#{ruleset_id}"), ruleset_id=ruleset_id, level=level,
        reviews=reviews, checks=frozenset(checks), blocks_force_push=force, blocks_deletion=delete, bypass=bypass,
        settings_json=json.dumps(detail.get("rules") or applied, sort_keys=True),
    )


def _actor(actor: dict, detail: dict) -> str | None:
    kind, ident = actor.get("actor_type"), actor.get("actor_id")
    if kind == "RepositoryRole":
        return _ROLE_OF_ID.get(ident, f"role:{ident}")
    if kind == "OrganizationAdmin":
        return "org-admins"
    if kind == "Integration":
        return f"app:{ident}"
    if kind == "DeployKey":
        return "deploy-keys"
    if kind == "Team":
        return f"team:{ident}"  # the API gives the team's id only; the report says so
    return f"{str(kind).lower()}:{ident}"


def team_role(t: dict) -> str:
    """A team's grant: `permissions` booleans are reliable; `permission` says pull/push for read/write.
    https://docs.github.com/en/rest/repos/repos#list-repository-teams"""
    return _role(t.get("permissions"), t.get("role_name") or {"pull": "read", "push": "write"}.get(t.get("permission"), t.get("permission")))


def person_role(u: dict) -> str:
    return _role(u.get("permissions"), u.get("role_name"))


def _role(flags: Any, name: Any) -> str:
    # The permission flags give a custom role's base role; role_name keeps triage and maintain apart.
    if isinstance(flags, dict):
        for role, flag in (("admin", "admin"), ("maintain", "maintain"), ("write", "push"), ("triage", "triage"), ("read", "pull")):
            if flags.get(flag):
                return role
    return name if isinstance(name, str) and name in ("admin", "maintain", "write", "triage", "read") else "read"
