"""The HTTP surface GitHub and operators see: status codes, messages, health, metrics, landing page, logs."""
import io
import json
import logging
import sys
import types

import flask
import pytest
import responses

from bot import logs
from bot.journal import State
from bot.queue import Queue
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.webhooks.github import MAX_BODY_BYTES, sign

SECRET = "webhook-secret-for-tests"
OPENED = {"action": "opened", "number": 2, "pull_request": {"number": 2, "head": {"sha": "a" * 40},
          "base": {"ref": "main"}}, "repository": {"full_name": "acme/app"}, "installation": {"id": 3}}


def on_pull(event, ctx):
    raise AssertionError("handlers never run inside the request")


@pytest.fixture
def router():
    r = Router()
    r.register("pull_request", "opened", "synchronize")(on_pull)
    return r


@pytest.fixture
def settings(tmp_path):
    return Settings(github_webhook_secret=Secret(SECRET), github_app_id=1, github_private_key=Secret("intake never signs"),
                    queue_url=f"sqlite:///{tmp_path}/queue.db")


@pytest.fixture
def queue(settings):
    return Queue(settings.queue_url)


@pytest.fixture
def client(settings, queue, router):
    return create_app(settings, queue=queue, router=router).test_client()


def post(client, payload, *, event="pull_request", delivery="d-1", secret=SECRET, body=None, headers=None):
    body = json.dumps(payload).encode() if body is None else body
    h = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(body, secret=secret),
         "Content-Type": "application/json"}
    h.update(headers or {})
    return client.post("/webhooks/github", data=body, headers={k: v for k, v in h.items() if v is not None})


def test_signed_delivery_is_queued_with_202(client, queue):
    response = post(client, OPENED)
    assert response.status_code == 202
    assert response.json["status"] == "queued"
    assert queue.depth()["queued"] == 1
    assert queue.journal.state("d-1") is State.QUEUED


def test_missing_signature_is_401_and_nothing_is_recorded(client, queue):
    response = post(client, OPENED, headers={"X-Hub-Signature-256": None})
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json["message"]
    assert queue.journal.state("d-1") is None and queue.depth()["queued"] == 0


def test_wrong_secret_is_401(client, queue):
    assert post(client, OPENED, secret="not-the-secret").status_code == 401
    assert queue.depth()["queued"] == 0


def test_malformed_json_is_400(client, queue):
    response = post(client, None, body=b'{"action": "opened",')
    assert response.status_code == 400
    assert "not valid JSON" in response.json["message"]
    assert queue.depth()["queued"] == 0


def test_missing_event_header_is_400(client):
    assert post(client, OPENED, event=None).status_code == 400


def test_body_over_25_mib_is_413_by_content_length(client, queue):
    body = b" " * (MAX_BODY_BYTES + 1)
    response = post(client, None, body=body)
    assert response.status_code == 413
    assert queue.depth()["queued"] == 0


