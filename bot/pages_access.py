"""The /access pages (SPEC §9): the audit report of one release repo, opened from the signed link its
release-coordinator/access check carries; /access itself says what is audited and how to open a report."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, render_template, request

from bot.core.access import Severity, from_json
from bot.handlers.access import INDEX_KEY, access_signature, report_key

blueprint = Blueprint("pages_access", __name__, template_folder="templates")


@blueprint.get("/access")
def access_index():
    store = current_app.config.get("STORE")
    index = (store.get_json(INDEX_KEY) if store is not None else None) or {}
    statuses = [item.get("status") for item in index.values()]
    # Repository names and who may write are private: the index shows counts only, each report its own link.
    return _private(render_template("access_index.html", audited=len(index),
                                    counts={s: statuses.count(s) for s in ("clean", "drift", "unverified")}), 200)


@blueprint.get("/access/<forge>/<path:repo>")
def access_report(forge: str, repo: str):
    key = current_app.config.get("DETAILS_LINK_KEY")
    store = current_app.config.get("STORE")
    sig = request.args.get("sig") or ""
    signed = key is not None and hmac.compare_digest(sig.encode(), access_signature(key=key, forge=forge, repo=repo).encode())
    saved = store.get_json(report_key(forge, repo)) if signed and store is not None else None
    if not saved:  # a wrong sig answers exactly like a report never written: nothing says whether the repo exists
        return _private(render_template("access_report.html", report=None, repo=repo, saved=None, Severity=Severity), 404)
    return _private(render_template("access_report.html", report=from_json(saved), repo=repo, saved=saved,
                                    Severity=Severity), 200)


def _private(body: str, status: int):
    return body, status, {"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}
