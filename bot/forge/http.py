"""GitHub REST over PyGithub's Requester: one status->error mapping, Link pagination, ETag and immutable caches."""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping

import requests
from github import GithubException
from github.Requester import Requester
from urllib3.util import Retry

from bot.forge.errors import (
    AlreadyExists, Conflict, ForgeError, NotFound, PermissionDenied, RateLimited, TransientError,
)

log = logging.getLogger(__name__)

# Bounded, sleep-light retries for what a retry can fix right away: connection errors and 5xx on idempotent
# verbs (POST is not retried here: a check run or comment must not be written twice; the queue retries the
# whole job, which is idempotent by construction). Rate limits are never slept on inside a worker: they
# surface at once as RateLimited(retry_after) and the queue schedules the retry. PyGithub's default
# GithubRetry would sleep 60 s per secondary limit, up to 10 times, or until x-ratelimit-reset (up to an hour).
RETRY = Retry(
    total=3, connect=3, read=2, status=2, backoff_factor=0.5, backoff_max=4,
    status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
    respect_retry_after_header=False, raise_on_status=False,
)

# https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit:
# "Otherwise, wait for at least one minute before retrying."
SECONDARY_RATE_WAIT = 60.0
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')


def bounded_requester(requester: Requester, retry: Retry | int | None = RETRY, *,
                      seconds_between_reads: float | None = None) -> Requester:
    """The same auth, base URL (GHES), timeout and write pacing as `requester`, with our retry policy.

    GitHub asks for serial requests and "at least one second between" mutative ones; reads need no pause
    (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api). PyGithub's
    default 0.25 s before every GET would add 13 s to a cold evaluation of a 3,000-file pull request."""
    return Requester(**{**requester.kwargs, "retry": retry, "seconds_between_requests": seconds_between_reads})


def reading_requester(requester: Requester) -> Requester:
    """A twin of `requester` (auth, base URL, timeout, retry, read pacing) that paces nothing as a write."""
    return Requester(**{**requester.kwargs, "seconds_between_writes": None})


_MUTATION = re.compile(r"^\s*(?:#[^\n]*\n\s*)*mutation\b")


def is_mutation(document: str) -> bool:
    """Whether a GraphQL document's operation is a mutation (a write GitHub paces); queries are reads.
    https://spec.graphql.org/October2021/#sec-Language.Operations (a bare `{ ... }` is a query)."""
    return bool(_MUTATION.match(document))


def next_link(headers: Mapping[str, str]) -> str | None:
    # https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
    for url, rel in _LINK.findall(headers.get("link", "")):
        if rel == "next":
            return url
    return None


def _message(data: Any) -> str:
    if not isinstance(data, dict):
        return str(data or "")
    message = str(data.get("message") or "")
    details = [e.get("message") or e.get("code") for e in data.get("errors") or () if isinstance(e, dict)]
    details = [str(d) for d in details if d]
    return f"{message} ({'; '.join(details)})" if details else message


def _is_rate_limit(status: int, headers: Mapping[str, str], message: str) -> bool:
    lowered = message.lower()
    return (
        status == 429
        or "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in lowered
        or "abuse" in lowered
    )


def retry_after(headers: Mapping[str, str], *, now: float) -> float:
    """How long GitHub asks us to wait, per the rate-limit doc's order: Retry-After, then x-ratelimit-reset."""
    if headers.get("retry-after", "").strip().isdigit():
        return float(headers["retry-after"])
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
        return max(float(headers["x-ratelimit-reset"]) - now, 0.0) + 1.0  # +1: the reset second itself
    return SECONDARY_RATE_WAIT


# https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api: GraphQL answers
# 200 with an `errors` array; each error's `type` says what went wrong and `path` which aliased field.
_GRAPHQL_TRANSIENT = {"INTERNAL", "SERVICE_UNAVAILABLE", "TIMEOUT"}


def graphql_error_for(error: Mapping[str, Any], headers: Mapping[str, str], *, what: str, now: float) -> ForgeError:
    """THE mapping from one GraphQL error object to our exception hierarchy. Pure."""
    kind = str(error.get("type") or "")
    text = f"{what}: {kind or 'error'} {error.get('message') or ''}".rstrip()
    if kind == "RATE_LIMITED":
        return RateLimited(text, retry_after=retry_after(headers, now=now))
    if kind in _GRAPHQL_TRANSIENT:
        return TransientError(text)
    if kind == "FORBIDDEN":
        needed = headers.get("x-accepted-github-permissions")
        return PermissionDenied(f"{text} (needs permission: {needed})" if needed else text)
    if kind == "NOT_FOUND":
        return NotFound(text)
    return ForgeError(text)


