"""tests/forge/fakegithub.py's FakeGitHub served over real HTTP on 127.0.0.1, for a `serve` process or a bench that
cannot share the test's `responses` mock: `with LoopbackGitHub() as gh: gh.fake.add_pull(...); env GITHUB_API_URL=gh.url`.

`hold()` makes every request wait until `release()` (a job the test can cut off mid-flight); `latency` adds a fixed
delay per request (an API's round trip, kept out of the product's own time by the drain bench)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.forge.fakegithub import FakeGitHub


@dataclass
class _Prepared:
    """The part of a requests.PreparedRequest that FakeGitHub._dispatch reads."""

    method: str
    url: str
    body: bytes | None
    headers: dict


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # one line per API call would drown the bench's output
        pass


class LoopbackGitHub:
    def __init__(self, *, latency: float = 0.0, our_app_id: int = 4242):
        self.latency = latency
        self._lock = threading.Lock()  # FakeGitHub is not thread-safe; GitHub's answers are serial here too
        self._open = threading.Event()
        self._open.set()
        self.seen = threading.Event()  # set by the first request
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.fake = FakeGitHub(self.url, our_app_id=our_app_id)
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-github", daemon=True)

    def __enter__(self) -> "LoopbackGitHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.seen.set()
        self._open.wait(120)
        if self.latency:
            time.sleep(self.latency)
        prepared = _Prepared(request.method, request.url, request.get_data() or None, dict(request.headers))
        with self._lock:
            status, headers, body = self.fake._dispatch(prepared)
        return Response(body, status=status, headers=headers)(environ, start_response)
