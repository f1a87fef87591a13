"""create_app(settings): verify, record and answer webhooks; health, readiness, metrics and the landing page."""
from __future__ import annotations

import importlib
import json
import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot import logs, metrics
from bot.journal import Delivery, State
from bot.queue import Queue
from bot.routing import Router
from bot.settings import Settings
from bot.store import open_store
from bot.webhooks import github as github_webhooks
from bot.webhooks import gitlab as gitlab_webhooks
from bot.webhooks.github import MAX_BODY_BYTES, MalformedDelivery

log = logging.getLogger("bot.web")
GITHUB_NOT_CONFIGURED = "GitHub is not configured: set GITHUB_WEBHOOK_SECRET"


class _Reply(Exception):
    def __init__(self, status: int, outcome: str, message: str):
        super().__init__(message)
        self.status, self.outcome, self.message = status, outcome, message


def create_app(settings: Settings, *, queue: Queue | None = None, store: Any = None, router: Router | None = None) -> Flask:
    app = Flask(__name__)
    queue = queue if queue is not None else Queue(settings.queue_url)
    if router is None:
        from bot.handlers import all_handlers

        router = all_handlers()
    app.config["SETTINGS"] = settings
    app.config["STORE"] = store if store is not None else open_store(settings.queue_url)
    app.config["DETAILS_LINK_KEY"] = settings.details_link_key  # bot.pages: opens only signed links
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["queue"] = queue
    app.group_commit = queue.group_commit  # bot.serving: the deliveries of one event-loop turn share a commit
    logs.register_secrets([settings.github_webhook_secret, settings.github_private_key,
                           settings.gitlab_token, settings.gitlab_webhook_secret, settings.details_link_secret,
                           settings.details_link_key])

    def count(event: str, outcome: str, forge: str = "github") -> None:
        try:
            queue.journal.incr("deliveries_total", {"event": event, "outcome": outcome, "forge": forge})
        except Exception:  # metrics must never change the answer GitHub gets
            log.exception("could not count a delivery")

    @app.post("/webhooks/github")
    def github_webhook() -> Response:
        started = time.monotonic()
        environ = request.environ  # each header read once, straight from the WSGI environ (PEP 3333 names)
        delivery_id = environ.get("HTTP_X_GITHUB_DELIVERY")
        fields: dict[str, Any] = {"forge": "github", "delivery_id": delivery_id}
        try:
            secret = settings.github_webhook_secret
            if secret is None:
                raise _Reply(503, "not_configured", GITHUB_NOT_CONFIGURED)
            body = _read_body()
            if not github_webhooks.verify(body, signature=environ.get("HTTP_X_HUB_SIGNATURE_256"), secret=secret):
                raise _Reply(401, "bad_signature", "missing or wrong X-Hub-Signature-256")
            name = environ.get("HTTP_X_GITHUB_EVENT")
            if not name or not delivery_id:
                raise _Reply(400, "malformed", "X-GitHub-Event and X-GitHub-Delivery headers are required")
            fields["event"] = name
            try:
                body = github_webhooks.json_body(body, environ.get("CONTENT_TYPE"))  # the JSON is journaled
                payload = github_webhooks.load_payload(body)
                action, repo = github_webhooks.peek(payload)
            except github_webhooks.UnsupportedMediaType as exc:
                raise _Reply(415, "unsupported_media_type", str(exc)) from None
            except MalformedDelivery as exc:
                raise _Reply(400, "malformed", str(exc)) from None
            fields.update(action=action, repo=repo, number=github_webhooks.number_of(payload))
            if not router.accepts(name, action):
                raise _Reply(202, "ignored", f"{_event_label(name, action)} is not handled; nothing queued")
            missing = [m for m in settings.missing_github() if m != "GITHUB_WEBHOOK_SECRET"]
            submit(Delivery(delivery_id, "github", name, action, repo, body, time.time()),
                   missing=missing and f"GitHub App credentials are missing: set {', '.join(missing)}")
        except _Reply as reply:
            return _answer(reply, fields, started, count)

    @app.post("/webhooks/gitlab")
    def gitlab_webhook() -> Response:
        started = time.monotonic()
        fields: dict[str, Any] = {"forge": "gitlab", "event": request.headers.get("X-Gitlab-Event")}
        try:
            secret = settings.gitlab_webhook_secret
            if secret is None:
                raise _Reply(503, "not_configured", f"GitLab is not configured: set {', '.join(settings.missing_gitlab())}")
            body = _read_body()
            if not gitlab_webhooks.verify(token=request.headers.get("X-Gitlab-Token"), secret=secret):
                raise _Reply(401, "bad_token", "missing or wrong X-Gitlab-Token")
            name = request.headers.get("X-Gitlab-Event")
            if not name:
                raise _Reply(400, "malformed", "the X-Gitlab-Event header is required")
            try:
                payload = gitlab_webhooks.load_payload(body)
            except MalformedDelivery as exc:
                raise _Reply(400, "malformed", str(exc)) from None
            delivery_id = gitlab_webhooks.delivery_id(request.headers, body, event=name)
            fields["delivery_id"] = delivery_id
            # sans I/O and cheap: the whole Event decides whether anyone handles it (a note is a command or not)
            event = gitlab_webhooks.parse(event=name, delivery_id=delivery_id, payload=payload)
            fields.update(action=event.action, repo=event.repo)
            if not router.handlers_for(event):
                raise _Reply(202, "ignored", f"{_event_label(name, event.action)} is not handled; nothing queued")
            missing = settings.missing_gitlab_api()
            submit(Delivery(delivery_id, "gitlab", name, event.action, event.repo, body, time.time()),
                   missing=missing and f"GitLab API access is missing: set {', '.join(missing)}")
        except _Reply as reply:
            return _answer(reply, fields, started, count)

    def submit(delivery: Delivery, *, missing: str | None) -> None:
        """Journal a verified, routed delivery and raise the answer. With missing (what the worker would need to
        run it), refuse it with 503 instead: the forge shows the answer and the delivery can be redelivered once
        configured, rather than kept to fail as a dead letter."""
        if missing:
            raise _Reply(503, "app_not_configured", missing)
        try:
            queued = queue.submit(delivery)
        except Exception:
            log.exception("queue unavailable")
            raise _Reply(503, "queue_unavailable", "the queue is unavailable; redeliver later") from None
        if not queued:
            raise _Reply(202, "duplicate", f"delivery {delivery.delivery_id} was received before; nothing queued")
        raise _Reply(202, "queued", f"delivery {delivery.delivery_id} queued")

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Response:
        try:
            queue.ping()
        except Exception as exc:  # any backend failure means "not ready"
            return jsonify(status="unavailable", error=f"queue unreachable: {type(exc).__name__}"), 503
        warning = queue.durability()  # asked of the backend once per process
        if warning:  # ready (it accepts deliveries), but say loudly that a restart of the backend loses them
            return jsonify(status="ready", durable=False, warning=f"NOT DURABLE: {warning}")
        return jsonify(status="ready", durable=True)

    @app.errorhandler(500)
    def internal_error(exc):  # a bug on the webhook path: still the JSON shape GitHub's delivery log shows
        if not request.path.startswith("/webhooks/"):
            return exc
        return Response(json.dumps({"status": "error", "message": "internal error; nothing was queued, redeliver"}),
                        status=500, content_type="application/json")

    @app.get("/metrics")
    def prometheus() -> Response:
        text = metrics.render(queue.journal.counters(), depth=queue.depth(),
                              dead_letters=queue.journal.count(State.DEAD))
        text += metrics.access_gauges(app.config["STORE"].get_json("access:index") or {})
        return Response(text, content_type=metrics.CONTENT_TYPE)

    @app.get("/")
    def landing() -> Response:
        return Response(_landing(settings, router, queue), content_type="text/html; charset=utf-8")

    try:
        pages = importlib.import_module("bot.pages")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.pages":
            raise
    else:
        app.register_blueprint(pages.blueprint)
    from bot import pages_setup

    app.register_blueprint(pages_setup.blueprint)  # /setup: the App manifest flow, 404 once an App is configured
    from bot import pages_access

    app.register_blueprint(pages_access.blueprint)  # /access: the access audit's reports (signed links)
    from bot import pages_history

    app.register_blueprint(pages_history.blueprint)  # /releases/<forge>/<repo>: timeline + Atom feed (signed links)
    return app