def error_for(status: int, headers: Mapping[str, str], data: Any, *, what: str, now: float) -> ForgeError | None:
    """THE mapping from a GitHub response to our exception hierarchy (None for success). Pure."""
    if status < 400:
        return None
    message = _message(data)
    text = f"{what}: {status} {message}".rstrip()
    if status in (403, 429) and _is_rate_limit(status, headers, message):
        return RateLimited(text, retry_after=retry_after(headers, now=now))
    if status >= 500:
        wait = float(headers["retry-after"]) if headers.get("retry-after", "").isdigit() else None
        return TransientError(text, retry_after=wait)
    if status == 401:
        # An installation token that expired mid-flight; PyGithub fetches a fresh one on the next try.
        return TransientError(text)
    if status == 403:
        # GitHub names the permission an App lacks in this header (since 2023); the body rarely does.
        needed = headers.get("x-accepted-github-permissions")
        return PermissionDenied(f"{text} (needs permission: {needed})" if needed else text)
    if status == 404:
        return NotFound(text)
    if status == 409:
        return Conflict(text)
    if status == 422:
        codes = {e.get("code") for e in (data or {}).get("errors") or () if isinstance(e, dict)} if isinstance(data, dict) else set()
        if "already_exists" in codes or "already exists" in message.lower():
            return AlreadyExists(text)
        if '"sha"' in message or "does not match" in message:
            # PUT contents without the current blob sha: someone else wrote the file first.
            return Conflict(text)
    return ForgeError(text)


