"""The release plan in the manifest check's summary, re-judged on reviews, and plan_ready announced once the
approvals are complete, against FakeForge (the manifest handler runs with it, as in a delivery)."""
import datetime as dt

import pytest

from bot.core.approvals import TEAM, Evaluation, GroupResult, to_json
from bot.core.checks import MANIFEST
from bot.core.config import ApprovalMode, Invalidate
from bot.handlers import Context, release_plan, shipped
from bot.handlers.approvals import details_key
from bot.handlers.manifest import on_pull
from bot.model import ChangedFile, Commit, Comparison, PullRequest, Tag
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

RELEASE, APP, INFRA = "acme/release", "acme/payments-app", "acme/platform-infra"
BASE_SHA, HEAD_SHA = "b" * 40, "h" * 40
TUESDAY = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)  # 11:00 in Berlin: inside the window
FRIDAY = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.timezone.utc)  # outside it
CONFIG = """\
release: {manifest: release.yml}
components:
  payments-app:   {repo: acme/payments-app,   kind: application,    tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
windows:
  timezone: Europe/Berlin
  allow: [{days: [mon, tue, wed, thu], hours: "09:00-16:00"}]
notify:
  - {kind: webhook, url_env: RELEASE_HOOK_URL, secret_env: RELEASE_HOOK_SECRET, on: [plan_ready, released]}
"""
BASE = "release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"
HEAD = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"


class Jobs:
    def __init__(self):
        self.submitted = {}

    def submit_job(self, kind, job_id, payload):
        if job_id in self.submitted:
            return False
        self.submitted[job_id] = payload
        return True


def world(kind="github"):
    forge = FakeForge(kind)
    forge.add_file(RELEASE, forge.layout.config_path, CONFIG, ref=BASE_SHA)
    forge.add_file(RELEASE, "release.yml", BASE, ref=BASE_SHA)
    forge.add_file(RELEASE, "release.yml", HEAD, ref=HEAD_SHA)
    forge.add_pull(PullRequest(RELEASE, 7, "Release 1.5.3 / 2.1.0", "alice", HEAD_SHA, "next", "main", BASE_SHA, "open",
                               html_url=forge.links.pull(RELEASE, 7)),
                   files=[ChangedFile("release.yml", "modified")])
    for repo, versions in ((APP, ("1.5.2", "1.5.3")), (INFRA, ("2.0.9", "2.1.0"))):
        for version in versions:
            forge.repos[repo].tags[f"v{version}"] = Tag(f"v{version}", f"{repo}-{version}".ljust(40, "0"))
    ref = forge.links.pull_ref(12)  # (#12) in a squash commit; GitLab's (!12)
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit("a" * 40, f"fix: rounding ({ref})", author="erin"),), ())
    forge.repos[INFRA].comparisons[("v2.0.9", "v2.1.0")] = Comparison("v2.0.9", "v2.1.0", "ahead", (
        Commit("d" * 40, "feat: new VPC peering (#30)", author="frank"),), ())
    return forge


def save_evaluation(store, *, infra_approved, forge="github"):
    evaluation = Evaluation(
        head_sha=HEAD_SHA, mode=ApprovalMode.EACH_TEAM, invalidate_on_push=Invalidate.OWNED_FILES, distinct=True,
        groups=(GroupResult("@acme/app-team", TEAM, ("@acme/app-team",), 1, approved_by=("carol",)),
                GroupResult("@acme/infra-team", TEAM, ("@acme/infra-team",), 1,
                            approved_by=("bob",) if infra_approved else (), can_unblock=("bob",))),
        unowned=(), codeowners_path=".github/CODEOWNERS",
    )
    store.set_json(details_key(RELEASE, 7, forge=forge), {"repo": RELEASE, "number": 7, "evaluation": to_json(evaluation)})