def test_body_over_25_mib_without_content_length_is_413_while_reading(client):
    body = b" " * (MAX_BODY_BYTES + 1)
    response = client.post(
        "/webhooks/github", input_stream=io.BytesIO(body),
        headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d", "X-Hub-Signature-256": sign(body, secret=SECRET)},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.json["status"] == "too_large"


def test_unconfigured_secret_is_503_and_never_accepted(tmp_path, router):
    settings = Settings(queue_url=f"sqlite:///{tmp_path}/q.db")
    queue = Queue(settings.queue_url)
    client = create_app(settings, queue=queue, router=router).test_client()
    response = post(client, OPENED, secret="anything")
    assert response.status_code == 503
    assert response.json["message"] == "GitHub is not configured: set GITHUB_WEBHOOK_SECRET"
    assert queue.depth()["queued"] == 0


@pytest.mark.parametrize("event,payload", [
    ("ping", {"zen": "Keep it logically awesome.", "hook_id": 1}),
    ("installation", {"action": "created", "installation": {"id": 3}}),
    ("pull_request", dict(OPENED, action="assigned")),
])
def test_ignored_events_are_202_with_nothing_queued(client, queue, event, payload):
    response = post(client, payload, event=event)
    assert response.status_code == 202
    assert response.json["status"] == "ignored"
    assert queue.depth()["queued"] == 0 and queue.journal.state("d-1") is None


def test_duplicate_delivery_is_202_and_not_queued_again(client, queue):
    assert post(client, OPENED).json["status"] == "queued"
    response = post(client, OPENED)
    assert response.status_code == 202
    assert response.json["status"] == "duplicate"
    assert queue.depth()["queued"] == 1


def test_duplicate_is_detected_across_app_instances_sharing_the_queue(settings, router):
    first = create_app(settings, queue=Queue(settings.queue_url), router=router).test_client()
    second = create_app(settings, queue=Queue(settings.queue_url), router=router).test_client()
    assert post(first, OPENED).json["status"] == "queued"
    assert post(second, OPENED).json["status"] == "duplicate"


def test_no_github_api_call_is_made_in_the_request(tmp_path, router):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    settings = Settings(github_app_id=1, github_private_key=Secret(pem), github_webhook_secret=Secret(SECRET),
                        queue_url=f"sqlite:///{tmp_path}/q.db")
    client = create_app(settings, router=router).test_client()
    with responses.RequestsMock() as mock:  # any HTTP request would raise ConnectionError here
        assert post(client, OPENED).status_code == 202
        assert len(mock.calls) == 0


def test_queue_failure_answers_503_and_records_nothing(client, queue):
    with queue.huey.storage.db(commit=True) as cursor:
        cursor.execute("drop table task")  # the enqueue half of the commit will fail
    response = post(client, OPENED)
    assert response.status_code == 503
    assert queue.journal.state("d-1") is None  # GitHub's redelivery will be accepted, not called a duplicate
    queue.huey.storage.initialize_schema()
    assert post(client, OPENED).json["status"] == "queued"


def test_health_and_readiness(client, tmp_path):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200  # ready: it accepts deliveries; but pytest's tmp_path is a temporary directory
    assert (ready.json["status"], ready.json["durable"]) == ("ready", False)
    assert ready.json["warning"].startswith(f"NOT DURABLE: the SQLite queue {tmp_path}/queue.db is in a temporary")


def test_readyz_says_durable_for_a_queue_file_on_a_persistent_disk(router, monkeypatch, tmp_path):
    monkeypatch.setattr(Queue, "durability", lambda self: None)  # the path rules: tests/test_queue.py
    client = create_app(Settings(queue_url=f"sqlite:///{tmp_path}/q.db"), router=router, store=object()).test_client()
    assert client.get("/readyz").json == {"status": "ready", "durable": True}


def test_readyz_is_503_when_the_queue_is_unreachable(router):
    settings = Settings(github_webhook_secret=Secret(SECRET), github_app_id=1, github_private_key=Secret("unused"),
                        queue_url="redis://127.0.0.1:1/0")
    client = create_app(settings, router=router, store=object()).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "queue unreachable" in response.json["error"]


def test_metrics_count_deliveries_by_event_and_outcome(client):
    post(client, OPENED, delivery="a")
    post(client, OPENED, delivery="a")
    post(client, OPENED, delivery="b", secret="wrong")
    post(client, {"zen": "z"}, event="ping", delivery="c")
    response = client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    assert 'release_coordinator_deliveries_total{event="pull_request",forge="github",outcome="queued"} 1' in text
    assert 'release_coordinator_deliveries_total{event="pull_request",forge="github",outcome="duplicate"} 1' in text
    assert 'release_coordinator_deliveries_total{event="-",forge="github",outcome="bad_signature"} 1' in text
    assert 'release_coordinator_deliveries_total{event="ping",forge="github",outcome="ignored"} 1' in text
    assert 'release_coordinator_queue_depth{state="queued"} 1' in text
    assert "release_coordinator_dead_letters 0" in text
    assert "# TYPE release_coordinator_jobs_done_total counter" in text


def test_landing_page_says_what_to_set_when_unconfigured(tmp_path, router):
    client = create_app(Settings(queue_url=f"sqlite:///{tmp_path}/q.db"), router=router).test_client()
    page = client.get("/").get_data(as_text=True)
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "app.yml", "GITLAB_WEBHOOK_SECRET"):
        assert name in page
    assert "pull_request.opened" in page


def test_landing_page_never_shows_secret_values(client):
    page = client.get("/").get_data(as_text=True)
    assert SECRET not in page
    status = page.split("<h2>Register")[0]
    assert "GITHUB_APP_ID" in status and "GITHUB_WEBHOOK_SECRET" not in status  # only what is still missing


def test_landing_page_does_not_claim_gitlab_works_when_only_its_secret_is_set(tmp_path, router):
    settings = Settings(queue_url=f"sqlite:///{tmp_path}/q.db", gitlab_webhook_secret=Secret("gl-secret"))
    page = create_app(settings, router=router).test_client().get("/").get_data(as_text=True)
    assert "GitLab: configured" not in page and "GET /user answered" not in page  # nothing was asked of GitLab
    assert "partly configured: GITLAB_URL, GITLAB_TOKEN unset" in page


def test_gitlab_unconfigured_is_503_with_the_variable_to_set(client):
    response = client.post("/webhooks/gitlab", data=b"{}", headers={"X-Gitlab-Token": "x"})
    assert response.status_code == 503
    assert response.json["message"] == "GitLab is not configured: set GITLAB_URL, GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET"


