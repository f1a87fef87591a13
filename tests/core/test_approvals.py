"""SPEC §5, rule by rule: each test names the rule it checks; evaluation runs on plain data, no fakes."""
import datetime as dt
import itertools
import random

import pytest
from hypothesis import given, settings, strategies as st

from bot.core.approvals import (
    granted_by_teams,
    Lookups, OwnerRule, PullFacts, Rules, assign, assume_best, changed_paths, evaluate, from_json, lookups_needed, to_json,
)
from bot.core.approvals_render import render_check, render_config_failure
from bot.core.checks import APPROVALS, Conclusion, Level, Problem
from bot.core.config import ApprovalMode, ApprovalsConfig, Invalidate
from bot.forge.base import ChangedFile, Permission, Review, ReviewState, TeamInfo

HEAD, OLD, GONE = "h" * 40, "o" * 40, "g" * 40
A, C, D, R = ReviewState.APPROVED, ReviewState.CHANGES_REQUESTED, ReviewState.DISMISSED, ReviewState.COMMENTED
INFRA, APP, SEC = "@acme/infra", "@acme/app", "@acme/sec"
# path -> CODEOWNERS line; infra/ is line 1, app/ line 2, docs/ line 3 (no owners), shared/ line 4 (two teams)
CODEOWNERS = {
    "infra/": OwnerRule((INFRA,), 1, "/infra/"),
    "app/": OwnerRule((APP,), 2, "/app/"),
    "docs/": OwnerRule((), 3, "/docs/"),
    "shared/": OwnerRule((INFRA, APP), 4, "/shared/"),
    "people/": OwnerRule(("@alice", "@Bob", "carol@example.com"), 5, "/people/"),
    "mail/": OwnerRule(("carol@example.com",), 6, "/mail/"),
}
TEAMS = {INFRA: {"ivan", "irene", "both"}, APP: {"anna", "andy", "both"}, SEC: {"sam"}}


def owner_of(path):
    return next((rule for prefix, rule in CODEOWNERS.items() if path.startswith(prefix)), None)


def review(user, state=A, commit=HEAD, n=[0], bot=False):
    n[0] += 1
    return Review(id=n[0], user=user, state=state, commit_id=commit, submitted_at=dt.datetime(2026, 1, 1), user_is_bot=bot)


def judge(paths=("infra/main.tf",), reviews=(), *, config=None, codeowners=True, author="paul", changed_since=None,
          permissions=None, unknown=frozenset(), files=None, head_rules=None, teams=TEAMS):
    files = files or tuple(ChangedFile(p, "modified") for p in paths)
    all_paths = changed_paths(files)
    rules = Rules(
        approvals=config or ApprovalsConfig(),
        codeowners_path=".github/CODEOWNERS" if codeowners else None,
        ownership={p: owner_of(p) for p in all_paths} if codeowners else {},
    )
    logins = {r.user for r in reviews}
    facts = PullFacts(
        head_sha=HEAD, author=author, files=files, reviews=tuple(reviews),
        changed_since=changed_since or {},
        members={t: frozenset(m) for t, m in teams.items() if t not in unknown},
        unknown_teams=frozenset(unknown),
        permissions=permissions if permissions is not None else {u: Permission.WRITE for u in logins},
    )
    return evaluate(facts, rules, head_rules)


def groups(evaluation):
    return {g.key: g for g in evaluation.groups}


def summary(evaluation):
    return render_check(evaluation, details_url="https://rc.example/pulls/acme/x/1")


# --- changed paths


def test_rename_counts_under_old_and_new_path():
    files = (ChangedFile("app/moved.py", "renamed", previous_path="infra/old.tf"),)
    assert changed_paths(files) == ("infra/old.tf", "app/moved.py")
    assert set(groups(judge(files=files))) == {INFRA, APP}


# --- required groups


