"""Approval semantics (SPEC §5): which groups must approve a pull request, who did, and why, from plain data."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol, Sequence

from bot.core.checks import Level, Problem
from bot.core.config import ApprovalMode, ApprovalsConfig, Invalidate
from bot.model import ChangedFile, Permission, Review, ReviewState, TeamInfo

TEAM, USERS, OWNERS = "team", "users", "owners"  # GroupResult.kind: a team, a line's individuals, a whole line


class Rule(Protocol):
    """The CODEOWNERS line that decided a path (bot.core.codeowners.Match has this shape)."""

    owners: tuple[str, ...]
    line: int
    pattern: str


@dataclass(frozen=True)
class OwnerRule:
    owners: tuple[str, ...]
    line: int
    pattern: str


@dataclass(frozen=True)
class Rules:
    """The policy for one ref: its approvals config and, per changed path, the CODEOWNERS line that owns it."""

    approvals: ApprovalsConfig
    codeowners_path: str | None  # None: the ref has no CODEOWNERS, so every path is unowned
    # every changed path (both sides of renames) -> deciding line; GitLab: one deciding line per required section
    # (a tuple: every non-optional section applies, each with its own owners and `approvals_required`)
    ownership: Mapping[str, "Rule | tuple[Rule, ...] | None"]
    problems: tuple[Problem, ...] = ()  # config and CODEOWNERS mistakes found at this ref
    override_label: str | None = None  # the window override label is on the PR: one more approval per group
    # Owners without a "/" that the forge says are teams: GitLab's top-level groups ("@acme"), lower-case
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PullFacts:
    """What GitHub says about the pull request, fetched once per evaluation."""

    head_sha: str
    author: str
    files: tuple[ChangedFile, ...]
    reviews: tuple[Review, ...]  # oldest first, as GitHub lists them
    # reviewed commit -> paths changed between it and head; None when the commit left the branch (force-push)
    changed_since: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    members: Mapping[str, frozenset[str]] = field(default_factory=dict)  # "@org/team" -> logins, child teams included
    unknown_teams: frozenset[str] = frozenset()  # teams GitHub would not show us
    permissions: Mapping[str, Permission] = field(default_factory=dict)  # reviewer login -> repo permission
    bots: frozenset[str] = frozenset()  # logins known to be bots besides "[bot]" accounts
    files_truncated: bool = False  # GitHub listed only its maximum of files: owners of the rest are unknown
    groups: frozenset[str] = frozenset()  # as Rules.groups: "@acme" is a GitLab group, not a user


# --- results: values that carry their own reasons


@dataclass(frozen=True)
class Why:
    """One changed path that made a group required, and the CODEOWNERS line that decided it."""

    path: str
    line: int
    pattern: str


@dataclass(frozen=True)
class NotCounted:
    user: str
    reason: str
    stale: bool = False
    commit_id: str | None = None


@dataclass(frozen=True)
class GroupResult:
    key: str  # "@org/team", or the owners of a line joined by " or "
    kind: str  # TEAM | USERS | OWNERS
    owners: tuple[str, ...]
    required: int
    approved_by: tuple[str, ...] = ()  # approvals that count for this group
    extra: tuple[str, ...] = ()  # valid approvals not needed here or counted for another group (distinct)
    counted_elsewhere: tuple[tuple[str, str], ...] = ()  # (user, group key) when distinct moved them
    blocked_by: tuple[str, ...] = ()  # members whose latest review requests changes
    not_counted: tuple[NotCounted, ...] = ()  # members' approvals that do not count, and why
    why: tuple[Why, ...] = ()
    can_unblock: tuple[str, ...] = ()  # members who could still approve
    error: str | None = None  # e.g. the team cannot be seen

    @property
    def missing(self) -> int:
        return max(0, self.required - len(self.approved_by))

    @property
    def satisfied(self) -> bool:
        return self.error is None and not self.blocked_by and self.missing == 0


@dataclass(frozen=True)
class Preview:
    """What the head's config/CODEOWNERS would require, shown when the pull request changes them."""

    changed: tuple[str, ...]  # the rule files this pull request changes
    groups: tuple[GroupResult, ...]
    unowned: tuple[str, ...]
    codeowners_path: str | None
    problems: tuple[Problem, ...] = ()

    @property
    def passed(self) -> bool:
        return not _failing(self.problems) and all(group.satisfied for group in self.groups)


