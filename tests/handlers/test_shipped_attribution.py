"""Pull requests whose commits name none (rebase merges, GitLab squash commits without the trailer) are carried
too: their shipped-in note, the Release's and the changelog's "Pull requests shipped", the changelog line's
link and the release plan's author, against FakeForge. The forge is asked only for what messages leave open."""
import datetime as dt
import logging

import pytest

from bot.core import plan as core_plan
from bot.core import release as core
from bot.core.config import ConfigSource, load_config
from bot.forge.errors import PermissionDenied
from bot.handlers import Context, attribution, release_plan, shipped
from bot.handlers.release import component_changes
from bot.model import Commit, Comparison, PullRequest
from tests.fakeforge import DictStore, FakeForge

REPO, APP, INFRA = "acme/release", "acme/payments-app", "acme/platform-infra"
CONFIG = b"""
release: {manifest: release.yml, changelog: CHANGELOG.md}
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
"""
OLD = b"release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.timezone.utc)
RELEASE_ID = "release-1.5.3-2.1.0"
OLD_VERSIONS, NEW_VERSIONS = {"payments-app": "1.5.2", "platform-infra": "2.0.9"}, {"payments-app": "1.5.3", "platform-infra": "2.1.0"}
SQUASHED, REBASED_1, REBASED_2, PUSHED = "a" * 40, "b" * 40, "c" * 40, "d" * 40
MAINLINE, TOPIC_1, TOPIC_2, MERGE = "1" * 40, "2" * 40, "3" * 40, "4" * 40


def config():
    loaded = load_config([ConfigSource(".github/release-coordinator.yml", CONFIG)], repo=REPO)
    assert loaded.ok, loaded.problems
    return loaded.config


def world(kind="github", *, squash_message="feat: pay by invoice (#12)"):
    """payments-app: a squash-merged #12, #15 rebase-merged (two commits naming nothing), a direct push.
    platform-infra: a commit on main, then #20's two commits and its merge commit (merge method "merge")."""
    forge = FakeForge(kind)
    forge.add_file(REPO, "release.yml", OLD, ref="base1")
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit(SQUASHED, squash_message, author="erin", parents=("0" * 40,)),
        Commit(REBASED_1, "fix: round cents half up", author=None, parents=(SQUASHED,)),
        Commit(REBASED_2, "feat(api): invoice totals", author=None, parents=(REBASED_1,)),
        Commit(PUSHED, "chore: pushed straight to main", parents=(REBASED_2,)),
    ), ())
    forge.add_commit_pull(APP, 15, [REBASED_1, REBASED_2], author="grace")
    forge.repos[INFRA].comparisons[("v2.0.9", "v2.1.0")] = Comparison("v2.0.9", "v2.1.0", "ahead", (
        Commit(MAINLINE, "docs: runbook", parents=("9" * 40,)),
        Commit(TOPIC_1, "feat: bigger nodes", parents=("9" * 40,)),
        Commit(TOPIC_2, "fix: node labels", parents=(TOPIC_1,)),
        Commit(MERGE, "Merge pull request #20 from acme/bigger-nodes\n\nBigger nodes", parents=(MAINLINE, TOPIC_2)),
    ), ())
    pull = PullRequest(repo=REPO, number=42, title="Release payments 1.5.3", author="dave", head_sha="head1",
                       head_ref="bump", base_ref="main", base_sha="base1", state="closed", merged=True,
                       merge_commit_sha="merge1", html_url=f"https://github.com/{REPO}/pull/42")
    return forge, Context(forge=forge, now=NOW, store=DictStore()), pull


def plan():
    return core.ReleasePlan(release_id=RELEASE_ID, title="Deploy", tag_message="Deploy\n", changelog_entry="## x\n",
                            release_body="Deploy\n", versions=NEW_VERSIONS)


def asked_shas(forge):
    """Record what merged_pulls_for_commits is asked, per repository."""
    asked = []
    original = forge.merged_pulls_for_commits

    def recording(repo, shas):
        asked.append((repo, tuple(shas)))
        return original(repo, shas)

    forge.merged_pulls_for_commits = recording
    return asked


