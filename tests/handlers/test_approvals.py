"""The approvals handler over FakeForge: what gets fetched, what check run results, and that repeats write nothing."""
import datetime as dt

import pytest

from bot.core.checks import APPROVALS, MANIFEST, Conclusion
from bot.forge.base import ChangedFile, Comparison, Permission, PullRequest, Review, ReviewState
from bot.forge.errors import ForgeError, PermissionDenied, TransientError
from bot.handlers import Context
from bot.handlers.approvals import details_key, router
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

REPO = "acme/payments-app"
BASE, HEAD, OLD, MERGE = "b" * 40, "h" * 40, "o" * 40, "m" * 40
CONFIG = "approvals:\n  teams: {'@acme/infra': 1}\n"
CODEOWNERS = "# owners\n/infra/ @acme/infra\n/app/ @acme/app\n/docs/\n"
NOW = dt.datetime(2026, 11, 29, 9, tzinfo=dt.timezone.utc)


def make_forge(*, config=CONFIG, codeowners=CODEOWNERS, files=("infra/main.tf", "app/api.py"), draft=False):
    forge = FakeForge()
    if config is not None:
        forge.add_file(REPO, ".github/release-coordinator.yml", config, ref=BASE)
    if codeowners is not None:
        forge.add_file(REPO, ".github/CODEOWNERS", codeowners, ref=BASE)
    pull = PullRequest(repo=REPO, number=7, title="Bump infra", author="paul", head_sha=HEAD, head_ref="feature",
                       base_ref="main", base_sha=BASE, state="open", draft=draft,
                       html_url=f"https://github.com/{REPO}/pull/7")
    forge.add_pull(pull, [ChangedFile(p, "modified") for p in files])
    forge.teams = {"@acme/infra": frozenset({"ivan", "irene"}), "@acme/app": frozenset({"anna", "both"})}
    forge.repos[REPO].permissions = {u: Permission.WRITE for u in ("ivan", "irene", "anna", "both")}
    return forge


def approve(forge, user, *, commit=HEAD, state=ReviewState.APPROVED):
    reviews = forge.repos[REPO].reviews[7]
    forge.add_review(REPO, 7, Review(len(reviews) + 1, user, state, commit, NOW))


def event(name="pull_request_review", action="submitted", **fields):
    fields.setdefault("pull_number", 7)
    return Event(forge="github", name=name, action=action, delivery_id="d", repo=REPO, **fields)


def run(forge, evt=None, store=None):
    ctx = Context(forge=forge, now=NOW, public_url="https://rc.example", store=store if store is not None else DictStore())
    evt = evt or event()
    for handler in router.handlers_for(evt.name, evt.action):
        handler(evt, ctx)
    return ctx


def check(forge, sha=HEAD):
    return forge.checks_on(REPO, sha).get(APPROVALS)


def writes(forge):
    return forge.calls["create_check"] + forge.calls["update_check"]


# --- routing: every event of SPEC §4 that concerns approvals


@pytest.mark.parametrize(
    "name, actions",
    [
        ("pull_request", ["opened", "synchronize", "reopened", "edited", "ready_for_review", "labeled", "unlabeled"]),
        ("pull_request_review", ["submitted", "edited", "dismissed"]),
        ("check_run", ["rerequested"]),
        ("check_suite", ["requested", "rerequested"]),
        ("merge_group", ["checks_requested"]),
    ],
)
def test_routes(name, actions):
    assert all(router.accepts(name, action) for action in actions)
    assert not router.accepts("pull_request", "closed")


# --- the check a reviewer sees


def test_missing_team_fails_then_approvals_pass():
    forge = make_forge()
    approve(forge, "ivan")
    store = DictStore()  # the worker's one durable store
    run(forge, store=store)
    result = check(forge)
    assert result.conclusion is Conclusion.PENDING
    assert result.title == "Waiting for 1 of 2 groups: @acme/app (1 more)"
    assert "| @acme/infra | 1 | @ivan | ✓ |" in result.summary
    assert result.details_url == f"https://rc.example/pulls/github/{REPO}/7#approvals"
    approve(forge, "anna")
    run(forge, store=store)
    assert check(forge).conclusion is Conclusion.SUCCESS
    assert (forge.calls["create_check"], forge.calls["update_check"]) == (1, 1)


