"""The details page per pull request: every check of ours on it, each with its verdict, reasons, annotations as
file#line links, when it was evaluated and at which commit; the approvals check with its full table.

Data: the per-pull-request results record publish_check keeps (INTERFACES.md §3), and the approvals handler's
structured evaluation (`details:` record) for the approvals section. Only the signed link our checks carry opens
the page (bot.links): it shows private repositories' paths, teams and people.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

from flask import Blueprint, current_app, redirect, render_template, request

from bot import links
from bot.core import checks as names
from bot.core.approvals import Evaluation, GroupResult, from_json
from bot.core.approvals_render import blockers, render_check, rule_text
from bot.core.checks import CheckResult, Conclusion, result_from_json, section_anchor

# /assets, not /static: an app's own /static route would shadow a blueprint's at the same path
blueprint = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/assets")

FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab"}
# The order a reviewer reads them in: who must approve, what is released, when, where; then the rest by name.
CHECK_ORDER = (names.APPROVALS, names.MANIFEST, names.SEMVER, names.WINDOW, "release-coordinator/promotion",
               "release-coordinator/access", "release-coordinator/release")
# What makes each check pass, in one line (docs/checks.md says more).
PASSES_WHEN = {
    names.APPROVALS: "every group that owns a changed path in CODEOWNERS has approved",
    names.MANIFEST: "the release manifest is valid: every version is tagged, moves forward and agrees with its commits",
    names.SEMVER: "the version bump is at least what the conventional commits since the last tag need",
    names.WINDOW: "merging is inside a release window and outside every freeze (or the override label is on)",
    "release-coordinator/promotion": "the same versions were released and verified in the previous environment",
    "release-coordinator/access": "branch protection, rulesets and team access match the access policy",
    "release-coordinator/release": "the merged release was tagged and published",
}


@dataclass(frozen=True)
class State:
    """How a conclusion reads: a word and an icon besides the colour (never colour alone, WCAG 1.4.1)."""

    css: str  # ok | wait | fail | info
    word: str
    icon: str


STATES = {
    Conclusion.SUCCESS: State("ok", "Passing", "✓"),
    Conclusion.PENDING: State("wait", "Waiting", "◷"),
    Conclusion.FAILURE: State("fail", "Failing", "✗"),
    Conclusion.ACTION_REQUIRED: State("fail", "Action required", "✗"),
    Conclusion.NEUTRAL: State("info", "Neutral", "–"),
    Conclusion.SKIPPED: State("info", "Skipped", "–"),
}


@dataclass(frozen=True)
class AnnotationView:
    where: str  # "release.yml#L4"
    url: str | None  # the file at the evaluated commit, on the forge
    level: str
    message: str


@dataclass(frozen=True)
class CheckView:
    name: str
    anchor: str
    label: str
    state: State
    result: CheckResult
    passes_when: str
    evaluated_at: str | None  # "2026-12-03 09:15 UTC"
    commit: str  # full sha
    commit_url: str | None
    stale: bool  # evaluated at another commit than the pull request's current head
    annotations: tuple[AnnotationView, ...] = ()
    evaluation: Evaluation | None = None  # approvals only: the rich section
    blockers: tuple[str, ...] = ()  # approvals: what must change before more approvals can pass it


@dataclass(frozen=True)
class PullView:
    forge: str
    forge_name: str
    repo: str
    number: int
    ref: str  # "#7" on GitHub, "!7" on GitLab
    title: str
    html_url: str
    head_sha: str | None
    checks: tuple[CheckView, ...] = field(default=())

    @property
    def noun(self) -> str:
        return "merge request" if self.forge == "gitlab" else "pull request"

    @property
    def overall(self) -> State:
        states = [c.result.conclusion for c in self.checks]
        if any(STATES[s].css == "fail" for s in states):
            return STATES[Conclusion.FAILURE]
        if Conclusion.PENDING in states:
            return STATES[Conclusion.PENDING]
        return STATES[Conclusion.SUCCESS] if states else STATES[Conclusion.NEUTRAL]

    def count(self, css: str) -> int:
        return sum(1 for c in self.checks if c.state.css == css)


@blueprint.get("/pulls/<first>/<path:rest>/<int:number>")
def pull_details(first: str, rest: str, number: int):
    """`/pulls/FORGE/REPO/N?sig=…`; `/pulls/OWNER/REPO/N?sig=…` (links posted before forges were named) redirects.
    A missing or wrong sig gets the very answer of "never evaluated", decided before the store is read, so
    neither the body nor the timing says whether the pull request exists."""
    key = current_app.config.get("DETAILS_LINK_KEY")
    store = current_app.config.get("STORE")
    sig = request.args.get("sig")
    if first in links.FORGES and links.valid(sig, key=key, forge=first, repo=rest, number=number):
        view = load_pull(store, forge=first, repo=rest, number=number) if store is not None else None
        if view is not None:
            return _private(render_template("pull.html", pull=view), 200)
        return _not_found(rest, number, forge=first)
    if "/" not in rest and links.legacy_valid(sig, key=key, repo=f"{first}/{rest}", number=number):
        # the same page at its current address; the browser keeps the #check anchor across the redirect
        target = links.page_path(forge="github", repo=f"{first}/{rest}", number=number)
        target += "?sig=" + links.signature(key=key, forge="github", repo=f"{first}/{rest}", number=number)
        response = redirect(target, code=302)
        response.headers.update(PRIVATE_HEADERS)
        return response
    if first in links.FORGES:
        return _not_found(rest, number, forge=first)
    return _not_found(f"{first}/{rest}", number, forge="github")


PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}


def _not_found(repo: str, number: int, *, forge: str):
    ref = f"!{number}" if forge == "gitlab" else f"#{number}"
    return _private(render_template("pull_not_found.html", repo=repo, ref=ref), 404)


def _private(body: str, status: int):
    # The URL is the credential: keep it out of Referer headers to the pages it links, and out of shared caches.
    return body, status, dict(PRIVATE_HEADERS)


# --- the view, from the stored records (plain data in, plain data out: tested without Flask)

def load_pull(store: Any, *, forge: str, repo: str, number: int) -> PullView | None:
    """Everything the page shows, or None when the pull request was never evaluated."""
    from bot.handlers.approvals import details_key
    from bot.handlers.publish import results_key

    record = store.get_json(results_key(forge, repo, number))
    details = store.get_json(details_key(repo, number, forge=forge))
    return build_view(record, details, forge=forge, repo=repo, number=number)


def build_view(record: Mapping[str, Any] | None, details: Mapping[str, Any] | None, *, forge: str, repo: str,
               number: int) -> PullView | None:
    if not record and not details:
        return None
    record = record or {}
    details = details or {}
    html_url = record.get("html_url") or details.get("html_url") or ""
    web = _web_links(forge, html_url, repo)
    evaluation = from_json(details["evaluation"]) if details.get("evaluation") else None
    entries: dict[str, Mapping[str, Any]] = dict(record.get("checks") or {})
    if names.APPROVALS not in entries and evaluation is not None:
        # a details record from before the results record existed: the approvals check is rendered from it
        entries[names.APPROVALS] = {**_as_json(render_check(evaluation)), "head_sha": evaluation.head_sha}
    head = record.get("head_sha")
    views = [
        _check_view(name, entry, evaluation=evaluation if name == names.APPROVALS else None, head=head, web=web,
                    repo=repo)
        for name, entry in sorted(entries.items(), key=lambda item: _order(item[0]))
    ]
    return PullView(
        forge=forge, forge_name=FORGE_NAMES.get(forge, forge), repo=repo, number=number,
        ref=f"!{number}" if forge == "gitlab" else f"#{number}", title=record.get("title") or details.get("title") or "",
        html_url=html_url, head_sha=head, checks=tuple(views),
    )


def _check_view(name: str, entry: Mapping[str, Any], *, evaluation: Evaluation | None, head: str | None, web,
                repo: str) -> CheckView:
    result = result_from_json(dict(entry))
    commit = entry.get("head_sha") or result.head_sha
    if evaluation is not None and evaluation.head_sha != commit:
        evaluation = None  # the table is of another commit than this verdict: show the verdict's own summary
    return CheckView(
        name=name, anchor=section_anchor(name), label=name.rsplit("/", 1)[-1].capitalize(),
        state=STATES.get(result.conclusion, STATES[Conclusion.NEUTRAL]), result=result,
        passes_when=PASSES_WHEN.get(name, ""), evaluated_at=_when(entry.get("evaluated_at")), commit=commit,
        commit_url=web.commit(repo, commit) if web and commit else None,
        stale=bool(head and commit and head != commit),
        annotations=tuple(
            AnnotationView(
                where=f"{a.path}#L{a.start_line}" + (f"-L{a.end_line}" if a.end_line != a.start_line else ""),
                url=web.file(repo, commit, a.path, a.start_line) if web and commit else None,
                level=a.level.value, message=a.message,
            ) for a in result.annotations
        ),
        evaluation=evaluation,
        blockers=tuple(blockers(evaluation)) if evaluation is not None and result.conclusion is Conclusion.FAILURE else (),
    )


def _order(name: str) -> tuple[int, str]:
    return (CHECK_ORDER.index(name) if name in CHECK_ORDER else len(CHECK_ORDER), name)


def _web_links(forge: str, html_url: str, repo: str):
    """The forge's web root, from the pull request's own URL (https://github.com/acme/app/pull/7 -> github.com;
    GitHub Enterprise Server and self-managed GitLab alike): file and commit links then need no settings."""
    from bot.forge.layout import WebLinks

    marker = f"/{repo}/"
    if not html_url or marker not in html_url:
        return None
    return WebLinks(kind=forge, web_url=html_url[:html_url.index(marker)])


def _when(stamp: str | None) -> str | None:
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _as_json(result: CheckResult) -> dict:
    from bot.core.checks import result_to_json

    return result_to_json(result)


# --- template helpers

def by_line(group: GroupResult) -> list[tuple[int, str, list[str]]]:
    """The CODEOWNERS lines that made a group required, each with the changed paths it decided."""
    lines: dict[int, tuple[str, list[str]]] = {}
    for why in sorted(group.why, key=lambda w: w.line):
        lines.setdefault(why.line, (why.pattern, []))[1].append(why.path)
    return [(line, pattern, paths) for line, (pattern, paths) in lines.items()]


def approved_cell(group: GroupResult, distinct: bool) -> list[tuple[str, str | None]]:
    """(login, group it counted for instead, or None) for the "approved by" column."""
    cell: list[tuple[str, str | None]] = [(user, None) for user in group.approved_by]
    if distinct:
        cell += list(group.counted_elsewhere)
    return cell + [(user, None) for user in group.extra]


def markdown(text: str) -> str:
    """A check summary (our own Markdown: tables, lists, code) as HTML. Raw HTML is escaped, never passed on;
    the <sub> around the policy line is the one tag our renderers write, and is dropped (the text stays)."""
    return _parser().render(text.replace("<sub>", "").replace("</sub>", ""))


def markdown_inline(text: str) -> str:
    """One line of our Markdown (an annotation's message: `code`, **bold**) as inline HTML, raw HTML escaped."""
    return _parser().renderInline(text)


@functools.lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt  # imported when a page first renders, not at start-up

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


@blueprint.app_template_global()
def stylesheet() -> str:
    from flask import url_for

    return url_for("pages.static", filename="rc.css")


blueprint.add_app_template_filter(markdown, "markdown")
blueprint.add_app_template_filter(markdown_inline, "markdown_inline")
blueprint.add_app_template_global(by_line, "by_line")
blueprint.add_app_template_global(approved_cell, "approved_cell")
blueprint.add_app_template_global(rule_text, "rule_text")
