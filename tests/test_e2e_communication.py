"""End to end, telling people (issue 14): signed deliveries -> Flask app -> SQLite queue -> worker -> handlers over
FakeForge, and announcement jobs from the same queue to a real HTTP receiver on 127.0.0.1.

staging PR merged, then the production PR with the same versions: its manifest check carries the release plan;
each merge tags its release, the component pull requests it carries get one "Shipped in" note per environment,
the Release lists them, and the receiver (configured for production releases) gets exactly one signed
announcement; a replay of the merge creates no note, job or request."""
from __future__ import annotations


import pytest

from bot.core.checks import MANIFEST
from bot.forge.base import ChangedFile, Comparison, Commit, PullRequest, Tag
from bot.handlers import manifest, promotion, release, release_plan
from bot.journal import State
from bot.notify import deliver as notify
from bot.notify.render import SIGNATURE_HEADER, verify
from bot.queue import JOB_FORGE, Queue
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.worker import Worker
from tests.fakeforge import DictStore, FakeForge
from tests.notify.conftest import receiver  # noqa: F401 (the loopback HTTP receiver fixture)
from tests.test_e2e_environments import Clock, T0, deliver, drain, merge, pull_payload  # noqa: F401 (shared helpers)

SECRET, HOOK_SECRET = "e2e-secret", "hook-secret"
REPO, APP, INFRA = "acme/release", "acme/payments-app", "acme/platform-infra"
BASE, STAGING_HEAD, STAGING_MERGE, PROD_HEAD, PROD_MERGE = "b" * 40, "1" * 40, "5" * 40, "2" * 40, "6" * 40
STAGING, PRODUCTION = "environments/staging/release.yml", "environments/production/release.yml"
CONFIG = """\
release:
  tag: "release-{application_version}-{infrastructure_version}"
components:
  payments-app:   {repo: acme/payments-app,   kind: application}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure}
environments:
  - {name: staging, manifest: environments/staging/release.yml}
  - {name: production, manifest: environments/production/release.yml}
notify:
  - {kind: webhook, url_env: RELEASE_HOOK_URL, secret_env: RELEASE_HOOK_SECRET, on: [released, rolled_back], environments: [production]}
"""
OLD = "release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"
NEW = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"


@pytest.fixture
def forge():
    forge = FakeForge()
    for sha in (BASE, STAGING_HEAD, STAGING_MERGE, PROD_HEAD, PROD_MERGE):
        forge.add_file(REPO, ".github/release-coordinator.yml", CONFIG, ref=sha)
    forge.add_file(REPO, STAGING, OLD, ref=BASE)
    forge.add_file(REPO, PRODUCTION, OLD, ref=BASE)
    for sha in (STAGING_HEAD, STAGING_MERGE):
        forge.add_file(REPO, STAGING, NEW, ref=sha)
        forge.add_file(REPO, PRODUCTION, OLD, ref=sha)
    for sha in (PROD_HEAD, PROD_MERGE):
        forge.add_file(REPO, STAGING, NEW, ref=sha)
        forge.add_file(REPO, PRODUCTION, NEW, ref=sha)
    forge.add_file(REPO, "CHANGELOG.md", "# Changelog\n", ref="main")
    forge.repos[REPO].branches["main"] = BASE
    for repo, versions in ((APP, ("1.5.2", "1.5.3")), (INFRA, ("2.0.9", "2.1.0"))):
        for version in versions:
            forge.repos[repo].tags[f"v{version}"] = Tag(f"v{version}", f"{repo}@{version}".ljust(40, "0"))
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit("c" * 40, "fix: rounding of invoice totals (#12)", author="erin"),
        Commit("d" * 40, "feat: pay by invoice (#13)", author="frank"),
    ), ())
    forge.repos[INFRA].comparisons[("v2.0.9", "v2.1.0")] = Comparison("v2.0.9", "v2.1.0", "ahead", (
        Commit("e" * 40, "Merge pull request #30 from acme/peering\n\nfeat: VPC peering"),), ())
    forge.add_pull(PullRequest(REPO, 1, "Staging: 1.5.3 / 2.1.0", "alice", STAGING_HEAD, "stage", "main", BASE, "open",
                               html_url=f"https://github.com/{REPO}/pull/1"), [ChangedFile(STAGING, "modified")])
    forge.add_pull(PullRequest(REPO, 2, "Production: 1.5.3 / 2.1.0", "alice", PROD_HEAD, "promote", "main",
                               STAGING_MERGE, "open", html_url=f"https://github.com/{REPO}/pull/2"),
                   [ChangedFile(PRODUCTION, "modified")])
    return forge


