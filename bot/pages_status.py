"""The landing page is a status page: one line per thing an operator must get right, each green, amber or red
with a word and an icon, and what to do about it.

Probes ask the forge who we are (GitHub: `GET /app` with the App's JWT, then its installations; GitLab: the
token's `GET /user`, then the projects it can act on) and are cached for PROBE_TTL seconds, so a reload costs
no request. The probes of both forges run at once, each in its own thread, and the page waits for them PROBE_BUDGET
seconds in all: a black-holed forge makes the first load wait that long, not PROBE_TIMEOUT per request one after
another; its probe goes on in the background and the next load shows its answer. An unreachable forge or a refused
key is a red line that says why, never an exception. The lines themselves are pure functions of the facts (tested as
tables); the probes are thin.
"""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from bot.settings import Settings

PROBE_TTL = 60.0  # seconds a forge answer is reused for the status page
PROBE_TIMEOUT = 5.0  # seconds per request: the page must answer even while the forge does not
PROBE_BUDGET = 3.0  # seconds the page waits for all forge probes together (they run concurrently)
MAX_INSTALLATION_PAGES = 10  # 1,000 installations listed at most; more are counted as "1,000+"
QUEUE_BACKLOG_WARN = 100  # deliveries waiting: more means the workers do not keep up
OK, WARN, FAIL = "ok", "warn", "fail"
# the word and icon beside the colour (WCAG 1.4.1: never colour alone)
WORDS = {OK: ("✓", "OK"), WARN: ("!", "Check"), FAIL: ("✗", "Failing")}


@dataclass(frozen=True)
class Line:
    topic: str
    state: str  # OK | WARN | FAIL
    value: str  # what is, in words
    fix: str = ""  # what to do, when not OK
    command: str = ""  # a command that does it, shown as code
    link: tuple[str, str] | None = None  # (text, href) of a page that helps

    @property
    def icon(self) -> str:
        return WORDS[self.state][0]

    @property
    def word(self) -> str:
        return WORDS[self.state][1]


@dataclass(frozen=True)
class Identity:
    """What a forge said about us, or why it could not be asked (error)."""

    name: str = ""  # GitHub: the App's name (slug); GitLab: @username
    url: str = ""  # its page on the forge
    owner: str = ""  # GitHub: the account that owns the App
    served: tuple[str, ...] = ()  # installations' accounts (GitHub) or projects (GitLab)
    served_more: bool = False  # more than listed
    error: str | None = None


@dataclass(frozen=True)
class QueueFacts:
    kind: str  # "sqlite" | "redis"
    target: str  # file path, or the Redis URL without its password
    depth: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    durability: str | None = None  # why deliveries could be lost; None when kept
    error: str | None = None


# --- the lines: facts in, lines out

def github_lines(settings: Settings, identity: Identity | None, *, setup_open: bool) -> list[Line]:
    missing = settings.missing_github()
    register = ("Register the GitHub App", "/setup") if setup_open else None
    if identity is None:
        return [Line("GitHub App", WARN, "not configured: " + ", ".join(missing) + " unset",
                     fix="register the App and set the variables (see below)", link=register)]
    if identity.error:
        return [Line("GitHub App", FAIL, identity.error,
                     fix=f"check GITHUB_APP_ID, the private key and GITHUB_API_URL ({settings.github_api_url})")]
    lines = [Line("GitHub App", OK, f"{identity.name} (id {settings.github_app_id}), owned by {identity.owner}: "
                  "GET /app answered for our key")]
    if settings.github_webhook_secret is None:
        lines.append(Line("GitHub webhooks", FAIL, "GITHUB_WEBHOOK_SECRET unset: every delivery is answered 503",
                          fix="set it to the App's webhook secret"))
    count = f"{len(identity.served)}{'+' if identity.served_more else ''}"
    if identity.served:
        shown = ", ".join(identity.served[:10]) + (" …" if len(identity.served) > 10 or identity.served_more else "")
        lines.append(Line("Installations", OK, f"{count} installation{'s' if count != '1' else ''}: {shown}"))
    else:
        lines.append(Line("Installations", WARN, "installed nowhere: no repository sends events",
                          fix="install the App on the repositories to manage",
                          link=("Install the App", f"{identity.url}/installations/new") if identity.url else None))
    return lines