def test_a_rebase_merged_pull_request_is_carried_noted_and_listed_and_a_replay_writes_nothing():
    forge, ctx, pull = world()
    asked = asked_shas(forge)
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    assert [(p.repo, p.number) for p in carried] == [(APP, 12), (APP, 15), (INFRA, 20)]
    # the forge is asked only for commits no message attributes: #20's own commits come with its merge commit
    assert asked == [(APP, (REBASED_1, REBASED_2, PUSHED)), (INFRA, (MAINLINE,))]
    assert f"- [{APP}#15](https://github.com/{APP}/pull/15) (payments-app)" in release.release_body
    assert f"- [{APP}#15](https://github.com/{APP}/pull/15) (payments-app)" in release.changelog_entry
    shipped.after_release(ctx, pull, config(), release, carried)
    assert forge.repos[APP].comments[15] == [
        "<!-- release-coordinator:shipped-in:production -->\n"
        f"Shipped in {RELEASE_ID} to production on 2026-12-03\n\n"
        f"[Release notes](https://github.com/{REPO}/releases/tag/{RELEASE_ID})\n"]
    notes = forge.calls["ensure_note"]
    shipped.after_release(ctx, pull, config(), release, shipped.carried_by(ctx, pull, config(), release))
    assert forge.calls["ensure_note"] == notes  # a replay finds the same pull requests, all noted already
    record = ctx.store.get_json(shipped.history_key("github", REPO))["releases"][0]
    assert [(c["repo"], c["number"]) for c in record["carried"]] == [(APP, 12), (APP, 15), (INFRA, 20)]


def test_the_changelog_links_each_commit_to_the_pull_request_that_brought_it():
    forge, ctx, pull = world()
    changes = component_changes(forge, config(), old=OLD_VERSIONS, new=NEW_VERSIONS)
    app, infra = changes
    assert [c.pull_number for c in app.commits] == [None, 15, 15, None]  # #12 is named by its own message
    assert [c.pull_number for c in infra.commits] == [None, 20, 20, None]  # the merge commit names #20 itself
    lines = "\n".join(core.component_notes(app, web_url=forge.links))
    assert f"- round cents half up ([#15](https://github.com/{APP}/pull/15)) ([`bbbbbbb`]" in lines
    assert f"- pay by invoice ([#12](https://github.com/{APP}/pull/12))" in lines
    assert "- pushed straight to main ([`ddddddd`]" in lines  # a direct push links its commit only
    infra_lines = "\n".join(core.component_notes(infra, web_url=forge.links))
    assert f"- bigger nodes ([#20](https://github.com/{INFRA}/pull/20))" in infra_lines
    assert "- runbook ([`1111111`]" in infra_lines  # on main before the merge: not #20's


def test_the_release_plan_names_the_pull_requests_author_where_the_commits_is_unknown():
    forge, ctx, pull = world()
    changes, authors = release_plan.fetch_changes(ctx, config(), old=OLD_VERSIONS, new=NEW_VERSIONS)
    assert authors[REBASED_1] == authors[REBASED_2] == "grace"  # the pull request's author, from the forge
    assert authors[SQUASHED] == "erin"  # the commit's own author wins where the forge knows it
    rendered = core_plan.render_plan(core_plan.build_plan(release_id=RELEASE_ID, changes=changes, evaluation=None,
                                                          window=None, authors=authors), web_url=forge.links)
    assert f"- round cents half up ([#15](https://github.com/{APP}/pull/15)) ([`bbbbbbb`](" in rendered
    assert ") by @grace" in rendered


def test_gitlab_a_squash_commit_without_its_trailer_is_attributed_to_its_merge_request():
    forge, ctx, pull = world("gitlab", squash_message="Pay by invoice")
    forge.add_commit_pull(APP, 12, [SQUASHED], author="erin")
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    assert [(p.repo, p.number) for p in carried] == [(APP, 12), (APP, 15), (INFRA, 20)]
    assert f"- [{APP}!15](https://gitlab.com/{APP}/-/merge_requests/15) (payments-app)" in release.release_body
    assert f"- [{APP}!12](https://gitlab.com/{APP}/-/merge_requests/12) (payments-app)" in release.release_body