@pytest.fixture
def app(tmp_path, forge, receiver):
    settings = Settings(github_webhook_secret=Secret(SECRET), queue_url=f"sqlite:///{tmp_path}/queue.db",
                        public_url="https://rc.example", github_app_id=1, github_private_key=Secret("unused"),
                        announce_env={"RELEASE_HOOK_URL": Secret(receiver.url), "RELEASE_HOOK_SECRET": Secret(HOOK_SECRET)})
    clock = Clock(T0)
    router = Router(manifest.router, promotion.router, release.router, release_plan.router)
    worker = Worker(settings, store=DictStore(), router=router, forge_for=lambda installation_id: forge, clock=clock)
    queue = Queue(settings.queue_url, runner=worker)
    worker.jobs = queue  # as bot.commands._runtime.build wires it
    notify.install(queue, settings)
    app = create_app(settings, queue=queue, store=worker.store, router=router)
    app.extensions["test_queue"] = queue
    return app


def shipped_notes(forge):
    return {(repo, number): [line for note in forge.repos[repo].comments[number] for line in note.splitlines()
                             if line.startswith("Shipped in")]
            for repo, number in ((APP, 12), (APP, 13), (INFRA, 30))}


def test_releases_tell_the_component_pull_requests_and_announce_once(app, forge, receiver):
    queue = app.extensions["test_queue"]
    # the production PR's plan is on its manifest check before anything merges
    deliver(app, "pull_request", pull_payload(forge, 1, "opened"), delivery="s-open")
    summary = forge.checks_on(REPO, STAGING_HEAD)[MANIFEST].summary
    assert "### Release plan: staging" in summary and "Merging tags **`staging/release-1.5.3-2.1.0`**." in summary
    assert "- rounding of invoice totals ([#12](https://github.com/acme/payments-app/pull/12))" in summary

    merge(forge, 1, STAGING_MERGE)
    deliver(app, "pull_request", pull_payload(forge, 1, "closed", merged=True), delivery="s-merged")
    assert "staging/release-1.5.3-2.1.0" in forge.repos[REPO].tags
    on_staging = f"Shipped in staging/release-1.5.3-2.1.0 to staging on {T0.date().isoformat()}"
    assert shipped_notes(forge) == {key: [on_staging] for key in ((APP, 12), (APP, 13), (INFRA, 30))}
    assert receiver.received == []  # the receiver wants production only

    merge(forge, 2, PROD_MERGE)
    deliver(app, "pull_request", pull_payload(forge, 2, "closed", merged=True), delivery="p-merged")
    assert forge.repos[REPO].tags["release-1.5.3-2.1.0"].commit_sha == PROD_MERGE
    on_production = f"Shipped in release-1.5.3-2.1.0 to production on {T0.date().isoformat()}"
    assert shipped_notes(forge) == {key: [on_staging, on_production] for key in ((APP, 12), (APP, 13), (INFRA, 30))}
    body = forge.repos[REPO].releases["release-1.5.3-2.1.0"].body
    assert "### Pull requests shipped" in body and "[acme/platform-infra#30](https://github.com/acme/platform-infra/pull/30)" in body

    (got,) = receiver.received
    assert verify(got.body, header=got.headers[SIGNATURE_HEADER.lower()], secret=HOOK_SECRET)
    announced = got.json()
    assert (announced["event"], announced["environment"], announced["release_id"], announced["tag"]) == (
        "released", "production", "release-1.5.3-2.1.0", "release-1.5.3-2.1.0")
    assert announced["components"] == {"payments-app": "1.5.3", "platform-infra": "2.1.0"}
    assert announced["previous"] == {"payments-app": "1.5.2", "platform-infra": "2.0.9"}
    assert announced["pull_request"]["number"] == 2

    # a replay (GitHub's redelivery, a new delivery id) writes no note and sends nothing
    notes_before, calls_before = shipped_notes(forge), forge.calls["ensure_note"]
    deliver(app, "pull_request", pull_payload(forge, 2, "closed", merged=True), delivery="p-merged-again")
    assert shipped_notes(forge) == notes_before and forge.calls["ensure_note"] == calls_before
    assert len(receiver.received) == 1
    jobs = queue.journal._db.get().execute("select state from rc_deliveries where forge = ?", (JOB_FORGE,)).fetchall()
    assert [State(row[0]) for row in jobs] == [State.DONE]
