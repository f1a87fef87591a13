"""The status page: lines from facts as tables of cases; the probes over `responses` (what they send, what a
refusal or an unreachable forge becomes); the landing page through create_app, cached, never a stack trace."""
from __future__ import annotations

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot import pages_status as status
from bot.pages_status import FAIL, OK, WARN, Identity, Line, ProbeCache, QueueFacts
from bot.settings import Secret, Settings

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
API = "https://ghe.example/api/v3"
APP = Settings(github_app_id=4242, github_private_key=Secret(PEM), github_webhook_secret=Secret("w"), github_api_url=API,
               public_url="https://rc.example", github_app_credentials_file="/nonexistent/rc-credentials.env")
GITLAB = Settings(gitlab_url="https://gitlab.example", gitlab_token=Secret("glpat-secret"),
                  gitlab_webhook_secret=Secret("g"))
ACME = Identity(name="rc-acme", url="https://github.com/apps/rc-acme", owner="acme", served=("acme", "acme-labs"))


def states(lines: list[Line]) -> dict[str, str]:
    return {line.topic: line.state for line in lines}


@pytest.mark.parametrize("what, settings, identity, expected, words", [
    ("unconfigured: amber, with the way to register", Settings(), None, {"GitHub App": WARN}, "GITHUB_APP_ID"),
    ("the forge refused our key", APP, Identity(error="GET /app answered 401: A JSON web token could not be decoded"),
     {"GitHub App": FAIL}, "answered 401"),
    ("verified and installed", APP, ACME, {"GitHub App": OK, "Installations": OK}, "2 installations: acme, acme-labs"),
    ("verified, installed nowhere", APP, Identity(name="rc-acme", url="https://github.com/apps/rc-acme", owner="acme"),
     {"GitHub App": OK, "Installations": WARN}, "installed nowhere"),
    ("verified but no webhook secret", Settings(github_app_id=1, github_private_key=Secret(PEM)), ACME,
     {"GitHub App": OK, "GitHub webhooks": FAIL, "Installations": OK}, "answered 503"),
])
def test_github_lines(what, settings, identity, expected, words):
    lines = status.github_lines(settings, identity, setup_open=identity is None)
    assert states(lines) == expected
    assert any(words in line.value for line in lines), lines


def test_an_unconfigured_github_line_links_the_setup_page():
    [line] = status.github_lines(Settings(), None, setup_open=True)
    assert line.link == ("Register the GitHub App", "/setup")
    assert status.github_lines(Settings(), None, setup_open=False)[0].link is None  # /setup closed: no dead link


@pytest.mark.parametrize("what, settings, identity, expected", [
    ("not used at all", Settings(), None, {"GitLab": OK}),
    ("half configured", Settings(gitlab_webhook_secret=Secret("g")), None, {"GitLab": WARN}),
    ("token refused", GITLAB, Identity(error="GET /user answered 401: 401 Unauthorized"), {"GitLab": FAIL}),
    ("verified with projects", GITLAB, Identity(name="@rc-bot", served=("platform/release",)),
     {"GitLab": OK, "GitLab projects": OK}),
    ("verified, Developer nowhere", GITLAB, Identity(name="@rc-bot"), {"GitLab": OK, "GitLab projects": WARN}),
])
def test_gitlab_lines(what, settings, identity, expected):
    assert states(status.gitlab_lines(settings, identity)) == expected


@pytest.mark.parametrize("settings, request_url, state, words", [
    (Settings(), "http://localhost:3000/", WARN, "unset: checks carry no Details link"),
    (Settings(public_url="https://rc.example", details_link_secret=Secret("k")), "https://rc.example/", OK, "matches"),
    (Settings(public_url="https://RC.example/", details_link_secret=Secret("k")), "https://rc.example/?x", OK, "matches"),
    (Settings(public_url="https://rc.example", details_link_secret=Secret("k")), "http://10.0.0.5:3000/", WARN,
     "this page was opened as http://10.0.0.5:3000"),
    (Settings(public_url="https://rc.example"), "https://rc.example/", WARN, "no key signs the details links"),
])
def test_public_url_line(settings, request_url, state, words):
    line = status.public_url_line(settings, request_url)
    assert line.state == state and words in line.value


