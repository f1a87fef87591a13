"""FakeGitLab's access-settings slice: project settings (shares, "Pipelines must succeed"), protected branches,
approval settings and rules, direct members, issues. Shapes follow docs.gitlab.com/api (projects, protected_branches,
merge_request_approvals, members, issues)."""
from __future__ import annotations

from dataclasses import dataclass, field

from tests.forge.fakegitlab import FakeGitLab, Paged


@dataclass
class GitLabAccessWorld:
    protected: dict[str, list[dict]] = field(default_factory=dict)  # project -> protected branches
    approvals: dict[str, dict] = field(default_factory=dict)  # project -> approval settings
    rules: dict[str, list[dict]] = field(default_factory=dict)  # project -> approval rules
    shares: dict[str, list[dict]] = field(default_factory=dict)  # project -> shared_with_groups
    pipelines_must_succeed: set[str] = field(default_factory=set)
    premium: bool = True  # approval rules exist on Premium and Ultimate only
    issues: dict[str, list[dict]] = field(default_factory=dict)


def protected_branch(name: str, *, push: int = 0, merge: int = 40, force: bool = False, code_owners: bool = False) -> dict:
    return {"id": 1, "name": name, "allow_force_push": force, "code_owner_approval_required": code_owners,
            "push_access_levels": [{"access_level": push, "access_level_description": {0: "No one", 30: "Developers + Maintainers", 40: "Maintainers"}[push]}],
            "merge_access_levels": [{"access_level": merge, "access_level_description": "Maintainers"}]}


def install(gl: FakeGitLab) -> GitLabAccessWorld:
    world = GitLabAccessWorld()
    before = len(gl._routes)
    R = gl._route
    P = r"/projects/([^/]+)"

    def proj(ident):
        return gl.projects.get(ident)

    @R("GET", r"/projects")
    def list_projects(q, b):
        assert q.get("membership") == "true"
        return 200, Paged([{"id": p.id, "path_with_namespace": p.path, "default_branch": p.default_branch}
                           for p in gl.projects.values()])

    @R("GET", P)
    def get_project(q, b, ident):
        st = proj(ident)
        if not st:
            return 404, {"message": "404 Project Not Found"}
        return 200, {"id": st.id, "path_with_namespace": st.path, "default_branch": st.default_branch,
                     "web_url": f"{gl.url}/{st.path}", "namespace": {"kind": "group", "full_path": st.path.rsplit("/", 1)[0]},
                     "shared_with_groups": world.shares.get(st.path, []),
                     "only_allow_merge_if_pipeline_succeeds": st.path in world.pipelines_must_succeed}

    @R("GET", P + r"/protected_branches")
    def protected(q, b, ident):
        return 200, Paged(world.protected.get(ident, []))

    @R("GET", P + r"/approvals")
    def approvals(q, b, ident):
        if not world.premium:
            return 403, {"message": "403 Forbidden"}
        return 200, world.approvals.get(ident, {"approvals_before_merge": 0, "reset_approvals_on_push": True,
                                               "merge_requests_author_approval": False})

    @R("GET", P + r"/approval_rules")
    def approval_rules(q, b, ident):
        if not world.premium:
            return 403, {"message": "403 Forbidden"}
        return 200, Paged(world.rules.get(ident, []))

    @R("GET", P + r"/members")
    def members(q, b, ident):
        st = proj(ident)
        return 200, Paged([gl.member_json(u, level) for u, level in st.members.items()])

    @R("GET", P + r"/issues")
    def list_issues(q, b, ident):
        return 200, Paged(sorted(world.issues.get(ident, []), key=lambda i: -i["iid"]))

    @R("GET", P + r"/issues/(\d+)")
    def get_issue(q, b, ident, iid):
        found = [i for i in world.issues.get(ident, []) if i["iid"] == int(iid)]
        return (200, found[0]) if found else (404, {"message": "404 Issue Not Found"})

    @R("POST", P + r"/issues")
    def create_issue(q, b, ident):
        issues = world.issues.setdefault(ident, [])
        issue = {"id": 900 + len(issues), "iid": len(issues) + 1, "title": b["title"], "description": b.get("description"),
                 "state": "opened"}
        issues.append(issue)
        return 201, issue

    @R("PUT", P + r"/issues/(\d+)")
    def edit_issue(q, b, ident, iid):
        issue = next(i for i in world.issues.get(ident, []) if i["iid"] == int(iid))
        if "description" in b:
            issue["description"] = b["description"]
        if b.get("state_event"):
            issue["state"] = "closed" if b["state_event"] == "close" else "opened"
        return 200, issue

    gl._routes[:] = gl._routes[before:] + gl._routes[:before]
    return world
