"""The promotion check over FakeForge: which pull requests get it, the reads it makes, what makes it flip."""
from __future__ import annotations

import datetime as dt

from bot.core.checks import Conclusion
from bot.core.promotion import PROMOTION, CheckKind, CheckState, CommitCheck
from bot.forge.base import ChangedFile, PullRequest, Tag
from bot.handlers import Context
from bot.handlers.promotion import router, waiting_key
from bot.handlers.window import REPOS_KEY, periodic
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

REPO = "acme/release"
BASE, HEAD, STAGED = "b" * 40, "h" * 40, "5" * 40
UTC = dt.timezone.utc
TAGGED = dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
STAGING, PRODUCTION = "environments/staging/release.yml", "environments/production/release.yml"
CONFIG = """\
release:
  tag: "release-{application_version}-{infrastructure_version}"
components:
  payments-app:   {repo: acme/payments-app,   kind: application}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure}
environments:
  - name: staging
    manifest: environments/staging/release.yml
  - name: production
    manifest: environments/production/release.yml
    verification: [e2e-staging]
    soak: 2h
"""
NEW = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"
OLD = "release:\n  application_version: 1.5.2\n  infrastructure_version: 2.1.0\n"
STAGING_TAG = ("Deploy\n\nRelease-Id: staging/release-1.5.3-2.1.0\nComponent-Version: payments-app=1.5.3\n"
               "Component-Version: platform-infra=2.1.0\nEnvironment: staging\n")


class Scheduled:
    def __init__(self):
        self.deliveries = {}

    def schedule_delivery(self, delivery, *, at):
        if delivery.delivery_id in self.deliveries:
            return False
        self.deliveries[delivery.delivery_id] = (delivery, at)
        return True


def world(*, config=CONFIG, files=(PRODUCTION,), head_manifest=NEW, verified=True, staged=True) -> FakeForge:
    forge = FakeForge()
    forge.add_file(REPO, ".github/release-coordinator.yml", config, ref=BASE)
    for path in (STAGING, PRODUCTION):
        forge.add_file(REPO, path, OLD, ref=BASE)
    forge.add_file(REPO, STAGING, NEW, ref=HEAD)
    if head_manifest is not None:
        forge.add_file(REPO, PRODUCTION, head_manifest, ref=HEAD)
    forge.add_pull(PullRequest(REPO, 2, "Promote 1.5.3", "alice", HEAD, "promote", "main", BASE, "open"),
                   [ChangedFile(path, "modified") for path in files])
    if staged:
        forge.repos[REPO].tags["staging/release-1.5.3-2.1.0"] = Tag("staging/release-1.5.3-2.1.0", STAGED, STAGING_TAG, "t1")
        forge.repos[REPO].tag_dates["staging/release-1.5.3-2.1.0"] = TAGGED
    if verified:
        forge.add_commit_check(REPO, STAGED, CommitCheck("e2e-staging", CheckKind.STATUS, CheckState.SUCCESS, "success",
                                                         at=TAGGED + dt.timedelta(minutes=30)))
    return forge


def run(forge, now, *, store=None, jobs=None, event=None):
    event = event or Event(forge="github", name="pull_request", action="synchronize", delivery_id="d", installation_id=42,
                           repo=REPO, pull_number=2, head_sha=HEAD, base_ref="main")
    ctx = Context(forge=forge, now=now, store=store if store is not None else DictStore(), jobs=jobs)
    for handler in router.handlers_for(event):
        handler(event, ctx)
    return forge.checks_on(REPO, HEAD).get(PROMOTION)


AFTER_SOAK = TAGGED + dt.timedelta(hours=3)


def test_promoted_after_verification_and_soak_with_few_reads():
    forge = world()
    check = run(forge, AFTER_SOAK)
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Verified in staging: staging/release-1.5.3-2.1.0")
    # one tag listing (every environment's history), one read of the commit's checks, one tag date
    assert (forge.calls["list_annotated_tags"], forge.calls["commit_checks"], forge.calls["tag_date"]) == (1, 1, 1)


def test_a_repo_without_environments_gets_no_promotion_check():
    config = CONFIG.split("environments:")[0] + "  manifest: release.yml\n"
    forge = world(config=config, files=("release.yml",))
    assert run(forge, AFTER_SOAK) is None
    assert forge.calls["list_pull_files"] == 0


def test_every_pull_request_of_the_release_repo_gets_it_so_it_can_be_required():
    check = run(world(files=("README.md",)), AFTER_SOAK)
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Manifest unchanged")
    check = run(world(files=(STAGING,)), AFTER_SOAK)
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Nothing to promote: staging needs no earlier environment")


def test_waiting_for_verification_is_remembered_and_a_status_on_that_commit_re_evaluates():
    forge, store = world(verified=False), DictStore()
    check = run(forge, AFTER_SOAK, store=store)
    assert check.conclusion is Conclusion.PENDING
    assert store.get_json(waiting_key("github", REPO)) == {STAGED: [2]}
    status = Event(forge="github", name="status", action=None, delivery_id="s", installation_id=42, repo=REPO,
                   head_sha="f" * 40)
    before = sum(forge.calls.values())
    run(forge, AFTER_SOAK, store=store, event=status)
    assert sum(forge.calls.values()) == before  # a status on another commit costs no request
    forge.add_commit_check(REPO, STAGED, CommitCheck("e2e-staging", CheckKind.STATUS, CheckState.SUCCESS, "success"))
    run(forge, AFTER_SOAK, store=store, event=Event(forge="github", name="status", action=None, delivery_id="s2",
                                                    installation_id=42, repo=REPO, head_sha=STAGED))
    assert forge.checks_on(REPO, HEAD)[PROMOTION].conclusion is Conclusion.SUCCESS
    assert store.get_json(waiting_key("github", REPO)) == {}  # no longer waiting


