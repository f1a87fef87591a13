"""GitLab REST v4 (and its GraphQL endpoint) over python-gitlab's session: one status->error mapping,
Link / X-Next-Page pagination, ETag revalidation, immutable and short-lived caches."""
from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Hashable, Mapping
from urllib.parse import urlencode

import gitlab
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from bot.forge.errors import (
    AlreadyExists, Conflict, ForgeError, NotFound, PermissionDenied, RateLimited, TransientError,
)
from bot.forge.http import LRU, CachedReads, Fresh, Response, Stats, _json  # the same reads, caches and counters as GitHub's

log = logging.getLogger(__name__)

# Connection errors and 5xx on idempotent verbs are retried a few times at once (POST never: a status, note or
# tag must not be written twice; the queue retries the whole job, which is idempotent by construction). 429 is
# never slept on inside a worker: python-gitlab's own loop would sleep Retry-After up to 10 times
# (gitlab/utils.py Retry), so it is switched off and RateLimited(retry_after) goes to the queue instead.
RETRY = Retry(
    total=3, connect=3, read=2, status=2, backoff_factor=0.5, backoff_max=4,
    status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE"}),
    respect_retry_after_header=False, raise_on_status=False,
)
# https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/#response-headers: a throttled
# request answers 429 with Retry-After (seconds) and RateLimit-Reset (Unix time). Without either: a minute.
DEFAULT_RATE_WAIT = 60.0
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')


def next_page(headers: Mapping[str, str], url: str, params: Mapping[str, Any] | None) -> str | None:
    """The next page's URL: the Link header (offset and keyset pagination both send it), else X-Next-Page.
    https://docs.gitlab.com/api/rest/#pagination-link-header, https://docs.gitlab.com/api/rest/#other-pagination-headers"""
    for link, rel in _LINK.findall(headers.get("link", "")):
        if rel == "next":
            return link
    following = headers.get("x-next-page", "").strip()
    if following.isdigit():
        return f"{url.split('?')[0]}?{urlencode({**dict(params or {}), 'page': following}, doseq=True)}"
    return None