def _failing(problems: Sequence[Problem]) -> bool:
    # CODEOWNERS mistakes are warnings: GitHub skips an invalid line and applies the rest, and failing every
    # pull request would also block the one that fixes the file (it is judged by the base's CODEOWNERS).
    return any(problem.level is Level.FAILURE for problem in problems)


@dataclass(frozen=True)
class Evaluation:
    head_sha: str
    mode: ApprovalMode
    invalidate_on_push: Invalidate
    distinct: bool
    groups: tuple[GroupResult, ...]
    unowned: tuple[str, ...]
    codeowners_path: str | None
    problems: tuple[Problem, ...] = ()
    unmatched: tuple[NotCounted, ...] = ()  # approvals by people in no required group
    preview: Preview | None = None
    override_label: str | None = None  # SPEC §3 windows.override_label on the PR: each group needs one more
    files_truncated: bool = False  # too many files to know every owner: never a pass

    @property
    def passed(self) -> bool:
        return not self.files_truncated and not _failing(self.problems) and all(g.satisfied for g in self.groups)

    @property
    def missing_teams(self) -> tuple[str, ...]:
        """Teams that still owe approvals and could give them (review requests go to these)."""
        return tuple(g.key for g in self.groups if g.kind == TEAM and g.error is None and g.missing)


# --- what the evaluation will need, so an adapter fetches only that


def latest_approvals(reviews: Sequence[Review]) -> tuple[Review, ...]:
    """Each reviewer's latest non-comment review, when it is an approval."""
    return tuple(r for r in _latest_reviews(reviews).values() if r.state is ReviewState.APPROVED)


def owners_in(rules: Rules) -> tuple[frozenset[str], frozenset[str]]:
    """(teams, individual logins) named by the lines that own the changed paths, lower-cased."""
    owners = {o.lower() for rule in rules.ownership.values() for r in deciding(rule) for o in r.owners}
    return (frozenset(o for o in owners if is_team(o, rules.groups)),
            frozenset(o[1:] for o in owners if o.startswith("@") and not is_team(o, rules.groups)))


@dataclass(frozen=True)
class Lookups:
    """What an adapter should ask next: reviewed commits to compare with head, then reviewers' access."""

    commits: tuple[str, ...] = ()
    logins: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.commits or self.logins)


def lookups_needed(facts: PullFacts, *rules: Rules | None) -> Lookups:
    """The staleness and access answers that decide the result and are not known yet.

    An optimistic evaluation (`assume_best`: unknown commits changed nothing, unknown reviewers have write
    access) picks the approvals each group counts; only those need lookups, commits first (a stale approval
    needs no access check). Add the answers to the facts and ask again until nothing is needed: every counted
    approval is then verified, and as the optimistic assignment problem only has more edges than the true one,
    its maximum is the true maximum. Lookups grow with the approvals required, not with the reviewers."""
    optimistic = assume_best(facts)
    latest = {review.user: review for review in latest_approvals(facts.reviews)}
    counted: dict[str, Review] = {}
    commits: set[str] = set()
    for rule in filter(None, rules):
        mine = {user: latest[user] for group in _judge(optimistic, rule)[0] for user in group.approved_by if user in latest}
        counted.update(mine)
        if rule.approvals.invalidate_on_push is Invalidate.OWNED_FILES:
            commits |= {r.commit_id for r in mine.values()
                        if r.commit_id and r.commit_id != facts.head_sha and r.commit_id not in facts.changed_since}
    if commits:
        return Lookups(commits=tuple(sorted(commits)))
    known = {user.lower() for user in facts.permissions}
    return Lookups(logins=tuple(sorted((user for user in counted if user.lower() not in known), key=str.lower)))


def granted_by_teams(teams: Mapping[str, TeamInfo | None]) -> dict[str, Permission]:
    """Write access that team grants settle without a per-user lookup: a member of a team (child teams
    included, as they inherit the parent's access) holds at least the team's permission on the repository.
    Grants below write settle nothing (the person may have write on their own) and are left out.
    https://docs.github.com/en/organizations/organizing-members-into-teams/about-teams#nested-teams"""
    floor: dict[str, Permission] = {}
    for info in teams.values():
        if info is not None and info.repo_permission >= Permission.WRITE:
            for login in info.members:
                floor[login] = max(floor.get(login, Permission.NONE), info.repo_permission)
    return floor