@pytest.mark.parametrize(
    "paths, required",
    [
        pytest.param(["infra/a.tf"], {INFRA}, id="one-team"),
        pytest.param(["infra/a.tf", "app/b.py"], {INFRA, APP}, id="each-team-of-each-path"),
        pytest.param(["shared/x"], {INFRA, APP}, id="every-team-on-the-line"),
        pytest.param(["docs/readme.md"], set(), id="line-without-owners-leaves-unowned"),
        pytest.param(["README.md"], set(), id="no-matching-line-is-unowned"),
        pytest.param(["people/x"], {"@alice or @bob or carol@example.com"}, id="individuals-form-one-group"),
    ],
)
def test_required_groups(paths, required):
    assert set(groups(judge(paths))) == required


def test_unowned_only_pull_request_passes():
    evaluation = judge(["README.md", "docs/guide.md"])
    assert evaluation.passed and evaluation.unowned == ("README.md", "docs/guide.md")
    check = summary(evaluation)
    assert check.conclusion is Conclusion.SUCCESS
    assert check.title == "Only unowned paths changed: no team approval needed"
    assert "2 changed paths have no owner" in check.summary


def test_no_codeowners_file_everything_unowned_and_summary_says_so():
    evaluation = judge(["infra/main.tf"], codeowners=False)
    check = summary(evaluation)
    assert evaluation.passed and check.conclusion is Conclusion.SUCCESS
    assert check.title == "No CODEOWNERS file: no team approval needed"
    assert "No CODEOWNERS file in the base branch" in check.summary and "every path is unowned" in check.summary


def test_why_required_names_paths_and_codeowners_lines():
    infra = groups(judge(["infra/a.tf", "shared/b", "app/c.py"]))[INFRA]
    assert [(w.path, w.line, w.pattern) for w in infra.why] == [("infra/a.tf", 1, "/infra/"), ("shared/b", 4, "/shared/")]


# --- what counts as an approval


@pytest.mark.parametrize(
    "reviews, approved",
    [
        pytest.param([review("ivan")], ("ivan",), id="member-approval-counts"),
        pytest.param([review("anna")], (), id="non-member-does-not-count"),
        pytest.param([review("ivan"), review("ivan", R)], ("ivan",), id="later-comment-does-not-replace-approval"),
        pytest.param([review("ivan"), review("ivan", C), review("ivan", R)], (), id="latest-non-comment-review-wins"),
        pytest.param([review("ivan", C), review("ivan")], ("ivan",), id="approval-after-changes-requested"),
        pytest.param([review("ivan"), review("ivan", D)], (), id="dismissed-approval-does-not-count"),
        pytest.param([review("ivan", ReviewState.PENDING)], (), id="pending-review-ignored"),
        pytest.param([review("IVAN")], ("IVAN",), id="logins-case-insensitive"),
    ],
)
def test_which_reviews_count(reviews, approved):
    assert groups(judge(["infra/a"], reviews))[INFRA].approved_by == approved


@pytest.mark.parametrize(
    "permission, counts, reason",
    [
        (Permission.WRITE, True, None),
        (Permission.MAINTAIN, True, None),
        (Permission.ADMIN, True, None),
        (Permission.TRIAGE, False, "has triage access, not write"),
        (Permission.READ, False, "has read access, not write"),
        (Permission.NONE, False, "has no access to the repository any more"),  # e.g. left the org
    ],
)
def test_reviewer_needs_write_access(permission, counts, reason):
    infra = groups(judge(["infra/a"], [review("ivan")], permissions={"ivan": permission}))[INFRA]
    assert bool(infra.approved_by) is counts
    assert [n.reason for n in infra.not_counted] == ([] if counts else [reason])


@pytest.mark.parametrize("allow_author, counts", [(False, False), (True, True)])
def test_author_approval_counts_only_with_allow_author(allow_author, counts):
    evaluation = judge(["infra/a"], [review("ivan")], author="ivan", config=ApprovalsConfig(allow_author=allow_author))
    assert evaluation.passed is counts
    if not counts:
        assert "@ivan is the author of the pull request" in summary(evaluation).summary


@pytest.mark.parametrize("ignore_bots, counts", [(True, False), (False, True)])
def test_bot_approval_counts_only_without_ignore_bots(ignore_bots, counts):
    teams = {**TEAMS, INFRA: TEAMS[INFRA] | {"deploy[bot]"}}
    evaluation = judge(["infra/a"], [review("deploy[bot]", bot=True)], config=ApprovalsConfig(ignore_bots=ignore_bots),
                       teams=teams)
    assert evaluation.passed is counts


