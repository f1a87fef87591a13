"""After the release is tagged: shipped-in notes on the component pull requests, the Release's list of them,
the history record and the announcement jobs, against FakeForge; replays and rate limits create nothing twice."""
import dataclasses
import datetime as dt

import pytest

from bot.core import release as core
from bot.core.config import ConfigSource, load_config
from bot.forge.errors import NotFound, RateLimited
from bot.handlers import Context, shipped
from bot.model import Commit, Comparison, PullRequest
from tests.fakeforge import DictStore, FakeForge

REPO = "acme/release"
CONFIG = b"""
release: {manifest: release.yml, changelog: CHANGELOG.md}
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
notify:
  - {kind: slack, url_env: SLACK_WEBHOOK_URL, on: [released, rolled_back]}
  - {kind: webhook, url_env: RELEASE_HOOK_URL, secret_env: RELEASE_HOOK_SECRET, on: [released], environments: [staging]}
"""
OLD = b"release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.timezone.utc)
RELEASE_ID = "release-1.5.3-2.1.0"


class Jobs:
    """The queue's submit_job as handlers see it, deduplicating by id like the journal does."""

    def __init__(self):
        self.submitted = {}

    def submit_job(self, kind, job_id, payload):
        if job_id in self.submitted:
            return False
        self.submitted[job_id] = (kind, payload)
        return True


def config():
    loaded = load_config([ConfigSource(".github/release-coordinator.yml", CONFIG)], repo=REPO)
    assert loaded.ok, loaded.problems
    return loaded.config


def world():
    forge = FakeForge()
    forge.add_file(REPO, "release.yml", OLD, ref="base1")
    forge.repos["acme/payments-app"].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit("a" * 40, "feat: pay by invoice (#12)", author="erin"),
        Commit("b" * 40, "fix(api): round cents (#13)", author="frank"),
        Commit("c" * 40, "chore: pushed straight to main"),
    ), ())
    forge.repos["acme/platform-infra"].comparisons[("v2.0.9", "v2.1.0")] = Comparison("v2.0.9", "v2.1.0", "ahead", (
        Commit("d" * 40, "Merge pull request #20 from acme/bigger-nodes\n\nfeat: bigger nodes"),
        Commit("e" * 40, "feat: bigger nodes"),
    ), ())
    pull = PullRequest(repo=REPO, number=42, title="Release payments 1.5.3", author="dave", head_sha="head1",
                       head_ref="bump", base_ref="main", base_sha="base1", state="closed", merged=True,
                       merge_commit_sha="merge1", html_url=f"https://github.com/{REPO}/pull/42")
    ctx = Context(forge=forge, now=NOW, store=DictStore(), jobs=Jobs())
    return forge, ctx, pull


def plan(**changes):
    fields = dict(release_id=RELEASE_ID, title="Deploy", tag_message="Deploy\n", changelog_entry="## x\n",
                  release_body="Deploy\n", versions={"payments-app": "1.5.3", "platform-infra": "2.1.0"})
    fields.update(changes)
    return core.ReleasePlan(**fields)


def notes(forge, repo, number):
    return forge.repos[repo].comments[number]


def test_each_carried_pull_request_gets_one_shipped_in_note_and_one_announcement_is_queued():
    forge, ctx, pull = world()
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    assert [(p.repo, p.number) for p in carried] == [("acme/payments-app", 12), ("acme/payments-app", 13),
                                                     ("acme/platform-infra", 20)]
    assert "### Pull requests shipped\n\n- [acme/payments-app#12](https://github.com/acme/payments-app/pull/12)" \
        in release.release_body
    shipped.after_release(ctx, pull, config(), release, carried)
    expected = ("<!-- release-coordinator:shipped-in:production -->\n"
                f"Shipped in {RELEASE_ID} to production on 2026-12-03\n\n"
                f"[Release notes](https://github.com/{REPO}/releases/tag/{RELEASE_ID})\n")
    for repo, number in (("acme/payments-app", 12), ("acme/payments-app", 13), ("acme/platform-infra", 20)):
        assert notes(forge, repo, number) == [expected]
    assert forge.calls["ensure_note"] == 3 and forge.calls["comment"] == 0
    # only the slack target wants production releases; the webhook one is for staging
    ((kind, payload),) = ctx.jobs.submitted.values()
    assert kind == "announce" and payload["target"]["kind"] == "slack"
    announcement = payload["announcement"]
    assert (announcement["event"], announcement["environment"], announcement["release_id"]) == (
        "released", "production", RELEASE_ID)
    assert announcement["previous"] == {"payments-app": "1.5.2", "platform-infra": "2.0.9"}
    (record,) = ctx.store.get_json(shipped.history_key("github", REPO))["releases"]
    assert record["tag"] == RELEASE_ID and record["environment"] == "production"
    assert [c["number"] for c in record["carried"]] == [12, 13, 20]