def test_second_identical_event_writes_nothing():
    forge = make_forge()
    approve(forge, "ivan")
    store = DictStore()
    run(forge, store=store)
    before = dict(forge.calls)
    run(forge, store=store)
    assert writes(forge) == 1 and forge.calls["request_reviewers"] == 1
    second = {k: forge.calls[k] - before.get(k, 0) for k in ("create_check", "update_check", "request_reviewers")}
    assert second == {"create_check": 0, "update_check": 0, "request_reviewers": 0}
    assert forge.calls["find_check"] == 0  # the store remembers what was written: no need to look


def test_cold_evaluation_request_count():
    forge = make_forge()
    approve(forge, "ivan")
    approve(forge, "anna")
    run(forge)
    # the pull, config + CODEOWNERS in one read, files, reviews, one lookup per team and per approver, the check
    assert dict(forge.calls) == {"get_pull": 1, "get_files": 1, "list_pull_files": 1, "list_reviews": 1,
                                 "get_teams": 1, "permission": 2, "create_check": 1}


def test_unmanaged_repository_gets_nothing():
    forge = make_forge(config=None)
    approve(forge, "ivan")
    run(forge)
    assert check(forge) is None and writes(forge) == 0 and forge.calls["request_reviewers"] == 0
    assert forge.calls["list_reviews"] == 0  # nothing fetched past the config


def test_invalid_config_fails_with_file_and_line():
    forge = make_forge(config="approvals:\n  distinct: maybe\n")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.FAILURE
    assert "approvals.distinct must be true or false" in result.title
    assert [(a.path, a.start_line) for a in result.annotations] == [(".github/release-coordinator.yml", 2)]


def test_no_codeowners_passes_and_says_so():
    forge = make_forge(codeowners=None)
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.SUCCESS and "No CODEOWNERS file" in result.title
    assert forge.calls["get_teams"] == 0


def test_codeowners_errors_are_warnings_with_lines():
    forge = make_forge(codeowners="/infra/ @acme/infra\n/app/ not-an-owner\n", files=("infra/a",))
    approve(forge, "ivan")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.SUCCESS
    assert [(a.path, a.start_line, a.level.value) for a in result.annotations] == [(".github/CODEOWNERS", 2, "warning")]


# --- bad input never crashes


def test_team_the_app_cannot_see_fails_naming_team_and_permission():
    forge = make_forge()
    del forge.teams["@acme/app"]
    approve(forge, "ivan")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.FAILURE
    assert "@acme/app" in result.title and "Members: read" in result.summary


def test_app_without_members_permission_fails_naming_it():
    forge = make_forge(files=("infra/main.tf",))
    forge.fail_next["get_teams"] = PermissionDenied("403 Resource not accessible by integration")
    approve(forge, "ivan")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.FAILURE
    assert "Cannot check @acme/infra" in result.title and '"Members: read"' in result.summary


def test_force_push_removed_reviewed_commit_makes_approval_stale():
    forge = make_forge(files=("infra/main.tf",))
    approve(forge, "ivan", commit=OLD)  # no comparison OLD...HEAD: GitHub answers 404
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.PENDING
    assert f"Stale: @ivan approved {OLD[:7]}, which is no longer in the branch (force-push)" in result.summary


def test_force_pushed_commit_github_still_knows_compares_as_diverged():
    forge = make_forge(files=("infra/main.tf",))
    forge.repos[REPO].comparisons[(OLD, HEAD)] = Comparison(OLD, HEAD, "diverged", (), (ChangedFile("infra/main.tf", "modified"),))
    approve(forge, "ivan", commit=OLD)
    run(forge)
    assert "which is no longer in the branch (force-push)" in check(forge).summary


