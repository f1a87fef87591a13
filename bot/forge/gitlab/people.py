"""Who is in a team (a group path) and who may write (an effective access level): GitLabForge's people."""
from __future__ import annotations

from typing import Any, Iterable

from bot.forge.errors import NotFound, TeamNotFound
from bot.forge.gitlab import parse
from bot.forge.gitlab.urls import group_path as _group_path, project as _project, q as _q
from bot.model import Permission, TeamInfo

# GraphQL: members of the group, of its ancestors (what REST members/all lists) and of its subgroups, as GitLab's
# own spec/requests/api/graphql/group/group_members_spec.rb "returns direct, inherited, and descendant members".
# https://docs.gitlab.com/api/graphql/reference/#groupmemberrelation. A member invited by email has user null.
MEMBER_RELATIONS = "[DIRECT, INHERITED, DESCENDANTS]"


class People:
    """Mixed into GitLabForge: needs self.http (GitLabHttp) and self._user_ids (an LRU of username -> id)."""

    def team_members(self, team: str) -> frozenset[str]:
        """The group's members/all (its own and its ancestors' members) plus the members of every descendant
        group, active users only. https://docs.gitlab.com/api/members/#list-all-members-of-a-group-or-project-including-inherited-and-invited-members,
        https://docs.gitlab.com/api/groups/#list-descendant-groups"""
        path = _group_path(team)
        key = ("team-members", path.lower())
        cached = self.http.fresh.get(key)
        if cached is not self.http.fresh.MISSING:
            self.http.stats.cache_hits += 1
            return cached
        group = f"/groups/{_q(path)}"
        try:
            members = self.http.get_pages(f"{group}/members/all", parse=lambda d: list(d or ()))
            subgroups = self.http.get_pages(f"{group}/descendant_groups", parse=lambda d: [g["id"] for g in d or ()])
        except NotFound as exc:
            raise TeamNotFound(team, f"group {path} does not exist or the token cannot see it ({exc})") from exc
        for subgroup in subgroups:
            members += self.http.get_pages(f"/groups/{subgroup}/members", parse=lambda d: list(d or ()))
        self._learn_users(members)
        found = frozenset(parse.username(m) for m in members if parse.is_active(m))
        self.http.fresh.put(key, found)
        return found

    def get_teams(self, names: Iterable[str], *, repo: str) -> dict[str, TeamInfo | None]:
        """Every group in ONE GraphQL query (and one more per further page of 100 members): groupMembers with
        relations DIRECT, INHERITED and DESCENDANTS is what team_members walks over REST. repo_permission is
        NONE: a group's members hold different access levels on a project, so each approver's own is used
        (list_reviews has fetched them in one request). https://docs.gitlab.com/api/graphql/reference/#groupgroupmembers"""
        wanted = list(dict.fromkeys(names))
        found: dict[str, TeamInfo | None] = {name: None for name in wanted}
        todo: dict[str, str] = {}
        for name in wanted:
            cached = self.http.fresh.get(("team", name.lower()))
            if cached is not self.http.fresh.MISSING:
                self.http.stats.cache_hits += 1
                found[name] = cached
            elif name.lstrip("@").strip("/"):
                todo[name] = _group_path(name)
        members: dict[str, set[str]] = {name: set() for name in todo}
        cursors: dict[str, str | None] = {name: None for name in todo}
        while cursors:
            variables: dict[str, Any] = {}
            declared, fields = [], []
            order = list(cursors)
            for j, name in enumerate(order):
                variables[f"g{j}"] = todo[name]
                declared.append(f"$g{j}: ID!")
                after = ""
                if cursors[name] is not None:
                    variables[f"c{j}"] = cursors[name]
                    declared.append(f"$c{j}: String")
                    after = f", after: $c{j}"
                fields.append(f"g{j}: group(fullPath: $g{j}) {{ groupMembers(relations: {MEMBER_RELATIONS}, first: 100{after}) "
                              "{ nodes { user { username bot state } } pageInfo { hasNextPage endCursor } } }")
            data = self.http.graphql(f"query({', '.join(declared)}) {{ {' '.join(fields)} }}", variables)
            following: dict[str, str | None] = {}
            for j, name in enumerate(order):
                group = data.get(f"g{j}")
                if not group or group.get("groupMembers") is None:
                    members.pop(name, None)  # no such group, or the token cannot see it
                    continue
                page = group["groupMembers"]
                members[name] |= {n["user"]["username"] for n in page.get("nodes") or ()
                                  if n and n.get("user") and parse.is_active(n["user"])}
                info = page.get("pageInfo") or {}
                if info.get("hasNextPage") and info.get("endCursor"):
                    following[name] = info["endCursor"]
            cursors = following
        for name in todo:
            found[name] = TeamInfo(frozenset(members[name]), Permission.NONE) if name in members else None
            self.http.fresh.put(("team", name.lower()), found[name])
        return found

    def permission(self, repo: str, user: str) -> Permission:
        """Effective access level on the project (inherited and invited groups included), blocked users NONE.
        https://docs.gitlab.com/api/members/#get-a-member-of-a-group-or-project-including-inherited-and-invited-members"""
        key = ("permission", repo, user.lower())
        cached = self.http.fresh.get(key)
        if cached is not self.http.fresh.MISSING:
            self.http.stats.cache_hits += 1
            return cached
        uid = self._user_id(user)
        found = Permission.NONE
        if uid is not None:
            try:
                found = self.http.get(f"{_project(repo)}/members/all/{uid}", parse=lambda d: (
                    parse.permission(d.get("access_level")) if parse.is_active(d) else Permission.NONE))
            except NotFound:
                found = Permission.NONE
        self.http.fresh.put(key, found)
        return found

    def _user_id(self, user: str) -> int | None:
        uid = self._user_ids.get(user.lower())
        if uid is None:
            # https://docs.gitlab.com/api/users/#list-users: ?username= matches exactly, case-insensitively
            users = self.http.get("/users", {"username": user}, parse=lambda d: list(d or ()))
            self._learn_users(users)
            uid = self._user_ids.get(user.lower())
        return uid

    def _learn_users(self, users: Iterable[Any]) -> None:
        for user in users:
            if isinstance(user, dict) and user.get("username") and user.get("id"):
                self._user_ids.put(user["username"].lower(), int(user["id"]))
