"""End to end through staging and production (SPEC §3 environments, §4 promotion, §6 tags): signed deliveries ->
Flask app -> SQLite queue -> worker -> handlers over FakeForge, with the clock advanced by the test.

staging PR merged -> staging tag; a production PR with the same versions waits (pending, never red) for the e2e
status on the staging release's commit and for the 2h soak, then turns green by itself at the soak's end (the
recheck the queue scheduled); merged -> production tag with Verified-In; a replay creates nothing new."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.core import release as core
from bot.core.checks import MANIFEST, Conclusion
from bot.core.promotion import PROMOTION, CheckKind, CheckState, CommitCheck
from bot.forge.base import ChangedFile, Comparison, Commit, PullRequest, Tag
from bot.handlers import manifest, promotion, release
from bot.queue import Queue
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.webhooks.github import sign
from bot.worker import Worker
from tests.fakeforge import DictStore, FakeForge
# the handler tests' two environments (staging; production verified by e2e-staging after a 2h soak) and manifests
from tests.handlers.test_promotion import CONFIG, NEW, OLD, PRODUCTION, STAGING

SECRET = "e2e-secret"
REPO = "acme/release"
APP, INFRA = "acme/payments-app", "acme/platform-infra"
UTC = dt.timezone.utc
# Later than this machine's clock will read for years: huey schedules by the real clock, so the recheck must be
# in its future to be parked in the schedule as in production (the handlers read the test's clock).
T0 = dt.datetime(2036, 12, 3, 8, 0, tzinfo=UTC)
BASE, STAGING_HEAD, STAGING_MERGE = "b" * 40, "1" * 40, "5" * 40
PROD_HEAD, PROD_MERGE = "2" * 40, "6" * 40


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def forge(clock):
    forge = FakeForge()
    forge.clock = clock
    for sha in (BASE, STAGING_HEAD, STAGING_MERGE, PROD_HEAD, PROD_MERGE):
        forge.add_file(REPO, ".github/release-coordinator.yml", CONFIG, ref=sha)
    forge.add_file(REPO, STAGING, OLD, ref=BASE)
    forge.add_file(REPO, PRODUCTION, OLD, ref=BASE)
    for sha in (STAGING_HEAD, STAGING_MERGE):  # the staging PR moves staging to 1.5.3
        forge.add_file(REPO, STAGING, NEW, ref=sha)
        forge.add_file(REPO, PRODUCTION, OLD, ref=sha)
    for sha in (PROD_HEAD, PROD_MERGE):  # the production PR, on top of it, promotes the same set
        forge.add_file(REPO, STAGING, NEW, ref=sha)
        forge.add_file(REPO, PRODUCTION, NEW, ref=sha)
    forge.add_file(REPO, "CHANGELOG.md", "# Changelog\n", ref="main")
    forge.repos[REPO].branches["main"] = BASE
    for repo, versions in ((APP, ("1.5.2", "1.5.3")), (INFRA, ("2.1.0",))):
        for version in versions:
            forge.repos[repo].tags[f"v{version}"] = Tag(f"v{version}", f"{repo}@{version}".ljust(40, "0"))
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison(
        "v1.5.2", "v1.5.3", "ahead", (Commit("c" * 40, "fix: rounding of invoice totals (#12)"),), ())
    forge.add_pull(PullRequest(REPO, 1, "Staging: payments-app 1.5.3", "alice", STAGING_HEAD, "stage-1.5.3", "main",
                               BASE, "open", html_url=f"https://github.com/{REPO}/pull/1"), [ChangedFile(STAGING, "modified")])
    forge.add_pull(PullRequest(REPO, 2, "Production: payments-app 1.5.3", "alice", PROD_HEAD, "promote-1.5.3", "main",
                               STAGING_MERGE, "open", html_url=f"https://github.com/{REPO}/pull/2"),
                   [ChangedFile(PRODUCTION, "modified")])
    return forge


@pytest.fixture
def app(tmp_path, forge, clock):
    settings = Settings(github_webhook_secret=Secret(SECRET), queue_url=f"sqlite:///{tmp_path}/queue.db",
                        public_url="https://rc.example", github_app_id=1,
                        github_private_key=Secret("unused by the stand-in forge"))
    store = DictStore()
    router = Router(manifest.router, promotion.router, release.router)
    worker = Worker(settings, store=store, router=router, forge_for=lambda installation_id: forge, clock=clock)
    queue = Queue(settings.queue_url, runner=worker)
    worker.jobs = queue  # what bot.commands._runtime.build wires: handlers schedule rechecks through the queue
    app = create_app(settings, queue=queue, store=store, router=router)
    app.extensions["test_queue"] = queue
    return app


def deliver(app, event: str, payload: dict, *, delivery: str) -> None:
    body = json.dumps(payload).encode()
    response = app.test_client().post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(body, secret=SECRET),
        "Content-Type": "application/json"})
    assert response.status_code == 202, response.json
    drain(app)


def drain(app) -> None:
    queue = app.extensions["test_queue"]
    while (task := queue.huey.dequeue()) is not None:  # what the worker process does next
        queue.huey.execute(task)


def pull_payload(forge, number: int, action: str, *, merged: bool = False) -> dict:
    pull = forge.repos[REPO].pulls[number]
    return {"action": action, "number": number, "installation": {"id": 42},
            "repository": {"full_name": REPO, "default_branch": "main"},
            "pull_request": {"number": number, "state": "closed" if merged else "open", "merged": merged,
                             "merge_commit_sha": pull.merge_commit_sha, "head": {"sha": pull.head_sha, "ref": pull.head_ref},
                             "base": {"sha": pull.base_sha, "ref": "main"}}}


def merge(forge, number: int, sha: str) -> None:
    state = forge.repos[REPO]
    pull = state.pulls[number]
    state.pulls[number] = PullRequest(**{**pull.__dict__, "state": "closed", "merged": True, "merge_commit_sha": sha})
    state.branches["main"] = sha


def scheduled(app) -> list:
    return app.extensions["test_queue"].huey.scheduled()


def test_staging_then_production_through_the_gate(app, forge, clock):
    # 1. the staging PR: the manifest is checked, no promotion gate for the first environment
    deliver(app, "pull_request", pull_payload(forge, 1, "opened"), delivery="s-open")
    checks = forge.checks_on(REPO, STAGING_HEAD)
    assert checks[MANIFEST].conclusion is Conclusion.SUCCESS
    assert (checks[PROMOTION].conclusion, checks[PROMOTION].title) == (
        Conclusion.SUCCESS, "Nothing to promote: staging needs no earlier environment")

    # 2. merged: the staging release, with its own id, Environment trailer and changelog
    merge(forge, 1, STAGING_MERGE)
    deliver(app, "pull_request", pull_payload(forge, 1, "closed", merged=True), delivery="s-merged")
    staging_tag = forge.repos[REPO].tags["staging/release-1.5.3-2.1.0"]
    assert staging_tag.commit_sha == STAGING_MERGE
    assert core.parse_lineage(staging_tag.message).environment == "staging"
    assert "release-1.5.3-2.1.0" not in forge.repos[REPO].tags  # production has not got it
    assert forge.repos[REPO].commits_log[-1] == ("main", "environments/staging/CHANGELOG.md",
                                                 "docs(changelog): staging/release-1.5.3-2.1.0")

    # 3. the production PR, 10 minutes later: the set ran in staging, but e2e-staging has not reported
    clock.now = T0 + dt.timedelta(minutes=10)
    deliver(app, "pull_request", pull_payload(forge, 2, "opened"), delivery="p-open")
    check = forge.checks_on(REPO, PROD_HEAD)[PROMOTION]
    assert check.conclusion is Conclusion.PENDING  # waiting is never red
    assert check.title == "Waiting for `e2e-staging` on staging/release-1.5.3-2.1.0"
    assert f"`{STAGING_MERGE}`" in check.summary and "| soak | 2h, ends 2036-12-03 10:00 UTC |" in check.summary
    (timer,) = scheduled(app)  # the recheck at the soak's end
    assert timer.args[0] == f"recheck:github:{REPO}!2:{PROMOTION}:{int((T0 + dt.timedelta(hours=2)).timestamp())}"

    # 4. e2e passes on the staging release's commit: the status event re-evaluates; now only the soak is left
    clock.now = T0 + dt.timedelta(minutes=40)
    forge.add_commit_check(REPO, STAGING_MERGE, CommitCheck("e2e-staging", CheckKind.STATUS, CheckState.SUCCESS, "success",
                                                            at=T0 + dt.timedelta(minutes=35), url="https://ci.example/1"))
    deliver(app, "status", {"sha": STAGING_MERGE, "state": "success", "context": "e2e-staging",
                            "installation": {"id": 42}, "repository": {"full_name": REPO}}, delivery="status-1")
    check = forge.checks_on(REPO, PROD_HEAD)[PROMOTION]
    assert (check.conclusion, check.title) == (Conclusion.PENDING, "Soaking in staging until 2036-12-03 10:00 UTC")
    assert "| `e2e-staging` | status | ✅ [success](https://ci.example/1) | 2036-12-03 08:35 UTC |" in check.summary
    assert len(scheduled(app)) == 1  # the same recheck: not scheduled twice

    # 5. the soak ends: the scheduled recheck runs by itself (no event from GitHub) and the check turns green
    clock.now = T0 + dt.timedelta(hours=2, seconds=2)
    queue = app.extensions["test_queue"]
    for task in queue.huey.read_schedule(dt.datetime(2100, 1, 1)):  # what the consumer's scheduler hands over when due
        queue.huey.execute(task, timestamp=task.eta)  # huey's own clock is the machine's: run it as of its eta
    check = forge.checks_on(REPO, PROD_HEAD)[PROMOTION]
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Verified in staging: staging/release-1.5.3-2.1.0")
    assert scheduled(app) == []

    # 6. merged: the production release keeps the plain id and records where it was verified
    merge(forge, 2, PROD_MERGE)
    deliver(app, "pull_request", pull_payload(forge, 2, "closed", merged=True), delivery="p-merged")
    tag = forge.repos[REPO].tags["release-1.5.3-2.1.0"]
    assert tag.commit_sha == PROD_MERGE
    assert core.parse_lineage(tag.message) == ("production", None, ("staging/release-1.5.3-2.1.0", STAGING_MERGE))
    assert f"Verified-In: staging/release-1.5.3-2.1.0 {STAGING_MERGE}" in tag.message
    assert forge.repos[REPO].commits_log[-1] == ("main", "CHANGELOG.md", "docs(changelog): release-1.5.3-2.1.0")
    assert "**Verified in:** `staging/release-1.5.3-2.1.0`" in forge.repos[REPO].releases["release-1.5.3-2.1.0"].body

    # 7. a replay (GitHub's redelivery gets a new id) creates nothing new
    writes = {name: forge.calls[name] for name in ("create_tag", "update_file", "create_release")}
    tags = dict(forge.repos[REPO].tags)
    deliver(app, "pull_request", pull_payload(forge, 2, "closed", merged=True), delivery="p-merged-again")
    assert {name: forge.calls[name] for name in writes} == writes
    assert forge.repos[REPO].tags == tags


def test_a_production_pr_with_a_set_staging_never_had_is_blocked(app, forge, clock):
    deliver(app, "pull_request", pull_payload(forge, 2, "opened"), delivery="p-open")  # staging was never released
    check = forge.checks_on(REPO, PROD_HEAD)[PROMOTION]
    assert (check.conclusion, check.title) == (
        Conclusion.FAILURE, "Not released to staging: payments-app 1.5.3, platform-infra 2.1.0")
    assert scheduled(app) == []  # nothing time alone would change


def test_a_failed_verification_is_red_and_a_later_success_on_rerun_clears_it(app, forge, clock):
    merge(forge, 1, STAGING_MERGE)
    deliver(app, "pull_request", pull_payload(forge, 1, "closed", merged=True), delivery="s-merged")
    forge.add_commit_check(REPO, STAGING_MERGE, CommitCheck("e2e-staging", CheckKind.CHECK_RUN, CheckState.FAILURE,
                                                            "failure", at=T0 + dt.timedelta(minutes=20)))
    clock.now = T0 + dt.timedelta(hours=3)
    deliver(app, "pull_request", pull_payload(forge, 2, "opened"), delivery="p-open")
    check = forge.checks_on(REPO, PROD_HEAD)[PROMOTION]
    assert (check.conclusion, check.title) == (Conclusion.FAILURE, "Verification failed in staging: `e2e-staging` (failure)")
    forge.add_commit_check(REPO, STAGING_MERGE, CommitCheck("e2e-staging", CheckKind.CHECK_RUN, CheckState.SUCCESS,
                                                            "success", at=T0 + dt.timedelta(hours=2, minutes=50)))
    deliver(app, "check_run", {"action": "completed", "installation": {"id": 42}, "repository": {"full_name": REPO},
                               "check_run": {"name": "e2e-staging", "head_sha": STAGING_MERGE, "pull_requests": []}},
            delivery="rerun-1")
    assert forge.checks_on(REPO, PROD_HEAD)[PROMOTION].conclusion is Conclusion.SUCCESS


def test_moving_forward_again_after_a_rollback_is_a_repeat_not_a_clash(app, forge, clock):
    """staging 1.5.3, rolled back to 1.5.2, then 1.5.3 again: the plain id exists once, the repeat is -pr{N}."""
    state = forge.repos[REPO]
    for name, app_version, sha, extra in (("staging/release-1.5.3-2.1.0", "1.5.3", "7" * 40, ""),
                                          ("staging/release-1.5.2-2.1.0-rollback-pr8", "1.5.2", "8" * 40,
                                           "Rollback-Of: staging/release-1.5.2-2.1.0\n")):
        state.tags[name] = Tag(name, sha, f"Deploy\n\nRelease-Id: {name}\nComponent-Version: payments-app={app_version}\n"
                                          f"Component-Version: platform-infra=2.1.0\n{extra}Environment: staging\n", f"t-{name}")
    merge(forge, 1, STAGING_MERGE)
    deliver(app, "pull_request", pull_payload(forge, 1, "closed", merged=True), delivery="s-merged")
    repeat = state.tags["staging/release-1.5.3-2.1.0-pr1"]
    assert repeat.commit_sha == STAGING_MERGE
    assert core.parse_lineage(repeat.message).repeat_of == "staging/release-1.5.3-2.1.0"
    assert state.tags["staging/release-1.5.3-2.1.0"].commit_sha == "7" * 40  # the plain id, created once, untouched
    assert state.checks  # the release check on the merge commit
    release_check = forge.checks_on(REPO, STAGING_MERGE)["release-coordinator/release"]
    assert (release_check.conclusion, release_check.title) == (Conclusion.SUCCESS, "Released staging/release-1.5.3-2.1.0-pr1")
    # and production, promoting the same set, is verified by the newest staging release of it: the repeat
    clock.now = T0 + dt.timedelta(hours=3)
    deliver(app, "pull_request", pull_payload(forge, 2, "opened"), delivery="p-open")
    check = forge.checks_on(REPO, PROD_HEAD)[PROMOTION]
    assert check.title == "Waiting for `e2e-staging` on staging/release-1.5.3-2.1.0-pr1"
