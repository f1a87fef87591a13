"""End to end: GitHub's own example payloads, signed, through the Flask app into the real SQLite queue, and
from there through a real consumer into the handlers."""
import pathlib
import time

import pytest
import yaml

from bot.handlers import all_handlers
from bot.journal import State
from bot.queue import Queue
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.webhooks.github import sign
from bot.worker import Worker
from tests.fakeforge import DictStore, FakeForge

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "github"
SECRET = "e2e-secret"

ROUTED = [  # SPEC §4 re-evaluation triggers, merges and /rollback comments, as GitHub sends them to an App
    "pull_request/opened.json",
    "pull_request/synchronize.json",
    "pull_request/reopened.json",
    "pull_request/labeled.json",
    "pull_request/ready_for_review.with-installation.json",
    "pull_request/closed.json",
    "pull_request_review/submitted.json",
    "pull_request_review/dismissed.json",
    "check_suite/requested.json",
    "check_suite/rerequested.json",
    "check_run/rerequested.json",
    "issue_comment/created.with-installation.json",
]
# installation/created and installation_repositories/added run the access audit (bot/handlers/access.py)
IGNORED = ["ping/with-app_id.json", "installation/deleted.json", "check_run/requested_action.json"]


@pytest.fixture
def queue(tmp_path):
    return Queue(f"sqlite:///{tmp_path}/queue.db")


def client_for(queue, router=None):
    settings = Settings(github_webhook_secret=Secret(SECRET), github_app_id=1, github_private_key=Secret("unused"),
                        queue_url=queue.url)
    return create_app(settings, queue=queue, router=router, store=DictStore()).test_client()


def deliver(client, fixture: str, delivery_id: str):
    body = (FIXTURES / fixture).read_bytes()
    return client.post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": fixture.split("/")[0], "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": sign(body, secret=SECRET), "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/e2e"})


def queued_ids(queue) -> list[str]:
    return [task.args[0] for task in queue.huey.pending()]


@pytest.mark.parametrize("fixture", ROUTED)
def test_a_routed_delivery_is_queued_exactly_once_with_its_raw_body(queue, fixture):
    client = client_for(queue)
    first = deliver(client, fixture, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert (first.status_code, first.json["status"]) == (202, "queued")
    assert queued_ids(queue) == ["72d3162e-cc78-11e3-81ab-4c9367dc0958"]

    again = deliver(client, fixture, "72d3162e-cc78-11e3-81ab-4c9367dc0958")  # GitHub's "Redeliver"
    assert (again.status_code, again.json["status"]) == (202, "duplicate")
    assert queued_ids(queue) == ["72d3162e-cc78-11e3-81ab-4c9367dc0958"]

    claim = queue.journal.claim("72d3162e-cc78-11e3-81ab-4c9367dc0958", owner="test", now=time.time())
    assert claim.delivery.body == (FIXTURES / fixture).read_bytes()  # byte for byte, as signed


@pytest.mark.parametrize("fixture", IGNORED)
def test_an_ignored_delivery_queues_nothing(queue, fixture):
    response = deliver(client_for(queue), fixture, "ignored-1")
    assert (response.status_code, response.json["status"]) == (202, "ignored")
    assert queued_ids(queue) == [] and queue.journal.state("ignored-1") is None


def test_every_routed_event_is_subscribed_in_app_yml():
    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    # installation and installation_repositories reach every App and cannot be listed in a manifest
    routed = {event for event, _ in all_handlers().routes()} - {"installation", "installation_repositories"}
    routed = {event for event in routed if "." not in event}  # GitHub's names have no dot; the app's own do
    routed = {event for event in routed if not event.endswith(" Hook")}  # GitLab's hooks are set on its webhook
    assert routed <= set(manifest["default_events"])


def test_delivery_runs_through_a_real_consumer_into_the_handler(queue):
    seen = []
    forges = {}
    router = Router()

    @router.register("pull_request_review", "submitted")
    def on_review(event, ctx):
        seen.append((event, ctx))

    worker = Worker(Settings(public_url="https://rc.example.com"), store=DictStore(), router=router,
                    forge_for=lambda installation_id: forges.setdefault(installation_id, FakeForge()))
    queue.runner = worker
    consumer = queue.consumer(workers=1, embedded=True)
    consumer.start()
    try:
        response = deliver(client_for(queue, router), "pull_request_review/submitted.json", "review-1")
        assert response.status_code == 202
        deadline = time.monotonic() + 10
        while queue.journal.state("review-1") is not State.DONE and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        consumer.stop()
    assert queue.journal.state("review-1") is State.DONE
    ((event, ctx),) = seen
    assert (event.delivery_id, event.repo, event.pull_number, event.installation_id) == (
        "review-1", "Codertocat/Hello-World", 2, 1)
    assert ctx.forge is forges[1]
    assert ctx.details_url("Codertocat/Hello-World", 2) == "https://rc.example.com/pulls/github/Codertocat/Hello-World/2"
    assert ctx.now.tzinfo is not None