def test_gitlab_token_checked_and_unhandled_hooks_queue_nothing(tmp_path, router):
    settings = Settings(gitlab_webhook_secret=Secret("gl-token"), queue_url=f"sqlite:///{tmp_path}/q.db")
    queue = Queue(settings.queue_url)
    client = create_app(settings, queue=queue, router=router).test_client()
    body = b'{"object_kind": "merge_request"}'
    assert client.post("/webhooks/gitlab", data=body, headers={"X-Gitlab-Token": "nope"}).status_code == 401
    assert client.post("/webhooks/gitlab", data=body).status_code == 401
    response = client.post("/webhooks/gitlab", data=body, headers={"X-Gitlab-Token": "gl-token",
                                                                  "X-Gitlab-Event": "Merge Request Hook"})
    assert response.status_code == 202 and response.json["status"] == "ignored"
    assert client.post("/webhooks/gitlab", data=b"{", headers={"X-Gitlab-Token": "gl-token"}).status_code == 400
    assert queue.depth()["queued"] == 0


def test_one_json_log_line_per_delivery_without_secrets(client, caplog):
    caplog.set_level(logging.INFO, logger="bot.web")
    post(client, OPENED, delivery="log-1")
    post(client, OPENED, delivery="log-2", secret="wrong")
    lines = [json.loads(logs.JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "delivery"]
    assert len(lines) == 2
    ok, bad = lines
    assert {k: ok[k] for k in ("delivery_id", "event", "action", "repo", "number", "outcome", "status")} == {
        "delivery_id": "log-1", "event": "pull_request", "action": "opened", "repo": "acme/app", "number": 2,
        "outcome": "queued", "status": 202}
    assert isinstance(ok["duration_ms"], float)
    assert bad["outcome"] == "bad_signature" and "event" not in bad  # unverified headers are not echoed
    text = "\n".join(logs.JsonFormatter().format(r) for r in caplog.records)
    assert SECRET not in text and "sha256=" not in text


def test_pages_blueprint_is_registered_with_the_store(settings, queue, router, monkeypatch):
    blueprint = flask.Blueprint("pages", __name__)

    @blueprint.get("/pulls/<owner>/<repo>/<int:number>")
    def details(owner, repo, number):
        store = flask.current_app.config["STORE"]
        return {"value": store.get_json(f"{owner}/{repo}#{number}")}

    monkeypatch.setitem(sys.modules, "bot.pages", types.SimpleNamespace(blueprint=blueprint))
    app = create_app(settings, queue=queue, router=router)
    app.config["STORE"].set_json("acme/app#2", {"approved": True})
    assert app.test_client().get("/pulls/acme/app/2").json == {"value": {"approved": True}}


# --- intake edge cases (issue 11): App credentials, nesting, Content-Type

def test_secret_set_but_app_credentials_missing_refuses_routed_deliveries_with_503(tmp_path, router):
    settings = Settings(github_webhook_secret=Secret(SECRET), queue_url=f"sqlite:///{tmp_path}/queue.db")
    queue = Queue(settings.queue_url)
    client = create_app(settings, queue=queue, router=router).test_client()
    response = post(client, OPENED)
    assert response.status_code == 503
    assert response.json == {"status": "app_not_configured", "message": "GitHub App credentials are missing: set "
                             "GITHUB_APP_ID, GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH"}
    assert queue.journal.state("d-1") is None and queue.journal.count(State.DEAD) == 0  # not kept to fail later
    assert post(client, {"zen": "hi"}, event="ping", delivery="p-1").status_code == 202  # nothing to run: no 503


def test_a_signed_body_nested_100000_deep_is_400_with_the_parsers_message(client, queue):
    body = b"[" * 100_000 + b"]" * 100_000
    response = post(client, None, body=body)
    assert response.status_code == 400 and response.content_type == "application/json"
    assert response.json["message"].startswith("body is not valid JSON: maximum recursion depth exceeded")
    assert queue.journal.state("d-1") is None


def test_a_form_encoded_delivery_is_verified_over_the_raw_body_and_journaled_as_json(client, queue):
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(OPENED)}).encode()
    response = post(client, None, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.json["status"]) == (202, "queued")
    claim = queue.journal.claim("d-1", owner="test", now=0)
    assert json.loads(claim.delivery.body) == OPENED  # the worker reads JSON whichever content type came in


@pytest.mark.parametrize("content_type, status", [
    ("application/json; charset=utf-8", 202),
    ("text/plain", 415),
    (None, 415),
    ("application/x-www-form-urlencoded", 400),  # JSON sent as if form-encoded: no `payload` field
])
def test_content_type_is_json_or_form_encoded_and_nothing_else(client, queue, content_type, status):
    response = post(client, OPENED, headers={"Content-Type": content_type})
    assert response.status_code == status, response.json
    if status == 415:
        assert response.json["message"].startswith("Content-Type must be application/json or "
                                                   "application/x-www-form-urlencoded")
        assert queue.journal.state("d-1") is None


def test_an_unsigned_body_of_any_type_is_401_before_its_type_is_looked_at(client):
    assert post(client, OPENED, secret="wrong", headers={"Content-Type": "text/plain"}).status_code == 401