@pytest.mark.parametrize("ignore_bots, blocked", [(True, False), (False, True)])
def test_bot_requesting_changes_blocks_only_without_ignore_bots(ignore_bots, blocked):
    teams = {**TEAMS, INFRA: TEAMS[INFRA] | {"lint[bot]"}}
    evaluation = judge(["infra/a"], [review("ivan"), review("lint[bot]", C, bot=True)], teams=teams,
                       config=ApprovalsConfig(ignore_bots=ignore_bots))
    assert bool(groups(evaluation)[INFRA].blocked_by) is blocked


def test_child_team_members_count_as_team_members():
    # GitHub's team members endpoint includes child teams' members; the adapter passes them in the team's set.
    teams = {**TEAMS, INFRA: TEAMS[INFRA] | {"child-member"}}
    assert judge(["infra/a"], [review("child-member")], teams=teams).passed


def test_individual_owner_group_is_satisfied_by_any_of_them():
    evaluation = judge(["people/x"], [review("bob")])
    assert evaluation.passed
    assert groups(evaluation)["@alice or @bob or carol@example.com"].approved_by == ("bob",)


def test_email_only_owners_cannot_be_satisfied_and_say_why():
    evaluation = judge(["mail/x"], [review("carol")])
    assert not evaluation.passed
    assert "cannot be matched to GitHub accounts" in summary(evaluation).summary


# --- each team, minimums, any-owner


def test_each_team_needs_its_own_approval():
    evaluation = judge(["infra/a", "app/b"], [review("ivan")])
    assert not evaluation.passed
    assert (groups(evaluation)[INFRA].missing, groups(evaluation)[APP].missing) == (0, 1)
    assert evaluation.missing_teams == (APP,)


@pytest.mark.parametrize(
    "approvers, passed, missing",
    [(["ivan"], False, 1), (["ivan", "irene"], True, 0), (["ivan", "ivan"], False, 1)],
    ids=["one-of-two", "two-of-two", "same-person-twice-counts-once"],
)
def test_per_team_minimum(approvers, passed, missing):
    config = ApprovalsConfig(teams={INFRA: 2})
    evaluation = judge(["infra/a"], [review(u) for u in approvers], config=config)
    assert (evaluation.passed, groups(evaluation)[INFRA].required, groups(evaluation)[INFRA].missing) == (passed, 2, missing)


@pytest.mark.parametrize(
    "reviews, passed",
    [([review("ivan")], True), ([review("anna")], True), ([review("sam")], False)],
    ids=["infra-member", "app-member", "outsider"],
)
def test_any_owner_mode_one_approval_from_any_owner_of_the_line(reviews, passed):
    evaluation = judge(["shared/x"], reviews, config=ApprovalsConfig(mode=ApprovalMode.ANY_OWNER))
    assert len(evaluation.groups) == 1 and evaluation.passed is passed


# --- blocking


def test_changes_requested_by_member_blocks_team():
    evaluation = judge(["infra/a"], [review("ivan"), review("irene", C)])
    infra = groups(evaluation)[INFRA]
    assert infra.approved_by == ("ivan",) and infra.blocked_by == ("irene",) and not evaluation.passed
    check = summary(evaluation)
    assert check.title == f"Changes requested by @irene ({INFRA})"


@pytest.mark.parametrize(
    "later, blocked",
    [(review("irene"), False), (review("irene", D), False), (review("irene", R), True)],
    ids=["until-member-approves", "until-dismissed", "a-comment-does-not-lift-it"],
)
def test_block_lifts(later, blocked):
    evaluation = judge(["infra/a"], [review("ivan"), review("irene", C), later])
    assert bool(groups(evaluation)[INFRA].blocked_by) is blocked


def test_changes_requested_by_non_member_does_not_block():
    assert judge(["infra/a"], [review("ivan"), review("anna", C)]).passed


# --- stale approvals


