"""End to end: a signed `installation.created` delivery -> Flask app -> queue -> worker -> access handler ->
GitHubForge over `responses` (FakeGitHub) -> the release-coordinator/access check, the drift issue, the page, /metrics."""
import datetime as dt
import pathlib

import github
import pytest
import responses
from github import Auth

from bot.core.access import ACCESS, APPROVALS_CHECK, MANIFEST_CHECK
from bot.forge.github import GitHubForge
from bot.handlers.access import router as access_router
from bot.queue import Queue
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.webhooks.github import sign
from bot.worker import Worker
from tests.fakeforge import DictStore
from tests.forge.fakegithub import FakeGitHub
from tests.forge.fakegithub_access import install

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "github" / "installation" / "created.json"
SECRET = "e2e-access"
RELEASE, INFRA = "Codertocat/Hello-World", "Codertocat/platform-infra"  # the fixture's account and repository
CONFIG = f"release: {{manifest: release.yml}}\ncomponents:\n  infra: {{repo: {INFRA}, kind: infrastructure}}\n"


@pytest.fixture
def world():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gh = FakeGitHub().register(rsps)
        gh.add_commit(RELEASE, {".github/release-coordinator.yml": CONFIG, ".github/CODEOWNERS": "* @Codertocat/release\n"},
                      branch="main")
        gh.add_commit(INFRA, {".github/CODEOWNERS": "* @Codertocat/infra\n"}, branch="main")
        access = install(gh)
        access.installed, access.orgs = [RELEASE, INFRA], {"Codertocat"}
        access.teams[RELEASE] = [{"id": 1, "slug": "release", "permission": "push"}]
        access.teams[INFRA] = [{"id": 2, "slug": "infra", "permission": "admin"}, {"id": 3, "slug": "apps", "permission": "push"}]
        access.protection[(RELEASE, "main")] = {
            "url": f"https://api.github.com/repos/{RELEASE}/branches/main/protection", "enforce_admins": {"enabled": True},
            "required_status_checks": {"strict": False, "contexts": [APPROVALS_CHECK, MANIFEST_CHECK], "checks": []},
            "required_pull_request_reviews": {"required_approving_review_count": 1, "require_code_owner_reviews": True},
            "allow_force_pushes": {"enabled": False}, "allow_deletions": {"enabled": False}}
        yield gh, access


@pytest.fixture
def app(tmp_path, world):
    gh, _ = world
    settings = Settings(github_webhook_secret=Secret(SECRET), queue_url=f"sqlite:///{tmp_path}/queue.db",
                        public_url="https://rc.example", github_app_id=4242,
                        github_private_key=Secret("unused: the worker's forge_for stands in for the App client"))
    client = github.Github(auth=Auth.Token("t"), base_url="https://api.github.com", seconds_between_requests=None,
                           seconds_between_writes=None)
    forge = GitHubForge(client, app_id=gh.our_app_id)
    router = Router(access_router)
    worker = Worker(settings, store=DictStore(), router=router, forge_for=lambda installation_id: forge,
                    clock=lambda: dt.datetime(2026, 12, 3, 10, tzinfo=dt.timezone.utc))
    queue = Queue(settings.queue_url, runner=worker)
    app = create_app(settings, queue=queue, store=worker.store, router=router)
    app.extensions["test_queue"] = queue
    return app


def deliver(app, *, delivery):
    body = FIXTURE.read_bytes()
    response = app.test_client().post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": "installation", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(body, secret=SECRET),
        "Content-Type": "application/json"})
    assert response.status_code == 202, response.json
    queue = app.extensions["test_queue"]
    queue.huey.execute(queue.huey.dequeue())


def test_installation_audits_publishes_the_check_and_the_issue_and_the_page(app, world):
    gh, access = world
    deliver(app, delivery="inst-1")
    [run] = gh.repo(RELEASE).check_runs.values()
    assert run["name"] == ACCESS and run["head_sha"] == gh.repo(RELEASE).branches["main"]
    assert run["conclusion"] == "failure" and run["output"]["title"] == "2 settings drifted in 1 of 2 repositories"
    [issue] = access.issues[RELEASE]
    assert issue["title"] == "Access control drift"
    body = issue["body"]
    assert "Default branch is not protected" in body and f"POST /repos/{INFRA}/rulesets" in body
    assert "@codertocat/apps has write" in body and f"PUT /orgs/Codertocat/teams/apps/repos/{INFRA}" in body
    page = app.test_client().get(run["details_url"].removeprefix("https://rc.example"))
    assert page.status_code == 200 and "Drift found" in page.get_data(as_text=True)
    assert app.test_client().get(f"/access/github/{RELEASE}?sig=wrong").status_code == 404
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert (f'release_coordinator_access_findings{{forge="github",release_repo="{RELEASE}",repo="{INFRA}",'
            f'severity="drift"}} 2') in metrics

    # the infra team fixes it; the next event closes the issue and turns the check green
    access.teams[INFRA] = [{"id": 2, "slug": "infra", "permission": "admin"}, {"id": 3, "slug": "apps", "permission": "triage"}]
    access.protection[(INFRA, "main")] = {**access.protection[(RELEASE, "main")],
                                          "required_pull_request_reviews": {"required_approving_review_count": 2,
                                                                            "require_code_owner_reviews": True}}
    deliver(app, delivery="inst-2")
    assert issue["state"] == "closed" and len(access.issues[RELEASE]) == 1
    latest = max(gh.repo(RELEASE).check_runs.values(), key=lambda r: r["id"])
    assert latest["conclusion"] == "success"
