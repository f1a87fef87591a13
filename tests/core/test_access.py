"""bot.core.access over plain data: the policy resolved per repository, the findings, the enforce plan."""
import json

import pytest

from bot.core.access import (
    APPROVALS_CHECK, MANIFEST_CHECK, WINDOW_CHECK, Grant, Protection, RepoState, Report, Reviews, Severity,
    Unreadable, evaluate, from_json, not_visible, owning_teams, plan, target_for, to_json,
)
from bot.core.access_policy import AccessPolicy, AccessRule
from bot.core.access_render import IssueView, issue_step, render_check, render_issue
from bot.core.checks import Conclusion

REPO = "acme/infra"
INFRA = "@acme/infra-team"
ALL = frozenset({APPROVALS_CHECK})


def target(roles=("infrastructure",), policy=AccessPolicy(), teams=frozenset({INFRA}), invalidate="owned-files", windows=False):
    return target_for(REPO, roles=roles, policy=policy, owning_teams=teams, codeowners_path=".github/CODEOWNERS",
                      invalidate_on_push=invalidate, windows=windows)


def good_classic(**overrides):
    fields = dict(kind="branch protection", reviews=Reviews(2, True, False), checks=ALL, blocks_force_push=True,
                  blocks_deletion=True, bypass=frozenset())
    fields.update(overrides)
    return Protection(**fields)


def state(*protections, teams=(Grant(INFRA, "write", "team"),), people=(), unreadable=(), base=None):
    return RepoState(REPO, "main", protections=protections, teams=teams, people=people, unreadable=unreadable,
                     base_permission=base, settings_url=f"https://github.com/{REPO}", api=f"/repos/{REPO}")


def codes(audit, severity=Severity.DRIFT):
    return sorted(f.code for f in audit.findings if f.severity is severity)


CASES = {
    "classic protection meeting the policy": (state(good_classic()), []),
    "nothing protects the branch": (state(), ["unprotected"]),
    "one approval where infra needs two": (state(good_classic(reviews=Reviews(1, True, False))), ["approvals"]),
    "no code-owner review": (state(good_classic(reviews=Reviews(2, False, False))), ["code-owner-review"]),
    "approvals check not required": (state(good_classic(checks=frozenset({"ci"}))), ["required-check"]),
    "force pushes and deletion allowed": (state(good_classic(blocks_force_push=False, blocks_deletion=False)),
                                          ["deletion", "force-push"]),
    "admins exempt from branch protection": (state(good_classic(bypass=frozenset({"role:admin"}))),
                                             ["bypass"]),
    "an org ruleset gives the reviews, branch protection the rest": (state(
        good_classic(reviews=Reviews(1, False, False)),
        Protection("ruleset", "org baseline", 7, "organization", reviews=Reviews(2, True, False))), []),
    "ruleset alone, layered repo + org": (state(
        Protection("ruleset", "org", 1, "organization", checks=ALL, blocks_force_push=True, blocks_deletion=True),
        Protection("ruleset", "repo", 2, "repository", reviews=Reviews(3, True, True))), []),
    "another team can write": (state(good_classic(), teams=(Grant(INFRA, "write", "team"), Grant("@acme/app-team", "maintain", "team"))),
                               ["writer-team"]),
    "a team with triage is fine": (state(good_classic(), teams=(Grant(INFRA, "admin", "team"), Grant("@acme/app-team", "triage", "team"))), []),
    "a person with direct write": (state(good_classic(), people=(Grant("mallory", "write", "direct"),)), ["writer-person"]),
    "an outside collaborator with write": (state(good_classic(), people=(Grant("vendor", "admin", "outside collaborator"),)),
                                           ["outside-collaborator"]),
    "org base permission write": (state(good_classic(), base="write"), ["base-permission"]),
}


@pytest.mark.parametrize("name", CASES)
def test_findings(name):
    given, expected = CASES[name]
    assert codes(evaluate(target(), given)) == sorted(expected)


def test_staleness_needs_dismissal_only_when_our_check_does_not_discard_stale_approvals():
    assert codes(evaluate(target(invalidate="never"), state(good_classic()))) == ["stale-reviews"]
    assert codes(evaluate(target(invalidate="never"), state(good_classic(reviews=Reviews(2, True, True))))) == []
    no_checks = AccessPolicy(require_checks=False)
    assert codes(evaluate(target(policy=no_checks), state(good_classic()))) == ["stale-reviews"]