def create_app_from_env() -> Flask:
    """For gunicorn (Procfile): `gunicorn 'bot.web:create_app_from_env()'`. Web only; run `worker` beside it."""
    from bot.commands._runtime import build, load_settings

    settings = load_settings()
    queue, store, _ = build(settings, with_worker=False)
    return create_app(settings, queue=queue, store=store)


def _read_body() -> bytes:
    """The raw body, refusing anything over GitHub's 25 MiB cap before and while reading."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise _Reply(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
    if length is not None:
        # Known length (GitHub always sends it): one read of exactly that many bytes from the server.
        stream = request.environ["wsgi.input"]
        body = stream.read(length)
        while len(body) < length:  # a server may return short reads; a short body then fails its signature
            more = stream.read(length - len(body))
            if not more:
                break
            body += more
        return body
    chunks, size = [], 0
    stream = request.stream  # chunked: werkzeug ends the stream where the server says the body ends
    while True:
        try:
            chunk = stream.read(min(65536, MAX_BODY_BYTES + 1 - size))
        except RequestEntityTooLarge:  # werkzeug's own MAX_CONTENT_LENGTH guard on the same stream
            raise _Reply(413, "too_large", f"body over {MAX_BODY_BYTES} bytes") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Reply(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


def _answer(reply: _Reply, fields: dict[str, Any], started: float, count) -> Response:
    # Unverified requests are counted under event="-": header values an attacker chose never become labels.
    verified = reply.outcome not in ("not_configured", "bad_signature", "bad_token", "too_large")
    if reply.outcome != "queued":  # Queue.submit counts accepted deliveries in the same commit
        count(fields.get("event") if verified and fields.get("event") else "-", reply.outcome, fields.get("forge", "github"))
    logs.event(log, "delivery", level=logging.INFO if reply.status < 500 else logging.ERROR, outcome=reply.outcome,
               status=reply.status, duration_ms=round((time.monotonic() - started) * 1000, 2),
               **{k: v for k, v in fields.items() if verified or k in ("forge", "delivery_id")})
    return Response(json.dumps({"status": reply.outcome, "message": reply.message}), status=reply.status,
                    content_type="application/json")


def _event_label(name: str, action: str | None) -> str:
    return f"{name}.{action}" if action else name


def _landing(settings: Settings, router: Router, queue: Queue) -> str:
    """The status page (bot.pages_status): the forge's answer about our identity, what is served, PUBLIC_URL,
    the queue and its dead letters, each line green, amber or red; the App registration steps when unconfigured."""
    from bot import pages_status

    routes = sorted({_event_label(e, a) if a else f"{e} (any action)" for e, a in router.routes()})
    return pages_status.render_landing(settings, routes, queue=queue, request_url=request.url)