@pytest.mark.parametrize(
    "invalidate, changed, stale",
    [
        pytest.param(Invalidate.OWNED_FILES, {"infra/a"}, True, id="owned-files-team-path-changed"),
        pytest.param(Invalidate.OWNED_FILES, {"app/b"}, False, id="owned-files-other-team-path-changed"),
        pytest.param(Invalidate.OWNED_FILES, {"base-only/merged.txt"}, False, id="owned-files-base-merge-not-in-diff"),
        pytest.param(Invalidate.ALL, {"app/b"}, True, id="all-any-later-commit"),
        pytest.param(Invalidate.NEVER, {"infra/a"}, False, id="never"),
    ],
)
def test_stale(invalidate, changed, stale):
    evaluation = judge(["infra/a", "app/b"], [review("ivan", commit=OLD), review("anna")],
                       config=ApprovalsConfig(invalidate_on_push=invalidate), changed_since={OLD: frozenset(changed)})
    infra = groups(evaluation)[INFRA]
    assert bool(infra.approved_by) is not stale
    assert [n.stale for n in infra.not_counted] == ([True] if stale else [])


def test_stale_reason_is_shown_in_summary():
    evaluation = judge(["infra/a"], [review("ivan", commit=OLD)], changed_since={OLD: frozenset({"infra/a"})})
    assert f"Stale: @ivan approved {OLD[:7]}; later commits changed infra/a" in summary(evaluation).summary


@pytest.mark.parametrize(
    "commit, changed_since, words",
    [
        (GONE, {GONE: None}, "no longer in the branch (force-push)"),
        (None, {}, "a commit GitHub no longer knows"),
    ],
    ids=["force-push-removed-reviewed-commit", "review-without-commit"],
)
def test_force_pushed_approval_is_stale_not_a_crash(commit, changed_since, words):
    evaluation = judge(["infra/a"], [review("ivan", commit=commit)], changed_since=changed_since)
    assert not evaluation.passed and words in groups(evaluation)[INFRA].not_counted[0].reason


def test_approval_on_head_is_never_stale():
    assert judge(["infra/a"], [review("ivan", commit=HEAD)], changed_since={}).passed


# --- distinct people


def test_distinct_one_person_in_two_teams_cannot_release_alone():
    evaluation = judge(["infra/a", "app/b"], [review("both")])
    assert not evaluation.passed
    counted = [g.key for g in evaluation.groups if g.approved_by]
    assert len(counted) == 1


def test_not_distinct_one_person_counts_for_both_teams():
    assert judge(["infra/a", "app/b"], [review("both")], config=ApprovalsConfig(distinct=False)).passed


def test_distinct_chooses_the_assignment_that_passes_whatever_the_review_order():
    # "both" reviewed first; a greedy pass would give "both" to infra and leave app empty.
    for order in itertools.permutations([review("both"), review("ivan")]):
        evaluation = judge(["infra/a", "app/b"], list(order))
        assert evaluation.passed
        assert groups(evaluation)[APP].approved_by == ("both",) and groups(evaluation)[INFRA].approved_by == ("ivan",)


def test_distinct_summary_explains_counted_elsewhere():
    evaluation = judge(["infra/a", "app/b"], [review("both"), review("ivan")])
    assert "counts for @acme/app" not in summary(evaluation).summary  # passed: nothing to explain
    evaluation = judge(["infra/a", "app/b", "shared/c"], [review("both")], config=ApprovalsConfig(teams={INFRA: 2}))
    assert "one person counts for one group only" in summary(evaluation).summary