def assume_best(facts: PullFacts) -> PullFacts:
    """Facts with the unknowns filled optimistically (see lookups_needed): a reviewed commit not compared yet
    changed nothing, a reviewer whose access was not looked up has write access."""
    permissions = dict(facts.permissions)
    changed_since = dict(facts.changed_since)
    known = {user.lower() for user in permissions}
    for review in latest_approvals(facts.reviews):
        if review.user.lower() not in known:
            permissions[review.user] = Permission.WRITE
        if review.commit_id and review.commit_id not in changed_since:
            changed_since[review.commit_id] = frozenset()
    return replace(facts, permissions=permissions, changed_since=changed_since)


# --- evaluation


def changed_paths(files: Sequence[ChangedFile]) -> tuple[str, ...]:
    """Every path of the pull request; a rename counts under both its old and new path (SPEC §5)."""
    seen: dict[str, None] = {}
    for changed in files:
        for path in (changed.previous_path, changed.path):
            if path:
                seen.setdefault(path, None)
    return tuple(seen)


def deciding(rule: "Rule | tuple[Rule, ...] | None") -> tuple[Rule, ...]:
    """The lines that own a path: none, GitHub's one, or one per GitLab section that applies."""
    if rule is None:
        return ()
    return rule if isinstance(rule, tuple) else (rule,)


def is_team(owner: str, groups: frozenset[str] = frozenset()) -> bool:
    """@org/team (GitHub), @group/sub (GitLab), or a slash-less owner the forge classified as a group."""
    return owner.startswith("@") and ("/" in owner or owner.lower() in groups)


def evaluate(facts: PullFacts, base: Rules, head: Rules | None = None) -> Evaluation:
    """Judge by the base's rules; when head differs (the PR edits config or CODEOWNERS), also preview it."""
    groups, unowned, unmatched = _judge(facts, base)
    preview = None
    if head is not None:
        head_groups, head_unowned, _ = _judge(facts, head)
        changed = tuple(p for p in changed_paths(facts.files) if p == base.codeowners_path or p == head.codeowners_path
                        or p.endswith("release-coordinator.yml"))
        preview = Preview(changed, head_groups, head_unowned, head.codeowners_path, head.problems)
    config = base.approvals
    return Evaluation(
        head_sha=facts.head_sha, mode=config.mode, invalidate_on_push=config.invalidate_on_push,
        distinct=config.distinct, groups=groups, unowned=unowned, codeowners_path=base.codeowners_path,
        problems=base.problems, unmatched=unmatched, preview=preview, override_label=base.override_label,
        files_truncated=facts.files_truncated,
    )


@dataclass
class _Group:
    key: str
    kind: str
    owners: tuple[str, ...]
    required: int
    why: list[Why] = field(default_factory=list)


def _judge(facts: PullFacts, rules: Rules) -> tuple[tuple[GroupResult, ...], tuple[str, ...], tuple[NotCounted, ...]]:
    config = rules.approvals
    groups, unowned = _required_groups(changed_paths(facts.files), rules)
    latest = _latest_reviews(facts.reviews)
    eligible: dict[str, list[str]] = {}
    partial: dict[str, dict] = {}
    in_some_group: set[str] = set()
    for key, group in groups.items():
        members = _members(group, facts)
        blocked, approvers, not_counted = [], [], []
        for login, review in latest.items():
            if members is None or login.lower() not in members:
                continue
            if _is_bot(login, review, facts) and config.ignore_bots:
                continue
            in_some_group.add(login.lower())
            if review.state is ReviewState.CHANGES_REQUESTED:
                blocked.append(login)
            elif review.state is ReviewState.APPROVED:
                reason = _not_counting(login, review, group, facts, config)
                if reason is None:
                    approvers.append(login)
                else:
                    not_counted.append(reason)
        # Approvals of the head commit first: they need no comparison, and a reader expects them to count.
        eligible[key] = sorted(approvers, key=lambda login: (latest[login].commit_id != facts.head_sha, login.lower()))
        partial[key] = {"blocked_by": tuple(sorted(blocked, key=str.lower)), "members": members,
                        "not_counted": tuple(sorted(not_counted, key=lambda n: n.user.lower()))}
    capacity = {key: 0 if groups[key].kind == TEAM and key in _unknown(facts) else groups[key].required for key in groups}
    prefer = {login: (review.commit_id != facts.head_sha, login.lower()) for login, review in latest.items()}
    # Without `distinct` anyone may count for every group; counting the first `required` keeps the approvals
    # that need an access check bounded (the rest are listed as extra).
    assigned = (assign(eligible, capacity, prefer=prefer.__getitem__) if config.distinct
                else {key: eligible[key][:capacity[key]] for key in groups})
    owner_of = {user: key for key, users in assigned.items() for user in users}
    results = []
    for key in sorted(groups, key=lambda k: (groups[k].kind != TEAM, k.lower())):
        group, info = groups[key], partial[key]
        counted = tuple(assigned.get(key, ()))
        extra = tuple(u for u in eligible[key] if u not in counted and (not config.distinct or u not in owner_of))
        elsewhere = tuple((u, owner_of[u]) for u in eligible[key] if config.distinct and owner_of.get(u, key) != key)
        results.append(GroupResult(
            key=group.key, kind=group.kind, owners=group.owners, required=group.required,
            approved_by=counted, extra=extra, counted_elsewhere=elsewhere, blocked_by=info["blocked_by"],
            not_counted=info["not_counted"], why=tuple(group.why),
            can_unblock=_can_unblock(group, info["members"], eligible[key], facts, config),
            error=_team_error(group, facts),
        ))
    unmatched = tuple(
        NotCounted(login, "is not a member of any team or owner that must approve")
        for login, review in sorted(latest.items(), key=lambda item: item[0].lower())
        if review.state is ReviewState.APPROVED and login.lower() not in in_some_group
        and not (config.ignore_bots and _is_bot(login, review, facts))
    )
    return tuple(results), unowned, unmatched