def event(name="pull_request", action="opened", *, forge="github"):
    if forge == "gitlab":
        return Event(forge="gitlab", name="Merge Request Hook", action="open", delivery_id="d", repo=RELEASE,
                     pull_number=7, head_sha=HEAD_SHA, base_ref="main", kind="pull.changed")
    return Event(forge="github", name=name, action=action, delivery_id="d", installation_id=1, repo=RELEASE,
                 pull_number=7, head_sha=HEAD_SHA, base_ref="main")


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_the_manifest_check_carries_the_plan_with_who_must_still_approve(kind):
    forge, store = world(kind), DictStore()
    save_evaluation(store, infra_approved=False, forge=kind)
    ctx = Context(forge=forge, now=TUESDAY, store=store, jobs=Jobs(), public_url="https://rc.example",
                  details_link_key="k")
    on_pull(event(forge=kind), ctx)
    summary = forge.checks_on(RELEASE, HEAD_SHA)[MANIFEST].summary
    plan = summary[summary.index("### Release plan"):]
    history = shipped.history_url("https://rc.example", key="k", forge=kind, repo=RELEASE)
    assert plan.rstrip().endswith(f"[Release history and Atom feed of {RELEASE}]({history})")
    assert "Merging tags **`release-1.5.3-2.1.0`**." in plan
    assert "**Can ship:** as soon as the missing approvals are given" in plan
    assert "- `@acme/infra-team`: 1 more approval (can approve: @bob)" in plan
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in plan
    assert f"- rounding ([{forge.links.pull_ref(12)}]({forge.links.pull(APP, 12)}))" in plan and "by @erin" in plan
    assert ctx.jobs.submitted == {}  # not ready yet


def test_a_review_that_completes_the_approvals_updates_the_plan_and_announces_plan_ready_once():
    forge, store = world(), DictStore()
    save_evaluation(store, infra_approved=False)
    ctx = Context(forge=forge, now=TUESDAY, store=store, jobs=Jobs())
    on_pull(event(), ctx)
    save_evaluation(store, infra_approved=True)  # what the approvals handler saved for this review
    release_plan.on_review(event("pull_request_review", "submitted"), ctx)
    summary = forge.checks_on(RELEASE, HEAD_SHA)[MANIFEST].summary
    assert "**Approvals:** complete." in summary and "**Can ship:** now" in summary
    (payload,) = ctx.jobs.submitted.values()
    announcement = payload["announcement"]
    assert (announcement["event"], announcement["release_id"], announcement["tag"]) == (
        "plan_ready", "release-1.5.3-2.1.0", None)
    assert announcement["pull_request"]["number"] == 7
    writes = forge.calls["create_check"] + forge.calls["update_check"]
    release_plan.on_review(event("pull_request_review", "submitted"), ctx)  # nothing changed
    assert forge.calls["create_check"] + forge.calls["update_check"] == writes
    assert len(ctx.jobs.submitted) == 1


def test_outside_the_window_the_plan_says_when_it_opens():
    forge, store = world(), DictStore()
    save_evaluation(store, infra_approved=True)
    ctx = Context(forge=forge, now=FRIDAY, store=store)
    on_pull(event(), ctx)
    summary = forge.checks_on(RELEASE, HEAD_SHA)[MANIFEST].summary
    assert "**Can ship:** not before Mon 2026-12-07 09:00 CET (08:00 UTC), when the next release window opens" in summary


def test_an_evaluation_of_an_older_head_is_not_trusted():
    forge, store = world(), DictStore()
    save_evaluation(store, infra_approved=True)
    saved = store.get_json(f"details:{RELEASE}#7")
    saved["evaluation"]["head_sha"] = "0" * 40
    store.set_json(f"details:{RELEASE}#7", saved)
    ctx = Context(forge=forge, now=TUESDAY, store=store, jobs=Jobs())
    on_pull(event(), ctx)
    assert "not evaluated for this head yet" in forge.checks_on(RELEASE, HEAD_SHA)[MANIFEST].summary
    assert ctx.jobs.submitted == {}