def test_a_replay_writes_no_note_and_queues_nothing_new():
    forge, ctx, pull = world()
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    shipped.after_release(ctx, pull, config(), release, carried)
    before = dict(forge.calls)
    shipped.after_release(ctx, pull, config(), release, carried)
    assert forge.calls["ensure_note"] == before["ensure_note"]  # the store remembers each note
    assert len(ctx.jobs.submitted) == 1
    assert len(ctx.store.get_json(shipped.history_key("github", REPO))["releases"]) == 1


def test_without_the_store_records_the_marker_still_keeps_one_note_each():
    forge, ctx, pull = world()
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    shipped.after_release(ctx, pull, config(), release, carried)
    ctx.store = DictStore()  # the store lost everything
    shipped.after_release(ctx, pull, config(), release, carried)
    assert all(len(notes(forge, p.repo, p.number)) == 1 for p in carried)


def test_a_rate_limit_midway_raises_for_the_queue_and_the_retry_writes_only_the_rest():
    forge, ctx, pull = world()
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    original = forge.ensure_note
    calls = []

    def limited(repo, number, **kwargs):
        calls.append(number)
        if len(calls) == 2:
            raise RateLimited("secondary rate limit", retry_after=60)
        return original(repo, number, **kwargs)

    forge.ensure_note = limited
    with pytest.raises(RateLimited):
        shipped.after_release(ctx, pull, config(), release, carried)
    assert ctx.jobs.submitted == {}  # nothing announced before the notes are done
    shipped.after_release(ctx, pull, config(), release, carried)
    assert calls == [12, 13, 13, 20]
    assert all(len(notes(forge, p.repo, p.number)) == 1 for p in carried)
    assert len(ctx.jobs.submitted) == 1


def test_a_reference_that_is_no_pull_request_is_skipped_not_fatal():
    forge, ctx, pull = world()
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    forge.fail_next["ensure_note"] = NotFound("issue 12 is not a pull request")
    shipped.after_release(ctx, pull, config(), release, carried)
    assert notes(forge, "acme/payments-app", 12) == []
    assert len(notes(forge, "acme/payments-app", 13)) == 1 and len(notes(forge, "acme/platform-infra", 20)) == 1


def test_a_rollback_ships_no_pull_request_and_announces_rolled_back():
    forge, ctx, pull = world()
    rollback = plan(release_id="release-1.5.2-2.0.9-rollback-pr42", rollback_of="release-1.5.2-2.0.9")
    release, carried = shipped.with_shipped_list(ctx, pull, config(), rollback)
    assert carried == () and release.release_body == "Deploy\n"
    shipped.after_release(ctx, pull, config(), release, carried)
    assert forge.calls["ensure_note"] == 0
    ((_kind, payload),) = ctx.jobs.submitted.values()
    assert payload["announcement"]["event"] == "rolled_back"
    assert payload["announcement"]["reason"] == "restores release-1.5.2-2.0.9"