@pytest.mark.parametrize("facts, expected, words", [
    (QueueFacts("sqlite", "/srv/q.db", {"queued": 2, "scheduled": 1}), {"Queue": OK, "Persistence": OK, "Dead letters": OK},
     "2 waiting, 1 scheduled"),
    (QueueFacts("redis", "redis://:***@r:6379/0", {"queued": 500, "scheduled": 0}, durability="Redis keeps nothing"),
     {"Queue": WARN, "Persistence": WARN, "Dead letters": OK}, "500 waiting"),
    (QueueFacts("sqlite", "/srv/q.db", {"queued": 0}, dead_letters=3), {"Queue": OK, "Persistence": OK, "Dead letters": FAIL},
     "3 deliveries failed for good"),
    (QueueFacts("redis", "redis://r:6379/0", error="ConnectionError: Connection refused"), {"Queue": FAIL}, "unreachable"),
])
def test_queue_lines(facts, expected, words):
    lines = status.queue_lines(facts)
    assert states(lines) == expected and any(words in line.value for line in lines)
    dead = [line for line in lines if line.topic == "Dead letters"]
    if dead and dead[0].state == FAIL:
        assert dead[0].command == ("release-coordinator dead-letters; "
                                   "release-coordinator dead-letters --requeue DELIVERY_ID")


def test_overall_is_the_worst_line():
    assert status.overall([Line("a", OK, ""), Line("b", WARN, "")]) == WARN
    assert status.overall([Line("a", FAIL, ""), Line("b", WARN, "")]) == FAIL
    assert status.overall([Line("a", OK, "")]) == OK


def test_a_redis_password_is_never_shown():
    assert status._without_password("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"
    assert status._without_password("redis://cache:6379/0") == "redis://cache:6379/0"


# --- probes, over responses

@responses.activate
def test_probe_github_asks_get_app_with_a_jwt_our_key_signed_then_every_installation_page():
    responses.get(f"{API}/app", json={"slug": "rc-acme", "owner": {"login": "acme"},
                                      "html_url": "https://ghe.example/github-apps/rc-acme"})
    responses.get(f"{API}/app/installations", json=[{"account": {"login": "acme"}}],
                  headers={"Link": f'<{API}/app/installations?per_page=100&page=2>; rel="next"'},
                  match=[responses.matchers.query_param_matcher({"per_page": "100"})])
    responses.get(f"{API}/app/installations", json=[{"account": {"login": "acme-labs"}}],
                  match=[responses.matchers.query_param_matcher({"per_page": "100", "page": "2"})])
    identity = status.probe_github(APP)
    assert identity == Identity(name="rc-acme", url="https://ghe.example/github-apps/rc-acme", owner="acme",
                                served=("acme", "acme-labs"))
    assert len(responses.calls) == 3
    token = responses.calls[0].request.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, KEY.public_key(), algorithms=["RS256"])
    assert claims["iss"] in (4242, "4242") and claims["exp"] - claims["iat"] <= 600  # GitHub's 10-minute cap


@responses.activate
@pytest.mark.parametrize("answer, words", [
    (dict(status=401, json={"message": "A JSON web token could not be decoded"}),
     "GET /app answered 401: A JSON web token could not be decoded"),
    (dict(body=requests.ConnectionError("refused")), "GET /app: cannot reach https://ghe.example (ConnectionError)"),
    (dict(body=requests.Timeout("slow")), "cannot reach https://ghe.example (Timeout)"),
    (dict(status=200, body="<html>login</html>"), "answered 200 with no JSON"),
])
def test_probe_github_turns_every_failure_into_a_reason(answer, words):
    responses.get(f"{API}/app", **answer)
    identity = status.probe_github(APP)
    assert identity.error and words in identity.error and PEM not in identity.error


def test_a_key_that_cannot_sign_is_a_reason_not_a_crash():
    identity = status.probe_github(Settings(github_app_id=1, github_private_key=Secret("not a key")))
    assert identity.error.startswith("the private key cannot sign a JWT")


@responses.activate
def test_probe_gitlab_asks_get_user_with_the_token_then_the_projects_it_can_act_on():
    api = "https://gitlab.example/api/v4"
    responses.get(f"{api}/user", json={"username": "rc-bot", "web_url": "https://gitlab.example/rc-bot"})
    responses.get(f"{api}/projects", json=[{"path_with_namespace": "platform/release"}], headers={"X-Next-Page": "2"})
    identity = status.probe_gitlab(GITLAB)
    assert identity == Identity(name="@rc-bot", url="https://gitlab.example/rc-bot", served=("platform/release",),
                                served_more=True)
    assert all(call.request.headers["PRIVATE-TOKEN"] == "glpat-secret" for call in responses.calls)
    assert "min_access_level=30" in responses.calls[1].request.url  # Developer


