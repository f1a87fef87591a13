"""promotion_blocked: announced once per version set when the earlier environment's verification failed."""
import datetime as dt

import pytest

from bot.core.config import ConfigSource, load_config
from bot.core.promotion import CheckKind, CheckState, CommitCheck, Evidence, Outcome, PromotionVerdict
from bot.core.release import ReleaseRecord
from bot.handlers import Context, announce
from bot.model import PullRequest
from tests.fakeforge import FakeForge
from tests.handlers.test_shipped import Jobs

REPO = "acme/release"
CONFIG = b"""
release: {tag: "release-{application_version}-{infrastructure_version}"}
components:
  payments-app: {repo: acme/payments-app, kind: application}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure}
environments:
  - {name: staging, manifest: environments/staging/release.yml}
  - {name: production, manifest: environments/production/release.yml, verification: [e2e-staging]}
notify:
  - {kind: slack, url_env: SLACK_WEBHOOK_URL, on: [promotion_blocked]}
"""
VERSIONS = {"payments-app": "1.5.3", "platform-infra": "2.1.0"}
STAGING = ReleaseRecord(tag="staging/release-1.5.3-2.1.0", commit_sha="5" * 40, versions=VERSIONS, environment="staging")
PULL = PullRequest(REPO, 2, "Production: 1.5.3", "alice", "2" * 40, "promote", "main", "b" * 40, "open",
                   html_url=f"https://github.com/{REPO}/pull/2")


def verdict(outcome, state=CheckState.FAILURE):
    found = CommitCheck("e2e-staging", CheckKind.CHECK_RUN, state, state.value)
    return PromotionVerdict(environment="production", verified_in="staging", outcome=outcome, versions=VERSIONS,
                            release=STAGING, evidence=(Evidence("e2e-staging", state, found),))


@pytest.fixture
def setup():
    loaded = load_config([ConfigSource(".github/release-coordinator.yml", CONFIG)], repo=REPO)
    assert loaded.ok, loaded.problems
    return Context(forge=FakeForge(), now=dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc), jobs=Jobs()), loaded.config


def test_a_failed_verification_is_announced_once(setup):
    ctx, config = setup
    assert announce.promotion_blocked(ctx, PULL, config, verdict(Outcome.VERIFICATION_FAILED)) == 1
    assert announce.promotion_blocked(ctx, PULL, config, verdict(Outcome.VERIFICATION_FAILED)) == 0  # judged again
    ((kind, payload),) = ctx.jobs.submitted.values()
    announcement = payload["announcement"]
    assert (announcement["event"], announcement["environment"], announcement["release_id"]) == (
        "promotion_blocked", "production", "release-1.5.3-2.1.0")
    assert announcement["reason"] == "verification failed on staging/release-1.5.3-2.1.0: e2e-staging (failure)"
    assert announcement["pull_request"]["url"] == f"https://github.com/{REPO}/pull/2"


@pytest.mark.parametrize("outcome", [Outcome.PROMOTABLE, Outcome.WAITING_FOR_SOAK, Outcome.WAITING_FOR_VERIFICATION,
                                     Outcome.NOT_RELEASED])
def test_anything_else_is_not_a_blocked_promotion(setup, outcome):
    ctx, config = setup
    assert announce.promotion_blocked(ctx, PULL, config, verdict(outcome, CheckState.PENDING)) == 0
    assert ctx.jobs.submitted == {}