def test_each_environment_gets_its_own_note():
    forge, ctx, pull = world()
    cfg = config()
    staging = dataclasses.replace(plan(release_id=f"staging/{RELEASE_ID}"), environment="staging") \
        if "environment" in {f.name for f in dataclasses.fields(core.ReleasePlan)} else None
    if staging is None:
        pytest.skip("ReleasePlan has no environment yet")
    env = type("Env", (), {"name": "staging", "manifest": "release.yml", "changelog": "CHANGELOG.md"})()
    cfg = dataclasses.replace(cfg, environments=(env,))
    release, carried = shipped.with_shipped_list(ctx, pull, cfg, staging)
    shipped.after_release(ctx, pull, cfg, release, carried)
    shipped.after_release(ctx, pull, config(), *shipped.with_shipped_list(ctx, pull, config(), plan()))
    thread = notes(forge, "acme/payments-app", 12)
    assert [n.splitlines()[1] for n in thread] == [f"Shipped in staging/{RELEASE_ID} to staging on 2026-12-03",
                                                   f"Shipped in {RELEASE_ID} to production on 2026-12-03"]
    kinds = sorted(p["target"]["kind"] for _k, p in ctx.jobs.submitted.values())
    assert kinds == ["slack", "slack", "webhook"]  # the webhook target only for staging


def test_on_gitlab_the_notes_go_to_the_merge_requests_with_gitlab_links():
    forge, ctx, pull = world()
    gitlab = FakeForge(kind="gitlab")
    gitlab.repos.update(forge.repos)
    ctx.forge = gitlab
    forge = gitlab
    forge.repos["acme/payments-app"].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit("f" * 40, "Merge branch 'invoices' into 'main'\n\nfeat: pay by invoice\n\nSee merge request acme/payments-app!21"),
    ), ())
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    assert [(p.repo, p.number) for p in carried] == [("acme/payments-app", 21), ("acme/platform-infra", 20)]
    assert "[acme/payments-app!21](https://gitlab.com/acme/payments-app/-/merge_requests/21)" in release.release_body
    shipped.after_release(ctx, pull, config(), release, carried)
    (note,) = notes(forge, "acme/payments-app", 21)
    assert f"[Release notes](https://gitlab.com/{REPO}/-/releases/{RELEASE_ID})" in note
    ((_kind, payload),) = ctx.jobs.submitted.values()
    assert payload["announcement"]["forge"] == "gitlab"
    assert payload["announcement"]["url"] == f"https://gitlab.com/{REPO}/-/releases/{RELEASE_ID}"


def test_the_first_recorded_release_brings_the_earlier_release_tags_into_the_history():
    from bot.model import Tag

    forge, ctx, pull = world()
    state = forge.repos[REPO]
    for name, app, day, extra in (("release-1.5.1-2.0.9", "1.5.1", 1, ""), ("release-1.5.2-2.0.9", "1.5.2", 2, ""),
                                  ("hand-made", "1.5.2", 3, None)):
        message = None if extra is None else (f"Deploy\n\nRelease-Id: {name}\nComponent-Version: payments-app={app}\n"
                                              "Component-Version: platform-infra=2.0.9\n")
        state.tags[name] = Tag(name, f"{day}".ljust(40, "0"), message, f"t{day}" if message else None)
        if message:
            state.tag_dates[name] = NOW - dt.timedelta(days=10 - day)
    state.tags["v-lightweight"] = Tag("v-lightweight", "9" * 40)
    release, carried = shipped.with_shipped_list(ctx, pull, config(), plan())
    shipped.after_release(ctx, pull, config(), release, carried)
    releases = ctx.store.get_json(shipped.history_key("github", REPO))["releases"]
    assert [r["tag"] for r in releases] == ["release-1.5.1-2.0.9", "release-1.5.2-2.0.9", RELEASE_ID]
    assert releases[1]["previous"] == {"payments-app": "1.5.1", "platform-infra": "2.0.9"}
    assert releases[0]["backfilled"] and releases[0]["at"] == (NOW - dt.timedelta(days=9)).isoformat()
    listed = forge.calls["list_annotated_tags"]
    shipped.after_release(ctx, pull, config(), release, carried)  # a replay reads no tags again
    assert forge.calls["list_annotated_tags"] == listed
