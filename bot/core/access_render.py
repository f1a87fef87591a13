"""The access report as a check run, as the "Access control drift" issue, and the issue's next step. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from bot.core.access import ACCESS, Finding, Report, RepoAudit, Severity
from bot.core.checks import CheckResult, Conclusion

ISSUE_TITLE = "Access control drift"
ISSUE_MARKER = "<!-- release-coordinator:access -->"  # the bot's issue, whatever its title became
_ORDER = {Severity.DRIFT: 0, Severity.UNVERIFIED: 1, Severity.NOTICE: 2}


def render_check(report: Report, *, head_sha: str, details_url: str | None) -> CheckResult:
    drift, unverified = report.count(Severity.DRIFT), report.count(Severity.UNVERIFIED)
    n = len(report.repos)
    if report.status == "clean":
        conclusion, title = Conclusion.SUCCESS, f"Access matches the policy ({_plural(n, 'repository', 'repositories')})"
    elif report.status == "drift":
        bad = sum(1 for r in report.repos if r.drift)
        conclusion, title = Conclusion.FAILURE, f"{_plural(drift, 'setting')} drifted in {bad} of {_plural(n, 'repository', 'repositories')}"
    else:
        missing = {f.code for r in report.repos for f in r.unverified}
        why = "a permission is missing" if missing == {"unreadable"} else (
            "the app is not installed everywhere" if missing == {"not-visible"} else "a permission or an installation is missing")
        conclusion, title = Conclusion.FAILURE, f"{_plural(unverified, 'setting')} could not be read: {why}"
    summary = "\n".join([_intro(report), "", *_table(report), *_applied(report)])
    return CheckResult(name=ACCESS, head_sha=head_sha, conclusion=conclusion, title=title, summary=summary,
                       text="\n".join(_details(report)), details_url=details_url)


def render_issue(report: Report) -> str:
    lines = [ISSUE_MARKER, _intro(report), "", *_table(report), *_applied(report), "", *_details(report),
             "", "_Kept up to date by release-coordinator: edited in place on each audit, closed when access "
             "matches the policy again, reopened on new drift._"]
    return "\n".join(lines)


def _intro(report: Report) -> str:
    if report.status == "clean":
        return f"Every repository managed from `{report.release_repo}` matches its `access:` policy."
    return (f"Repositories managed from `{report.release_repo}` differ from their `access:` policy "
            f"(SPEC §3): {_plural(report.count(Severity.DRIFT), 'drift finding')}, "
            f"{_plural(report.count(Severity.UNVERIFIED), 'setting')} the app could not read.")


def _table(report: Report) -> list[str]:
    rows = ["| repository | protected by | drift | unverified | notices |", "| --- | --- | --- | --- | --- |"]
    for audit in report.repos:
        rows.append(f"| `{audit.repo}` | {', '.join(audit.protections) or 'nothing'} | {len(audit.drift)} | "
                    f"{len(audit.unverified)} | {sum(1 for f in audit.findings if f.severity is Severity.NOTICE)} |")
    return rows


def _applied(report: Report) -> list[str]:
    lines = []
    if report.applied:
        lines += ["", "**Changed by `access.enforce`:**", *(f"- {line}" for line in report.applied)]
    if report.failed:
        lines += ["", "**`access.enforce` could not change:**", *(f"- {line}" for line in report.failed)]
    return lines


def _details(report: Report) -> list[str]:
    lines: list[str] = []
    for audit in report.repos:
        if not audit.findings:
            continue
        lines += [f"### `{audit.repo}`", *_rule_line(audit), ""]
        for finding in sorted(audit.findings, key=lambda f: (_ORDER[f.severity], f.code, f.actual)):
            lines += _finding(finding)
        lines.append("")
    return lines


def _rule_line(audit: RepoAudit) -> list[str]:
    t = audit.target
    if t is None:
        return []
    return [f"Policy: {' + '.join(t.roles)}; writers {', '.join(sorted(t.writers)) or 'none'} ({t.writers_from}); "
            f"{t.min_approvals} approval(s); checks {', '.join(sorted(t.checks)) or 'none'}."]


def _finding(f: Finding) -> list[str]:
    lines = [f"- **{f.severity.value}: {f.title}** — expected {f.expected}; found {f.actual}.", f"  Fix: {f.fix.where}"]
    if f.fix.api:
        lines.append(f"  API: `{f.fix.api}`" + (f" with `{f.fix.body}`" if f.fix.body else ""))
    return lines


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


@dataclass(frozen=True)
class IssueView:
    number: int
    state: str  # "open" | "closed"
    body: str


def issue_step(existing: IssueView | None, report: Report) -> str:
    """renovate's ensureIssue / ensureIssueClosing: create | edit | reopen | close | none (one issue, kept in place)."""
    if report.status == "clean":
        return "close" if existing is not None and existing.state == "open" else "none"
    if existing is None:
        return "create"
    if existing.state != "open":
        return "reopen"
    return "edit" if existing.body.strip() != render_issue(report).strip() else "none"