def brute_force_possible(eligible, capacity):
    people = sorted({p for ps in eligible.values() for p in ps})
    groups_ = sorted(eligible)
    for choice in itertools.product([None, *groups_], repeat=len(people)):
        if all(sum(1 for p, g in zip(people, choice) if g == key and p in eligible[key]) >= capacity[key] for key in groups_):
            return True
    return False


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from("ABC"), st.sets(st.sampled_from("pqrst"), max_size=4), min_size=1, max_size=3),
    st.lists(st.integers(1, 2), min_size=3, max_size=3),
    st.randoms(use_true_random=False),
)
def test_assignment_is_exact_and_order_independent(eligible, needs, rnd):
    capacity = {g: needs[i] for i, g in enumerate(sorted(eligible))}
    shuffled = {g: rnd.sample(sorted(ps), len(ps)) for g, ps in eligible.items()}
    result = assign(shuffled, capacity)
    assert all(len(result[g]) <= capacity[g] and set(result[g]) <= eligible[g] for g in eligible)
    people = [p for ps in result.values() for p in ps]
    assert len(people) == len(set(people))  # each person once
    satisfied = all(len(result[g]) == capacity[g] for g in eligible)
    assert satisfied == brute_force_possible(eligible, capacity)


# --- teams GitHub will not show, and people who left


def test_unknown_team_fails_naming_team_and_permission():
    evaluation = judge(["infra/a"], [review("ivan")], unknown={INFRA})
    check = summary(evaluation)
    assert not evaluation.passed and check.conclusion is Conclusion.FAILURE
    assert INFRA in check.title and 'Members: read' in check.summary


def test_reviewer_who_left_the_org_is_not_a_member_any_more():
    evaluation = judge(["infra/a"], [review("former")], permissions={"former": Permission.NONE})
    assert not evaluation.passed
    assert "@former is not a member of any team" in summary(evaluation).summary


# --- config and CODEOWNERS changed by the PR: judged by base, previewed with head


def test_pr_changing_codeowners_is_judged_by_base_and_previews_head():
    head_rules = Rules(
        approvals=ApprovalsConfig(teams={SEC: 1}), codeowners_path=".github/CODEOWNERS",
        ownership={".github/CODEOWNERS": OwnerRule((SEC,), 1, "/.github/"), "infra/a": OwnerRule((SEC,), 1, "*")},
    )
    evaluation = judge([".github/CODEOWNERS", "infra/a"], [review("ivan")], head_rules=head_rules)
    assert evaluation.passed  # base: infra owns infra/a, .github/CODEOWNERS unowned
    assert evaluation.preview is not None and not evaluation.preview.passed
    assert [g.key for g in evaluation.preview.groups] == [SEC]
    check = summary(evaluation)
    assert "This pull request changes the approval rules" in check.summary and "`.github/CODEOWNERS`" in check.summary
    assert f"| {SEC} | 1 | — | 1 |" in check.summary


def test_head_problems_become_warnings_base_problems_fail():
    bad = Problem(".github/CODEOWNERS", 3, "unknown owner syntax")
    head_rules = Rules(ApprovalsConfig(), ".github/CODEOWNERS", {}, problems=(bad,))
    check = summary(judge(["infra/a"], [review("ivan")], head_rules=head_rules))
    assert check.conclusion is Conclusion.SUCCESS
    assert [(a.path, a.start_line, a.level) for a in check.annotations] == [(".github/CODEOWNERS", 3, Level.WARNING)]


def test_config_failure_check_names_file_and_line():
    problems = (Problem(".github/release-coordinator.yml", 4, "unknown key 'mod'; did you mean 'mode'?"),
                Problem("acme/.github:.github/release-coordinator.yml", 2, "approvals.distinct must be true or false"))
    check = render_config_failure(problems, head_sha=HEAD)
    assert check.conclusion is Conclusion.FAILURE and check.name == APPROVALS
    assert check.title.startswith("Configuration error: unknown key 'mod'")
    assert "`.github/release-coordinator.yml` line 4" in check.summary and "acme/.github" in check.summary
    assert [a.path for a in check.annotations] == [".github/release-coordinator.yml"]  # org file: not in this repo


# --- the check run a reviewer reads


