"""What `serve` and `web` share: their options, the start-up checks and banner, and running gunicorn."""
from __future__ import annotations

import argparse
import logging

from bot import logs
from bot.settings import Settings

log = logging.getLogger("bot.serve")


def add(parser: argparse.ArgumentParser) -> None:
    from bot import serving

    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default: $PORT, else 3000)")
    parser.add_argument("--web-workers", type=int,
                        help=f"web processes (default: $WEB_CONCURRENCY, else {serving.DEFAULT_WORKERS})")
    parser.add_argument("--threads", type=int, default=serving.DEFAULT_THREADS,
                        help=f"request threads per web process (default {serving.DEFAULT_THREADS})")
    parser.add_argument("--connections", type=int, default=serving.DEFAULT_CONNECTIONS,
                        help=f"open connections per web process (default {serving.DEFAULT_CONNECTIONS})")
    parser.add_argument("--graceful-timeout", type=float, default=serving.DEFAULT_GRACEFUL_SECONDS,
                        help="on SIGTERM, seconds for requests and jobs in hand to finish (default 25)")
    parser.add_argument("--read-timeout", type=float, default=serving.REQUEST_READ_TIMEOUT,
                        help="seconds a client has to send a whole request (default 10)")
    parser.add_argument("--access-log", action="store_true", help="one log line per HTTP request too")


def options(args: argparse.Namespace, settings: Settings):
    from bot import serving

    return serving.ServeOptions(
        host=args.host, port=args.port or settings.port,
        workers=args.web_workers or settings.web_concurrency or serving.DEFAULT_WORKERS,
        threads=args.threads, connections=args.connections, graceful_seconds=args.graceful_timeout,
        read_timeout=args.read_timeout, access_log=args.access_log, log_level=settings.log_level,
        # Intake on a SQLite queue is CPU plus a local commit: the event loop runs it. A Redis queue is a network
        # round trip per delivery: threads run it, so one slow answer from Redis does not hold every connection.
        inline_intake=settings.queue_url.startswith("sqlite:"),
    )


def serve(settings: Settings, options, *, consumer, role: str, consumer_threads: int | None = None) -> int:
    from bot import serving
    from bot.queue import durability_warning
    from bot.store import QueueUrlError
    from bot.web import create_app_from_env

    try:
        warning = durability_warning(settings.queue_url)
    except QueueUrlError as exc:
        return fail(str(exc))
    except Exception as exc:  # Redis unreachable at start: /readyz says so until it answers; start anyway
        warning = None
        logs.event(log, "queue unreachable at start", level=logging.ERROR, error=f"{type(exc).__name__}: {exc}")
    if warning:
        logs.event(log, "NOT DURABLE: " + warning, level=logging.CRITICAL, queue=_where(settings.queue_url))

    def banner() -> None:
        logs.event(log, f"release-coordinator {role}: listening on http://{options.host}:{options.port}", role=role,
                   queue=_where(settings.queue_url), web_workers=options.workers, threads=options.threads,
                   consumer_threads=consumer_threads, durable=warning is None)

    # Each web process builds its app after the fork (create_app_from_env): web only, the consumer runs apart.
    serving.Server(create_app_from_env, options, consumer=consumer, on_ready=banner).run()
    return 0


def fail(message: str) -> int:
    """A start-up error as a log line (JSON unless LOG_FORMAT=text), exit 2."""
    if not logging.getLogger().handlers:
        logs.configure()
    logs.event(log, message, level=logging.CRITICAL)
    return 2


def _where(url: str) -> str:
    return url.split("@")[-1]  # never print a Redis password
