"""GitLab's access settings as plain values (bot.core.access), beside GitLabForge on the same GitLabHttp: the
protected branch that matches the default branch (who may push and merge, force push, code-owner approval), the
project's approval settings and rules (approvals required, "Prevent approval by author", "reset approvals on
push"), "Pipelines must succeed", direct members and group shares; the drift issue. Enforce is not offered here
(RepoState.can_enforce False): the report gives each fix's settings page and API call instead.

Requests per project: the project, its protected branches, approval settings, approval rules, direct members.
"""
from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import quote

from bot.core.access import Grant, Protection, RepoState, Reviews, Unreadable
from bot.core.access_render import ISSUE_MARKER, IssueView
from bot.forge.errors import ForgeError, NotFound, PermissionDenied
from bot.forge.gitlab.http import GitLabHttp

MAINTAINER = "the Maintainer role on the project for GITLAB_TOKEN"
PREMIUM = "GitLab Premium or Ultimate (merge request approval rules), and the Maintainer role for GITLAB_TOKEN"
# https://docs.gitlab.com/api/members/#roles: 10 Guest, 15 Planner, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner
_LEVELS = ((50, "admin"), (40, "maintain"), (30, "write"), (20, "triage"), (15, "read"), (10, "read"), (5, "read"))
# https://docs.gitlab.com/api/protected_branches/: push/merge access levels 0 No one, 30 Developers, 40 Maintainers, 60 Admins
_PUSH_ROLE = {30: "role:write", 40: "role:maintain", 60: "role:admin"}
ISSUE_PAGES = 3


def _q(part: str) -> str:
    return quote(part, safe="")


def role_of(level: int) -> str:
    return next((name for floor, name in _LEVELS if level >= floor), "none")