def test_a_pull_request_merged_into_another_branch_or_still_open_is_not_carried():
    forge, ctx, pull = world()
    forge.add_commit_pull(APP, 30, [PUSHED], base="release-1.x")
    forge.add_commit_pull(APP, 31, [PUSHED], state="open")
    _release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    assert (APP, 30) not in [(p.repo, p.number) for p in carried]
    assert (APP, 31) not in [(p.repo, p.number) for p in carried]


def test_a_component_the_app_cannot_read_keeps_what_the_messages_say(caplog):
    forge, ctx, pull = world()
    forge.fail_next["merged_pulls_for_commits"] = PermissionDenied("Resource not accessible by integration")
    with caplog.at_level(logging.WARNING):
        _release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    assert [(p.repo, p.number) for p in carried] == [(APP, 12), (INFRA, 20)]
    assert "pull request attribution skipped" in caplog.text


def test_lookups_are_bounded_per_component(monkeypatch, caplog):
    forge, ctx, pull = world()
    asked = asked_shas(forge)
    monkeypatch.setattr(attribution, "MAX_LOOKUPS", 1)
    with caplog.at_level(logging.WARNING):
        _release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    assert asked == [(APP, (REBASED_1,)), (INFRA, (MAINLINE,))]
    assert (APP, 15) in [(p.repo, p.number) for p in carried]  # found by its first commit
    assert "pull request attribution capped" in caplog.text


@pytest.mark.parametrize("commits, expected", [
    # squash "(#N)", GitHub's merge header, GitLab's trailer: free
    ((core.CommitInfo("a", "feat: x (#3)"),), {"a": 3}),
    ((core.CommitInfo("a", "Merge branch 'x' into 'main'\n\nSee merge request acme/app!4"),), {"a": 4}),
    # a merge commit brings its pull's own commits (second parent's side), not the mainline's
    ((core.CommitInfo("m0", "docs", parents=("z",)), core.CommitInfo("t1", "wip", parents=("z",)),
      core.CommitInfo("t2", "wip 2", parents=("t1",)),
      core.CommitInfo("mm", "Merge pull request #5 from a/b", parents=("m0", "t2"))), {"t1": 5, "t2": 5, "mm": 5}),
    # a commit already in the mainline and merged again through the pull's branch stays unattributed
    ((core.CommitInfo("m0", "docs", parents=("z",)), core.CommitInfo("t1", "wip", parents=("m0",)),
      core.CommitInfo("mm", "Merge pull request #6 from a/b", parents=("m0", "t1"))), {"t1": 6, "mm": 6}),
    # a rebase merge names nothing: for the forge
    ((core.CommitInfo("r1", "fix: y", parents=("z",)),), {}),
])
def test_pulls_by_message(commits, expected):
    assert core_plan.pulls_by_message(commits) == expected
    assert set(core_plan.unattributed(commits)) == {c.sha for c in commits} - set(expected)


def test_a_commit_the_forge_attributed_is_carried_and_not_asked_again():
    change = core.ComponentChange("payments-app", APP, "1.5.2", "1.5.3",
                                  (core.CommitInfo("r1", "fix: y", pull_number=9), core.CommitInfo("r2", "fix: z")))
    assert core_plan.unattributed(change.commits) == ("r2",)
    assert [(p.repo, p.number) for p in core_plan.carried_pulls((change,))] == [(APP, 9)]


def test_a_rollback_asks_the_forge_nothing_and_carries_nothing():
    forge, _ctx, _pull = world()
    asked = asked_shas(forge)
    # 1.5.3 -> 1.5.2 and 2.1.0 -> 2.0.9: the same compares (older...newer) list the commits withdrawn
    changes = component_changes(forge, config(), old=NEW_VERSIONS, new=OLD_VERSIONS)
    assert asked == []
    infra = next(c for c in changes if c.repo == INFRA)
    assert infra.direction == "rolled back" and [c.pull_number for c in infra.commits] == [None, 20, 20, None]
    assert core_plan.carried_pulls(changes) == ()
