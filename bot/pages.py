"""The details page per pull request: the evaluation its approvals check was rendered from, as plain HTML."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from bot.core.approvals import GroupResult, from_json
from bot.handlers.approvals import details_key

blueprint = Blueprint("pages", __name__, template_folder="templates")


@blueprint.get("/pulls/<owner>/<repo>/<int:number>")
def pull_details(owner: str, repo: str, number: int):
    full_name = f"{owner}/{repo}"
    store = current_app.config.get("STORE")
    saved = store.get_json(details_key(full_name, number)) if store is not None else None
    if not saved:
        return render_template("pull_not_found.html", repo=full_name, number=number), 404
    evaluation = from_json(saved["evaluation"])
    return render_template(
        "pull.html", repo=full_name, number=number, title=saved.get("title", ""), html_url=saved.get("html_url", ""),
        evaluation=evaluation, by_line=by_line, approved_cell=approved_cell,
    )


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