def test_a_bypass_the_policy_lists_is_no_drift():
    allowed = AccessPolicy(bypass=("role:admin",))
    assert codes(evaluate(target(policy=allowed), state(good_classic(bypass=frozenset({"role:admin"}))))) == []


def test_hidden_bypass_list_is_a_notice_not_a_false_drift_or_clean():
    audit = evaluate(target(), state(Protection("ruleset", "org", 1, "organization", reviews=Reviews(2, True, False),
                                                checks=ALL, blocks_force_push=True, blocks_deletion=True, bypass=None)))
    assert codes(audit) == [] and codes(audit, Severity.NOTICE) == ["bypass-hidden"]


def test_missing_permission_is_one_unverified_finding_naming_it_and_no_false_drift():
    perm = "Repository permissions > Administration: read"
    given = state(unreadable=(Unreadable("branch protection", perm, "403 Resource not accessible by integration"),
                              Unreadable("teams", perm, "403")))
    audit = evaluate(target(), given)
    assert codes(audit) == []  # rulesets alone say nothing either way: no "unprotected"
    [finding] = audit.unverified
    assert perm in finding.fix.where and "branch protection" in finding.expected and "teams" in finding.expected
    report = Report("acme/release", (audit,))
    assert report.status == "unverified"
    check = render_check(report, head_sha="a" * 40, details_url=None)
    assert check.conclusion is Conclusion.FAILURE and "permission is missing" in check.title


def test_each_finding_says_expected_actual_and_the_exact_call():
    audit = evaluate(target(), state(good_classic(reviews=Reviews(1, True, False)),
                                     teams=(Grant(INFRA, "write", "team"), Grant("@acme/app-team", "write", "team"))))
    by_code = {f.code: f for f in audit.findings}
    assert by_code["approvals"].expected == "at least 2 approving review(s) required"
    assert by_code["approvals"].actual == "1 required"
    assert by_code["approvals"].fix.api == "PUT /repos/acme/infra/branches/main/protection"
    assert by_code["writer-team"].fix.api == "PUT /orgs/acme/teams/app-team/repos/acme/infra"
    assert json.loads(by_code["writer-team"].fix.body) == {"permission": "triage"}


def test_target_for_release_repo_that_is_also_infra_takes_the_stricter_rule_and_the_release_checks():
    policy = AccessPolicy(release=AccessRule(writers=("@acme/app-team", "@acme/infra-team"), min_approvals=1))
    t = target(roles=("release", "infrastructure"), policy=policy, windows=True)
    assert t.min_approvals == 2 and t.writers == {INFRA}  # the component kind's writers (owning teams)
    assert t.checks == {APPROVALS_CHECK, MANIFEST_CHECK, WINDOW_CHECK}
    release_only = target(roles=("release",), policy=policy)
    assert release_only.writers == {"@acme/app-team", INFRA} and WINDOW_CHECK not in release_only.checks


def test_owning_teams_are_the_team_owners_only():
    assert owning_teams(["@acme/Infra", "@octocat", "dev@example.com", "@grp/sub/team"]) == {"@acme/infra", "@grp/sub/team"}


def test_plan_raises_branch_protection_and_keeps_what_is_there():
    current = {"required_status_checks": {"strict": True, "checks": [{"context": "ci/build"}]}, "enforce_admins": False,
               "required_pull_request_reviews": {"required_approving_review_count": 4, "require_code_owner_reviews": False,
                                                 "dismiss_stale_reviews": True, "require_last_push_approval": True},
               "restrictions": {"users": [], "teams": ["infra-team"], "apps": []}, "required_linear_history": True,
               "allow_force_pushes": True, "allow_deletions": False}
    classic = good_classic(reviews=Reviews(4, False, True), checks=frozenset({"ci/build"}), blocks_force_push=False,
                           bypass=frozenset({"role:admin"}), settings_json=json.dumps(current))
    [change] = plan(target(), state(classic))
    body = change.body
    assert (change.method, change.path) == ("PUT", "/repos/acme/infra/branches/main/protection")
    reviews = body["required_pull_request_reviews"]
    assert reviews["required_approving_review_count"] == 4  # never lowered to the policy's 2
    assert reviews["require_code_owner_reviews"] and reviews["dismiss_stale_reviews"] and reviews["require_last_push_approval"]
    assert body["required_status_checks"] == {"strict": True, "checks": [{"context": "ci/build"}, {"context": APPROVALS_CHECK}]}
    assert body["enforce_admins"] is True and body["allow_force_pushes"] is False
    assert body["restrictions"] == {"users": [], "teams": ["infra-team"], "apps": []} and body["required_linear_history"]