def gitlab_lines(settings: Settings, identity: Identity | None) -> list[Line]:
    if identity is None:
        missing = settings.missing_gitlab()
        if len(missing) == 3:
            return [Line("GitLab", OK, "not used (GITLAB_URL, GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET unset)")]
        return [Line("GitLab", WARN, "partly configured: " + ", ".join(missing) + " unset",
                     fix="set all three, or none")]
    if identity.error:
        return [Line("GitLab", FAIL, identity.error, fix=f"check GITLAB_URL ({settings.gitlab_url}) and GITLAB_TOKEN")]
    lines = [Line("GitLab", OK, f"{identity.name} on {settings.gitlab_url}: GET /user answered for our token")]
    if settings.gitlab_webhook_secret is None:
        lines.append(Line("GitLab webhooks", FAIL, "GITLAB_WEBHOOK_SECRET unset: every hook is answered 503",
                          fix="set it to the hooks' secret token"))
    if identity.served:
        more = "+" if identity.served_more else ""
        lines.append(Line("GitLab projects", OK, f"{len(identity.served)}{more} the token can act on (Developer or more): "
                          + ", ".join(identity.served[:10]) + (" …" if identity.served_more or len(identity.served) > 10 else "")))
    else:
        lines.append(Line("GitLab projects", WARN, "the token has the Developer role on no project: no merge request "
                          "is evaluated", fix="give the bot user (or group token) the Developer role on the projects"))
    return lines


def public_url_line(settings: Settings, request_url: str) -> Line:
    """PUBLIC_URL is what check runs link to; it should be the address this page was opened on."""
    if not settings.public_url:
        return Line("PUBLIC_URL", WARN, "unset: checks carry no Details link",
                    fix=f"set PUBLIC_URL to this server's public address, e.g. {_origin(request_url)}")
    if _origin(settings.public_url) != _origin(request_url):
        return Line("PUBLIC_URL", WARN, f"{settings.public_url}, but this page was opened as {_origin(request_url)}",
                    fix="Details links go to PUBLIC_URL: make it the address reviewers reach")
    if settings.details_link_key is None:
        return Line("PUBLIC_URL", WARN, f"{settings.public_url}, but no key signs the details links",
                    fix="set DETAILS_LINK_SECRET (or a webhook secret): unsigned links open no page")
    return Line("PUBLIC_URL", OK, f"{settings.public_url}: matches this request; details links are signed")


def queue_lines(facts: QueueFacts) -> list[Line]:
    where = f"{facts.kind} ({facts.target})"
    if facts.error:
        return [Line("Queue", FAIL, f"{where} unreachable: {facts.error}", fix="check QUEUE_URL and the backend")]
    waiting = facts.depth.get("queued", 0)
    scheduled = facts.depth.get("scheduled", 0)
    depth = f"{where}: {waiting} waiting, {scheduled} scheduled for a retry"
    lines = [Line("Queue", WARN, depth, fix="more workers (release-coordinator worker) or check they run")
             if waiting > QUEUE_BACKLOG_WARN else Line("Queue", OK, depth)]
    lines.append(Line("Persistence", WARN, facts.durability, fix="see QUEUE_URL in the README")
                 if facts.durability else Line("Persistence", OK, "accepted deliveries survive a restart"))
    if facts.dead_letters:
        lines.append(Line("Dead letters", FAIL, f"{facts.dead_letters} deliver{'ies' if facts.dead_letters != 1 else 'y'} "
                          "failed for good", fix="read why, fix the cause, then send each back",
                          command="release-coordinator dead-letters; release-coordinator dead-letters --requeue DELIVERY_ID"))
    else:
        lines.append(Line("Dead letters", OK, "none"))
    return lines


def version_line() -> Line:
    return Line("Version", OK, f"release-coordinator {version()} on Python {sys.version.split()[0]}")


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("release-coordinator")
    except PackageNotFoundError:
        return "unknown (not installed as a package)"


