"""Release on merge against FakeForge: one tag, one changelog entry, one release, whatever is replayed."""
import datetime as dt

import pytest

from bot.core import release as core
from bot.core.approvals import TEAM, Evaluation, GroupResult, to_json
from bot.core.config import ApprovalMode, Invalidate
from bot.core.checks import Conclusion
from bot.forge.base import ChangedFile, Commit, Comparison, PullRequest, Review, ReviewState, Tag
from bot.forge.errors import AlreadyExists, Conflict, TransientError
from bot.handlers import Context
from bot.handlers.release import on_pull_request_merged
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

REPO = "acme/release"
CONFIG = b"""
release:
  manifest: release.yml
  changelog: CHANGELOG.md
  github_release: true
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
"""
OLD_MANIFEST = b"release:\n  application_version: 1.5.2\n  infrastructure_version: 2.1.0\n"
NEW_MANIFEST = b"release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n  notes: Invoicing goes live\n"
CHANGELOG = b"# Changelog\n\nOur releases.\n\n## [release-1.5.2-2.1.0] - 2026-11-01\n\nolder entry\n"
PREVIOUS_TAG_MESSAGE = (
    "Deploy\n\nRelease-Id: release-1.5.2-2.1.0\nComponent-Version: payments-app=1.5.2\nComponent-Version: platform-infra=2.1.0\n"
)
NOW = dt.datetime(2026, 11, 29, 9, 30, tzinfo=dt.timezone.utc)
SUBMITTED = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)


def _saved_evaluation(head_sha="head1"):
    """What the approvals handler saves for the details page: the evaluation the last check was rendered from."""
    evaluation = Evaluation(
        head_sha=head_sha, mode=ApprovalMode.EACH_TEAM, invalidate_on_push=Invalidate.OWNED_FILES, distinct=True,
        groups=(GroupResult("@acme/app-team", TEAM, ("@acme/app-team",), 1, approved_by=("carol",)),
                GroupResult("@acme/infra-team", TEAM, ("@acme/infra-team",), 1, approved_by=("alice",))),
        unowned=(), codeowners_path=".github/CODEOWNERS",
    )
    return {"repo": REPO, "number": 42, "evaluation": to_json(evaluation)}


def _world(*, manifest=NEW_MANIFEST, config=CONFIG, number=42):
    forge = FakeForge()
    forge.add_file(REPO, ".github/release-coordinator.yml", config, ref="base1")
    forge.add_file(REPO, "release.yml", OLD_MANIFEST, ref="base1")
    forge.add_file(REPO, "release.yml", manifest, ref="merge1")
    forge.add_file(REPO, "CHANGELOG.md", CHANGELOG, ref="main")
    forge.repos[REPO].branches["main"] = "merge1"
    forge.repos[REPO].tags["release-1.5.2-2.1.0"] = Tag("release-1.5.2-2.1.0", "old1", PREVIOUS_TAG_MESSAGE, "t1")
    forge.add_pull(PullRequest(
        repo=REPO, number=number, title="Release payments 1.5.3", author="dave", head_sha="head1", head_ref="bump",
        base_ref="main", base_sha="base1", state="closed", merged=True, merge_commit_sha="merge1",
        html_url=f"https://github.com/{REPO}/pull/{number}",
    ), files=[ChangedFile("release.yml", "modified")])
    forge.repos["acme/payments-app"].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit("a" * 40, "feat: pay by invoice (#12)"),
        Commit("b" * 40, "fix(api): round cents (#13)"),
    ), ())
    forge.add_review(REPO, number, Review(1, "alice", ReviewState.APPROVED, "head0", SUBMITTED))
    forge.add_review(REPO, number, Review(2, "carol", ReviewState.APPROVED, "head1", SUBMITTED))
    store = DictStore()
    store.set_json(f"details:{REPO}#{number}", _saved_evaluation())
    return forge, Context(forge=forge, now=NOW, store=store, public_url="https://rc.example")