def test_a_compare_widened_past_300_files_is_taken_as_listed_not_as_every_path():
    # The adapter widens GitHub's 300-file compare itself (each commit's files): the list is complete, so an
    # approval of infra stays valid when only app files changed since (the defect: it went stale).
    forge = make_forge(files=("infra/main.tf", "app/api.py"))
    many = tuple(ChangedFile(f"app/gen{i}.py", "modified") for i in range(350))  # infra/main.tf not among them
    forge.repos[REPO].comparisons[(OLD, HEAD)] = Comparison(OLD, HEAD, "ahead", (), many)
    approve(forge, "ivan", commit=OLD)
    run(forge)
    assert "| @acme/infra | 1 | @ivan | ✓ |" in check(forge).summary
    assert "Stale: @ivan" not in check(forge).summary


def test_a_compare_the_forge_could_not_list_whole_counts_the_pull_requests_files():
    forge = make_forge(files=("infra/main.tf", "app/api.py"))
    cut = tuple(ChangedFile(f"app/gen{i}.py", "modified") for i in range(300))
    forge.repos[REPO].comparisons[(OLD, HEAD)] = Comparison(OLD, HEAD, "ahead", (), cut, files_truncated=True)
    approve(forge, "ivan", commit=OLD)
    run(forge)
    assert f"Stale: @ivan approved {OLD[:7]}; later commits changed infra/main.tf" in check(forge).summary


def test_owned_files_staleness_uses_compare_once_per_reviewed_commit():
    forge = make_forge()
    forge.repos[REPO].comparisons[(OLD, HEAD)] = Comparison(OLD, HEAD, "ahead", (), (ChangedFile("app/api.py", "modified"),))
    approve(forge, "ivan", commit=OLD)
    approve(forge, "anna", commit=OLD)
    run(forge)
    assert forge.calls["changed_since"] == 1  # one look per reviewed commit
    assert forge.calls["permission"] == 1  # anna's stale approval needs no permission lookup
    result = check(forge)
    assert "| @acme/infra | 1 | @ivan | ✓ |" in result.summary  # only app files changed since OLD
    assert f"Stale: @anna approved {OLD[:7]}; later commits changed app/api.py" in result.summary


def test_reviewer_who_left_the_org():
    forge = make_forge(files=("infra/main.tf",))
    forge.teams["@acme/infra"] = frozenset({"irene"})
    del forge.repos[REPO].permissions["ivan"]
    approve(forge, "ivan")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.PENDING
    assert "@ivan is not a member of any team" in result.summary
    assert forge.calls["permission"] == 0  # no lookups for people who cannot count


def test_forge_outage_raises_for_the_queue_to_retry():
    forge = make_forge()
    forge.fail_next["list_reviews"] = TransientError("502")
    with pytest.raises(TransientError):
        run(forge)
    run(forge)
    assert check(forge) is not None


# --- config or CODEOWNERS changed by the pull request


def test_pr_changing_codeowners_is_judged_by_base_and_previews_head():
    forge = make_forge(files=(".github/CODEOWNERS", "infra/main.tf"))
    forge.add_file(REPO, ".github/CODEOWNERS", "* @acme/sec\n", ref=HEAD)
    forge.teams["@acme/sec"] = frozenset({"sam"})
    approve(forge, "ivan")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.SUCCESS  # base: only infra owns a changed path
    assert "This pull request changes the approval rules" in result.summary
    assert "| @acme/sec | 1 | — | 1 |" in result.summary


def test_pr_changing_config_previews_head_config():
    forge = make_forge(files=(".github/release-coordinator.yml", "infra/main.tf"))
    forge.add_file(REPO, ".github/release-coordinator.yml", "approvals:\n  teams: {'@acme/infra': 2}\n", ref=HEAD)
    forge.add_file(REPO, ".github/CODEOWNERS", CODEOWNERS, ref=HEAD)
    approve(forge, "ivan")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.SUCCESS
    assert "| @acme/infra | 2 | @ivan | 1 |" in result.summary  # what the head's config would require


# --- review requests