def _required_groups(paths: Sequence[str], rules: Rules) -> tuple[dict[str, _Group], tuple[str, ...]]:
    config = rules.approvals
    groups: dict[str, _Group] = {}
    unowned = []
    # SPEC §3: the window override "needs one more approval per team". A lone individual owner cannot give
    # two, so a line's individuals ask one more only when there are several of them.
    extra = 1 if rules.override_label else 0
    for path in paths:
        decided = [r for r in deciding(rules.ownership.get(path)) if r.owners]
        if not decided:
            unowned.append(path)  # no line, or a line with no owners: GitHub leaves the path unowned
            continue
        for rule in decided:
            _require(groups, rule, path=path, config=config, extra=extra, known=rules.groups)
    return groups, tuple(unowned)


def _require(groups: dict[str, _Group], rule: Rule, *, path: str, config: ApprovalsConfig, extra: int,
             known: frozenset[str] = frozenset()) -> None:
    """The groups one owning line asks for. A GitLab section's `[Section][N]` asks N approvals of its owners."""
    need = max(1, int(getattr(rule, "approvals_required", 1) or 1))
    why = Why(path, rule.line, rule.pattern)
    teams = sorted({o.lower() for o in rule.owners if is_team(o, known)})
    people = tuple(sorted({o.lower() for o in rule.owners if not is_team(o, known)}))
    if config.mode is ApprovalMode.ANY_OWNER:
        # GitHub's native rule: any one owner of the line; a team minimum still applies to its own members.
        owners = tuple(teams) + people
        key = " or ".join(owners)
        required = max(need, min([config.minimum(t) for t in teams] + ([1] if people else []))) + extra
        groups.setdefault(key, _Group(key, OWNERS, owners, required)).why.append(why)
        return
    for team in teams:
        groups.setdefault(team, _Group(team, TEAM, (team,), max(need, config.minimum(team)) + extra)).why.append(why)
    if people:
        key = " or ".join(people)
        logins = [p for p in people if p.startswith("@")]
        groups.setdefault(key, _Group(key, USERS, people, need + (extra if len(logins) > 1 else 0))).why.append(why)


def _members(group: _Group, facts: PullFacts) -> frozenset[str] | None:
    """Lower-cased logins who speak for the group; None when a team in it could not be read."""
    logins: set[str] = set()
    for owner in group.owners:
        if is_team(owner, facts.groups):
            found = _lower_members(facts).get(owner)
            if found is None:
                if group.kind == TEAM:
                    return None
                continue
            logins |= found
        elif owner.startswith("@"):
            logins.add(owner[1:])
        # e-mail owners cannot be matched to a login without GitHub's private mapping; see rendering
    return frozenset(logins)


def _lower_members(facts: PullFacts) -> dict[str, frozenset[str]]:
    return {team.lower(): frozenset(m.lower() for m in members) for team, members in facts.members.items()}


