"""End to end: a signed real GitHub delivery -> Flask app -> queue -> worker -> approvals handler -> check run."""
import datetime as dt
import pathlib

import pytest

from bot import links
from bot.core.checks import APPROVALS, Conclusion
from bot.forge.base import ChangedFile, Permission, PullRequest, Review, ReviewState
from bot.handlers.approvals import router as approvals_router
from bot.queue import Queue
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.webhooks.github import sign
from bot.worker import Worker
from tests.fakeforge import DictStore, FakeForge

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "github"  # the checkout's copy (fixtures/github/SOURCES.md)
SECRET = "e2e-secret"
REPO, NUMBER = "Codertocat/Hello-World", 2  # as in the fixtures
HEAD, BASE = "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"


@pytest.fixture
def forge():
    forge = FakeForge()
    forge.add_file(REPO, ".github/release-coordinator.yml", "approvals:\n  invalidate_on_push: owned-files\n", ref=BASE)
    forge.add_file(REPO, ".github/CODEOWNERS", "/src/ @Codertocat/reviewers\n", ref=BASE)
    forge.add_pull(
        PullRequest(repo=REPO, number=NUMBER, title="Update the README with new information.", author="Codertocat",
                    head_sha=HEAD, head_ref="changes", base_ref="master", base_sha=BASE, state="open"),
        [ChangedFile("src/app.py", "modified"), ChangedFile("README.md", "modified")],
    )
    forge.teams["@codertocat/reviewers"] = frozenset({"octocat"})
    forge.repos[REPO].permissions["octocat"] = Permission.WRITE
    return forge


@pytest.fixture
def app(tmp_path, forge):
    settings = Settings(github_webhook_secret=Secret(SECRET), github_app_id=1, github_private_key=Secret("unused"),
                        queue_url=f"sqlite:///{tmp_path}/queue.db",
                        public_url="https://rc.example")
    store = DictStore()
    router = Router(approvals_router)
    worker = Worker(settings, store=store, router=router, forge_for=lambda installation_id: forge,
                    clock=lambda: dt.datetime(2026, 11, 29, 9, tzinfo=dt.timezone.utc))
    queue = Queue(settings.queue_url, runner=worker)
    app = create_app(settings, queue=queue, store=store, router=router)
    app.extensions["test_queue"] = queue
    return app


def deliver(app, fixture, *, event, delivery):
    body = (FIXTURES / fixture).read_bytes()
    response = app.test_client().post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(body, secret=SECRET),
        "Content-Type": "application/json"})
    assert response.status_code == 202, response.json
    queue = app.extensions["test_queue"]
    queue.huey.execute(queue.huey.dequeue())  # what the worker process does next


def approvals_check(forge):
    return forge.checks_on(REPO, HEAD).get(APPROVALS)


def test_opened_pull_request_gets_a_pending_approvals_check_and_a_review_request(app, forge):
    deliver(app, "pull_request/opened.json", event="pull_request", delivery="d-open")
    check = approvals_check(forge)
    assert check.conclusion is Conclusion.PENDING  # waiting for a review is not a failure
    assert check.title == "Waiting for 1 of 1 group: @codertocat/reviewers (1 more)"
    assert "| @codertocat/reviewers | 1 | — | 1 |" in check.summary
    assert "Required by CODEOWNERS line 1 `/src/` for `src/app.py`" in check.summary
    # the details page's capability link: the page opens for its sig (the next test), and for nothing else
    assert check.details_url == f"https://rc.example/pulls/github/{REPO}/{NUMBER}?sig=" + links.signature(
        key=app.config["SETTINGS"].details_link_key, forge="github", repo=REPO, number=NUMBER) + "#approvals"
    assert forge.repos[REPO].requested[NUMBER] == [(frozenset({"@codertocat/reviewers"}), frozenset())]


def test_review_submitted_turns_the_check_green_and_the_details_page_shows_it(app, forge):
    deliver(app, "pull_request/opened.json", event="pull_request", delivery="d-open")
    # The handler reads reviews from the API, not from the payload (whose review is Codertocat's comment).
    forge.add_review(REPO, NUMBER, Review(1, "octocat", ReviewState.APPROVED, HEAD, dt.datetime(2026, 11, 29)))
    deliver(app, "pull_request_review/submitted.json", event="pull_request_review", delivery="d-review")
    check = approvals_check(forge)
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "All 1 owning group approved")
    assert "| @codertocat/reviewers | 1 | @octocat | ✓ |" in check.summary
    assert forge.calls["create_check"] == 1 and forge.calls["update_check"] == 1
    assert forge.calls["get_pull"] == 0 and forge.calls["find_check"] == 0  # the delivery and the store told us
    page = app.test_client().get(check.details_url.removeprefix("https://rc.example"))  # the link GitHub shows
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Every check of release-coordinator passes." in html
    assert '<section class="check" id="approvals"' in html  # the link's #approvals lands on its section
    assert app.test_client().get(f"/pulls/github/{REPO}/{NUMBER}").status_code == 404  # not without it


def test_redelivery_of_the_same_review_writes_nothing(app, forge):
    forge.add_review(REPO, NUMBER, Review(1, "octocat", ReviewState.APPROVED, HEAD, dt.datetime(2026, 11, 29)))
    deliver(app, "pull_request_review/submitted.json", event="pull_request_review", delivery="d-1")
    deliver(app, "pull_request_review/submitted.json", event="pull_request_review", delivery="d-2")
    assert forge.calls["create_check"] == 1 and forge.calls["update_check"] == 0
