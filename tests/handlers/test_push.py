"""A push to a base branch that changes config or CODEOWNERS re-evaluates the open pull requests targeting it,
on GitHub and GitLab alike (FakeForge per kind); any other push costs nothing."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.core.checks import APPROVALS, Conclusion
from bot.handlers import Context, all_handlers
from bot.model import ChangedFile, Permission, PullRequest, Review, ReviewState
from bot.worker import run_handlers
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

REPO = "acme/payments-app"
OLD_BASE, NEW_BASE, HEAD = "b" * 40, "n" * 40, "h" * 40
NOW = dt.datetime(2026, 11, 29, 9, tzinfo=dt.timezone.utc)
CONFIG = "approvals:\n  teams: {}\n"
PATHS = {"github": (".github/release-coordinator.yml", ".github/CODEOWNERS"),
         "gitlab": (".gitlab/release-coordinator.yml", "CODEOWNERS")}
TEAM = {"github": "@acme/infra", "gitlab": "@acme/platform/infra"}


def world(kind: str) -> FakeForge:
    """One open pull request on main, approved by anna of @…/app; CODEOWNERS at the old base names only app."""
    forge = FakeForge(kind)
    config, codeowners = PATHS[kind]
    for ref, owners in ((OLD_BASE, "* @acme/app\n"), (NEW_BASE, f"* @acme/app\n/infra/ {TEAM[kind]}\n")):
        forge.add_file(REPO, config, CONFIG, ref=ref)
        forge.add_file(REPO, codeowners, owners, ref=ref)
    forge.add_pull(PullRequest(repo=REPO, number=7, title="t", author="paul", head_sha=HEAD, head_ref="topic",
                               base_ref="main", base_sha=OLD_BASE, state="open"),
                   [ChangedFile("infra/main.tf", "modified")])
    forge.add_pull(PullRequest(repo=REPO, number=8, title="other base", author="paul", head_sha="x" * 40,
                               head_ref="topic2", base_ref="release/1.x", base_sha=OLD_BASE, state="open"),
                   [ChangedFile("infra/main.tf", "modified")])
    forge.teams = {"@acme/app": frozenset({"anna"}), TEAM[kind].lower(): frozenset({"ivan"})}
    forge.repos[REPO].permissions = {"anna": Permission.WRITE, "ivan": Permission.WRITE}
    forge.add_review(REPO, 7, Review(1, "anna", ReviewState.APPROVED, HEAD, NOW))
    return forge


def push(kind: str, paths=(), *, truncated=False, branch="main") -> Event:
    name = "push" if kind == "github" else "Push Hook"
    return Event(forge=kind, name=name, action=None, delivery_id="p-1", kind="push", repo=REPO,
                 installation_id=1 if kind == "github" else None, base_ref=branch, head_sha=NEW_BASE,
                 pushed_paths=frozenset(paths), paths_truncated=truncated)


def pull_event(kind: str) -> Event:
    name = "pull_request" if kind == "github" else "Merge Request Hook"
    return Event(forge=kind, name=name, action="opened" if kind == "github" else "open", delivery_id="o-1",
                 kind="pull.changed", repo=REPO, installation_id=1 if kind == "github" else None, pull_number=7)


def deliver(forge, event, store):
    ctx = Context(forge=forge, now=NOW, store=store)
    outcome = run_handlers(all_handlers().handlers_for(event), event, ctx)
    assert not outcome.failed and not outcome.transient, outcome
    from bot.handlers.publish import flush_notes

    flush_notes(ctx)


@pytest.mark.parametrize("kind", ["github", "gitlab"])
@pytest.mark.parametrize("which", [0, 1])  # the config, then CODEOWNERS
def test_a_rules_change_on_the_base_branch_re_judges_its_open_pull_requests(kind, which):
    forge, store = world(kind), DictStore()
    deliver(forge, pull_event(kind), store)
    assert forge.checks_on(REPO, HEAD)[APPROVALS].conclusion is Conclusion.SUCCESS  # only @acme/app owned it
    deliver(forge, push(kind, [PATHS[kind][which], "README.md"]), store)
    result = forge.checks_on(REPO, HEAD)[APPROVALS]
    assert result.conclusion is Conclusion.PENDING  # the pushed CODEOWNERS makes infra's team required
    assert TEAM[kind] in result.summary
    assert forge.calls["list_open_pulls"] == 1
    assert forge.checks_on(REPO, "x" * 40) == {}  # the pull request on another base is not touched


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_push_that_changes_no_rules_costs_no_request(kind):
    forge = world(kind)
    deliver(forge, push(kind, ["src/app.py", "README.md"]), DictStore())
    assert sum(forge.calls.values()) == 0


def test_the_other_forges_paths_are_not_rules():
    forge = world("gitlab")
    deliver(forge, push("gitlab", [".github/CODEOWNERS", ".github/release-coordinator.yml"]), DictStore())
    assert sum(forge.calls.values()) == 0


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_push_whose_paths_were_cut_re_evaluates_to_be_safe(kind):
    forge = world(kind)
    deliver(forge, push(kind, [], truncated=True), DictStore())
    assert forge.calls["list_open_pulls"] == 1 and APPROVALS in forge.checks_on(REPO, HEAD)


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_replaying_the_push_writes_nothing_new(kind):
    forge, store = world(kind), DictStore()
    deliver(forge, push(kind, [PATHS[kind][1]]), store)
    writes = forge.calls["create_check"] + forge.calls["update_check"] + forge.calls["ensure_note"]
    deliver(forge, push(kind, [PATHS[kind][1]]), store)
    assert forge.calls["create_check"] + forge.calls["update_check"] + forge.calls["ensure_note"] == writes


def test_gitlab_keeps_one_summary_note_edited_in_place():
    forge, store = world("gitlab"), DictStore()
    deliver(forge, pull_event("gitlab"), store)
    deliver(forge, push("gitlab", ["CODEOWNERS"]), store)
    (note,) = forge.notes(REPO, 7, topic="summary")
    assert TEAM["gitlab"] in note and forge.calls["note_edits"] == 1


def test_deleting_a_branch_or_pushing_a_tag_does_nothing():
    forge = world("github")
    deliver(forge, Event(forge="github", name="push", action=None, delivery_id="d", repo=REPO, installation_id=1,
                         base_ref="main", head_sha="0" * 40, pushed_paths=frozenset({".github/CODEOWNERS"})), DictStore())
    deliver(forge, Event(forge="github", name="push", action=None, delivery_id="d", repo=REPO, installation_id=1,
                         base_ref=None, head_sha=NEW_BASE, pushed_paths=frozenset({".github/CODEOWNERS"})), DictStore())
    assert sum(forge.calls.values()) == 0


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_later_events_keep_judging_by_the_pushed_rules_though_the_pulls_base_sha_lags(kind):
    # GitHub's base.sha stays at the pull request's last synchronize; a review after the push must not bring
    # the old policy back
    forge, store = world(kind), DictStore()
    deliver(forge, push(kind, [PATHS[kind][1]]), store)
    assert forge.checks_on(REPO, HEAD)[APPROVALS].conclusion is Conclusion.PENDING
    assert forge.repos[REPO].pulls[7].base_sha == OLD_BASE  # what the forge still says
    review = pull_event(kind)
    deliver(forge, review, store)
    assert forge.checks_on(REPO, HEAD)[APPROVALS].conclusion is Conclusion.PENDING  # still the pushed CODEOWNERS
    forge.add_review(REPO, 7, Review(2, "ivan", ReviewState.APPROVED, HEAD, NOW))
    deliver(forge, review, store)
    assert forge.checks_on(REPO, HEAD)[APPROVALS].conclusion is Conclusion.SUCCESS
