"""The release plan (issue 14): what a release pull request ships, who must still approve, and when it can ship.

Pure values over what the handlers fetched: the component changes (bot.core.release.ComponentChange, whose
changelog grouping is reused as is), the approvals evaluation and the window state. Also the pull requests a
release carries, for the shipped-in comments and the GitHub Release body.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from bot.core import conventional
from bot.core.approvals import Evaluation
from bot.core.config import WindowsConfig
from bot.core.promotion import Outcome as PromotionOutcome
from bot.core.promotion import PromotionVerdict
from bot.core.release import CommitInfo, ComponentChange, component_notes
from bot.core.windows import WindowState, local

PLAN_HEADING = "### Release plan"
# "Merge pull request #12 from acme/branch": GitHub's merge-commit header (the merge method "merge").
_MERGE_PULL = re.compile(r"^Merge pull request #(?P<number>\d+) from \S+")
# GitLab's merge commit: "Merge branch 'x' into 'main'" ... "See merge request group/project!12" in the body.
_MERGE_REQUEST = re.compile(r"^See merge request (?:\S+)?!(?P<number>\d+)\s*$", re.MULTILINE)


class When(enum.Enum):
    """When the release can merge, as far as time and approvals say."""

    NOW = "now"
    AFTER_APPROVALS = "after approvals"  # the window allows it; approvals are missing
    WINDOW_OPENS = "window opens"  # outside the allowed windows: the next opening
    FREEZE_ENDS = "freeze ends"  # inside a freeze: when it ends (and a window is open)
    NOT_SOON = "not soon"  # no window opens within the horizon
    OVERRIDE = "override"  # the override label allows it outside the window
    AFTER_PROMOTION = "after promotion"  # the promotion gate waits for a verification (or is blocked)


@dataclass(frozen=True)
class Pending:
    """A group that still owes approvals, and who can give them."""

    group: str
    missing: int
    can_unblock: tuple[str, ...] = ()
    blocked_by: tuple[str, ...] = ()  # members whose latest review requests changes
    error: str | None = None


@dataclass(frozen=True)
class ShipTime:
    when: When
    at: dt.datetime | None  # UTC; when time alone is what waits (WINDOW_OPENS, FREEZE_ENDS)
    reason: str  # one sentence a reviewer reads


@dataclass(frozen=True)
class ReleasePlanView:
    release_id: str | None  # None when the tag template cannot be filled (the manifest check says why)
    changes: tuple[ComponentChange, ...]
    authors: Mapping[str, str]  # commit sha -> login, when the forge knows it
    approvals_known: bool  # an evaluation of this head exists
    pending: tuple[Pending, ...]
    ship: ShipTime


def pending_approvals(evaluation: Evaluation) -> tuple[Pending, ...]:
    return tuple(
        Pending(group=g.key, missing=g.missing, can_unblock=g.can_unblock, blocked_by=g.blocked_by, error=g.error)
        for g in evaluation.groups if not g.satisfied
    )


def ship_time(*, approvals_passed: bool | None, window: WindowState | None,
              waits: tuple[tuple[str, dt.datetime], ...] = (), holds: tuple[str, ...] = ()) -> ShipTime:
    """Time first (the window, a freeze, `waits` such as a promotion's soak end: the latest of them), then what
    only people or other systems can change (`holds` such as a verification to pass, then the approvals)."""
    timed = [w for w in waits if window is None or window.now < w[1]]
    if window is not None and not window.allowed:
        if window.next_open is None:
            return ShipTime(When.NOT_SOON, None, _also("no release window opens in the next two years", holds))
        what = (f"the release freeze {window.freeze.start}–{window.freeze.end} ends" if window.freeze is not None
                else "the next release window opens")
        timed.append((what, window.next_open))
    untimed = list(holds)
    if approvals_passed is False:
        untimed.append("the missing approvals are given")
    elif approvals_passed is None:
        untimed.append("the approvals check passes (not evaluated for this head yet)")
    if timed:
        what, at = max(timed, key=lambda w: w[1])
        freeze = window is not None and window.freeze is not None and at == window.next_open
        return ShipTime(When.FREEZE_ENDS if freeze else When.WINDOW_OPENS, at, _also(what, untimed))
    if holds:
        return ShipTime(When.AFTER_PROMOTION, None, "once " + " and ".join(untimed))
    if untimed:
        return ShipTime(When.AFTER_APPROVALS, None,
                        "as soon as the missing approvals are given" if approvals_passed is False else "once " + untimed[0])
    if window is not None and window.override and not (window.in_window and window.freeze is None):
        return ShipTime(When.OVERRIDE, None, "now, under the override label")
    return ShipTime(When.NOW, None, "now")


def _also(what: str, conditions) -> str:
    return what + (f" (and once {' and '.join(conditions)})" if conditions else "")


def build_plan(*, release_id: str | None, changes: tuple[ComponentChange, ...], evaluation: Evaluation | None,
               window: WindowState | None, authors: Mapping[str, str] = MappingProxyType({}),
               waits: tuple[tuple[str, dt.datetime], ...] = (), holds: tuple[str, ...] = ()) -> ReleasePlanView:
    passed = None if evaluation is None else evaluation.passed
    return ReleasePlanView(
        release_id=release_id, changes=changes, authors=MappingProxyType(dict(authors)),
        approvals_known=evaluation is not None,
        pending=pending_approvals(evaluation) if evaluation is not None else (),
        ship=ship_time(approvals_passed=passed, window=window, waits=waits, holds=holds),
    )


def promotion_terms(verdict: PromotionVerdict) -> tuple[tuple[tuple[str, dt.datetime], ...], tuple[str, ...]]:
    """(waits, holds) the promotion gate adds to when a release can ship (bot.core.promotion's verdict)."""
    waits: tuple[tuple[str, dt.datetime], ...] = ()
    if verdict.soak_ends_at is not None and verdict.outcome in (
            PromotionOutcome.WAITING_FOR_SOAK, PromotionOutcome.WAITING_FOR_VERIFICATION,
            PromotionOutcome.VERIFICATION_FAILED):
        waits = ((f"the soak in {verdict.verified_in} ends", verdict.soak_ends_at),)
    tag = verdict.release.tag if verdict.release is not None else verdict.verified_in
    unmet = ", ".join(f"`{e.name}`" for e in verdict.evidence if e.state is None or e.state.value != "success")
    if verdict.outcome is PromotionOutcome.WAITING_FOR_VERIFICATION:
        return waits, (f"{unmet or 'the verification'} passes on {tag}",)
    if verdict.outcome is PromotionOutcome.VERIFICATION_FAILED:
        return waits, (f"the failed verification ({unmet or 'see the promotion check'}) passes on {tag}",)
    if verdict.outcome is PromotionOutcome.NOT_RELEASED:
        return (), (f"these versions are released to {verdict.verified_in} first",)
    if verdict.outcome is PromotionOutcome.RELEASE_TIME_UNKNOWN:
        return (), ("the promotion check passes",)
    return waits, ()


# --------------------------------------------------------------------------------------------- rendering


def render_plan(plan: ReleasePlanView, *, web_url: str, windows: WindowsConfig | None = None) -> str:
    """Markdown for the manifest check's summary (and so the details page) and for `release-coordinator plan`."""
    tz = windows.timezone if windows is not None else "UTC"
    out = [PLAN_HEADING, ""]
    if plan.release_id:
        out += [f"Merging tags **`{plan.release_id}`**.", ""]
    out += [f"**Can ship:** {_ship_text(plan.ship, tz)}", ""]
    out += ["| Component | Version | Change |", "| --- | --- | --- |"]
    for change in plan.changes:
        version = change.new if change.old in (None, change.new) else f"{change.old} → {change.new}"
        out.append(f"| {change.name.replace('|', chr(92) + '|')} | {version} | {change.direction} |")
    out.append("")
    if not plan.approvals_known:
        out += ["**Approvals:** not evaluated for this head yet; the approvals check will say who must approve.", ""]
    elif plan.pending:
        out += ["**Still to approve:**", ""]
        for pending in plan.pending:
            out.append(f"- `{pending.group}`: {_pending_text(pending)}")
        out.append("")
    else:
        out += ["**Approvals:** complete.", ""]
    for change in plan.changes:
        if change.direction in ("upgraded", "rolled back"):
            out += [line.replace("### ", "#### ", 1) if line.startswith("### ") else
                    line.replace("#### ", "##### ", 1) if line.startswith("#### ") else line
                    for line in component_notes(change, web_url=web_url, authors=plan.authors)]
    return "\n".join(out).rstrip("\n") + "\n"


def _ship_text(ship: ShipTime, tz: str) -> str:
    if ship.at is not None:
        when = local(ship.at, tz)
        if tz in ("UTC", "Etc/UTC"):
            when = when.split(" (")[0]  # local() adds the UTC time in parentheses: the same here
        # "not before": still true once the moment has passed and nothing re-judged the check yet
        return f"not before {when}, when {ship.reason}"
    return ship.reason


def _pending_text(pending: Pending) -> str:
    if pending.error:
        return pending.error
    parts = []
    if pending.missing:
        parts.append(f"{pending.missing} more approval{'s' if pending.missing != 1 else ''}")
    if pending.blocked_by:
        parts.append("changes requested by " + ", ".join(f"@{u}" for u in pending.blocked_by))
    text = "; ".join(parts) or "not satisfied"
    if pending.can_unblock:
        shown = ", ".join(f"@{u}" for u in pending.can_unblock[:10])
        more = f" and {len(pending.can_unblock) - 10} more" if len(pending.can_unblock) > 10 else ""
        text += f" (can approve: {shown}{more})"
    return text


# --------------------------------------------------------------------------------------------- carried pulls


@dataclass(frozen=True, order=True)
class CarriedPull:
    """A component pull request whose merge is among the commits a release ships."""

    repo: str
    number: int
    component: str


def pull_number_of(message: str) -> int | None:
    """The pull request a commit on the default branch came from: squash "(#N)", a merge commit's header, or
    GitLab's "See merge request path!N" trailer line. None for a commit pushed directly (or rebased)."""
    header = message.strip().partition("\n")[0]
    merged = _MERGE_PULL.match(header) or _MERGE_REQUEST.search(message)
    if merged:
        return int(merged["number"])
    return conventional.parse(message).pull_number


def pulls_by_message(commits: tuple[CommitInfo, ...]) -> dict[str, int]:
    """sha -> pull request number, from what the commits say for free: each message's own reference
    (pull_number_of), and for a merge commit that names its pull request, every listed commit it brought in
    (reachable from its other parents but not from its first, among `commits`: the pull's own commits, whose
    messages name nothing). What is left is for the forge to attribute (Forge.merged_pulls_for_commits)."""
    listed = {c.sha: c for c in commits}
    found: dict[str, int] = {}
    for commit in commits:
        number = pull_number_of(commit.message)
        if number is None:
            continue
        found[commit.sha] = number
        if len(commit.parents) > 1:
            mainline = _ancestors_among(listed, commit.parents[:1])
            for sha in _ancestors_among(listed, commit.parents[1:]) - mainline:
                found.setdefault(sha, number)
    return found


def _ancestors_among(listed: Mapping[str, CommitInfo], starts) -> set[str]:
    """The commits of `listed` reachable from `starts` (themselves included) through listed commits only."""
    seen: set[str] = set()
    todo = [s for s in starts if s in listed]
    while todo:
        sha = todo.pop()
        if sha in seen:
            continue
        seen.add(sha)
        todo.extend(p for p in listed[sha].parents if p in listed and p not in seen)
    return seen


def with_pulls(commits: tuple[CommitInfo, ...], found: Mapping[str, int] = MappingProxyType({})) -> tuple[CommitInfo, ...]:
    """The commits with pull_number filled where their own message names none: from the merge commit that
    brought them in (pulls_by_message), else from `found` (sha -> number, as the forge attributed it)."""
    by_message = pulls_by_message(commits)
    filled = []
    for commit in commits:
        if commit.pull_number is None and pull_number_of(commit.message) is None:
            number = by_message.get(commit.sha, found.get(commit.sha))
            if number is not None:
                commit = dataclasses.replace(commit, pull_number=number)
        filled.append(commit)
    return tuple(filled)


def unattributed(commits: tuple[CommitInfo, ...]) -> tuple[str, ...]:
    """The shas neither their messages nor a merge commit attribute, nor the forge did already: oldest first."""
    by_message = pulls_by_message(commits)
    return tuple(c.sha for c in commits if c.sha not in by_message and c.pull_number is None)


def carried_pulls(changes: tuple[ComponentChange, ...]) -> tuple[CarriedPull, ...]:
    """Every pull request between the old and new tag of each upgraded component, once, sorted: named by a
    commit message (or the merge commit that brought the commit in), else as the forge attributed the commit
    (CommitInfo.pull_number: a rebase merge, a squash without its reference). A rollback carries nothing: its
    commits are withdrawn, not shipped."""
    found = set()
    for change in changes:
        if change.direction != "upgraded" or not change.commits:
            continue
        by_message = pulls_by_message(change.commits)
        for commit in change.commits:
            number = by_message.get(commit.sha, commit.pull_number)
            if number is not None:
                found.add(CarriedPull(change.repo, number, change.name))
    return tuple(sorted(found))


def shipped_comment(*, release_id: str, environment: str, date: dt.date, release_url: str | None) -> str:
    """The one comment a carried pull request gets per environment."""
    text = f"Shipped in {release_id} to {environment} on {date.isoformat()}"
    return text + (f"\n\n[Release notes]({release_url})" if release_url else "") + "\n"


def shipped_section(carried: tuple[CarriedPull, ...], *, pull_url, pull_ref=lambda number: f"#{number}") -> str:
    """The Release body's list of the pull requests it ships; pull_url(repo, number) -> web URL, pull_ref(number)
    -> how the forge writes one (GitHub `#12`, GitLab `!12`)."""
    if not carried:
        return ""
    lines = ["### Pull requests shipped", ""]
    lines += [f"- [{p.repo}{pull_ref(p.number)}]({pull_url(p.repo, p.number)}) ({p.component})" for p in carried]
    return "\n".join(lines) + "\n"