class GitLabAccess:
    def __init__(self, http: GitLabHttp, *, web_url: str) -> None:
        self.http = http
        self.web_url = web_url.rstrip("/")

    # --- which projects
    def installation_repos(self) -> tuple[tuple[str, str], ...]:
        """Projects the token is a member of (GitLab has no installations), archived ones left out.
        https://docs.gitlab.com/api/projects/#list-all-projects (membership=true)"""
        return tuple(self.http.get_pages("/projects", {"membership": "true", "archived": "false", "simple": "true"},
                                         parse=lambda d: [(p["path_with_namespace"], p.get("default_branch") or "main")
                                                          for p in d if p.get("default_branch")]))

    def default_branch(self, repo: str) -> str | None:
        try:
            return self._project(repo).get("default_branch") or "main"
        except NotFound:
            return None

    def _project(self, repo: str) -> dict:
        return self.http.get(f"/projects/{_q(repo)}", parse=lambda d: d)

    # --- the effective state
    def read_repo(self, repo: str, *, branch: str) -> RepoState:
        project = self._project(repo)
        base = f"/projects/{_q(repo)}"
        unreadable: list[Unreadable] = []
        protection = self._protected_branch(repo, branch, unreadable)
        approvals, rules = self._approvals(repo, branch, unreadable)
        protections: tuple[Protection, ...] = ()
        if protection is not None or rules:
            pushers = frozenset(_PUSH_ROLE.get(a.get("access_level"), f"role:{a.get('access_level')}") if a.get("access_level")
                                else f"@user{a['user_id']}" if a.get("user_id") else f"group:{a.get('group_id')}"
                                for a in (protection or {}).get("push_access_levels") or ()
                                if a.get("access_level") != 0 or a.get("user_id") or a.get("group_id"))
            if protection is None:
                pushers = frozenset({"role:write"})  # an unprotected branch takes pushes from every Developer
            required = max([int(r.get("approvals_required") or 0) for r in rules]
                           + [int(approvals.get("approvals_before_merge") or 0)])
            protections = (Protection(
                kind="protected branch", name=(protection or {}).get("name", ""),
                reviews=Reviews(required, bool((protection or {}).get("code_owner_approval_required")),
                                bool(approvals.get("reset_approvals_on_push")),
                                author_can_approve=bool(approvals.get("merge_requests_author_approval"))),
                # "Pipelines must succeed" makes every commit status of the head a merge condition; GitLab cannot
                # require one status by name (external status checks are another, Ultimate, feature).
                checks=frozenset({"*"}) if project.get("only_allow_merge_if_pipeline_succeeds") else frozenset(),
                blocks_force_push=protection is not None and not protection.get("allow_force_push"),
                blocks_deletion=protection is not None,  # a protected branch cannot be deleted by push
                bypass=pushers,  # who may push without a merge request bypasses its approvals
            ),)
        teams = [Grant(f"@{g['group_full_path']}".lower(), role_of(int(g.get("group_access_level") or 0)), "team")
                 for g in project.get("shared_with_groups") or ()]
        people = self._members(repo, unreadable)
        settings = f"{self.web_url}/{repo}/-/settings"
        return RepoState(
            repo=repo, default_branch=branch, protections=protections, teams=tuple(teams), people=tuple(people),
            unreadable=tuple(unreadable), settings_url=f"{self.web_url}/{repo}", api=base, can_enforce=False,
            fix_hints=(
                ("unprotected", f"{settings}/repository: Protected branches > protect {branch}, Allowed to push: No one",
                 f"POST {base}/protected_branches"),
                ("approvals", f"{settings}/merge_requests: Merge request approvals > an approval rule for {branch}",
                 f"POST {base}/approval_rules"),
                ("code-owner-review", f"{settings}/repository: Protected branches > {branch} > Code owner approval",
                 f"PATCH {base}/protected_branches/{_q(branch)}"),
                ("required-check", f"{settings}/merge_requests: Merge checks > Pipelines must succeed",
                 f"PUT {base} only_allow_merge_if_pipeline_succeeds=true"),
                ("stale-reviews", f"{settings}/merge_requests: Approval settings > Remove all approvals when commits are added",
                 f"POST {base}/approvals reset_approvals_on_push=true"),
                ("author-approval", f"{settings}/merge_requests: Approval settings > Prevent approval by author",
                 f"POST {base}/approvals merge_requests_author_approval=false"),
                ("force-push", f"{settings}/repository: Protected branches > {branch} > Allowed to force push: off",
                 f"PATCH {base}/protected_branches/{_q(branch)} allow_force_push=false"),
                ("bypass", f"{settings}/repository: Protected branches > {branch} > Allowed to push and merge: No one",
                 f"PATCH {base}/protected_branches/{_q(branch)}"),
                ("writer-team", f"{settings}/members: lower the share with {{who}} to Reporter",
                 f"DELETE {base}/share/GROUP_ID, then POST {base}/share group_access=20"),
                ("writer-person", f"{self.web_url}/{repo}/-/project_members: lower {{who}} to Reporter",
                 f"PUT {base}/members/USER_ID access_level=20"),
            ))

    def _protected_branch(self, repo: str, branch: str, unreadable: list[Unreadable]) -> dict | None:
        # Protected branches may be wildcards (release/*): list them and match the default branch.
        # https://docs.gitlab.com/api/protected_branches/#list-protected-branches
        try:
            found = self.http.get_pages(f"/projects/{_q(repo)}/protected_branches", parse=lambda d: list(d), needs=MAINTAINER)
        except (PermissionDenied, NotFound) as exc:
            unreadable.append(Unreadable("branch protection", MAINTAINER, str(exc)[:300]))
            return None
        exact = [p for p in found if p.get("name") == branch]
        return (exact or [p for p in found if fnmatch.fnmatchcase(branch, p.get("name") or "")] or [None])[0]

    def _approvals(self, repo: str, branch: str, unreadable: list[Unreadable]) -> tuple[dict, list[dict]]:
        # https://docs.gitlab.com/api/merge_request_approvals/#get-configuration and #get-all-approval-rules-for-project
        try:
            settings = self.http.get(f"/projects/{_q(repo)}/approvals", needs=PREMIUM) or {}
            rules = self.http.get_pages(f"/projects/{_q(repo)}/approval_rules", parse=lambda d: list(d), needs=PREMIUM)
        except (PermissionDenied, NotFound) as exc:
            unreadable.append(Unreadable("approval rules", PREMIUM, str(exc)[:300]))
            return {}, []
        applies = [r for r in rules if r.get("rule_type") in (None, "regular", "any_approver", "code_owner")
                   and (r.get("applies_to_all_protected_branches") or not r.get("protected_branches")
                        or any(fnmatch.fnmatchcase(branch, b.get("name") or "") for b in r.get("protected_branches") or ()))]
        return settings, applies

    def _members(self, repo: str, unreadable: list[Unreadable]) -> list[Grant]:
        # Direct members only (https://docs.gitlab.com/api/members/#list-all-members-of-a-group-or-project);
        # members inherited from the parent group are that group's business, group shares are judged as teams.
        try:
            return self.http.get_pages(f"/projects/{_q(repo)}/members", parse=lambda d: [
                Grant(m["username"], role_of(int(m.get("access_level") or 0)), "direct") for m in d])
        except PermissionDenied as exc:
            unreadable.append(Unreadable("collaborators", MAINTAINER, str(exc)[:300]))
            return []

    # --- the drift issue
    def find_issue(self, repo: str, *, title: str, number: int | None = None) -> IssueView | None:
        if number is not None:
            try:
                found = self.http.get(f"/projects/{_q(repo)}/issues/{number}", parse=_issue)
            except NotFound:
                found = None
            if found is not None and ISSUE_MARKER in found.body:
                return found
        # https://docs.gitlab.com/api/issues/#list-project-issues
        issues = self.http.get_pages(f"/projects/{_q(repo)}/issues", {"search": title, "in": "title", "state": "all",
                                                                      "order_by": "created_at", "sort": "desc"},
                                     limit=ISSUE_PAGES * 100,
                                     parse=lambda d: [_issue(i) for i in d if i.get("title") == title
                                                      and ISSUE_MARKER in (i.get("description") or "")])
        return issues[0] if issues else None

    def create_issue(self, repo: str, *, title: str, body: str) -> IssueView:
        data = self.http.request("POST", f"/projects/{_q(repo)}/issues", body={"title": title, "description": body}).data
        return _issue(data)

    def edit_issue(self, repo: str, number: int, *, body: str | None = None, state: str | None = None) -> None:
        # https://docs.gitlab.com/api/issues/#edit-an-issue: state_event close | reopen
        patch: dict[str, Any] = {}
        if body is not None:
            patch["description"] = body
        if state is not None:
            patch["state_event"] = "close" if state == "closed" else "reopen"
        self.http.request("PUT", f"/projects/{_q(repo)}/issues/{number}", body=patch)

    def apply(self, method: str, path: str, body: Any) -> None:
        raise ForgeError("access.enforce writes GitHub settings only; on GitLab apply the report's fixes by hand")


def _issue(d: dict) -> IssueView:
    return IssueView(number=int(d["iid"]), state="open" if d.get("state") == "opened" else "closed",
                     body=d.get("description") or "")


def for_forge(forge) -> GitLabAccess:
    return GitLabAccess(forge.http, web_url=getattr(forge.links, "web_url", forge.http.api_url.split("/api/v4")[0]))
