"""The `release-coordinator/approvals` check run, rendered from an Evaluation (SPEC §4, §5)."""
from __future__ import annotations

from typing import Sequence

from bot.core.approvals import TEAM, USERS, Evaluation, GroupResult, Preview
from bot.core.checks import APPROVALS, Annotation, CheckResult, Conclusion, Level, Problem

CODEOWNERS_SEARCHED = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
MAX_SUMMARY = 60_000  # GitHub caps output.summary at 65,535 characters
MAX_LISTED = 10  # paths or people listed per item before "and N more"
MAX_PULL_FILES = 3000  # https://docs.github.com/en/rest/pulls/pulls#list-pull-requests-files: "a maximum of 3000 files"
MAX_RULES_LISTED = 20  # CODEOWNERS lines listed per group in the check run
TEAM_PERMISSION_HINT = (
    'the app needs the organization permission "Members: read" to see team members, '
    "and the team must exist (check the CODEOWNERS spelling)"
)


def render_check(evaluation: Evaluation, *, details_url: str | None = None, queued: bool = False) -> CheckResult:
    """queued: judged on a merge queue's commit, where waiting is failure: a later review is judged on the pull
    request's head, never on this commit, so a pending check here would only hold the queue until it times out."""
    passed = evaluation.passed
    must_change = blockers(evaluation) if not passed else []
    sections = [_truncated_note(evaluation),
                "\n".join(["**What must change first:**", *(f"- {reason}" for reason in must_change)]) if must_change else "",
                _table(evaluation.groups, evaluation.distinct), _override_note(evaluation), _unowned_note(evaluation)]
    sections += [_missing_section(g) for g in evaluation.groups if not g.satisfied]
    if not passed and evaluation.unmatched:
        sections.append("Approvals that count for no required group: " + "; ".join(
            f"{_at(n.user)} {n.reason}" for n in evaluation.unmatched))
    if evaluation.problems:
        sections.append(_problems_section("Problems in the base branch's rules (invalid CODEOWNERS lines are skipped, "
                                          "as GitHub does)", evaluation.problems))
    if evaluation.preview is not None:
        sections.append(_preview_section(evaluation.preview))
    sections.append(_policy_line(evaluation))
    annotations = [Annotation.from_problem(p) for p in evaluation.problems if _in_repo(p)]
    if evaluation.preview is not None:
        annotations += [Annotation.from_problem(_as_warning(p)) for p in evaluation.preview.problems if _in_repo(p)]
    return CheckResult(
        name=APPROVALS,
        head_sha=evaluation.head_sha,
        conclusion=Conclusion.FAILURE if queued and not passed else conclusion(evaluation),
        title=_title(evaluation),
        summary=_limit("\n\n".join(s for s in sections if s), details_url),
        annotations=tuple(annotations[:50]),  # GitHub takes 50 annotations per request
        details_url=details_url,
    )


def conclusion(evaluation: Evaluation) -> Conclusion:
    """SPEC §4: success when passed; pending while more approvals alone can still meet the requirement;
    failure only when something must change first (a change request, a too-large pull request, a failing config
    problem, a team the app cannot see, or a group with fewer possible approvers than it still needs)."""
    if evaluation.passed:
        return Conclusion.SUCCESS
    return Conclusion.FAILURE if blockers(evaluation) else Conclusion.PENDING


def blockers(evaluation: Evaluation) -> list[str]:
    """Why more approvals alone cannot make the check pass, one reason each; empty when waiting is enough."""
    reasons = []
    if evaluation.files_truncated:
        reasons.append(f"more files than GitHub lists ({MAX_PULL_FILES:,}): split the pull request")
    reasons += [f"{p.file}{f' line {p.line}' if p.line else ''}: {p.message}"
                for p in evaluation.problems if p.level is Level.FAILURE]
    for g in evaluation.groups:
        if g.error:
            reasons.append(f"{_group_name(g)}: {g.error}")
        elif g.blocked_by:
            reasons.append(f"{_group_name(g)}: changes requested by {', '.join(_at(u) for u in g.blocked_by)}")
        elif g.missing > len(g.can_unblock):
            reasons.append(f"{_group_name(g)}: needs {_count(g.missing, 'more approval')} but "
                           + (f"only {_listed([_at(u) for u in g.can_unblock])} can still approve" if g.can_unblock
                              else "nobody else can approve"))
    return reasons


def render_config_failure(problems: Sequence[Problem], *, head_sha: str, details_url: str | None = None) -> CheckResult:
    """The base branch's config cannot be used: every check fails with the error and its line (SPEC §3)."""
    first = problems[0]
    return CheckResult(
        name=APPROVALS,
        head_sha=head_sha,
        conclusion=Conclusion.FAILURE,
        title=f"Configuration error: {first.message}"[:200],
        summary=_problems_section("The release-coordinator configuration of the base branch cannot be used", problems)
        + "\n\nThe pull request is judged by the base branch's configuration, so fix it there first.",
        annotations=tuple(Annotation.from_problem(p) for p in problems if _in_repo(p))[:50],
        details_url=details_url,
    )