def test_the_cache_asks_once_per_ttl():
    now = [0.0]
    cache = ProbeCache(ttl=60, clock=lambda: now[0])
    asked = []
    ask = lambda: asked.append(1) or len(asked)  # noqa: E731
    assert cache.get("k", ask) == 1 and cache.get("k", ask) == 1
    now[0] = 61
    assert cache.get("k", ask) == 2


# --- the page, through the real app

@responses.activate
def test_landing_page_with_an_unreachable_forge_is_a_red_line_not_a_stack_trace(tmp_path, monkeypatch):
    from bot.routing import Router
    from bot.web import create_app

    monkeypatch.setattr(status, "_CACHE", ProbeCache())
    responses.get(f"{API}/app", body=requests.ConnectionError("Name or service not known"))
    settings = Settings(**{**APP.__dict__, "queue_url": f"sqlite:///{tmp_path}/q.db"})
    client = create_app(settings, router=Router()).test_client()
    response = client.get("/", base_url="https://rc.example")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "GET /app: cannot reach https://ghe.example (ConnectionError)" in page and "Traceback" not in page
    assert '<span class="badge fail"><span aria-hidden="true">✗</span> Failing</span>' in page
    assert "https://rc.example: matches this request" in page and "Something below is failing." in page
    assert PEM.splitlines()[1] not in page
    assert "<script" not in page and '<link rel="stylesheet" href="/assets/rc.css">' in page  # no JavaScript
    client.get("/", base_url="https://rc.example")
    assert len(responses.calls) == 1  # cached for a minute: a reload asks the forge nothing


@responses.activate
def test_an_answer_of_an_unexpected_shape_is_a_red_line_too():
    responses.get(f"{API}/app", json={"slug": "rc-acme", "owner": {"login": "acme"}})
    responses.get(f"{API}/app/installations", json={"message": "a mapping, not the list GitHub documents"})
    lines = status.status_lines(APP, queue=None, request_url="https://rc.example/", cache=ProbeCache())
    [app] = [line for line in lines if line.topic == "GitHub App"]
    assert app.state == FAIL and app.value.startswith("GET /app: an unexpected answer (AttributeError")


class BlackHole:
    """A session whose every GET hangs until released: a forge that accepts the connection and never answers."""

    def __init__(self) -> None:
        import threading

        self.released = threading.Event()
        self.asked: list[str] = []

    def get(self, url, *, headers, timeout):
        self.asked.append(url)
        self.released.wait(10)
        raise requests.Timeout(f"read timed out ({timeout} s)")


def test_probes_of_both_forges_run_at_once_and_the_page_waits_a_bounded_total():
    import time

    hole = BlackHole()
    settings = Settings(**{**APP.__dict__, **{k: v for k, v in GITLAB.__dict__.items() if k.startswith("gitlab_")}})
    cache = ProbeCache()
    started = time.monotonic()
    lines = status.status_lines(settings, queue=None, request_url="https://rc.example/", cache=cache, session=hole,
                                budget=0.5)
    waited = time.monotonic() - started
    try:
        assert waited < 3, waited  # one budget for both, not PROBE_TIMEOUT per request one after another
        # both were asked before either answered: concurrent, not sequential
        assert sorted(url.split("/")[-1] for url in hole.asked) == ["app", "user"]
        by_topic = {line.topic: line for line in lines}
        assert by_topic["GitHub App"].state == FAIL
        assert by_topic["GitHub App"].value == ("GET /app: no answer within 0.5 s (still asking: reload in a few "
                                                "seconds for its answer)")
        assert by_topic["GitLab"].state == FAIL and by_topic["GitLab"].value.startswith("GET /user: no answer within")
        # a second load meanwhile joins the running probes instead of asking again
        status.status_lines(settings, queue=None, request_url="https://rc.example/", cache=cache, session=hole,
                            budget=0.1)
        assert len(hole.asked) == 2
    finally:
        hole.released.set()
    # the late answers are kept: the next load gets them (joining the probes if they are still finishing), no new ask
    lines = status.status_lines(settings, queue=None, request_url="https://rc.example/", cache=cache, session=hole,
                                budget=5)
    by_topic = {line.topic: line for line in lines}
    assert by_topic["GitHub App"].value == "GET /app: cannot reach https://ghe.example (Timeout)"
    assert by_topic["GitLab"].value == "GET /user: cannot reach https://gitlab.example (Timeout)"
    assert len(hole.asked) == 2


def test_a_probe_that_raises_hands_the_error_to_the_waiting_page_and_is_asked_again():
    cache = ProbeCache()

    def broken():
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        cache.get("k", broken)
    assert cache.get("k", lambda: "answer") == "answer"  # nothing cached, nothing left running