def _unknown(facts: PullFacts) -> set[str]:
    return {team.lower() for team in facts.unknown_teams}


def _team_error(group: _Group, facts: PullFacts) -> str | None:
    missing = [o for o in group.owners if is_team(o, facts.groups) and (o in _unknown(facts) or o not in _lower_members(facts))]
    if group.kind == TEAM and missing or group.kind == OWNERS and missing and len(missing) == len(group.owners):
        return "cannot see team " + ", ".join(missing)
    if group.kind == USERS and not any(o.startswith("@") for o in group.owners):
        return "only e-mail owners, which cannot be matched to GitHub accounts"
    return None


def _latest_reviews(reviews: Sequence[Review]) -> dict[str, Review]:
    """Each reviewer's latest review that is not a comment (SPEC §5); a dismissed one neither approves nor blocks."""
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.state in (ReviewState.COMMENTED, ReviewState.PENDING):
            continue
        for login in [l for l in latest if l.lower() == review.user.lower()]:
            del latest[login]
        latest[review.user] = review
    return {login: review for login, review in latest.items() if review.state is not ReviewState.DISMISSED}


def _is_bot(login: str, review: Review, facts: PullFacts) -> bool:
    return review.user_is_bot or login.lower().endswith("[bot]") or login.lower() in {b.lower() for b in facts.bots}


def _not_counting(login: str, review: Review, group: _Group, facts: PullFacts, config: ApprovalsConfig) -> NotCounted | None:
    if login.lower() == facts.author.lower() and not config.allow_author:
        return NotCounted(login, "is the author of the pull request")
    stale = _stale_reason(review, group, facts, config.invalidate_on_push)
    if stale is not None:  # checked before access, so a stale approval costs no permission lookup
        return NotCounted(login, stale, stale=True, commit_id=review.commit_id)
    permission = {u.lower(): p for u, p in facts.permissions.items()}.get(login.lower(), Permission.NONE)
    if permission < Permission.WRITE:
        why = "has no access to the repository any more" if permission == Permission.NONE else f"has {permission.name.lower()} access, not write"
        return NotCounted(login, why)
    return None


def _stale_reason(review: Review, group: _Group, facts: PullFacts, invalidate: Invalidate) -> str | None:
    if invalidate is Invalidate.NEVER or review.commit_id == facts.head_sha:
        return None
    if review.commit_id is None:
        return "approved a commit GitHub no longer knows"
    short = review.commit_id[:7]
    if invalidate is Invalidate.ALL:
        return f"approved {short}; new commits were pushed since"
    if review.commit_id not in facts.changed_since:
        return f"approved {short}; could not tell what changed since"
    changed = facts.changed_since[review.commit_id]
    if changed is None:
        return f"approved {short}, which is no longer in the branch (force-push)"
    # Only paths still in the pull request's diff count: merging the base branch in touches files the pull
    # request does not change, and must not cost anyone their approval.
    owned = sorted({why.path for why in group.why} & changed)
    if owned:
        shown = ", ".join(owned[:3]) + (f" and {len(owned) - 3} more" if len(owned) > 3 else "")
        return f"approved {short}; later commits changed {shown}"
    return None


def _can_unblock(group: _Group, members: frozenset[str] | None, approved: Sequence[str], facts: PullFacts,
                 config: ApprovalsConfig) -> tuple[str, ...]:
    if members is None:
        return ()
    permissions = {u.lower(): p for u, p in facts.permissions.items()}
    bots = {b.lower() for b in facts.bots}
    done = {u.lower() for u in approved}  # their approval is already in, here or for another group
    return tuple(sorted(
        login for login in members
        if login not in done and login not in bots and not login.endswith("[bot]")
        and (config.allow_author or login != facts.author.lower())
        and permissions.get(login, Permission.WRITE) >= Permission.WRITE  # unknown: GitHub decides on approval
    ))


# --- distinct people: an exact assignment, independent of review order


