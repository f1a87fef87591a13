"""Three release pull requests, evaluated by the real handlers through the real Worker over FakeForge, into a real
store: the pages' tests (Flask test client and headless Chromium) read what a reviewer would see.

  #7  waiting: valid manifest, nobody approved yet, evaluated Tuesday evening (outside the release window)
  #8  failing: the manifest names a tag that does not exist (no tag `v1.5.4`), and a change request
  #9  passing: valid manifest, every owning group approved, inside the window
and, on GitLab (FakeForge(kind="gitlab"), a subgroup project), merge request !4 waiting for its approval.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.core.checks import APPROVALS, MANIFEST, WINDOW, CheckResult
from bot.model import ChangedFile, Commit, Comparison, Permission, PullRequest, Review, ReviewState, Tag
from bot.settings import Secret, Settings
from bot.webhooks.event import Event
from tests.fakeforge import FakeForge
# the README's example release repo config (window Mon-Thu 09:00-16:00 Berlin, holiday freeze) and its base manifest
from tests.handlers.test_manifest import BASE_MANIFEST, RELEASE_CONFIG as CONFIG

RELEASE, APP, INFRA = "acme/release", "acme/payments-app", "acme/platform-infra"
GITLAB_RELEASE = "platform/releases/train"  # a project in a subgroup: paths, not owner/name
BASE_SHA = "b" * 40
PUBLIC_URL = "https://rc.example"
INSIDE = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)  # Tuesday 11:00 in Berlin
OUTSIDE = dt.datetime(2026, 12, 1, 18, 30, tzinfo=dt.timezone.utc)  # Tuesday 19:30 in Berlin

CODEOWNERS = "release.yml @acme/release-managers\n/environments/ @acme/infra\n"
VALID = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"
UNTAGGED = "release:\n  application_version: 1.5.4\n  infrastructure_version: 2.1.0\n"


@dataclass(frozen=True)
class Seeded:
    number: int
    head_sha: str
    checks: dict[str, CheckResult]  # as the forge shows them

    def details_url(self, name: str = APPROVALS) -> str:
        return self.checks[name].details_url


def settings(queue_url: str = "sqlite:///:memory:") -> Settings:
    return Settings(queue_url=queue_url, public_url=PUBLIC_URL, details_link_secret=Secret("pages-test-secret"),
                    github_webhook_secret=Secret("webhook-secret"))


def world() -> FakeForge:
    forge = FakeForge()
    forge.add_file(RELEASE, ".github/release-coordinator.yml", CONFIG, ref=BASE_SHA)
    forge.add_file(RELEASE, ".github/CODEOWNERS", CODEOWNERS, ref=BASE_SHA)
    forge.add_file(RELEASE, "release.yml", BASE_MANIFEST, ref=BASE_SHA)
    forge.teams = {"@acme/release-managers": frozenset({"rita", "ravi"}), "@acme/infra": frozenset({"ivan", "irene"})}
    forge.repos[RELEASE].permissions = {u: Permission.WRITE for u in ("rita", "ravi", "ivan", "irene", "alice")}
    for repo, versions in ((APP, ("1.5.2", "1.5.3")), (INFRA, ("2.0.9", "2.1.0"))):
        for version in versions:
            forge.repos[repo].tags[f"v{version}"] = Tag(f"v{version}", f"{repo}-{version}".ljust(40, "0"))
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison(
        "v1.5.2", "v1.5.3", "ahead", (Commit("c" * 40, "fix: rounding of refunds (#12)"),), ())
    forge.repos[INFRA].comparisons[("v2.0.9", "v2.1.0")] = Comparison(
        "v2.0.9", "v2.1.0", "ahead", (Commit("d" * 40, "feat: new VPC peering"),), ())
    return forge


def seed(store, *, settings_: Settings | None = None) -> dict[str, Seeded]:
    """Evaluate the three pull requests into store; returns them by state."""
    from bot.worker import Worker

    forge = world()
    settings_ = settings_ or settings()
    plan = {
        "waiting": (7, "7" * 40, VALID, [], OUTSIDE, "Release 1.5.3 / 2.1.0"),
        "failing": (8, "8" * 40, UNTAGGED, [("rita", ReviewState.CHANGES_REQUESTED)], INSIDE, "Release 1.5.4 / 2.1.0"),
        "passing": (9, "9" * 40, VALID, [("rita", ReviewState.APPROVED)], INSIDE, "Release 1.5.3 / 2.1.0 (again)"),
    }
    seeded = {}
    for state, (number, head, manifest, reviews, now, title) in plan.items():
        forge.add_file(RELEASE, "release.yml", manifest, ref=head)
        pull = PullRequest(RELEASE, number, title, "alice", head, f"release-{number}",
                           "main", BASE_SHA, "open", html_url=f"https://github.com/{RELEASE}/pull/{number}")
        forge.add_pull(pull, [ChangedFile("release.yml", "modified")])
        for i, (user, review_state) in enumerate(reviews):
            forge.add_review(RELEASE, number, Review(i + 1, user, review_state, head, now))
        worker = Worker(settings_, store=store, forge_for=lambda installation_id: forge, clock=lambda now=now: now)
        outcome = worker.run_event(Event(forge="github", name="pull_request", action="opened",
                                         delivery_id=f"seed-{number}", installation_id=42, repo=RELEASE,
                                         pull_number=number, head_sha=head, base_sha=BASE_SHA, base_ref="main",
                                         pull=pull))
        assert not outcome.failed, outcome.failed
        checks = forge.checks_on(RELEASE, head)
        assert {APPROVALS, MANIFEST, WINDOW} <= set(checks), sorted(checks)
        seeded[state] = Seeded(number, head, checks)
    return seeded


def seed_gitlab(store, *, settings_: Settings) -> Seeded:
    """Merge request !4 of a GitLab project, evaluated by the real handlers: approvals waiting, manifest valid."""
    from bot.worker import Worker

    forge = FakeForge("gitlab")
    head = "4" * 40
    forge.add_file(GITLAB_RELEASE, ".gitlab/release-coordinator.yml", CONFIG, ref=BASE_SHA)
    forge.add_file(GITLAB_RELEASE, "CODEOWNERS", "[Release]\n/release.yml @platform/release-managers\n", ref=BASE_SHA)
    forge.add_file(GITLAB_RELEASE, "release.yml", BASE_MANIFEST, ref=BASE_SHA)
    forge.add_file(GITLAB_RELEASE, "release.yml", VALID, ref=head)
    forge.teams = {"@platform/release-managers": frozenset({"rita", "ravi"})}
    forge.repos[GITLAB_RELEASE].permissions = {u: Permission.WRITE for u in ("rita", "ravi", "alice")}
    for repo, versions in ((APP, ("1.5.2", "1.5.3")), (INFRA, ("2.0.9", "2.1.0"))):
        for version in versions:
            forge.repos[repo].tags[f"v{version}"] = Tag(f"v{version}", f"{repo}-{version}".ljust(40, "0"))
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison(
        "v1.5.2", "v1.5.3", "ahead", (Commit("c" * 40, "fix: rounding of refunds (!12)"),), ())
    forge.repos[INFRA].comparisons[("v2.0.9", "v2.1.0")] = Comparison(
        "v2.0.9", "v2.1.0", "ahead", (Commit("d" * 40, "feat: new VPC peering"),), ())
    pull = PullRequest(GITLAB_RELEASE, 4, "Release 1.5.3 / 2.1.0", "alice", head, "release-4", "main", BASE_SHA, "open",
                       html_url=f"https://gitlab.example/{GITLAB_RELEASE}/-/merge_requests/4")
    forge.add_pull(pull, [ChangedFile("release.yml", "modified")])
    worker = Worker(settings_, store=store, gitlab_forge_for=lambda account: forge, clock=lambda: INSIDE)
    outcome = worker.run_event(Event(forge="gitlab", name="Merge Request Hook", action="open", kind="pull.changed",
                                     delivery_id="seed-gitlab-4", repo=GITLAB_RELEASE, pull_number=4, head_sha=head,
                                     base_ref="main", pull=pull))
    assert not outcome.failed, outcome.failed
    checks = forge.checks_on(GITLAB_RELEASE, head)
    assert {APPROVALS, MANIFEST} <= set(checks), sorted(checks)
    return Seeded(4, head, checks)