def test_summary_table_and_missing_team_details():
    evaluation = judge(["infra/a", "app/b"], [review("ivan"), review("anna", commit=OLD)],
                       changed_since={OLD: frozenset({"app/b"})}, config=ApprovalsConfig(teams={INFRA: 2}))
    check = summary(evaluation)
    assert check.name == APPROVALS and check.head_sha == HEAD and check.conclusion is Conclusion.PENDING
    assert check.details_url == "https://rc.example/pulls/acme/x/1#approvals"  # opens the page at its section
    assert check.title == f"Waiting for 2 of 2 groups: {APP} (1 more), {INFRA} (1 more)"
    assert "| owning group | required | approved by | missing |" in check.summary
    assert f"| {INFRA} | 2 | @ivan | 1 |" in check.summary
    assert f"| {APP} | 1 | — | 1 |" in check.summary
    assert "Required by CODEOWNERS line 1 `/infra/` for `infra/a`" in check.summary
    assert "Can approve: @both, @irene" in check.summary  # members with write who have not approved
    assert f"Stale: @anna approved {OLD[:7]}; later commits changed app/b" in check.summary


def test_all_approved_title():
    check = summary(judge(["infra/a", "app/b"], [review("ivan"), review("anna")]))
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "All 2 owning groups approved")


def test_rendering_is_deterministic_for_the_same_facts():
    reviews = [review("ivan"), review("anna"), review("both")]
    first = summary(judge(["infra/a", "app/b"], reviews))
    for _ in range(5):
        assert summary(judge(["infra/a", "app/b"], random.sample(reviews, 3))) == first


def test_long_path_lists_are_cut_to_fit():
    many = [f"infra/file{i:05}.tf" for i in range(3000)]
    check = summary(judge(many))
    assert "and 2990 more" in check.summary and len(check.summary) < 65_535


def test_json_round_trip_keeps_everything_the_page_shows():
    head_rules = Rules(ApprovalsConfig(), None, {}, problems=(Problem(".github/CODEOWNERS", 1, "bad"),))
    evaluation = judge(["infra/a", "app/b", "docs/x"], [review("ivan", commit=OLD), review("anna", C)],
                       changed_since={OLD: None}, head_rules=head_rules)
    assert from_json(to_json(evaluation)) == evaluation


def test_many_deciding_lines_are_summarised_and_the_rest_left_to_the_page():
    paths = [f"infra/f{i}" for i in range(50)]
    ownership = {p: OwnerRule((INFRA,), i + 1, "/" + p) for i, p in enumerate(paths)}
    facts = PullFacts(head_sha=HEAD, author="paul", files=tuple(ChangedFile(p, "added") for p in paths), reviews=(),
                      members={INFRA: frozenset({"ivan"})})
    check = summary(evaluate(facts, Rules(ApprovalsConfig(), ".github/CODEOWNERS", ownership)))
    assert check.summary.count("Required by CODEOWNERS line") == 20
    assert "… and 30 more CODEOWNERS lines for 30 more paths" in check.summary


@pytest.mark.parametrize(
    "paths, required",
    [(["infra/a"], {INFRA: 2}), (["people/x"], {"@alice or @bob or carol@example.com": 2})],
    ids=["team-needs-one-more", "several-individuals-need-one-more"],
)
def test_window_override_label_asks_one_more_approval_per_group(paths, required):
    files = tuple(ChangedFile(p, "modified") for p in paths)
    rules = Rules(ApprovalsConfig(), ".github/CODEOWNERS", {p: owner_of(p) for p in paths}, override_label="emergency-release")
    facts = PullFacts(head_sha=HEAD, author="paul", files=files, reviews=(review("ivan"),),
                      members={INFRA: frozenset(TEAMS[INFRA])}, permissions={"ivan": Permission.WRITE})
    evaluation = evaluate(facts, rules)
    assert {g.key: g.required for g in evaluation.groups} == required and not evaluation.passed
    assert "The `emergency-release` label overrides the release window" in summary(evaluation).summary
    assert from_json(to_json(evaluation)) == evaluation


def test_team_whose_only_member_is_the_author_says_nobody_can_approve():
    evaluation = judge(["infra/a"], [], author="ivan", teams={**TEAMS, INFRA: {"ivan"}})
    assert groups(evaluation)[INFRA].can_unblock == ()
    assert "Nobody else can approve" in summary(evaluation).summary