def test_the_soak_end_is_scheduled_and_the_periodic_sweep_is_the_fallback():
    forge, store, jobs = world(), DictStore(), Scheduled()
    during = TAGGED + dt.timedelta(hours=1)
    assert run(forge, during, store=store, jobs=jobs).conclusion is Conclusion.PENDING
    ((_delivery, at),) = jobs.deliveries.values()
    assert at == (TAGGED + dt.timedelta(hours=2, seconds=2)).timestamp()
    assert store.get_json(REPOS_KEY) == {REPO: 42}
    # the recheck was lost (say, a Redis without persistence restarted): the five-minute sweep still flips it
    contexts = lambda account: Context(forge=forge, now=during, store=store)  # noqa: E731
    assert periodic(contexts, store, TAGGED + dt.timedelta(hours=1, minutes=5)) == 0  # nothing changed: no write
    assert periodic(contexts, store, TAGGED + dt.timedelta(hours=2, minutes=1)) == 1
    assert forge.checks_on(REPO, HEAD)[PROMOTION].conclusion is Conclusion.SUCCESS


def test_a_rollback_skips_the_gate_only_when_configured_and_says_so():
    rollback = "release:\n  application_version: 1.4.0\n  infrastructure_version: 2.0.0\n  rollback: true\n"
    assert run(world(head_manifest=rollback), AFTER_SOAK).conclusion is Conclusion.FAILURE  # never staged
    forge = world(config=CONFIG + "    rollback_skips_verification: true\n", head_manifest=rollback)
    check = run(forge, AFTER_SOAK)
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Rollback: promotion gate skipped for production")
    assert forge.calls["commit_checks"] == 0 and forge.calls["list_annotated_tags"] == 1


def test_an_unreadable_production_manifest_fails_the_gate():
    check = run(world(head_manifest=None), AFTER_SOAK)
    assert (check.conclusion, check.title) == (Conclusion.FAILURE, f"{PRODUCTION} deleted")
    check = run(world(head_manifest="release:\n  application_version: 1.6.0-rc.1\n  infrastructure_version: 2.1.0\n"),
                AFTER_SOAK)
    assert check.conclusion is Conclusion.FAILURE and "needs `release.allow_prerelease: true`" in check.summary


def test_re_run_writes_a_fresh_check_run_even_when_unchanged():
    forge, store = world(), DictStore()
    run(forge, AFTER_SOAK, store=store)
    rerun = Event(forge="github", name="check_run", action="rerequested", delivery_id="r", installation_id=42, repo=REPO,
                  pull_number=2, head_sha=HEAD, check_name=PROMOTION)
    run(forge, AFTER_SOAK, store=store, event=rerun)
    assert forge.calls["create_check"] == 2
    other = Event(forge="github", name="check_run", action="rerequested", delivery_id="r2", installation_id=42, repo=REPO,
                  pull_number=2, head_sha=HEAD, check_name="release-coordinator/approvals")
    run(forge, AFTER_SOAK, store=store, event=other)
    assert forge.calls["create_check"] == 2  # a re-run of another check is not ours


def test_in_the_merge_queue_a_waiting_promotion_fails_instead_of_holding_the_queue():
    forge = world(verified=False)
    group_sha = "g" * 40
    forge.add_file(REPO, STAGING, NEW, ref=group_sha)
    forge.add_file(REPO, PRODUCTION, NEW, ref=group_sha)
    event = Event(forge="github", name="merge_group", action="checks_requested", delivery_id="mg", installation_id=42,
                  repo=REPO, head_sha=group_sha, base_sha=BASE, base_ref="main", pull_numbers=(2,))
    for handler in router.handlers_for(event):
        handler(event, Context(forge=forge, now=AFTER_SOAK, store=DictStore()))
    check = forge.checks_on(REPO, group_sha)[PROMOTION]
    assert check.conclusion is Conclusion.FAILURE and "the queue would wait for nothing" in check.summary


def test_on_gitlab_the_same_gate_as_a_commit_status_with_a_recheck_and_the_sweep():
    forge = world()
    gitlab = FakeForge("gitlab")
    gitlab.repos = forge.repos  # the same project state, read the GitLab way
    gitlab.add_file(REPO, ".gitlab/release-coordinator.yml", CONFIG, ref=BASE)
    store, jobs = DictStore(), Scheduled()
    event = Event(forge="gitlab", name="Merge Request Hook", action="update", kind="pull.changed", delivery_id="g", repo=REPO, pull_number=2,
                  head_sha=HEAD, base_ref="main")
    check = run(gitlab, TAGGED + dt.timedelta(hours=1), store=store, jobs=jobs, event=event)
    assert (check.conclusion, check.title) == (Conclusion.PENDING, "Soaking in staging until 2026-12-03 10:00 UTC")
    ((delivery, _at),) = jobs.deliveries.values()
    assert delivery.forge == "gitlab" and b'"account": null' in delivery.body
    assert store.get_json("window:repos:gitlab") == {REPO: None}  # the five-minute sweep covers GitLab too