def _event(number=42, **changes):
    fields = dict(forge="github", name="pull_request", action="closed", delivery_id="d1", repo=REPO, default_branch="main",
                  pull_number=number, merged=True, merge_commit_sha="merge1", base_ref="main", head_sha="head1")
    fields.update(changes)
    return Event(**fields)


WRITES = ("create_tag", "update_file", "create_release", "create_check", "update_check")


def _writes(forge):
    return {name: forge.calls[name] for name in WRITES if forge.calls[name]}


def _outcome(forge):
    """What a user would see: tags on the release repo, changelog entries, releases, the release check."""
    state = forge.repos[REPO]
    changelog = state.files["main"]["CHANGELOG.md"].decode()
    return {
        "tags": {name: tag.commit_sha for name, tag in state.tags.items()},
        "entries": [line for line in changelog.splitlines() if line.startswith("## [")],
        "releases": sorted(state.releases),
        "check": forge.checks_on(REPO, "merge1").get(core.RELEASE_CHECK),
    }


def test_merge_tags_writes_the_changelog_and_publishes_a_release():
    forge, ctx = _world()
    on_pull_request_merged(_event(), ctx)
    seen = _outcome(forge)
    assert seen["tags"] == {"release-1.5.2-2.1.0": "old1", "release-1.5.3-2.1.0": "merge1"}
    tag = forge.repos[REPO].tags["release-1.5.3-2.1.0"]
    assert tag.message.startswith("Deploy: Application v1.5.3 and Infrastructure v2.1.0\n\nPull request: https://github.com/acme/release/pull/42\n")
    assert "Approved by:\n  @acme/app-team: carol at head1\n  @acme/infra-team: alice at head0\n\n" in tag.message
    assert core.parse_release_trailers(tag.message) == ("release-1.5.3-2.1.0", {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, None)
    assert "Previous-Release" not in tag.message  # SPEC §6 defines no such trailer: history says what came before
    assert core.parse_lineage(tag.message) == (None, None, None)  # one implicit environment: no Environment trailer
    assert seen["entries"] == [
        "## [release-1.5.3-2.1.0](https://github.com/acme/release/releases/tag/release-1.5.3-2.1.0) - 2026-11-29",
        "## [release-1.5.2-2.1.0] - 2026-11-01",
    ]
    changelog = forge.repos[REPO].files["main"]["CHANGELOG.md"].decode()
    assert changelog.startswith("# Changelog\n\nOur releases.\n\n## [release-1.5.3")
    assert changelog.endswith(CHANGELOG.decode()[len("# Changelog\n\nOur releases.\n\n"):])
    assert "#### Features\n\n- pay by invoice ([#12](https://github.com/acme/payments-app/pull/12))" in changelog
    assert "#### Fixes\n\n- **api:** round cents ([#13](https://github.com/acme/payments-app/pull/13))" in changelog
    assert "### Notes\n\nInvoicing goes live\n" in changelog
    assert forge.repos[REPO].commits_log == [("main", "CHANGELOG.md", "docs(changelog): release-1.5.3-2.1.0")]
    assert seen["releases"] == ["release-1.5.3-2.1.0"]
    assert forge.repos[REPO].releases["release-1.5.3-2.1.0"].body in changelog
    assert seen["check"].conclusion is Conclusion.SUCCESS and seen["check"].title == "Released release-1.5.3-2.1.0"
    assert seen["check"].details_url == f"https://rc.example/pulls/github/{REPO}/42#release"  # SPEC §4: every check run links a page


def test_the_same_event_twice_writes_once():
    forge, ctx = _world()
    on_pull_request_merged(_event(), ctx)
    first, writes = _outcome(forge), _writes(forge)
    on_pull_request_merged(_event(), ctx)
    assert _outcome(forge) == first
    assert _writes(forge) == writes == {"create_tag": 1, "update_file": 1, "create_release": 1, "create_check": 1}


def _crash_after(forge, method):
    """The write reaches GitHub, then the worker dies before it can go on."""
    real = getattr(forge, method)

    def write_then_crash(*args, **kwargs):
        setattr(forge, method, real)
        real(*args, **kwargs)
        raise TransientError(f"worker killed after {method}")

    setattr(forge, method, write_then_crash)


@pytest.mark.parametrize("crash", [
    ("before", "create_tag"), ("after", "create_tag"), ("before", "update_file"), ("after", "update_file"),
    ("before", "create_release"), ("after", "create_release"), ("after", "create_check"), ("before", "get_release"),
])
def test_a_retry_after_a_crash_between_steps_ends_with_one_of_each(crash):
    when, method = crash
    forge, ctx = _world()
    clean, clean_ctx = _world()
    on_pull_request_merged(_event(), clean_ctx)
    if when == "before":
        forge.fail_next[method] = TransientError("GitHub is down")
    else:
        _crash_after(forge, method)
    with pytest.raises(TransientError):
        on_pull_request_merged(_event(), ctx)
    on_pull_request_merged(_event(), ctx)  # the queue's retry
    on_pull_request_merged(_event(), ctx)  # and a duplicate delivery for good measure
    assert _outcome(forge) == _outcome(clean)
    assert len(forge.repos[REPO].commits_log) == 1
    assert len(forge.repos[REPO].releases) == 1
    assert forge.calls["create_tag"] == 1 + (crash == ("before", "create_tag"))


def test_a_concurrent_changelog_update_is_kept_and_the_entry_goes_on_top():
    forge, ctx = _world()
    real_update = forge.update_file

    def someone_pushes_first(repo, path, **kwargs):
        if not forge.repos[REPO].commits_log:  # first attempt: a human edits the changelog meanwhile
            forge.repos[REPO].files["main"][path] = CHANGELOG.replace(b"older entry", b"older entry, typo fixed")
            forge.repos[REPO].commits_log.append(("main", path, "human edit"))
        return real_update(repo, path, **kwargs)

    forge.update_file = someone_pushes_first
    on_pull_request_merged(_event(), ctx)
    changelog = forge.repos[REPO].files["main"]["CHANGELOG.md"].decode()
    assert "older entry, typo fixed" in changelog  # never clobbered
    assert changelog.count("## [release-1.5.3-2.1.0]") == 1
    assert changelog.index("## [release-1.5.3-2.1.0]") < changelog.index("## [release-1.5.2-2.1.0]")
    assert forge.calls["get_file"] >= 2  # re-read after the conflict


def test_a_changelog_that_keeps_changing_is_retried_later_not_clobbered():
    forge, ctx = _world()
    real_update = forge.update_file

    def always_stale(repo, path, **kwargs):
        current = forge.repos[REPO].files["main"][path]  # someone else's commit lands first, every time
        forge.repos[REPO].files["main"][path] = current + b"\nanother line"
        return real_update(repo, path, **kwargs)

    forge.update_file = always_stale
    with pytest.raises(TransientError, match="kept changing"):
        on_pull_request_merged(_event(), ctx)
    assert forge.calls["update_file"] == 5
    changelog = forge.repos[REPO].files["main"]["CHANGELOG.md"]
    assert changelog.startswith(CHANGELOG) and b"release-1.5.3" not in changelog
    assert forge.repos[REPO].releases == {}  # the release waits for its changelog entry


def test_a_protected_default_branch_is_reported_not_retried_and_the_release_still_happens(caplog):
    forge, ctx = _world()

    def protected(repo, path, **kwargs):
        forge.calls["update_file"] += 1
        raise Conflict("Could not update file: Changes must be made through a pull request.")

    forge.update_file = protected
    on_pull_request_merged(_event(), ctx)
    seen = _outcome(forge)
    assert forge.calls["update_file"] == 1
    assert seen["entries"] == ["## [release-1.5.2-2.1.0] - 2026-11-01"]
    assert seen["releases"] == ["release-1.5.3-2.1.0"] and "release-1.5.3-2.1.0" in seen["tags"]
    assert seen["check"].conclusion is Conclusion.FAILURE
    assert seen["check"].title.startswith("Tagged release-1.5.3-2.1.0, but main refused the CHANGELOG.md commit "
                                          "(Could not update file: Changes must be made through a pull request.)")
    assert "Changes must be made through a pull request" in caplog.text


def test_a_tag_on_another_commit_fails_loudly_and_changes_nothing(caplog):
    forge, ctx = _world()
    forge.repos[REPO].tags["release-1.5.3-2.1.0"] = Tag("release-1.5.3-2.1.0", "elsewhere1", "hand made", "t2")
    on_pull_request_merged(_event(), ctx)
    seen = _outcome(forge)
    assert seen["tags"]["release-1.5.3-2.1.0"] == "elsewhere1"
    assert seen["entries"] == ["## [release-1.5.2-2.1.0] - 2026-11-01"]
    assert seen["releases"] == []
    assert seen["check"].conclusion is Conclusion.FAILURE
    assert "already exists on elsewhere1" in seen["check"].title
    assert seen["check"].details_url == f"https://rc.example/pulls/github/{REPO}/42#release"
    assert "release-1.5.3-2.1.0" in caplog.text and "elsewhere1" in caplog.text
    assert forge.calls["create_tag"] == forge.calls["update_file"] == forge.calls["create_release"] == 0


def test_losing_the_tag_race_to_an_identical_tag_is_fine():
    forge, ctx = _world()
    real_get_tag = forge.get_tag
    raced = []

    def get_tag_then_race(repo, name):
        found = real_get_tag(repo, name)
        if name == "release-1.5.3-2.1.0" and not raced:  # a concurrent worker tags right after our read
            raced.append(name)
            forge.repos[REPO].tags[name] = Tag(name, "merge1", "the other worker's", "t3")
        return found

    forge.get_tag = get_tag_then_race
    on_pull_request_merged(_event(), ctx)
    assert forge.calls["create_tag"] == 1  # tried, got AlreadyExists, re-read: same commit
    assert _outcome(forge)["check"].conclusion is Conclusion.SUCCESS
    assert _outcome(forge)["releases"] == ["release-1.5.3-2.1.0"]


def test_losing_the_tag_race_to_another_commit_fails():
    forge, ctx = _world()
    forge.fail_next["create_tag"] = AlreadyExists("Reference already exists")
    forge.repos[REPO].tags["release-1.5.3-2.1.0"] = Tag("release-1.5.3-2.1.0", "elsewhere1", "x", "t")
    real_get_tag = forge.get_tag
    reads = []

    def first_read_misses(repo, name):
        reads.append(name)
        return None if reads.count("release-1.5.3-2.1.0") == 1 and name == "release-1.5.3-2.1.0" else real_get_tag(repo, name)

    forge.get_tag = first_read_misses
    on_pull_request_merged(_event(), ctx)
    assert _outcome(forge)["check"].conclusion is Conclusion.FAILURE
    assert forge.calls["update_file"] == 0


def test_tag_components_tags_each_version_commit_once():
    config = CONFIG.replace(b"github_release: true", b"github_release: false\n  tag_components: true")
    forge, ctx = _world(config=config)
    forge.repos["acme/payments-app"].tags["v1.5.3"] = Tag("v1.5.3", "app153", None, None)
    forge.repos["acme/platform-infra"].tags["v2.1.0"] = Tag("v2.1.0", "infra210", "v2.1.0", "ti")
    on_pull_request_merged(_event(), ctx)
    on_pull_request_merged(_event(), ctx)
    assert forge.repos["acme/payments-app"].tags["release-1.5.3-2.1.0"].commit_sha == "app153"
    assert forge.repos["acme/platform-infra"].tags["release-1.5.3-2.1.0"].commit_sha == "infra210"
    assert core.parse_release_trailers(forge.repos["acme/platform-infra"].tags["release-1.5.3-2.1.0"].message).release_id == "release-1.5.3-2.1.0"
    assert forge.calls["create_tag"] == 3
    assert forge.repos[REPO].releases == {}  # github_release: false


def test_a_component_tag_elsewhere_stops_before_the_changelog():
    config = CONFIG.replace(b"github_release: true", b"github_release: true\n  tag_components: true")
    forge, ctx = _world(config=config)
    forge.repos["acme/payments-app"].tags["v1.5.3"] = Tag("v1.5.3", "app153")
    forge.repos["acme/payments-app"].tags["release-1.5.3-2.1.0"] = Tag("release-1.5.3-2.1.0", "other")
    forge.repos["acme/platform-infra"].tags["v2.1.0"] = Tag("v2.1.0", "infra210")
    on_pull_request_merged(_event(), ctx)
    seen = _outcome(forge)
    assert seen["check"].conclusion is Conclusion.FAILURE and "acme/payments-app" in seen["check"].title
    assert seen["entries"] == ["## [release-1.5.2-2.1.0] - 2026-11-01"] and seen["releases"] == []


@pytest.mark.parametrize("event, pull_change, files", [
    (dict(merged=False), {}, None),
    ({}, dict(base_ref="develop"), None),
    ({}, {}, [ChangedFile("README.md", "modified")]),
])
def test_nothing_happens_unless_a_manifest_change_merges_into_the_default_branch(event, pull_change, files):
    forge, ctx = _world()
    if pull_change or files:
        from dataclasses import replace
        pull = forge.repos[REPO].pulls[42]
        forge.add_pull(replace(pull, **pull_change), files=files or [ChangedFile("release.yml", "modified")])
    on_pull_request_merged(_event(**event), ctx)
    assert _writes(forge) == {}


def test_an_unmanaged_repo_gets_nothing():
    forge, ctx = _world()
    del forge.repos[REPO].files["base1"][".github/release-coordinator.yml"]
    on_pull_request_merged(_event(), ctx)
    assert _writes(forge) == {}


def test_an_invalid_config_at_the_base_fails_the_release_check_with_its_line():
    forge, ctx = _world(config=CONFIG.replace(b"github_release: true", b"github_release: maybe"))
    on_pull_request_merged(_event(), ctx)
    check = _outcome(forge)["check"]
    assert check.conclusion is Conclusion.FAILURE
    assert [(a.path, a.start_line) for a in check.annotations] == [(".github/release-coordinator.yml", 5)]
    assert forge.calls["create_tag"] == forge.calls["update_file"] == 0


def test_an_invalid_manifest_at_the_merge_commit_fails_the_release_check_with_its_line():
    forge, ctx = _world(manifest=b"release:\n  application_version: 1.5.3\n  infrastructure_version: banana\n")
    on_pull_request_merged(_event(), ctx)
    check = _outcome(forge)["check"]
    assert check.conclusion is Conclusion.FAILURE and check.title == "No release: fix the problems below"
    assert [(a.path, a.start_line) for a in check.annotations] == [("release.yml", 3)]
    assert forge.calls["create_tag"] == 0


def test_merging_a_rollback_tags_it_separately_and_says_what_it_restores():
    forge, ctx = _world(number=43, manifest=b"release:\n  application_version: 1.5.2\n  infrastructure_version: 2.1.0\n  rollback: true\n")
    forge.add_file(REPO, "release.yml", NEW_MANIFEST, ref="base1")  # 1.5.3 is live
    forge.repos[REPO].tags["release-1.5.3-2.1.0"] = Tag(
        "release-1.5.3-2.1.0", "merge0",
        "Deploy\n\nRelease-Id: release-1.5.3-2.1.0\nComponent-Version: payments-app=1.5.3\nComponent-Version: platform-infra=2.1.0\n", "t")
    forge.repos["acme/payments-app"].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit("a" * 40, "feat: pay by invoice (#12)"),), ())
    on_pull_request_merged(_event(number=43), ctx)
    tag = forge.repos[REPO].tags["release-1.5.2-2.1.0-rollback-pr43"]
    assert tag.commit_sha == "merge1"
    assert core.parse_release_trailers(tag.message).rollback_of == "release-1.5.2-2.1.0"
    changelog = forge.repos[REPO].files["main"]["CHANGELOG.md"].decode()
    assert "**Rollback:** restores the versions of `release-1.5.2-2.1.0`." in changelog
    assert "These changes from acme/payments-app are withdrawn:" in changelog and "pay by invoice" in changelog