def test_pull_request_with_more_files_than_github_lists_never_passes():
    files = tuple(ChangedFile(f"README{i}.md", "modified") for i in range(3000))  # all unowned, yet unknowable beyond
    facts = PullFacts(head_sha=HEAD, author="paul", files=files, reviews=(), files_truncated=True)
    evaluation = evaluate(facts, Rules(ApprovalsConfig(), ".github/CODEOWNERS", {}))
    check = summary(evaluation)
    assert not evaluation.passed and check.conclusion is Conclusion.FAILURE
    assert check.title.startswith("Too many files") and "split the pull request" in check.summary
    assert from_json(to_json(evaluation)) == evaluation


def test_lookups_needed_only_for_approvals_that_would_count():
    paths = ("infra/a", "app/b")
    files = tuple(ChangedFile(p, "modified") for p in paths)
    rules = Rules(ApprovalsConfig(), ".github/CODEOWNERS", {p: owner_of(p) for p in paths})
    reviews = (review("ivan"), review("irene", commit=OLD), review("paul"), review("stranger", commit=GONE),
               review("anna", C), review("both"))
    facts = PullFacts(head_sha=HEAD, author="paul", files=files, reviews=reviews,
                      members={t: frozenset(m) for t, m in TEAMS.items()})
    # irene's commit is unknown but she is not needed (ivan counts for infra); paul is the author; the stranger
    # is in no group (so GONE is never compared); anna requests changes.
    assert lookups_needed(facts, rules) == Lookups(logins=("both", "ivan"))
    stale_first = PullFacts(**{**facts.__dict__, "reviews": (review("irene", commit=OLD), review("both"))})
    assert lookups_needed(stale_first, rules) == Lookups(commits=(OLD,))  # compared before any access check


@settings(max_examples=120, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["ivan", "irene", "both", "anna", "andy"]),
                    st.tuples(st.sampled_from(list(Permission)), st.sampled_from([HEAD, OLD, GONE])), min_size=1),
    st.integers(1, 2), st.integers(1, 2), st.booleans(),
)
def test_looking_up_only_what_decides_gives_the_full_knowledge_answer(reviewers, infra_min, app_min, distinct):
    paths = ("infra/a", "app/b")
    files = tuple(ChangedFile(p, "modified") for p in paths)
    config = ApprovalsConfig(teams={INFRA: infra_min, APP: app_min}, distinct=distinct)
    rules = Rules(config, ".github/CODEOWNERS", {p: owner_of(p) for p in paths})
    world_changed = {OLD: frozenset({"infra/a"}), GONE: None}
    world_access = {user: access for user, (access, _) in reviewers.items()}
    facts = PullFacts(head_sha=HEAD, author="paul", files=files,
                      reviews=tuple(review(u, commit=c) for u, (_, c) in sorted(reviewers.items())),
                      members={t: frozenset(m) for t, m in TEAMS.items()})
    truth = evaluate(PullFacts(**{**facts.__dict__, "permissions": world_access, "changed_since": world_changed}), rules)
    while lookups := lookups_needed(facts, rules):
        facts = PullFacts(**{**facts.__dict__,
                             "changed_since": {**facts.changed_since, **{c: world_changed[c] for c in lookups.commits}},
                             "permissions": {**facts.permissions, **{u: world_access[u] for u in lookups.logins}}})
    lazy = evaluate(assume_best(facts), rules)
    assert lazy.passed == truth.passed
    assert [g.missing for g in lazy.groups] == [g.missing for g in truth.groups]


@pytest.mark.parametrize("teams, expected", [
    ({"@o/a": TeamInfo(frozenset({"ann", "bo"}), Permission.WRITE)}, {"ann": Permission.WRITE, "bo": Permission.WRITE}),
    ({"@o/a": TeamInfo(frozenset({"ann"}), Permission.WRITE), "@o/b": TeamInfo(frozenset({"ann"}), Permission.ADMIN)},
     {"ann": Permission.ADMIN}),  # the highest grant wins
    ({"@o/a": TeamInfo(frozenset({"ann"}), Permission.TRIAGE)}, {}),  # below write settles nothing
    ({"@o/a": None}, {}),  # a team we cannot see vouches for nobody
])
def test_team_grants_are_a_floor_only_from_write_up(teams, expected):
    assert granted_by_teams(teams) == expected
