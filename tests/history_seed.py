"""A release repo's history as the release handler records it (bot.handlers.shipped.record_release over
FakeForge): staging then production (a promotion, Verified-In), a later staging release, and a production
rollback. Shared by the history page's Flask-client and headless-Chromium tests."""
from __future__ import annotations

import datetime as dt

from bot.core import release as core
from bot.core.config import ConfigSource, load_config
from bot.handlers import Context, shipped
from bot.model import PullRequest
from bot.settings import Secret, Settings
from tests.fakeforge import DictStore, FakeForge

RELEASE = "acme/release"
CONFIG = b"""
release: {manifest: release.yml}
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
environments:
  - {name: staging, manifest: environments/staging/release.yml, tag_prefix: "staging/"}
  - {name: production, manifest: environments/production/release.yml, verified_in: staging, soak: 2h}
"""
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
RELEASES = [  # (hours after T0, pull number, tag, environment, versions, previous, rollback_of, verified_in)
    (0, 40, "staging/release-1.5.3-2.1.0", "staging", {"payments-app": "1.5.3", "platform-infra": "2.1.0"},
     {"payments-app": "1.5.2", "platform-infra": "2.1.0"}, None, None),
    (26, 41, "release-1.5.3-2.1.0", "production", {"payments-app": "1.5.3", "platform-infra": "2.1.0"},
     {"payments-app": "1.5.2", "platform-infra": "2.1.0"}, None, ("staging/release-1.5.3-2.1.0", "s" * 40)),
    (30, 43, "staging/release-1.6.0-2.1.0", "staging", {"payments-app": "1.6.0", "platform-infra": "2.1.0"},
     {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, None, None),
    (50, 44, "release-1.5.2-2.1.0-rollback-pr44", "production", {"payments-app": "1.5.2", "platform-infra": "2.1.0"},
     {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, "release-1.5.2-2.1.0", None),
]


def settings(queue_url: str = "sqlite:///:memory:", public_url: str = "https://rc.example") -> Settings:
    return Settings(queue_url=queue_url, public_url=public_url, details_link_secret=Secret("history-test-secret"),
                    github_webhook_secret=Secret("webhook-secret"))


def seed(store) -> None:
    loaded = load_config([ConfigSource(".github/release-coordinator.yml", CONFIG)], repo=RELEASE)
    assert loaded.ok, loaded.problems
    forge = FakeForge()
    for hours, number, tag, environment, versions, previous, rollback_of, verified_in in RELEASES:
        ctx = Context(forge=forge, now=T0 + dt.timedelta(hours=hours), store=store)
        pull = PullRequest(RELEASE, number, f"Release {tag}", "dave", f"{number:040d}", "next", "main", "b" * 40,
                           "closed", merged=True, merge_commit_sha=f"{number:x}".rjust(40, "m"),
                           html_url=f"https://github.com/{RELEASE}/pull/{number}")
        plan = core.ReleasePlan(release_id=tag, title=f"Deploy {tag}", tag_message="", changelog_entry="",
                                release_body="", versions=versions, rollback_of=rollback_of,
                                environment=environment, verified_in=verified_in)
        carried = () if rollback_of else (shipped.core_plan.CarriedPull("acme/payments-app", 100 + number, "payments-app"),)
        shipped.record_release(ctx, pull=pull, config=loaded.config, plan=plan, environment=environment,
                               previous=previous, carried=carried)


def new_store() -> DictStore:
    store = DictStore()
    seed(store)
    return store