def test_requests_reviews_from_teams_still_owing_once():
    forge = make_forge()
    store = DictStore()
    run(forge, event("pull_request", "opened"), store=store)
    assert forge.repos[REPO].requested[7] == [(frozenset({"@acme/infra", "@acme/app"}), frozenset())]
    approve(forge, "ivan", state=ReviewState.COMMENTED)
    run(forge, store=store)
    assert forge.calls["request_reviewers"] == 1


def test_teams_already_requested_on_github_are_not_requested_again():
    forge = make_forge()
    pull = forge.repos[REPO].pulls[7]
    forge.repos[REPO].pulls[7] = PullRequest(**{**pull.__dict__, "requested_teams": frozenset({"@acme/app"})})
    run(forge, event("pull_request", "opened"))
    assert forge.repos[REPO].requested[7] == [(frozenset({"@acme/infra"}), frozenset())]


def test_refused_review_request_is_logged_not_retried():
    forge = make_forge()
    forge.fail_next["request_reviewers"] = ForgeError("422 Reviews may only be requested from collaborators")
    store = DictStore()
    run(forge, event("pull_request", "opened"), store=store)
    run(forge, event("pull_request", "synchronize"), store=store)
    assert check(forge) is not None and forge.calls["request_reviewers"] == 1


@pytest.mark.parametrize("config, draft", [("approvals: {request_reviews: false}\n", False), (CONFIG, True)],
                         ids=["request_reviews-false", "draft"])
def test_no_review_requests(config, draft):
    forge = make_forge(config=config, draft=draft)
    run(forge, event("pull_request", "opened"))
    assert forge.calls["request_reviewers"] == 0 and check(forge) is not None


# --- re-runs, suites, merge queues


def test_the_pull_request_in_the_delivery_is_not_fetched_again():
    forge = make_forge()
    approve(forge, "ivan")
    run(forge, event(pull=forge.repos[REPO].pulls[7]))
    assert forge.calls["get_pull"] == 0 and check(forge).conclusion is Conclusion.PENDING


def test_a_delivery_for_a_closed_pull_request_posts_nothing():
    forge = make_forge()
    pull = forge.repos[REPO].pulls[7]
    run(forge, event("pull_request", "labeled", pull=PullRequest(**{**pull.__dict__, "state": "closed"})))
    assert sum(forge.calls.values()) == 0 and check(forge) is None


def test_rerun_of_another_check_is_ignored():
    forge = make_forge()
    run(forge, event("check_run", "rerequested", pull_number=None, pull_numbers=(7,), head_sha=HEAD,
                     check_name=MANIFEST))
    assert sum(forge.calls.values()) == 0


def test_rerun_of_our_check_re_evaluates():
    forge = make_forge()
    run(forge, event("check_run", "rerequested", pull_number=None, pull_numbers=(7,), head_sha=HEAD,
                     check_name=APPROVALS))
    assert check(forge) is not None


def test_check_suite_without_pull_numbers_finds_pulls_by_head_sha():
    forge = make_forge()
    run(forge, event("check_suite", "requested", pull_number=None, head_sha=HEAD))
    assert forge.calls["pulls_for_commit"] == 1 and check(forge) is not None


def test_merge_group_posts_on_the_queue_commit():
    forge = make_forge()
    approve(forge, "ivan")
    approve(forge, "anna")
    run(forge, event("merge_group", "checks_requested", pull_number=None, pull_numbers=(7,), head_sha=MERGE,
                     base_ref="main", base_sha=BASE))
    result = check(forge, MERGE)
    assert result.conclusion is Conclusion.SUCCESS and result.head_sha == MERGE
    assert check(forge) is None and forge.calls["request_reviewers"] == 0


def test_merge_group_missing_approval_fails_on_the_queue_commit():
    forge = make_forge()
    approve(forge, "ivan")
    run(forge, event("merge_group", "checks_requested", pull_number=None, pull_numbers=(7,), head_sha=MERGE,
                     base_ref="main", base_sha=BASE))
    assert check(forge, MERGE).conclusion is Conclusion.FAILURE


# --- the details page's data