def test_a_pull_request_not_touching_the_manifest_gets_no_plan():
    forge, store = world(), DictStore()
    forge.repos[RELEASE].pull_files[7] = (ChangedFile("README.md", "modified"),)
    ctx = Context(forge=forge, now=TUESDAY, store=store)
    on_pull(event(), ctx)
    check = forge.checks_on(RELEASE, HEAD_SHA).get(MANIFEST)
    assert check is None or "### Release plan" not in check.summary


PROMOTION_CONFIG = """\
release: {tag: "release-{application_version}-{infrastructure_version}"}
components:
  payments-app:   {repo: acme/payments-app,   kind: application,    tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
environments:
  - {name: staging, manifest: environments/staging/release.yml}
  - {name: production, manifest: environments/production/release.yml, verification: [e2e-staging], soak: 2h}
"""


def promotion_world(*, e2e=None):
    from bot.core.promotion import CheckKind, CheckState, CommitCheck

    forge = world()
    for ref in (BASE_SHA, HEAD_SHA):
        forge.add_file(RELEASE, ".github/release-coordinator.yml", PROMOTION_CONFIG, ref=ref)
        forge.add_file(RELEASE, "environments/staging/release.yml", HEAD, ref=ref)
    forge.add_file(RELEASE, "environments/production/release.yml", BASE, ref=BASE_SHA)
    forge.add_file(RELEASE, "environments/production/release.yml", HEAD, ref=HEAD_SHA)
    forge.repos[RELEASE].pull_files[7] = (ChangedFile("environments/production/release.yml", "modified"),)
    staging = "staging/release-1.5.3-2.1.0"
    forge.repos[RELEASE].tags[staging] = Tag(staging, "5" * 40, (
        f"Deploy\n\nRelease-Id: {staging}\nComponent-Version: payments-app=1.5.3\n"
        "Component-Version: platform-infra=2.1.0\nEnvironment: staging\n"), "t-staging")
    forge.repos[RELEASE].tag_dates[staging] = TUESDAY - dt.timedelta(minutes=30)
    if e2e is not None:
        forge.add_commit_check(RELEASE, "5" * 40, CommitCheck("e2e-staging", CheckKind.STATUS, e2e, e2e.value))
    return forge


def test_a_promotion_waiting_for_its_soak_says_when_it_ends():
    from bot.core.promotion import CheckState

    forge, store = promotion_world(e2e=CheckState.SUCCESS), DictStore()
    save_evaluation(store, infra_approved=True)
    on_pull(event(), Context(forge=forge, now=TUESDAY, store=store))
    summary = forge.checks_on(RELEASE, HEAD_SHA)[MANIFEST].summary
    assert "### Release plan: production" in summary
    assert "**Can ship:** not before Tue 2026-12-01 11:30 UTC, when the soak in staging ends" in summary


def test_a_promotion_waiting_for_verification_says_so():
    forge, store = promotion_world(), DictStore()
    save_evaluation(store, infra_approved=False)
    on_pull(event(), Context(forge=forge, now=TUESDAY, store=store))
    summary = forge.checks_on(RELEASE, HEAD_SHA)[MANIFEST].summary
    assert ("**Can ship:** not before Tue 2026-12-01 11:30 UTC, when the soak in staging ends (and once "
            "`e2e-staging` passes on staging/release-1.5.3-2.1.0 and the missing approvals are given)") in summary


def test_approvals_complete_on_an_invalid_manifest_announce_nothing():
    forge, store = world(), DictStore()
    del forge.repos[APP].tags["v1.5.3"]  # the manifest names a version that is not tagged
    save_evaluation(store, infra_approved=True)
    ctx = Context(forge=forge, now=TUESDAY, store=store, jobs=Jobs())
    on_pull(event(), ctx)
    check = forge.checks_on(RELEASE, HEAD_SHA)[MANIFEST]
    assert check.conclusion.value == "failure" and "### Release plan" in check.summary
    assert ctx.jobs.submitted == {}
