"""Release on merge with `environments:` over FakeForge: one release per changed environment, ids, trailers,
changelogs, the combined release check, and invalid configs."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.core import release as core
from bot.core.checks import Conclusion
from bot.forge.base import ChangedFile, PullRequest, Tag
from bot.handlers import Context
from bot.handlers.release import on_pull_request_merged
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge
from tests.handlers.test_promotion import CONFIG, NEW, OLD, PRODUCTION, STAGING

REPO = "acme/release"
BASE, MERGE = "b" * 40, "m" * 40
NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone.utc)


def world(files, *, config=CONFIG, kind="github"):
    forge = FakeForge(kind)
    forge.clock = lambda: NOW
    forge.add_file(REPO, forge.layout.config_path, config, ref=BASE)
    for path in (STAGING, PRODUCTION):
        forge.add_file(REPO, path, OLD, ref=BASE)
        forge.add_file(REPO, path, NEW if path in files else OLD, ref=MERGE)
    forge.repos[REPO].branches["main"] = MERGE
    for repo, versions in (("acme/payments-app", ("1.5.2", "1.5.3")), ("acme/platform-infra", ("2.1.0",))):
        for version in versions:
            forge.repos[repo].tags[f"v{version}"] = Tag(f"v{version}", f"{repo}-{version}".ljust(40, "0"))
    forge.add_pull(PullRequest(REPO, 5, "Release", "alice", "h" * 40, "rel", "main", BASE, "closed", merged=True,
                               merge_commit_sha=MERGE, html_url=forge.links.pull(REPO, 5)),
                   [ChangedFile(path, "modified") for path in files])
    return forge


def merged(forge):
    if forge.kind == "gitlab":
        event = Event(forge="gitlab", name="Merge Request Hook", action="merge", delivery_id="d", repo=REPO,
                      pull_number=5, merged=True, merge_commit_sha=MERGE, default_branch="main", kind="pull.merged")
    else:
        event = Event(forge="github", name="pull_request", action="closed", delivery_id="d", installation_id=42,
                      repo=REPO, pull_number=5, merged=True, default_branch="main")
    on_pull_request_merged(event, Context(forge=forge, now=NOW, store=DictStore()))
    return forge.checks_on(REPO, MERGE)["release-coordinator/release"]


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_one_pull_request_changing_both_environments_releases_each(kind):
    forge = world((STAGING, PRODUCTION), kind=kind)
    check = merged(forge)
    tags = forge.repos[REPO].tags
    assert {"staging/release-1.5.3-2.1.0", "release-1.5.3-2.1.0"} <= set(tags)
    assert core.parse_lineage(tags["staging/release-1.5.3-2.1.0"].message).environment == "staging"
    # production did not get it from staging first: released as asked, but with no Verified-In to show
    assert core.parse_lineage(tags["release-1.5.3-2.1.0"].message) == ("production", None, None)
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS,
                                               "Released staging/release-1.5.3-2.1.0; Released release-1.5.3-2.1.0")
    assert [entry[1] for entry in forge.repos[REPO].commits_log] == ["environments/staging/CHANGELOG.md", "CHANGELOG.md"]
    assert set(forge.repos[REPO].releases) == {"staging/release-1.5.3-2.1.0", "release-1.5.3-2.1.0"}


def test_a_pull_request_changing_no_manifest_releases_nothing():
    forge = world(("README.md",))
    event = Event(forge="github", name="pull_request", action="closed", delivery_id="d", installation_id=42, repo=REPO,
                  pull_number=5, merged=True, default_branch="main")
    on_pull_request_merged(event, Context(forge=forge, now=NOW, store=DictStore()))
    assert forge.calls["create_tag"] == 0 and forge.checks_on(REPO, MERGE) == {}


def test_a_tag_of_the_same_name_with_other_versions_is_still_a_clash():
    forge = world((STAGING,))
    forge.repos[REPO].tags["staging/release-1.5.3-2.1.0"] = Tag("staging/release-1.5.3-2.1.0", "0" * 40, "hand-made\n", "t0")
    check = merged(forge)
    assert check.conclusion is Conclusion.FAILURE and "already exists on 000000000000" in check.title
    assert forge.repos[REPO].commits_log == []  # nothing written


def test_a_production_merge_that_went_around_the_gate_is_released_without_verified_in(caplog):
    forge = world((PRODUCTION,))
    staged = "5" * 40
    forge.repos[REPO].tags["staging/release-1.5.3-2.1.0"] = Tag(
        "staging/release-1.5.3-2.1.0", staged, "Deploy\n\nRelease-Id: staging/release-1.5.3-2.1.0\n"
        "Component-Version: payments-app=1.5.3\nComponent-Version: platform-infra=2.1.0\nEnvironment: staging\n", "t1")
    forge.repos[REPO].tag_dates["staging/release-1.5.3-2.1.0"] = NOW - dt.timedelta(hours=3)
    assert merged(forge).conclusion is Conclusion.SUCCESS  # e2e-staging never reported: an admin merged anyway
    assert core.parse_lineage(forge.repos[REPO].tags["release-1.5.3-2.1.0"].message).verified_in is None
    assert "without a passing promotion gate (waiting for verification)" in caplog.text