def _message(data: Any) -> str:
    """GitLab says what went wrong as {"message": "404 Project Not Found"}, {"message": {"field": ["..."]}},
    {"message": ["..."]} or {"error": "...", "error_description": "..."} (OAuth-style, e.g. insufficient_scope)."""
    if not isinstance(data, dict):
        return str(data or "")
    message = data.get("message", data.get("error", ""))
    if isinstance(message, dict):
        message = "; ".join(f"{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in message.items())
    elif isinstance(message, list):
        message = "; ".join(map(str, message))
    description = data.get("error_description")
    return f"{message}: {description}" if description else str(message)


def retry_after(headers: Mapping[str, str], *, now: float) -> float:
    """Retry-After first, then RateLimit-Reset, as python-gitlab's own loop reads them (gitlab/utils.py)."""
    if headers.get("retry-after", "").strip().isdigit():
        return float(headers["retry-after"])
    if headers.get("ratelimit-reset", "").strip().isdigit():
        return max(float(headers["ratelimit-reset"]) - now, 0.0) + 1.0
    return DEFAULT_RATE_WAIT


def error_for(status: int, headers: Mapping[str, str], data: Any, *, what: str, needs: str | None,
              now: float) -> ForgeError | None:
    """THE mapping from a GitLab response to our exception hierarchy (None for success). Pure.

    `needs` names what the token must have for this call ("Developer on acme/app to set commit statuses"), so a
    403/404 reads as what to grant, not as a status code."""
    if status < 400:
        return None
    message = _message(data)
    # GitLab often starts its message with the code itself ("404 Project Not Found"): say it once.
    text = f"{what}: {message}" if message.startswith(str(status)) else f"{what}: {status} {message}".rstrip()
    lowered = message.lower()
    if status == 429:
        return RateLimited(text, retry_after=retry_after(headers, now=now))
    if status >= 500:
        wait = float(headers["retry-after"]) if headers.get("retry-after", "").strip().isdigit() else None
        return TransientError(text, retry_after=wait)
    if status == 401:
        # One static token (GITLAB_TOKEN): a 401 is a revoked, expired or mistyped token, not a refresh to wait for.
        return PermissionDenied(f"{text}: GITLAB_TOKEN was refused (revoked, expired or mistyped); "
                                "create a token with the `api` scope and set GITLAB_TOKEN")
    if status == 403:
        if "insufficient_scope" in lowered:
            return PermissionDenied(f"{text}: GITLAB_TOKEN needs the `api` scope")
        return PermissionDenied(f"{text}: token lacks {needs}" if needs else text)
    if status == 404:
        # GitLab answers 404, not 403, for a project or group the token cannot see.
        return NotFound(f"{text} (or the token cannot see it{f'; it needs {needs}' if needs else ''})")
    if status == 409:
        # https://docs.gitlab.com/api/releases/#create-a-release "409 Release already exists"; merge requests:
        # "Another open merge request already exists for this source branch". Commit statuses: "Another update
        # to this commit status is in progress" (lib/api/commit_statuses.rb), a lock held for a moment: retry.
        if "in progress" in lowered:
            return TransientError(text, retry_after=2.0)
        if "already exists" in lowered:
            return AlreadyExists(text)
        return Conflict(text)
    if status in (400, 422):
        if "already exists" in lowered:  # tags, branches: 400 "Tag v1 already exists", "Branch already exists"
            return AlreadyExists(text)
        # Commits and repository files: a stale last_commit_id is 400 "You are attempting to update a file that
        # has changed since you started editing it." https://docs.gitlab.com/api/repository_files/#update-a-file
        if "has changed since" in lowered:
            return Conflict(text)
    return ForgeError(text)


class GitLabHttp(CachedReads):
    """Requests through python-gitlab's requests.Session, base URL and token auth (PRIVATE-TOKEN or OAuth),
    with our error mapping instead of its exceptions (which drop the response headers: Retry-After, ETag).

    Caches per instance: `immutable` (content at a commit sha, tag objects, a compare between two shas,
    MR diffs of a version) kept for good; `fresh` (group members, access levels, default-branch files) for
    `fresh_for` seconds; other GETs keep ETag + parsed value and revalidate with If-None-Match."""

    def __init__(self, gl: gitlab.Gitlab, *, cache_size: int = 2048, clock: Callable[[], float] = time.time,
                 fresh_for: float = 60.0, retry: Retry | int | None = RETRY) -> None:
        self.gl = gl
        self.api_url = gl.api_url.rstrip("/")  # https://HOST[/prefix]/api/v4: a self-managed path prefix is kept
        self.graphql_url = gl.url.rstrip("/") + "/api/graphql"  # https://docs.gitlab.com/api/graphql/#graphql-api-endpoint
        if retry is not None:
            adapter = HTTPAdapter(max_retries=retry)
            gl.session.mount(self.api_url.split("/api/v4")[0] + "/", adapter)
        self.immutable = LRU(cache_size)
        self.etags = LRU(cache_size)
        self.fresh = Fresh(cache_size, ttl=fresh_for, clock=clock)
        self.clock = clock
        self.stats = Stats()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def request(self, verb: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                headers: Mapping[str, str] | None = None, needs: str | None = None) -> Response:
        """One HTTP request; raises the mapped ForgeError for any status >= 400, returns 2xx and 304."""
        url = self.url(path)
        what = f"{verb} {url.split('?')[0][len(self.api_url):] or url}"
        # python-gitlab's session options: the token (PrivateTokenAuth / OAuthTokenAuth), User-Agent, timeout and
        # TLS verification as the client was built (gitlab/client.py Gitlab._get_session_opts).
        opts = self.gl._get_session_opts()
        send_headers = {**opts["headers"], **(headers or {})}
        self.stats.requests += 1
        try:
            raw = self.gl.session.request(
                verb, url, params=dict(params or {}), json=body, headers=send_headers, auth=opts["auth"],
                timeout=opts["timeout"] or 30, verify=opts["verify"],
            )
        except requests.exceptions.RequestException as exc:  # connection refused/reset, timeouts, retries spent
            raise TransientError(f"{what}: {type(exc).__name__}") from exc
        response_headers = {k.lower(): v for k, v in raw.headers.items()}
        data = _json(raw.text)
        log.debug("gitlab %s -> %s", what, raw.status_code)
        error = error_for(raw.status_code, response_headers, data, what=what, needs=needs, now=self.clock())
        if error is not None:
            raise error
        if raw.status_code == 304:
            self.stats.not_modified += 1
        return Response(raw.status_code, response_headers, data if raw.status_code != 304 else None)

    def graphql(self, query: str, variables: Mapping[str, Any], *, needs: str | None = None) -> dict[str, Any]:
        """POST one query; GitLab answers 200 with `errors` beside `data` for a bad query or a failed field
        (https://docs.gitlab.com/api/graphql/): any error raises, since none is expected of our queries (a
        project or group the token cannot see is simply null)."""
        response = self.request("POST", self.graphql_url, body={"query": query, "variables": dict(variables)}, needs=needs)
        body = response.data if isinstance(response.data, dict) else {}
        errors = [e for e in body.get("errors") or () if isinstance(e, dict)]
        if errors:
            text = "; ".join(str(e.get("message")) for e in errors)
            if "rate limit" in text.lower():
                raise RateLimited(f"POST graphql: {text}", retry_after=retry_after(response.headers, now=self.clock()))
            raise ForgeError(f"POST graphql: {text}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ForgeError(f"POST graphql: no data ({_message(body)})")
        return data

    def _read_key(self, path: str, params: Mapping[str, Any] | None) -> Hashable:
        return self.url(path), urlencode(sorted((params or {}).items()), doseq=True)

    def _next_url(self, headers: Mapping[str, str], path: str, params: Mapping[str, Any] | None) -> str | None:
        return next_page(headers, self.url(path), params)