def _title(evaluation: Evaluation) -> str:
    groups = evaluation.groups
    if evaluation.files_truncated:
        return f"Too many files: GitHub lists only the first {MAX_PULL_FILES:,}, so not every owner is known"
    if not groups:
        if evaluation.codeowners_path is None:
            return "No CODEOWNERS file: no team approval needed"
        return "Only unowned paths changed: no team approval needed"
    if evaluation.passed:
        return f"All {_count(len(groups), 'owning group')} approved"
    unseen = [g for g in groups if g.error]
    if unseen:
        return f"Cannot check {', '.join(g.key for g in unseen)}: {unseen[0].error}"[:200]
    blocked = [g for g in groups if g.blocked_by]
    if blocked:
        who = ", ".join(f"{_at(u)} ({g.key})" for g in blocked for u in g.blocked_by)
        return f"Changes requested by {who}"[:200]
    short = [g for g in groups if g.missing > len(g.can_unblock)]
    if short:  # red, so the title must not say "waiting": more approvals than people who could give them
        g = short[0]
        return (f"{g.key} needs {_count(g.missing, 'more approval')}, but "
                + (f"only {len(g.can_unblock)} member{'s' if len(g.can_unblock) != 1 else ''} can approve"
                   if g.can_unblock else "nobody else can approve"))[:200]
    failing = [p for p in evaluation.problems if p.level is Level.FAILURE]
    if failing:
        return f"Configuration problem: {failing[0].message}"[:200]
    waiting = [g for g in groups if not g.satisfied]
    names = ", ".join(f"{g.key} ({g.missing} more)" for g in waiting)
    return f"Waiting for {len(waiting)} of {_count(len(groups), 'group')}: {names}"[:200]


def _table(groups: Sequence[GroupResult], distinct: bool) -> str:
    if not groups:
        return ""
    # "group", as in the titles: a CODEOWNERS line's owners may be people, not a team
    rows = ["| owning group | required | approved by | missing |", "| --- | ---: | --- | ---: |"]
    for g in groups:
        approved = [_at(u) for u in g.approved_by]
        if distinct:
            approved += [f"~~{_at(u)}~~ (counted for {k})" for u, k in g.counted_elsewhere]
        approved += [_at(u) for u in g.extra]
        if g.error:
            missing = "cannot see team"
        elif g.blocked_by:
            missing = f"{g.missing}, blocked by " + ", ".join(_at(u) for u in g.blocked_by)
        else:
            missing = str(g.missing) if g.missing else "✓"
        rows.append(f"| {_cell(_group_name(g))} | {g.required} | {_cell(', '.join(approved) or '—')} | {_cell(missing)} |")
    return "\n".join(rows)


def _missing_section(g: GroupResult) -> str:
    if g.error:
        head = f"### {_group_name(g)}: {g.error}"
        lines = [f"- {TEAM_PERMISSION_HINT}." if g.kind == TEAM or "team" in g.error else f"- {g.error}."]
    elif g.blocked_by:
        head = f"### {_group_name(g)}: changes requested"
        lines = [f"- {_at(u)} requested changes; it counts until they approve or the review is dismissed." for u in g.blocked_by]
    else:
        head = f"### {_group_name(g)}: {_count(g.missing, 'more approval')} needed"
        lines = []
    decided = list(_why_by_line(g).items())
    for line, (pattern, paths) in decided[:MAX_RULES_LISTED]:
        lines.append(f"- Required by {rule_text(line, pattern, paths, code=lambda t: f'`{_code(t)}`')}")
    if len(decided) > MAX_RULES_LISTED:
        more = decided[MAX_RULES_LISTED:]
        lines.append(f"- … and {len(more)} more CODEOWNERS lines for {sum(len(p) for _, (_, p) in more)} more paths "
                     "(all of them are on the details page)")
    if g.missing and not g.error:
        if g.can_unblock:
            lines.append("- Can approve: " + _listed([_at(u) for u in g.can_unblock]))
        elif any(o.startswith("@") for o in g.owners):
            lines.append("- Nobody else can approve: the app sees no other member who is not the author and has write "
                         "access (check the team's members and its access to this repository)")
    for u, other in g.counted_elsewhere:
        lines.append(f"- {_at(u)} approved but counts for {other}: one person counts for one group only (`distinct`)")
    for n in g.not_counted:
        kind = "Stale" if n.stale else "Not counted"
        lines.append(f"- {kind}: {_at(n.user)} {n.reason}")
    if any("@" in o and not o.startswith("@") for o in g.owners):
        lines.append("- E-mail owners cannot be matched to GitHub accounts; write their @login in CODEOWNERS")
    return "\n".join([head, *lines])


