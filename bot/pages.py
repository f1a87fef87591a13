"""The details page per pull request: the evaluation its approvals check was rendered from, as plain HTML."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from bot import links
from bot.core.approvals import GroupResult, from_json
from bot.handlers.approvals import details_key

blueprint = Blueprint("pages", __name__, template_folder="templates")


@blueprint.get("/pulls/<owner>/<repo>/<int:number>")
def pull_details(owner: str, repo: str, number: int):
    full_name = f"{owner}/{repo}"
    # Only the signed link from our check run opens the page (it shows private repositories' paths, teams and
    # people). A missing or wrong sig gets the very answer of "never evaluated", read before the store, so
    # neither the body nor the timing says whether the pull request exists.
    key = current_app.config.get("DETAILS_LINK_KEY")
    store = current_app.config.get("STORE")
    signed = links.legacy_valid(request.args.get("sig"), key=key, repo=full_name, number=number)
    saved = store.get_json(details_key(full_name, number)) if signed and store is not None else None
    if not saved:
        return _private(render_template("pull_not_found.html", repo=full_name, number=number), 404)
    evaluation = from_json(saved["evaluation"])
    return _private(render_template(
        "pull.html", repo=full_name, number=number, title=saved.get("title", ""), html_url=saved.get("html_url", ""),
        evaluation=evaluation, by_line=by_line, approved_cell=approved_cell,
    ), 200)


def _private(body: str, status: int):
    # The URL is the credential: keep it out of Referer headers to the pages it links, and out of shared caches.
    return body, status, {"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}


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
