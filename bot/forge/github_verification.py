"""What GitHub reports on a commit, for the promotion gate: commit statuses, check runs, deployment statuses.

Kept beside bot/forge/github.py (which delegates here) so the gate's reads stay one small block. Every list is
conditional on its ETag (bot/forge/http.py), so re-evaluating a waiting promotion costs 304s, not fresh reads.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Collection

from bot.core.promotion import CheckKind, CheckState, CommitCheck
from bot.forge.http import GitHubHttp
from bot.model import Tag

MAX_DEPLOYMENTS = 30  # per sha; a commit deployed more often than that is read from its newest deployments


def iso_time(text: Any) -> dt.datetime | None:
    """An API's ISO 8601 time (GitHub's and GitLab's `...Z` included) in UTC; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    except ValueError:
        return None


# https://docs.github.com/en/rest/commits/statuses: state is error, failure, pending or success.
_STATUS = {"success": CheckState.SUCCESS, "pending": CheckState.PENDING}
# https://docs.github.com/en/rest/checks/runs: status queued | in_progress | completed (and waiting, requested,
# pending for Actions); conclusion success | failure | neutral | cancelled | skipped | timed_out | action_required
# | stale. A stale run is one GitHub gave up on: it will not become success by waiting.
_RUN_OPEN = {"queued", "in_progress", "waiting", "requested", "pending"}
# https://docs.github.com/en/rest/deployments/statuses: error, failure, inactive, in_progress, queued, pending,
# success. `inactive` marks a deployment superseded by a newer one to the same environment.
_DEPLOYMENT = {"success": CheckState.SUCCESS, "in_progress": CheckState.PENDING, "queued": CheckState.PENDING,
               "pending": CheckState.PENDING}


def _statuses(data: dict) -> list[CommitCheck]:
    return [CommitCheck(name=s["context"], kind=CheckKind.STATUS, state=_STATUS.get(s.get("state"), CheckState.FAILURE),
                        detail=str(s.get("state")), at=iso_time(s.get("updated_at") or s.get("created_at")),
                        url=s.get("target_url") or "")
            for s in data.get("statuses") or () if isinstance(s, dict) and s.get("context")]


def _runs(data: dict) -> list[CommitCheck]:
    found = []
    for run in data.get("check_runs") or ():
        if not isinstance(run, dict) or not run.get("name"):
            continue
        if run.get("status") in _RUN_OPEN or run.get("status") != "completed":
            state, detail, at = CheckState.PENDING, str(run.get("status")), iso_time(run.get("started_at"))
        else:
            conclusion = run.get("conclusion")
            state = CheckState.SUCCESS if conclusion == "success" else CheckState.FAILURE
            detail, at = str(conclusion), iso_time(run.get("completed_at"))
        found.append(CommitCheck(name=run["name"], kind=CheckKind.CHECK_RUN, state=state, detail=detail, at=at,
                                 url=run.get("html_url") or ""))
    return found


def commit_checks(http: GitHubHttp, repo: str, sha: str, *, names: Collection[str] | None = None) -> tuple[CommitCheck, ...]:
    """The latest status per context, check run per name and deployment status per environment on `sha`.

    names: the verification wanted; deployments are read only for names no status or check run answered
    (a deployment needs a request for its statuses). Requests: 1 (combined status) + 1 (check runs, latest per
    name) per 100, + 1 deployments list and 1 per deployment of a wanted environment only when needed."""
    # https://docs.github.com/en/rest/commits/statuses#get-the-combined-status-for-a-specific-reference
    # (the latest status per context, 100 contexts a page)
    found = [check for page in http.get_pages(f"/repos/{repo}/commits/{sha}/status", parse=lambda d: [d])
             for check in _statuses(page)]
    # https://docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference (filter=latest: the newest
    # run of each name, so a re-run that passed replaces the failed one)
    found += [check for page in http.get_pages(f"/repos/{repo}/commits/{sha}/check-runs", {"filter": "latest"},
                                               parse=lambda d: [d]) for check in _runs(page)]
    missing = set(names or ()) - {c.name for c in found}
    if missing:
        found += _deployments(http, repo, sha, wanted=missing)
    return tuple(found)


def _deployments(http: GitHubHttp, repo: str, sha: str, *, wanted: set[str]) -> list[CommitCheck]:
    # https://docs.github.com/en/rest/deployments/deployments#list-deployments (sha=, newest first)
    deployments = http.get_pages(f"/repos/{repo}/deployments", {"sha": sha}, limit=MAX_DEPLOYMENTS,
                                 parse=lambda d: [(x["id"], x.get("environment")) for x in d if isinstance(x, dict)])
    found, seen = [], set()
    for deployment_id, environment in deployments:
        if environment not in wanted or environment in seen:
            continue  # only the newest deployment of each wanted environment speaks for it
        seen.add(environment)
        # https://docs.github.com/en/rest/deployments/statuses#list-deployment-statuses (newest first)
        statuses = http.get(f"/repos/{repo}/deployments/{deployment_id}/statuses", {"per_page": 1},
                            parse=lambda d: [s for s in d if isinstance(s, dict)])
        if not statuses:
            found.append(CommitCheck(name=environment, kind=CheckKind.DEPLOYMENT, state=CheckState.PENDING,
                                     detail="no status yet"))
            continue
        latest = statuses[0]
        found.append(CommitCheck(name=environment, kind=CheckKind.DEPLOYMENT,
                                 state=_DEPLOYMENT.get(latest.get("state"), CheckState.FAILURE),
                                 detail=str(latest.get("state")), at=iso_time(latest.get("created_at")),
                                 url=latest.get("log_url") or latest.get("target_url") or ""))
    return found


def tag_date(http: GitHubHttp, repo: str, tag: Tag) -> dt.datetime | None:
    """When a release was tagged: an annotated tag's tagger date (https://docs.github.com/en/rest/git/tags#get-a-tag);
    a lightweight tag (made by hand, before the app) has none, so its commit's committer date stands in
    (https://docs.github.com/en/rest/commits/commits#get-a-commit). Cached for good: neither object changes."""
    if tag.tag_sha:
        return http.get(f"/repos/{repo}/git/tags/{tag.tag_sha}", immutable=("tag date", repo, tag.tag_sha),
                        parse=lambda d: iso_time((d.get("tagger") or {}).get("date")))
    return http.get(f"/repos/{repo}/commits/{tag.commit_sha}", immutable=("commit date", repo, tag.commit_sha),
                    parse=lambda d: iso_time(((d.get("commit") or {}).get("committer") or {}).get("date")))