def test_evaluation_saved_for_details_page():
    forge = make_forge()
    approve(forge, "ivan")
    store = DictStore()
    run(forge, store=store)
    saved = store.get_json(details_key(REPO, 7))
    assert saved["title"] == "Bump infra" and saved["evaluation"]["head_sha"] == HEAD
    assert {g["key"] for g in saved["evaluation"]["groups"]} == {"@acme/infra", "@acme/app"}


def test_window_override_label_needs_one_more_approval_per_team():
    forge = make_forge(config=CONFIG + "windows:\n  override_label: emergency-release\n")
    pull = forge.repos[REPO].pulls[7]
    forge.repos[REPO].pulls[7] = PullRequest(**{**pull.__dict__, "labels": frozenset({"Emergency-Release"})})
    approve(forge, "ivan")
    approve(forge, "anna")
    run(forge, event("pull_request", "labeled", label="Emergency-Release"))
    result = check(forge)
    assert result.conclusion is Conclusion.PENDING
    assert "| @acme/infra | 2 | @ivan | 1 |" in result.summary and "| @acme/app | 2 | @anna | 1 |" in result.summary


def test_three_thousand_files_is_treated_as_truncated():
    forge = make_forge(files=tuple(f"docs/f{i}.md" for i in range(3000)))
    run(forge)
    assert check(forge).conclusion is Conclusion.FAILURE and check(forge).title.startswith("Too many files")


def test_access_lookups_grow_with_approvals_required_not_reviewers():
    forge = make_forge(files=("infra/main.tf",))
    crowd = [f"dev{i:02}" for i in range(20)]
    forge.teams["@acme/infra"] = frozenset(crowd)
    forge.repos[REPO].permissions = {u: Permission.WRITE for u in crowd}
    for user in crowd:
        approve(forge, user)
    run(forge)
    assert check(forge).conclusion is Conclusion.SUCCESS
    assert forge.calls["permission"] == 1  # one approval is required, so one is verified


def test_approver_without_write_access_is_replaced_by_the_next_one():
    forge = make_forge(files=("infra/main.tf",), config="approvals:\n  teams: {'@acme/infra': 2}\n")
    forge.teams["@acme/infra"] = frozenset({"ann", "bea", "cy"})
    forge.repos[REPO].permissions = {"ann": Permission.READ, "bea": Permission.WRITE, "cy": Permission.WRITE}
    for user in ("ann", "bea", "cy"):
        approve(forge, user)
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.SUCCESS
    assert "| @acme/infra | 2 | @bea, @cy | ✓ |" in result.summary
    assert forge.calls["permission"] == 3


def test_a_team_with_write_on_the_repo_vouches_for_its_members_without_lookups():
    forge = make_forge()
    forge.team_permissions = {("@acme/infra", REPO): Permission.WRITE, ("@acme/app", REPO): Permission.READ}
    forge.repos[REPO].permissions = {"ivan": Permission.READ, "anna": Permission.WRITE}  # ivan's own role is read
    approve(forge, "ivan")
    approve(forge, "anna")
    run(forge)
    assert check(forge).conclusion is Conclusion.SUCCESS  # ivan writes through his team
    assert forge.calls["permission"] == 1  # only anna: a read grant settles nothing, her own role does


def test_a_team_grant_below_write_does_not_count_a_reader():
    forge = make_forge(files=("infra/main.tf",))
    forge.team_permissions = {("@acme/infra", REPO): Permission.TRIAGE}
    forge.repos[REPO].permissions = {"ivan": Permission.READ}
    approve(forge, "ivan")
    run(forge)
    result = check(forge)
    assert result.conclusion is Conclusion.PENDING and "has read access, not write" in result.summary


def test_the_details_page_lasts_90_days_from_its_last_write_and_the_next_evaluation_restores_it():
    forge, now = make_forge(), [1_700_000_000.0]
    store = DictStore(clock=lambda: now[0])
    run(forge, store=store)
    now[0] += 89 * 86400
    run(forge, store=store)  # unchanged: nothing written, the page keeps its first expiry
    assert store.get_json(details_key(REPO, 7))["number"] == 7
    now[0] += 86400
    assert store.get_json(details_key(REPO, 7)) is None  # 90 days: the details page reads as never evaluated
    run(forge, store=store)
    assert store.get_json(details_key(REPO, 7))["number"] == 7