def test_a_rollback_finds_the_release_it_restores_among_250_tags_in_one_listing():
    forge, ctx = _world(number=43, manifest=b"release:\n  application_version: 1.5.2\n  infrastructure_version: 2.1.0\n  rollback: true\n")
    forge.add_file(REPO, "release.yml", NEW_MANIFEST, ref="base1")
    state = forge.repos[REPO]
    state.tags.clear()
    for i in range(250):  # tagged by hand as deploy-N before the app: no tag under the template's names
        app = "1.5.2" if i == 100 else "1.5.3" if i == 249 else f"0.{i}.0"
        state.tags[f"deploy-{i}"] = Tag(f"deploy-{i}", f"c{i}", f"Deploy\n\nRelease-Id: deploy-{i}\n"
                                        f"Component-Version: payments-app={app}\nComponent-Version: platform-infra=2.1.0\n", f"t{i}")
    on_pull_request_merged(_event(number=43), ctx)
    tag = state.tags["deploy-100-rollback-pr43"]  # named after the release it restores
    assert core.parse_release_trailers(tag.message).rollback_of == "deploy-100"
    assert forge.calls["list_annotated_tags"] == 1  # the history is listed once per merge, for every environment
    assert forge.calls["list_tags"] == 0


@pytest.mark.parametrize("saved", [None, _saved_evaluation(head_sha="older-head")])
def test_approvers_come_from_reviews_and_codeowners_without_an_evaluation_of_the_final_head(saved):
    forge, ctx = _world()
    forge.repos[REPO].reviews.clear()
    ctx.store = DictStore()
    if saved:
        ctx.store.set_json(f"details:{REPO}#42", saved)
    forge.add_file(REPO, ".github/CODEOWNERS", "release.yml @acme/infra-team @acme/app-team\n", ref="base1")
    forge.teams = {"@acme/infra-team": frozenset({"alice"}), "@acme/app-team": frozenset({"carol"})}
    submitted = SUBMITTED
    for review in (Review(1, "alice", ReviewState.CHANGES_REQUESTED, "head0", submitted),
                   Review(2, "alice", ReviewState.APPROVED, "head1", submitted),
                   Review(3, "carol", ReviewState.APPROVED, "head1", submitted),
                   Review(4, "carol", ReviewState.COMMENTED, "head1", submitted),
                   Review(5, "mallory", ReviewState.APPROVED, "head0", submitted),
                   Review(6, "mallory", ReviewState.DISMISSED, "head0", submitted)):
        forge.add_review(REPO, 42, review)
    on_pull_request_merged(_event(), ctx)
    message = forge.repos[REPO].tags["release-1.5.3-2.1.0"].message
    assert "  @acme/infra-team: alice at head1\n  @acme/app-team: carol at head1\n" in message
    assert "mallory" not in message


def test_a_real_closed_delivery_parsed_by_the_webhook_layer_releases():
    """The fields this handler reads (merged, merge_commit_sha, default_branch, number) as the parser fills
    them from GitHub's own payload (octokit/webhooks fixture), pointed at the fake release repo."""
    import json
    import pathlib

    from bot.webhooks.github import parse

    payload = json.loads((pathlib.Path(__file__).parents[2] / "fixtures/github/pull_request/closed.json").read_text())
    payload["number"] = payload["pull_request"]["number"] = 42
    payload["pull_request"].update(merged=True, merge_commit_sha="merge1")
    payload["pull_request"]["base"]["ref"] = "main"
    payload["repository"].update(full_name=REPO, default_branch="main")
    forge, ctx = _world()
    on_pull_request_merged(parse(event="pull_request", delivery_id="d-real", payload=payload), ctx)
    assert _outcome(forge)["releases"] == ["release-1.5.3-2.1.0"]
    payload["pull_request"]["merged"] = False  # the fixture as GitHub sent it: closed without merging
    on_pull_request_merged(parse(event="pull_request", delivery_id="d-real2", payload=payload), ctx)
    assert forge.calls["create_tag"] == 1