def assign(eligible: Mapping[str, Sequence[str]], capacity: Mapping[str, int],
           *, prefer: Callable[[str], Any] = str.lower) -> dict[str, list[str]]:
    """Maximum assignment of people to groups: each person in at most one group, group g gets at most
    capacity[g] people, only from eligible[g]. Kuhn's augmenting paths over group slots (a bipartite
    b-matching), so the number assigned is the maximum whatever order the reviews came in."""
    options: dict[str, list[str]] = {}
    for group in sorted(eligible):
        for person in eligible[group]:
            options.setdefault(person, []).append(group)
    slots: dict[str, list[str]] = {group: [] for group in eligible}

    def augment(person: str, visited: set[str]) -> bool:
        for group in options[person]:
            if group in visited or capacity.get(group, 0) <= 0:
                continue
            visited.add(group)
            if len(slots[group]) < capacity[group]:
                slots[group].append(person)
                return True
            for index, holder in enumerate(slots[group]):
                if augment(holder, visited):
                    slots[group][index] = person
                    return True
        return False

    for person in sorted(options, key=lambda p: (prefer(p), p)):  # `prefer` only breaks ties between maxima
        augment(person, set())
    return {group: sorted(people, key=str.lower) for group, people in slots.items()}


# --- a plain-JSON form, so the details page can show the evaluation the check run was rendered from


def to_json(evaluation: Evaluation) -> dict:
    def group(g: GroupResult) -> dict:
        return {
            "key": g.key, "kind": g.kind, "owners": list(g.owners), "required": g.required,
            "approved_by": list(g.approved_by), "extra": list(g.extra),
            "counted_elsewhere": [list(pair) for pair in g.counted_elsewhere], "blocked_by": list(g.blocked_by),
            "not_counted": [_not_counted_json(n) for n in g.not_counted],
            "why": [{"path": w.path, "line": w.line, "pattern": w.pattern} for w in g.why],
            "can_unblock": list(g.can_unblock), "error": g.error,
        }

    preview = evaluation.preview
    return {
        "head_sha": evaluation.head_sha, "mode": evaluation.mode.value,
        "invalidate_on_push": evaluation.invalidate_on_push.value, "distinct": evaluation.distinct,
        "groups": [group(g) for g in evaluation.groups], "unowned": list(evaluation.unowned),
        "codeowners_path": evaluation.codeowners_path, "problems": [_problem_json(p) for p in evaluation.problems],
        "unmatched": [_not_counted_json(n) for n in evaluation.unmatched],
        "override_label": evaluation.override_label, "files_truncated": evaluation.files_truncated,
        "preview": None if preview is None else {
            "changed": list(preview.changed), "groups": [group(g) for g in preview.groups],
            "unowned": list(preview.unowned), "codeowners_path": preview.codeowners_path,
            "problems": [_problem_json(p) for p in preview.problems],
        },
    }


def from_json(data: Mapping) -> Evaluation:
    def group(g: Mapping) -> GroupResult:
        return GroupResult(
            key=g["key"], kind=g["kind"], owners=tuple(g["owners"]), required=g["required"],
            approved_by=tuple(g["approved_by"]), extra=tuple(g["extra"]),
            counted_elsewhere=tuple((u, k) for u, k in g["counted_elsewhere"]), blocked_by=tuple(g["blocked_by"]),
            not_counted=tuple(NotCounted(**n) for n in g["not_counted"]),
            why=tuple(Why(**w) for w in g["why"]), can_unblock=tuple(g["can_unblock"]), error=g["error"],
        )

    preview = data.get("preview")
    return Evaluation(
        head_sha=data["head_sha"], mode=ApprovalMode(data["mode"]), invalidate_on_push=Invalidate(data["invalidate_on_push"]),
        distinct=data["distinct"], groups=tuple(group(g) for g in data["groups"]), unowned=tuple(data["unowned"]),
        codeowners_path=data["codeowners_path"], problems=tuple(_problem(p) for p in data["problems"]),
        unmatched=tuple(NotCounted(**n) for n in data["unmatched"]), override_label=data.get("override_label"),
        files_truncated=data.get("files_truncated", False),
        preview=None if preview is None else Preview(
            changed=tuple(preview["changed"]), groups=tuple(group(g) for g in preview["groups"]),
            unowned=tuple(preview["unowned"]), codeowners_path=preview["codeowners_path"],
            problems=tuple(_problem(p) for p in preview["problems"]),
        ),
    )


def _not_counted_json(n: NotCounted) -> dict:
    return {"user": n.user, "reason": n.reason, "stale": n.stale, "commit_id": n.commit_id}


def _problem_json(p: Problem) -> dict:
    return {"file": p.file, "line": p.line, "message": p.message, "level": p.level.value}


def _problem(p: Mapping) -> Problem:
    return Problem(p["file"], p["line"], p["message"], Level(p["level"]))