class LRU:
    """A small bounded mapping; the least recently used entry goes first."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # one forge per installation may serve several worker threads

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


_MISSING = object()


class Fresh:
    """A bounded cache whose entries expire `ttl` seconds after they were stored: for facts that may change
    but are asked for on every event (who is in a team, who may write, the org's config)."""

    MISSING = _MISSING

    def __init__(self, maxsize: int, *, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl, self.clock = ttl, clock
        self._entries = LRU(maxsize)

    def get(self, key: Hashable) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            return _MISSING
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl > 0:
            self._entries.put(key, (self.clock() + self.ttl, value))


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    data: Any


@dataclass(frozen=True)
class _Cached:
    etag: str
    next_url: str | None
    value: Any


@dataclass
class Stats:
    requests: int = 0
    not_modified: int = 0  # 304s: conditional requests that did not count against the primary rate limit
    cache_hits: int = 0  # immutable answers served with no request at all


# The largest page both forges serve: https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
# and https://docs.gitlab.com/api/rest/#pagination (per_page "Default: 20, maximum: 100").
PER_PAGE = 100


class CachedReads:
    """The read side both adapters share. `get` parses an answer and keeps it: for good under an `immutable` key
    (an answer that cannot change), else with the last ETag seen for that URL, re-validated with If-None-Match so
    a 304 reuses the parsed value (and costs no primary rate limit on GitHub). `get_pages` follows a list
    endpoint page by page (PER_PAGE a page). An adapter gives request(), _read_key() and _next_url(); extra keyword
    arguments of get/get_pages go to its request().
    https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate"""

    immutable: LRU
    etags: LRU
    stats: Stats

    def request(self, verb: str, target: str, *, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, **request: Any) -> Response:
        raise NotImplementedError

    def _read_key(self, target: str, params: Mapping[str, Any] | None) -> Hashable:
        raise NotImplementedError  # the URL with its parameters, as one hashable

    def _next_url(self, headers: Mapping[str, str], target: str, params: Mapping[str, Any] | None) -> str | None:
        raise NotImplementedError  # the next page's URL, None on the last

    def get(self, target: str, params: Mapping[str, Any] | None = None, *, parse: Callable[[Any], Any] = lambda d: d,
            immutable: Hashable | None = None, **request: Any) -> Any:
        return self._get(target, params, parse=parse, immutable=immutable, **request)[0]

    def get_pages(self, target: str, params: Mapping[str, Any] | None = None, *, parse: Callable[[Any], list],
                  limit: int | None = None, immutable: Hashable | None = None, **request: Any) -> list:
        """Every page of a list endpoint, up to `limit` items."""
        if immutable is not None and immutable in self.immutable:
            self.stats.cache_hits += 1
            return self.immutable.get(immutable)
        items: list = []
        conditional = immutable is None  # pages of an immutable answer need no ETag: the whole is kept
        value, next_url = self._get(target, {"per_page": PER_PAGE, **(params or {})}, parse=parse,
                                    conditional=conditional, **request)
        items.extend(value)
        while next_url and (limit is None or len(items) < limit):
            value, next_url = self._get(next_url, None, parse=parse, conditional=conditional, **request)
            items.extend(value)
        items = items[:limit] if limit is not None else items
        if immutable is not None:
            self.immutable.put(immutable, items)
        return items

    def _get(self, target: str, params: Mapping[str, Any] | None, *, parse: Callable[[Any], Any],
             immutable: Hashable | None = None, conditional: bool = True, **request: Any) -> tuple[Any, str | None]:
        if immutable is not None and immutable in self.immutable:
            self.stats.cache_hits += 1
            return self.immutable.get(immutable), None
        conditional = conditional and immutable is None
        # Parsed values are cached, so the parser is part of the key: two readers of one URL never mix shapes.
        key = (self._read_key(target, params), getattr(parse, "__qualname__", ""))
        cached: _Cached | None = self.etags.get(key) if conditional else None
        headers = {"If-None-Match": cached.etag} if cached else None
        response = self.request("GET", target, params=params, headers=headers, **request)
        if response.status == 304 and cached is not None:
            return cached.value, cached.next_url
        value, next_url = parse(response.data), self._next_url(response.headers, target, params)
        if immutable is not None:
            self.immutable.put(immutable, value)
        elif conditional and response.headers.get("etag"):
            self.etags.put(key, _Cached(response.headers["etag"], next_url, value))
        return value, next_url


class GitHubHttp(CachedReads):
    """Requests through PyGithub's Requester (auth, token refresh, GHES base URL) with our error mapping.

    Three caches per instance (one instance per installation): `immutable` answers that cannot change (content
    at a commit sha, tag objects, compare between two shas) are kept forever (LRU); `fresh` keeps who/policy
    facts (team members and grants, permissions, files on a default branch) for `fresh_for` seconds; mutable
    GETs keep ETag + parsed value per URL and are re-validated with If-None-Match, a 304 reusing the value.
    https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate
    """

    def __init__(self, requester: Requester, *, cache_size: int = 2048, clock: Callable[[], float] = time.time,
                 fresh_for: float = 60.0) -> None:
        self.requester = requester
        # PyGithub paces every verb but GET as a write (seconds_between_writes, 1 s by default), and a GraphQL
        # query is a POST: four reads of one evaluation slept ~3 s. Queries go through a twin requester (same auth,
        # token and base URL) without write pacing; REST writes and GraphQL mutations keep GitHub's pacing on
        # `requester`, which the reads no longer touch, so a write never waits behind a read either.
        # https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#pause-between-mutative-requests
        self.reader = reading_requester(requester)
        self.immutable = LRU(cache_size)
        self.etags = LRU(cache_size)
        self.fresh = Fresh(cache_size, ttl=fresh_for, clock=clock)
        self.clock = clock
        self.stats = Stats()

    def request(
        self, verb: str, url: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
        headers: Mapping[str, str] | None = None, requester: Requester | None = None,
    ) -> Response:
        """One HTTP request; raises the mapped ForgeError for any status >= 400, returns 2xx and 304."""
        what = f"{verb} {url.split('?')[0]}"
        send = {**HEADERS, **(headers or {})}  # a fresh dict: the Requester writes the token into it
        self.stats.requests += 1
        via = requester or (self.reader if verb in ("GET", "HEAD") else self.requester)
        try:
            status, response_headers, text = via.requestJson(verb, url, dict(params or {}), send, body)
        except requests.exceptions.RequestException as exc:  # connection refused/reset, timeouts, retries spent
            raise TransientError(f"{what}: {type(exc).__name__}") from exc
        except GithubException as exc:  # raised by PyGithub while refreshing the installation token
            headers_ = {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
            raise (error_for(exc.status, headers_, exc.data, what=f"{what} (token)", now=self.clock())
                   or ForgeError(f"{what}: {exc}")) from exc
        data = _json(text)
        log.debug("github %s -> %s", what, status)
        error = error_for(status, response_headers, data, what=what, now=self.clock())
        if error is not None:
            raise error
        if status == 304:
            self.stats.not_modified += 1
        return Response(status, response_headers, data)

    def graphql(self, query: str, variables: Mapping[str, Any], *,
                tolerate: frozenset[str] = frozenset()) -> tuple[dict[str, Any], tuple[Mapping[str, Any], ...]]:
        """POST one query to the GraphQL endpoint of the same host (https://HOST/api/graphql on GHES, whose REST
        base is https://HOST/api/v3; PyGithub's Requester knows both). Returns (data, tolerated errors): an error
        whose type is in `tolerate` and that names a `path` belongs to that field (e.g. NOT_FOUND for one
        aliased repository); any other error raises the mapped ForgeError."""
        requester = self.requester if is_mutation(query) else self.reader
        response = self.request("POST", self.requester.graphql_url, body={"query": query, "variables": dict(variables)},
                                requester=requester)
        body = response.data if isinstance(response.data, dict) else {}
        errors = tuple(e for e in body.get("errors") or () if isinstance(e, dict))
        for error in errors:
            if error.get("type") not in tolerate or not error.get("path"):
                raise graphql_error_for(error, response.headers, what="POST graphql", now=self.clock())
        data = body.get("data")
        if not isinstance(data, dict):
            raise ForgeError(f"POST graphql: no data ({_message(body)})")
        return data, errors

    def _read_key(self, url: str, params: Mapping[str, Any] | None) -> Hashable:
        return Requester.add_parameters_to_url(url, dict(params or {}))

    def _next_url(self, headers: Mapping[str, str], url: str, params: Mapping[str, Any] | None) -> str | None:
        return next_link(headers)


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text[:200]}
