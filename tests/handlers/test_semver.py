"""The semver check over FakeForge: version file at base and head, PR commits, title and labels."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.core.checks import SEMVER, Conclusion
from bot.forge.base import ChangedFile, Commit, PullRequest
from bot.handlers import Context
from bot.handlers.semver import router
from bot.webhooks.event import Event
from tests.fakeforge import FakeForge

APP = "acme/payments-app"
BASE_SHA, HEAD_SHA = "b" * 40, "h" * 40
CONFIG = """\
versioning:
  file: Chart.yaml#version
  bump_from: {bump_from}
  ignore_paths: ["docs/**", "*.md"]
"""


def world(*, base="1.2.3", head="1.3.0", files=("templates/deploy.yaml", "Chart.yaml"),
          commits=("feat: refunds (#14)",), title="Add refunds", labels=(), bump_from="conventional-commits") -> FakeForge:
    forge = FakeForge()
    forge.add_file(APP, ".github/release-coordinator.yml", CONFIG.format(bump_from=bump_from), ref=BASE_SHA)
    forge.add_file(APP, "Chart.yaml", f"apiVersion: v2\nname: payments\nversion: {base}\n", ref=BASE_SHA)
    forge.add_file(APP, "Chart.yaml", f"apiVersion: v2\nname: payments\nversion: {head}\n", ref=HEAD_SHA)
    forge.add_pull(PullRequest(APP, 3, title, "bob", HEAD_SHA, "feature", "main", BASE_SHA, "open",
                               labels=frozenset(labels)),
                   files=[ChangedFile(p, "modified") for p in files],
                   commits=tuple(Commit(f"{i:07x}".ljust(40, "a"), m) for i, m in enumerate(commits)))
    return forge


def run(forge: FakeForge, action: str = "opened"):
    event = Event(forge="github", name="pull_request", action=action, delivery_id="d", installation_id=1, repo=APP,
                  pull_number=3, head_sha=HEAD_SHA, base_ref="main")
    for handler in router.handlers_for(event.name, event.action):
        handler(event, Context(forge=forge, now=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)))
    return forge.checks_on(APP, HEAD_SHA).get(SEMVER)


def test_feature_with_minor_bump_passes():
    check = run(world())
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "1.2.3 → 1.3.0: one minor step")
    assert "- 0000000: feat: refunds (#14) → minor" in check.summary


@pytest.mark.parametrize("head, title", [
    ("1.3.1", "1.2.3 → 1.3.1 is wrong: a minor change must go to 1.3.0 (or a pre-release of it)"),
    ("1.4.0", "1.2.3 → 1.4.0 is wrong: a minor change must go to 1.3.0 (or a pre-release of it)"),
    ("1.2.3", "Version not bumped: needs a minor bump to 1.3.0"),
])
def test_wrong_bumps_fail_on_the_version_line(head, title):
    check = run(world(head=head))
    assert (check.conclusion, check.title) == (Conclusion.FAILURE, title)
    assert [(a.path, a.start_line) for a in check.annotations] == [("Chart.yaml", 3)]


def test_docs_only_change_needs_no_bump():
    check = run(world(head="1.2.3", files=("docs/usage.md", "README.md"), commits=("feat: document refunds",)))
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Version stays 1.2.3: nothing to release")


def test_title_is_judged_too_for_squash_merges_and_edited_rechecks():
    forge = world(head="1.2.4", commits=("fix: rounding",), title="fix: rounding")
    assert run(forge).conclusion is Conclusion.SUCCESS
    forge.repos[APP].pulls[3] = PullRequest(APP, 3, "feat!: new rounding API", "bob", HEAD_SHA, "feature", "main",
                                            BASE_SHA, "open")
    check = run(forge, "edited")
    assert check.conclusion is Conclusion.FAILURE
    assert check.title == "1.2.3 → 1.2.4 is wrong: a major change must go to 2.0.0 (or a pre-release of it)"
    assert "- PR title: feat!: new rounding API → major" in check.summary
    assert forge.calls["update_check"] == 1


def test_non_conventional_commits_are_reported_not_fatal():
    check = run(world(head="1.2.4", commits=("fix: rounding", "WIP"), title="fix: rounding"))
    assert check.conclusion is Conclusion.SUCCESS and "- 0000001: WIP" in check.summary


def test_labels_decide_when_configured():
    check = run(world(head="2.0.0", commits=("fix: x",), title="fix: x", labels=("semver:major",), bump_from="labels"))
    assert check.conclusion is Conclusion.SUCCESS and "- label: semver:major → major" in check.summary
    missing = run(world(head="1.2.4", commits=("fix: x",), title="fix: x", bump_from="labels"))
    assert missing.conclusion is Conclusion.FAILURE and "add one of the labels semver:major" in missing.title


def test_below_one_breaking_change_needs_minor():
    check = run(world(base="0.4.2", head="0.5.0", commits=("feat!: drop v1",), title="feat!: drop v1"))
    assert check.conclusion is Conclusion.SUCCESS


def test_repo_without_versioning_gets_no_semver_check():
    forge = world()
    forge.add_file(APP, ".github/release-coordinator.yml", "approvals:\n  mode: each-team\n", ref=BASE_SHA)
    assert run(forge) is None


MERGE_SHA, TIP_SHA = "m" * 40, "t" * 40


def run_merge_group(forge: FakeForge, *, tip_version: str, group_version: str):
    """The queue's commit for PR #3, made on a tip of main where another pull request may have bumped first."""
    forge.add_file(APP, ".github/release-coordinator.yml", CONFIG.format(bump_from="conventional-commits"), ref=TIP_SHA)
    forge.add_file(APP, "Chart.yaml", f"apiVersion: v2\nname: payments\nversion: {tip_version}\n", ref=TIP_SHA)
    forge.add_file(APP, "Chart.yaml", f"apiVersion: v2\nname: payments\nversion: {group_version}\n", ref=MERGE_SHA)
    event = Event(forge="github", name="merge_group", action="checks_requested", delivery_id="d-mg", installation_id=1,
                  repo=APP, head_sha=MERGE_SHA, base_ref="main", base_sha=TIP_SHA, pull_numbers=(3,))
    handlers = router.handlers_for(event.name, event.action)
    assert handlers, "a required semver check must also report on merge queue commits"
    for handler in handlers:
        handler(event, Context(forge=forge, now=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
                               public_url="https://rc.example"))
    return forge.checks_on(APP, MERGE_SHA).get(SEMVER)


def test_merge_group_gets_the_semver_check_on_the_queue_commit():
    check = run_merge_group(world(), tip_version="1.2.3", group_version="1.3.0")
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "1.2.3 → 1.3.0: one minor step")
    assert check.details_url == f"https://rc.example/pulls/github/{APP}/3#semver"


def test_merge_group_fails_when_the_tip_already_has_the_version():
    # Another pull request released 1.3.0 first; merging this one would ship its feature without a bump.
    check = run_merge_group(world(), tip_version="1.3.0", group_version="1.3.0")
    assert (check.conclusion, check.title) == (Conclusion.FAILURE, "Version not bumped: needs a minor bump to 1.4.0")