def overall(lines: list[Line]) -> str:
    states = {line.state for line in lines}
    return FAIL if FAIL in states else WARN if WARN in states else OK


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


# --- probes: the forge and the queue, asked at most once per PROBE_TTL

class ProbeCache:
    def __init__(self, ttl: float = PROBE_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._values: dict[Any, tuple[float, Any]] = {}
        self._running: dict[Any, Future] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        return self.start(key, compute).result()

    def start(self, key: Any, compute: Callable[[], Any]) -> Future:
        """The answer for key as a Future: done at once when cached, else computed in a thread of its own (one per
        key: pages loaded meanwhile wait on the same probe) and cached when it comes, however late."""
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and hit[0] > self.clock():
                answer: Future = Future()
                answer.set_result(hit[1])
                return answer
            running = self._running.get(key)
            if running is not None:
                return running
            answer = self._running[key] = Future()
        threading.Thread(target=self._compute, args=(key, compute, answer), name=f"probe {key!r}"[:60],
                         daemon=True).start()
        return answer

    def _compute(self, key: Any, compute: Callable[[], Any], answer: Future) -> None:
        try:
            value = compute()  # outside the lock: a slow forge does not hold other pages
        except BaseException as exc:  # noqa: BLE001 (handed to whoever waits, as a plain call would raise it)
            with self._lock:
                self._running.pop(key, None)
            answer.set_exception(exc)
            return
        with self._lock:
            self._values[key] = (self.clock() + self.ttl, value)
            self._running.pop(key, None)
        answer.set_result(value)


def probe_github(settings: Settings, *, session: Any = requests) -> Identity:
    from bot.forge.auth import GitHubApp

    api = settings.github_api_url.rstrip("/")
    try:
        jwt = GitHubApp(app_id=settings.github_app_id, private_key=settings.github_private_key, api_url=api).jwt()
    except Exception as exc:  # a malformed key: PyJWT/cryptography say why
        return Identity(error=f"the private key cannot sign a JWT: {type(exc).__name__}: {exc}"[:300])
    headers = {"Authorization": f"Bearer {jwt}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "release-coordinator-status"}
    # https://docs.github.com/en/rest/apps/apps#get-the-authenticated-app
    app, error = _get_json(session, f"{api}/app", headers=headers, what="GET /app")
    if error:
        return Identity(error=error)
    served: list[str] = []
    more = False
    # https://docs.github.com/en/rest/apps/apps#list-installations-for-the-authenticated-app
    url: str | None = f"{api}/app/installations?per_page=100"
    for page in range(MAX_INSTALLATION_PAGES):
        response, error = _get(session, url, headers=headers, what="GET /app/installations")
        if error:
            return Identity(name=app.get("slug") or app.get("name", ""), error=error)
        served += [(i.get("account") or {}).get("login", "?") for i in response.json()]
        url = response.links.get("next", {}).get("url")
        if not url:
            break
        more = page == MAX_INSTALLATION_PAGES - 1
    return Identity(name=app.get("slug") or app.get("name", ""), url=app.get("html_url", ""),
                    owner=(app.get("owner") or {}).get("login", "?"), served=tuple(served), served_more=more)


def probe_gitlab(settings: Settings, *, session: Any = requests) -> Identity:
    api = f"{settings.gitlab_url.rstrip('/')}/api/v4"
    headers = {"PRIVATE-TOKEN": settings.gitlab_token.reveal(), "User-Agent": "release-coordinator-status"}
    # https://docs.gitlab.com/ee/api/users.html#for-normal-users-1
    user, error = _get_json(session, f"{api}/user", headers=headers, what="GET /user")
    if error:
        return Identity(error=error)
    # https://docs.gitlab.com/ee/api/projects.html#list-all-projects: min_access_level=30 is Developer, what setting
    # commit statuses, writing notes and creating tags need (Maintainer only where tags or branches are protected)
    response, error = _get(session, f"{api}/projects?min_access_level=30&simple=true&per_page=100&order_by=path&sort=asc",
                           headers=headers, what="GET /projects")
    if error:
        return Identity(name=f"@{user.get('username', '?')}", error=error)
    projects = tuple(p.get("path_with_namespace", "?") for p in response.json())
    return Identity(name=f"@{user.get('username', '?')}", url=user.get("web_url", ""), served=projects,
                    served_more=bool(response.headers.get("x-next-page")))


def probe_queue(queue: Any, url: str) -> QueueFacts:
    from bot.journal import State
    from bot.store import backend_of

    kind, target = backend_of(url)
    target = _without_password(target) if kind == "redis" else target
    try:
        return QueueFacts(kind, target, depth=queue.depth(), dead_letters=queue.journal.count(State.DEAD),
                          durability=queue.durability())
    except Exception as exc:  # the backend is down: a red line, never a stack trace
        return QueueFacts(kind, target, error=f"{type(exc).__name__}: {exc}"[:300])


def _get(session: Any, url: str, *, headers: dict, what: str):
    try:
        response = session.get(url, headers=headers, timeout=PROBE_TIMEOUT)
    except requests.RequestException as exc:
        return None, f"{what}: cannot reach {_origin(url)} ({type(exc).__name__})"
    if response.status_code != 200:
        try:
            message = response.json().get("message", "")
        except ValueError:
            message = response.text[:120]
        return None, f"{what} answered {response.status_code}{': ' + str(message) if message else ''}"
    return response, None


def _get_json(session: Any, url: str, *, headers: dict, what: str):
    response, error = _get(session, url, headers=headers, what=what)
    if error:
        return None, error
    try:
        return response.json(), None
    except ValueError:
        return None, f"{what} answered 200 with no JSON: is {_origin(url)} the API's address?"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url


# --- the page

_CACHE = ProbeCache()


def status_lines(settings: Settings, *, queue: Any, request_url: str, cache: ProbeCache = _CACHE,
                 session: Any = requests, budget: float = PROBE_BUDGET) -> list[Line]:
    from bot import pages_setup

    deadline = time.monotonic() + budget
    github = gitlab = None
    if settings.github_app_configured:
        github = cache.start(("github", settings.github_api_url, settings.github_app_id),
                             lambda: _safely(probe_github, settings, session, "GET /app"))
    if not settings.missing_gitlab_api():
        gitlab = cache.start(("gitlab", settings.gitlab_url), lambda: _safely(probe_gitlab, settings, session, "GET /user"))
    github = _answer_by(github, deadline, budget, "GET /app")
    gitlab = _answer_by(gitlab, deadline, budget, "GET /user")
    queue_facts = probe_queue(queue, settings.queue_url) if queue is not None else None  # local: asked every time
    lines = github_lines(settings, github, setup_open=not pages_setup.configured(settings))
    lines += gitlab_lines(settings, gitlab)
    lines.append(public_url_line(settings, request_url))
    if queue_facts is not None:
        lines += queue_lines(queue_facts)
    lines.append(version_line())
    return lines


def _answer_by(answer: Future | None, deadline: float, budget: float, what: str) -> Identity | None:
    if answer is None:
        return None
    try:
        return answer.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return Identity(error=f"{what}: no answer within {budget:g} s (still asking: reload in a few seconds "
                              "for its answer)")


def _safely(probe, settings: Settings, session: Any, what: str) -> Identity:
    """A probe never fails the page: an answer of a shape we did not expect is a red line too."""
    try:
        return probe(settings, session=session)
    except Exception as exc:  # noqa: BLE001 (the status page must render whatever the forge says)
        return Identity(error=f"{what}: an unexpected answer ({type(exc).__name__}: {exc})"[:300])


def render_landing(settings: Settings, routes: list[str], *, queue: Any, request_url: str) -> str:
    from flask import render_template

    from bot import pages_setup

    lines = status_lines(settings, queue=queue, request_url=request_url)
    return render_template("landing.html", lines=lines, overall=overall(lines), words=WORDS, routes=routes,
                           setup_open=not pages_setup.configured(settings),
                           github_configured=not settings.missing_github(),
                           webhook_url=(settings.public_url or _origin(request_url)).rstrip("/") + "/webhooks/github")
