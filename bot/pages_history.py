"""The release history page of a release repo (SPEC §9 pages): each environment's releases over time as a
server-rendered SVG timeline, the releases with links to tags, changelog and pull requests, and an Atom feed.

Data: the history record the release handler writes on each release (bot.handlers.shipped.record_release), not
the forge: the web process holds no installation token and a page view must cost no API request; the record
also keeps what tags do not (when the release was made, the pull requests it carried). Like the details pages it
shows a private repository's versions and pull requests, so it opens only from its signed link (posted in the
release's notes and the plan), the feed too (a feed reader keeps the signed URL).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for

from bot.core import history

blueprint = Blueprint("pages_history", __name__, template_folder="templates")


def history_signature(*, key: Any, forge: str, repo: str) -> str:
    """HMAC-SHA256 over its own subject, so a pull request's or access report's link opens no history page."""
    secret = key.reveal() if hasattr(key, "reveal") else str(key)
    return hmac.new(secret.encode(), f"releases:{forge}:{repo}".encode(), hashlib.sha256).hexdigest()[:32]


def history_url(public_url: str, *, key: Any, forge: str, repo: str, feed: bool = False) -> str | None:
    if not public_url or key is None:
        return None
    path = f"/releases/{forge}/{repo}" + ("/feed.atom" if feed else "")
    return f"{public_url.rstrip('/')}{path}?sig={history_signature(key=key, forge=forge, repo=repo)}"


def _record(forge: str, repo: str):
    """The saved history, or None for a wrong sig exactly as for a repo never released (nothing leaks)."""
    from bot.handlers.shipped import history_key

    key = current_app.config.get("DETAILS_LINK_KEY")
    store = current_app.config.get("STORE")
    sig = request.args.get("sig") or ""
    if key is None or store is None or not hmac.compare_digest(
            sig.encode(), history_signature(key=key, forge=forge, repo=repo).encode()):
        return None, sig
    return store.get_json(history_key(forge, repo)), sig


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
