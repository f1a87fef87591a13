"""FakeGitHub's access-settings slice: installation repositories, branch protection, rules and rulesets (repository
and organization level, layered as GitHub does), repository teams, collaborators, outside collaborators, the org,
issues, and enforce's writes. Shapes follow docs.github.com/en/rest (branches/branch-protection, repos/rules,
repos/repos#list-repository-teams, collaborators, orgs/outside-collaborators, issues)."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from tests.forge.fakegithub import FakeGitHub, Paged, user_json


@dataclass
class AccessWorld:
    installed: list[str] = field(default_factory=list)  # repositories of the installation
    orgs: set[str] = field(default_factory=set)  # owners that are organizations
    protection: dict[tuple[str, str], dict] = field(default_factory=dict)  # (repo, branch) -> GET body
    rulesets: dict[int, dict] = field(default_factory=dict)  # id -> ruleset (source_type, source, rules, ...)
    teams: dict[str, list[dict]] = field(default_factory=dict)  # repo -> [{"slug", "id", "permission"}]
    collaborators: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # repo -> [(login, role)]
    outside: dict[str, list[str]] = field(default_factory=dict)  # org -> logins
    base_permission: dict[str, str] = field(default_factory=dict)  # org -> default_repository_permission
    hide_bypass: bool = False  # GitHub shows bypass_actors only to those who may edit the ruleset
    issues: dict[str, list[dict]] = field(default_factory=dict)
    writes: list[tuple[str, str, object]] = field(default_factory=list)


def ruleset(ruleset_id: int, name: str, *, source: str, source_type: str = "Repository", rules: list[dict],
            include: tuple[str, ...] = ("~DEFAULT_BRANCH",), enforcement: str = "active",
            bypass_actors: list[dict] | None = None) -> dict:
    return {"id": ruleset_id, "name": name, "target": "branch", "source_type": source_type, "source": source,
            "enforcement": enforcement, "bypass_actors": bypass_actors or [],
            "conditions": {"ref_name": {"include": list(include), "exclude": []}}, "rules": rules,
            "node_id": f"RRS_{ruleset_id}", "current_user_can_bypass": "never"}


def install(gh: FakeGitHub) -> AccessWorld:
    world = AccessWorld()
    before = len(gh._routes)
    R = gh._route
    repo_re = r"/repos/([^/]+/[^/]+)"

    def not_found(message="Not Found"):
        return 404, {"message": message, "documentation_url": "https://docs.github.com/rest"}

    def applies(rs: dict, repo: str, branch: str) -> bool:
        if rs["enforcement"] != "active":
            return False  # rules/branches leaves "evaluate" and "disabled" rulesets out
        owner = repo.split("/")[0]
        if rs["source_type"] == "Repository" and rs["source"] != repo:
            return False
        if rs["source_type"] == "Organization" and rs["source"] != owner:
            return False
        default = gh.repo(repo).default_branch
        refs = [default if inc == "~DEFAULT_BRANCH" else inc.removeprefix("refs/heads/") for inc in rs["conditions"]["ref_name"]["include"]]
        return any(inc == "~ALL" or fnmatch.fnmatch(branch, inc) for inc in refs)

    @R("GET", r"/installation/repositories")
    def installation_repositories(q, b):
        repos = [{"id": gh.repo(r).id, "full_name": r, "name": r.split("/")[1], "archived": False,
                  "default_branch": gh.repo(r).default_branch,
                  "owner": {**user_json(r.split("/")[0]), "type": "Organization" if r.split("/")[0] in world.orgs else "User"}}
                 for r in world.installed]
        return 200, Paged(repos, wrap=lambda chunk, page: {"total_count": len(repos), "repositories": chunk})

    @R("GET", repo_re + r"/branches/([^/]+)/protection")
    def get_protection(q, b, repo, branch):
        found = world.protection.get((repo, branch))
        return (200, found) if found is not None else not_found("Branch not protected")

    @R("PUT", repo_re + r"/branches/([^/]+)/protection")
    def put_protection(q, b, repo, branch):
        world.writes.append(("PUT", f"/repos/{repo}/branches/{branch}/protection", b))
        world.protection[(repo, branch)] = protection_json(repo, branch, b)
        return 200, world.protection[(repo, branch)]

    @R("GET", repo_re + r"/rules/branches/([^/]+)")
    def rules_for_branch(q, b, repo, branch):
        rules = [{**rule, "ruleset_source_type": rs["source_type"], "ruleset_source": rs["source"], "ruleset_id": rs["id"]}
                 for rs in world.rulesets.values() if applies(rs, repo, branch) for rule in rs["rules"]]
        return 200, Paged(rules)

    @R("GET", repo_re + r"/rulesets/(\d+)")
    def get_ruleset(q, b, repo, ruleset_id):
        rs = world.rulesets.get(int(ruleset_id))
        owner = repo.split("/")[0]
        if rs is None or rs["source"] not in (repo, owner) or (rs["source"] == owner and q.get("includes_parents") == "false"):
            return not_found()
        shown = dict(rs)
        if world.hide_bypass:
            shown.pop("bypass_actors")
        return 200, shown

    @R("POST", repo_re + r"/rulesets")
    def create_ruleset(q, b, repo):
        new_id = max(world.rulesets, default=100) + 1
        world.writes.append(("POST", f"/repos/{repo}/rulesets", b))
        world.rulesets[new_id] = ruleset(new_id, b["name"], source=repo, rules=b["rules"],
                                         include=tuple(b["conditions"]["ref_name"]["include"]), bypass_actors=b.get("bypass_actors"))
        return 201, world.rulesets[new_id]

    @R("PUT", repo_re + r"/rulesets/(\d+)")
    def update_ruleset(q, b, repo, ruleset_id):
        world.writes.append(("PUT", f"/repos/{repo}/rulesets/{ruleset_id}", b))
        world.rulesets[int(ruleset_id)].update({k: v for k, v in b.items() if k in ("rules", "bypass_actors", "name")})
        return 200, world.rulesets[int(ruleset_id)]

    @R("GET", repo_re + r"/teams")
    def repo_teams(q, b, repo):
        perms = ("pull", "triage", "push", "maintain", "admin")
        return 200, Paged([{"id": t["id"], "slug": t["slug"], "name": t["slug"], "permission": t["permission"],
                            "permissions": {p: perms.index(p) <= perms.index(t["permission"]) for p in perms}}
                           for t in world.teams.get(repo, [])])

    @R("PUT", r"/orgs/([^/]+)/teams/([^/]+)/repos/([^/]+/[^/]+)")
    def set_team_permission(q, b, org, slug, repo):
        world.writes.append(("PUT", f"/orgs/{org}/teams/{slug}/repos/{repo}", b))
        for team in world.teams.get(repo, []):
            if team["slug"] == slug:
                team["permission"] = {"read": "pull", "write": "push"}.get(b["permission"], b["permission"])
        return 204, None

    @R("GET", repo_re + r"/collaborators")
    def collaborators(q, b, repo):
        assert q.get("affiliation") == "direct", q
        flags = ("pull", "triage", "push", "maintain", "admin")
        roles = ("read", "triage", "write", "maintain", "admin")
        return 200, Paged([{**user_json(login), "role_name": role,
                            "permissions": {f: flags.index(f) <= roles.index(role) for f in flags}}
                           for login, role in world.collaborators.get(repo, [])])

    @R("PUT", repo_re + r"/collaborators/([^/]+)")
    def set_collaborator(q, b, repo, login):
        world.writes.append(("PUT", f"/repos/{repo}/collaborators/{login}", b))
        world.collaborators[repo] = [(u, b["permission"] if u == login else r) for u, r in world.collaborators.get(repo, [])]
        return 204, None

    @R("GET", r"/orgs/([^/]+)/outside_collaborators")
    def outside(q, b, org):
        return 200, Paged([user_json(u) for u in world.outside.get(org, [])])

    @R("GET", r"/orgs/([^/]+)")
    def get_org(q, b, org):
        if org not in world.orgs:
            return not_found()
        body = {"login": org, "id": 1, "type": "Organization"}
        if org in world.base_permission:
            body["default_repository_permission"] = world.base_permission[org]
        return 200, body

    @R("GET", repo_re + r"/issues")
    def list_issues(q, b, repo):
        issues = sorted(world.issues.get(repo, []), key=lambda i: -i["number"])
        return 200, Paged(issues)

    @R("GET", repo_re + r"/issues/(\d+)")
    def get_issue(q, b, repo, number):
        found = [i for i in world.issues.get(repo, []) if i["number"] == int(number)]
        return (200, found[0]) if found else not_found()

    @R("POST", repo_re + r"/issues")
    def create_issue(q, b, repo):
        issues = world.issues.setdefault(repo, [])
        issue = {"number": len(issues) + 1, "title": b["title"], "body": b.get("body"), "state": "open",
                 "user": user_json("release-coordinator[bot]", bot=True), "html_url": f"https://github.com/{repo}/issues/{len(issues) + 1}"}
        issues.append(issue)
        return 201, issue

    @R("PATCH", repo_re + r"/issues/(\d+)")
    def edit_issue(q, b, repo, number):
        issue = next(i for i in world.issues.get(repo, []) if i["number"] == int(number))
        issue.update({k: v for k, v in b.items() if k in ("body", "state", "title", "state_reason")})
        return 200, issue

    # the new routes must win over FakeGitHub's own catch-alls, e.g. GET /repos/{o}/{r}/... patterns
    gh._routes[:] = gh._routes[before:] + gh._routes[:before]
    return world


def protection_json(repo: str, branch: str, put: dict) -> dict:
    """What GET .../protection answers after PUT `put` (https://docs.github.com/en/rest/branches/branch-protection)."""
    url = f"https://api.github.com/repos/{repo}/branches/{branch}/protection"
    reviews = put.get("required_pull_request_reviews")
    checks = put.get("required_status_checks")
    body = {
        "url": url,
        "required_status_checks": None if checks is None else {
            "url": f"{url}/required_status_checks", "strict": checks.get("strict", False),
            "contexts": [c["context"] for c in checks.get("checks") or ()] or checks.get("contexts", []),
            "checks": [{"context": c["context"], "app_id": c.get("app_id")} for c in checks.get("checks") or ()]},
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": bool(put.get("enforce_admins"))},
        "required_linear_history": {"enabled": bool(put.get("required_linear_history"))},
        "allow_force_pushes": {"enabled": bool(put.get("allow_force_pushes"))},
        "allow_deletions": {"enabled": bool(put.get("allow_deletions"))},
        "block_creations": {"enabled": bool(put.get("block_creations"))},
        "required_conversation_resolution": {"enabled": bool(put.get("required_conversation_resolution"))},
        "lock_branch": {"enabled": bool(put.get("lock_branch"))},
        "allow_fork_syncing": {"enabled": bool(put.get("allow_fork_syncing"))},
    }
    if reviews is not None:
        body["required_pull_request_reviews"] = {"url": f"{url}/required_pull_request_reviews", **reviews}
    if put.get("restrictions"):
        r = put["restrictions"]
        body["restrictions"] = {"users": [user_json(u) for u in r.get("users", [])],
                                "teams": [{"slug": t} for t in r.get("teams", [])], "apps": [{"slug": a} for a in r.get("apps", [])]}
    return body