# --- GitLab: the same handler over FakeForge("gitlab")

GITLAB_CODEOWNERS = """\
[Infra]
/infra/ @acme/platform/infra

[App][2]
/infra/ @acme/app

^[Docs]
/infra/ @acme/docs
"""


def gitlab_forge():
    forge = FakeForge("gitlab")
    forge.add_file(REPO, ".gitlab/release-coordinator.yml", "approvals: {}\n", ref=BASE)
    forge.add_file(REPO, "CODEOWNERS", GITLAB_CODEOWNERS, ref=BASE)
    forge.add_pull(PullRequest(repo=REPO, number=7, title="Bump infra", author="paul", head_sha=HEAD, head_ref="f",
                               base_ref="main", base_sha=BASE, state="open"), [ChangedFile("infra/main.tf", "modified")])
    forge.teams = {"@acme/platform/infra": frozenset({"ivan"}), "@acme/app": frozenset({"anna", "arne"}),
                   "@acme/docs": frozenset({"dora"})}
    forge.repos[REPO].permissions = {u: Permission.WRITE for u in ("ivan", "anna", "arne", "dora")}
    return forge


def test_gitlab_sections_each_apply_with_their_approval_count_and_optional_ones_ask_nothing():
    forge = gitlab_forge()
    gitlab_event = Event(forge="gitlab", name="Merge Request Hook", action="approved", delivery_id="g",
                         kind="pull.reviewed", repo=REPO, pull_number=7)
    approve(forge, "ivan")
    approve(forge, "anna")
    run(forge, gitlab_event)
    result = check(forge)
    assert result.conclusion is Conclusion.PENDING  # [App][2] wants a second approval
    assert "@acme/platform/infra" in result.summary and "@acme/docs" not in result.summary
    approve(forge, "arne")
    run(forge, gitlab_event)
    assert check(forge).conclusion is Conclusion.SUCCESS
    assert forge.statuses_on(REPO, HEAD)[APPROVALS].state == "success"


def test_gitlab_a_changed_reason_while_pending_writes_no_second_pending_status():
    forge = gitlab_forge()
    gitlab_event = Event(forge="gitlab", name="Merge Request Hook", action="update", delivery_id="g",
                         kind="pull.changed", repo=REPO, pull_number=7)
    store = DictStore()
    run(forge, gitlab_event, store=store)
    assert forge.statuses_on(REPO, HEAD)[APPROVALS].state == "pending"
    approve(forge, "anna")  # still pending, for another reason: GitLab would refuse pending -> pending
    run(forge, gitlab_event, store=store)
    assert forge.calls["create_check"] + forge.calls["update_check"] == 1
    record = store.get_json(f"results:gitlab:{REPO}!7")
    assert "@anna" in record["checks"][APPROVALS]["summary"]  # the record (and so the note) has the new reason


def test_gitlab_a_top_level_group_owner_is_a_team_not_a_user():
    forge = gitlab_forge()
    forge.add_file(REPO, "CODEOWNERS", "/infra/ @acme @paula\n", ref=BASE)  # a group and a user, both slash-less
    forge.teams["@acme"] = frozenset({"ivan"})
    gitlab_event = Event(forge="gitlab", name="Merge Request Hook", action="approved", delivery_id="g",
                         kind="pull.reviewed", repo=REPO, pull_number=7)
    run(forge, gitlab_event)
    assert "| @acme | 1 |" in check(forge).summary  # its own row: a team to approve for
    approve(forge, "ivan")
    forge.repos[REPO].permissions["paula"] = Permission.WRITE
    approve(forge, "paula")
    run(forge, gitlab_event)
    assert check(forge).conclusion is Conclusion.SUCCESS
    assert forge.calls["get_teams"] == 2  # the classification rides on the teams request