def rule_text(line: int, pattern: str, paths: Sequence[str], *, code=lambda text: text) -> str:
    """"CODEOWNERS line 3 `/infra/` for `infra/main.tf`"; a pattern that names its only path says it once:
    "CODEOWNERS line 1 for `release.yml`" (it read "`release.yml`: `release.yml`")."""
    if len(paths) == 1 and pattern.strip("/") == paths[0].strip("/"):
        return f"CODEOWNERS line {line} for {code(paths[0])}"
    shown = _listed([code(p) for p in paths])
    return f"CODEOWNERS line {line} {code(pattern)} for {shown}"


def _why_by_line(g: GroupResult) -> dict[int, tuple[str, list[str]]]:
    lines: dict[int, tuple[str, list[str]]] = {}
    for why in sorted(g.why, key=lambda w: w.line):
        lines.setdefault(why.line, (why.pattern, []))[1].append(why.path)
    return lines


def _truncated_note(evaluation: Evaluation) -> str:
    if not evaluation.files_truncated:
        return ""
    return (f"**This pull request changes more files than GitHub lists ({MAX_PULL_FILES:,}).** The owners of the "
            "files beyond that cannot be known, so this check cannot pass; split the pull request. The table shows "
            "what the listed files require.")


def _override_note(evaluation: Evaluation) -> str:
    if not evaluation.override_label:
        return ""
    return (f"The `{_code(evaluation.override_label)}` label overrides the release window, so each owning group "
            "needs **one more approval** than usual (included in *required* above).")


def _unowned_note(evaluation: Evaluation) -> str:
    if evaluation.codeowners_path is None:
        return ("No CODEOWNERS file in the base branch (looked for " + ", ".join(f"`{p}`" for p in CODEOWNERS_SEARCHED)
                + "): every path is unowned, so no team needs to approve.")
    if evaluation.unowned:
        n = len(evaluation.unowned)
        return (f"{_count(n, 'changed path')} no owner in `{evaluation.codeowners_path}` and "
                f"{'needs' if n == 1 else 'need'} no team.")
    return ""


def _preview_section(preview: Preview) -> str:
    lines = [
        "### This pull request changes the approval rules",
        f"It changes {', '.join(f'`{_code(p)}`' for p in preview.changed) or 'the rules'}. It is judged by the base "
        "branch's version; with this pull request's version it would "
        + ("pass." if preview.passed else "not pass yet.") + " This is what the new rules would require:",
    ]
    table = _table(preview.groups, distinct=False)
    lines.append(table or ("No CODEOWNERS file: no team would be required." if preview.codeowners_path is None
                           else "No owning team for the changed paths."))
    if preview.problems:
        lines.append(_problems_section("Problems in this pull request's version", preview.problems))
    return "\n\n".join(lines)


def _problems_section(title: str, problems: Sequence[Problem]) -> str:
    return "\n".join([f"**{title}:**", *(f"- `{_code(p.file)}`{f' line {p.line}' if p.line else ''}: {p.message}" for p in problems)])


def _policy_line(evaluation: Evaluation) -> str:
    return (f"<sub>Policy: mode `{evaluation.mode.value}`, invalidate_on_push `{evaluation.invalidate_on_push.value}`, "
            f"distinct `{str(evaluation.distinct).lower()}`; rules read from the base branch.</sub>")


def _group_name(g: GroupResult) -> str:
    if g.kind == TEAM:
        return g.key
    label = "any of" if len(g.owners) > 1 else ""
    return f"{label} {', '.join(g.owners)}".strip() if g.kind == USERS else f"any owner of {', '.join(g.owners)}"


def _in_repo(problem: Problem) -> bool:
    return ":" not in problem.file and not problem.file.startswith("config/")  # org or built-in files: summary only


def _as_warning(problem: Problem) -> Problem:
    return Problem(problem.file, problem.line, f"after this pull request merges: {problem.message}", Level.WARNING)


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _at(user: str) -> str:
    return user if user.startswith("@") else f"@{user}"


def _count(n: int, noun: str) -> str:
    if noun == "changed path":
        return f"{n} changed path has" if n == 1 else f"{n} changed paths have"
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'")


def _limit(summary: str, details_url: str | None) -> str:
    if len(summary) <= MAX_SUMMARY:
        return summary
    more = f" See the [details page]({details_url})." if details_url else ""
    return summary[:MAX_SUMMARY].rsplit("\n", 1)[0] + f"\n\n… cut to fit GitHub's limit.{more}"
