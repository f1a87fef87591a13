"""The release history page of a release repo (SPEC §9 pages): each environment's releases over time as a
server-rendered SVG timeline, the releases with links to tags, changelog and pull requests, and an Atom feed.

Data: the history record the release handler writes on each release (bot.handlers.shipped.record_release), not
the forge: the web process holds no installation token and a page view must cost no API request; the record
also keeps what tags do not (when the release was made, the pull requests it carried). Like the details pages it
shows a private repository's versions and pull requests, so it opens only from its signed link (posted under the
release plan of every release pull request), the feed too (a feed reader keeps the signed URL).
"""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, render_template, request, url_for

from bot.core import history
from bot.handlers.shipped import history_key, history_signature, history_url  # noqa: F401 (history_url: re-exported)

blueprint = Blueprint("pages_history", __name__, template_folder="templates")


def _record(forge: str, repo: str):
    """The saved history (empty before the first release: the plan links the page from the first release pull
    request on), or None for a missing or wrong sig."""
    key = current_app.config.get("DETAILS_LINK_KEY")
    store = current_app.config.get("STORE")
    sig = request.args.get("sig") or ""
    if key is None or store is None or not hmac.compare_digest(
            sig.encode(), history_signature(key=key, forge=forge, repo=repo).encode()):
        return None, sig
    return store.get_json(history_key(forge, repo)) or {"forge": forge, "repo": repo, "releases": []}, sig


@blueprint.get("/releases/<forge>/<path:repo>/feed.atom")
def feed(forge: str, repo: str):
    record, sig = _record(forge, repo)
    if record is None:
        return _private("no such release history\n", 404, "text/plain; charset=utf-8")
    entries = history.entries_from_record(record)
    page = url_for("pages_history.page", forge=forge, repo=repo, sig=sig, _external=True)
    self_url = url_for("pages_history.feed", forge=forge, repo=repo, sig=sig, _external=True)
    # The feed's id must never change (RFC 4287 §4.2.6): PUBLIC_URL's page address without the sig, which rotates.
    public_url = getattr(current_app.config.get("SETTINGS"), "public_url", "") or request.host_url.rstrip("/")
    feed_id = f"{public_url}{url_for('pages_history.page', forge=forge, repo=repo)}"
    body = history.atom_feed(entries, repo=repo, feed_id=feed_id, self_url=self_url, page_url=page)
    return _private(body, 200, "application/atom+xml; charset=utf-8")


@blueprint.get("/releases/<forge>/<path:repo>")
def page(forge: str, repo: str):
    record, sig = _record(forge, repo)
    if record is None:
        return _private(render_template("history.html", repo=repo, entries=None, forge=forge, feed_url=None), 404)
    entries = history.entries_from_record(record)
    page_url = url_for("pages_history.page", forge=forge, repo=repo, sig=sig)
    by_environment = {name: [e for e in reversed(entries) if e.environment == name] for name in history.lanes(entries)}
    return _private(render_template(
        "history.html", repo=repo, forge=forge, entries=entries, by_environment=by_environment,
        timeline=history.timeline_svg(entries, page_url=page_url),
        feed_url=url_for("pages_history.feed", forge=forge, repo=repo, sig=sig),
    ), 200)


def _private(body, status: int, content_type: str = "text/html; charset=utf-8") -> Response:
    return Response(body, status=status, content_type=content_type,
                    headers={"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"})
