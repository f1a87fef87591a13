"""`release-coordinator serve`: the web app and an embedded queue consumer in one process (PORT, default 3000)."""
from __future__ import annotations

import argparse
import signal

from bot.commands._runtime import StartupError, build, fail, load_settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="web + embedded worker in one process (the simple deployment)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default: $PORT, else 3000)")
    parser.add_argument("--workers", type=int, default=2, help="queue worker threads (default 2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from bot.web import create_app

    try:
        settings = load_settings()
        queue, store, _ = build(settings)
    except StartupError as exc:
        return fail(str(exc))
    app = create_app(settings, queue=queue, store=store)
    consumer = queue.consumer(workers=args.workers, embedded=True)
    server = make_server(args.host, args.port or settings.port, app, threaded=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    consumer.start()
    print(f"release-coordinator: serving on http://{args.host}:{server.server_port} (queue {_where(settings.queue_url)})",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        consumer.stop()  # finishes the job in hand; anything cut short is re-run by the next consumer
    return 0


def _where(url: str) -> str:
    return url.split("@")[-1]  # never print a Redis password