def test_plan_creates_our_ruleset_when_nothing_protects_and_updates_it_later():
    [create] = plan(target(), state())
    assert (create.method, create.path) == ("POST", "/repos/acme/infra/rulesets")
    rules = {r["type"]: r for r in create.body["rules"]}
    assert rules["pull_request"]["parameters"]["required_approving_review_count"] == 2
    assert rules["required_status_checks"]["parameters"]["required_status_checks"] == [{"context": APPROVALS_CHECK}]
    assert {"non_fast_forward", "deletion"} <= set(rules)
    assert create.body["conditions"] == {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}}
    ours = Protection("ruleset", "release-coordinator", 31, "repository", reviews=Reviews(1, True, False), checks=ALL,
                      blocks_force_push=True, blocks_deletion=True,
                      settings_json=json.dumps([{"type": "pull_request", "parameters": {"required_approving_review_count": 1}},
                                                {"type": "required_linear_history"}]))
    [update] = plan(target(), state(ours))
    assert (update.method, update.path) == ("PUT", "/repos/acme/infra/rulesets/31")
    assert "required_linear_history" in {r["type"] for r in update.body["rules"]}  # someone's extra rule kept


def test_plan_touches_access_only_with_enforce_permissions():
    extra = state(good_classic(), teams=(Grant(INFRA, "write", "team"), Grant("@acme/app-team", "write", "team")),
                  people=(Grant("mallory", "admin", "direct"),))
    assert plan(target(policy=AccessPolicy(enforce=True)), extra) == ()
    changes = plan(target(policy=AccessPolicy(enforce=True, enforce_permissions=True)), extra)
    assert [(c.method, c.path, c.body) for c in changes] == [
        ("PUT", "/orgs/acme/teams/app-team/repos/acme/infra", {"permission": "triage"}),
        ("PUT", "/repos/acme/infra/collaborators/mallory", {"permission": "triage"})]


def test_plan_never_writes_what_it_could_not_read():
    unread = state(unreadable=(Unreadable("branch protection", "Administration: read"),))
    assert plan(target(policy=AccessPolicy(enforce=True)), unread) == ()


ISSUE_CASES = {
    "drift, no issue yet": (None, "drift", "create"),
    "drift, issue closed": (IssueView(4, "closed", "old"), "drift", "reopen"),
    "drift, issue open with other text": (IssueView(4, "open", "old"), "drift", "edit"),
    "clean, issue open": (IssueView(4, "open", "old"), "clean", "close"),
    "clean, issue closed": (IssueView(4, "closed", "old"), "clean", "none"),
    "clean, no issue": (None, "clean", "none"),
}


@pytest.mark.parametrize("name", ISSUE_CASES)
def test_issue_step(name):
    existing, status, step = ISSUE_CASES[name]
    audit = evaluate(target(), state() if status == "drift" else state(good_classic()))
    assert issue_step(existing, Report("acme/release", (audit,))) == step


def test_open_issue_with_the_same_text_is_left_alone():
    report = Report("acme/release", (evaluate(target(), state()),))
    assert issue_step(IssueView(4, "open", render_issue(report)), report) == "none"


def test_report_round_trips_through_json_and_renders():
    report = Report("acme/release", (evaluate(target(), state()), not_visible("acme/app", detail="not installed")),
                    applied=("`acme/infra`: create ruleset",))
    again = from_json(json.loads(json.dumps(to_json(report))))
    assert again.status == report.status == "drift"
    assert [f.code for r in again.repos for f in r.findings] == [f.code for r in report.repos for f in r.findings]
    check = render_check(report, head_sha="b" * 40, details_url="https://rc.example/access/github/acme/release?sig=x")
    assert check.title == "1 setting drifted in 1 of 2 repositories"
    assert "| `acme/infra` | nothing | 1 | 0 |" in check.summary and "Changed by `access.enforce`" in check.summary
    assert "POST /repos/acme/infra/rulesets" in check.text
