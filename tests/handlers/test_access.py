"""The access handler over the shared FakeForge: which repos are audited by which policy, the check, the issue,
enforce, the daily run."""
import datetime as dt

import pytest

from bot.core.access import ACCESS, APPROVALS_CHECK, MANIFEST_CHECK, Grant, Protection, RepoState, Reviews
from bot.core.access_render import ISSUE_TITLE
from bot.core.checks import Conclusion
from bot.handlers import Context
from bot.handlers.access import INDEX_KEY, audit, audit_and_publish, on_settings_changed, periodic, report_key
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

NOW = dt.datetime(2026, 12, 3, 10, tzinfo=dt.timezone.utc)
RELEASE, INFRA, APP = "acme/release", "acme/infra", "acme/payments"
RELEASE_CONFIG = f"""
release: {{manifest: release.yml}}
components:
  payments: {{repo: {APP}, kind: application}}
  infra: {{repo: {INFRA}, kind: infrastructure}}
access:
  release: {{writers: ["@acme/release-managers"], min_approvals: 1}}
"""
GOOD = dict(checks=frozenset({APPROVALS_CHECK, MANIFEST_CHECK}), blocks_force_push=True, blocks_deletion=True)


def protected(repo, approvals, *, checks=frozenset({APPROVALS_CHECK}), teams=()):
    return RepoState(repo, "main", protections=(Protection("branch protection", reviews=Reviews(approvals, True, False),
                                                           **{**GOOD, "checks": checks}),),
                     teams=teams, api=f"/repos/{repo}", settings_url=f"https://github.com/{repo}")


@pytest.fixture
def forge():
    forge = FakeForge()
    forge.add_file(RELEASE, ".github/release-coordinator.yml", RELEASE_CONFIG)
    forge.add_file(INFRA, ".github/CODEOWNERS", "* @acme/infra-team\n")
    forge.add_file(APP, ".github/CODEOWNERS", "* @acme/payments-team\ndocs/ @acme/docs\n")
    forge.add_file(APP, ".github/release-coordinator.yml", "access:\n  application: {min_approvals: 2}\n")
    forge.repos[RELEASE].branches["main"] = "c" * 40
    forge.access.branches = {RELEASE: "main", INFRA: "main", APP: "main", "acme/unrelated": "main"}
    forge.access.states = {
        RELEASE: protected(RELEASE, 1, checks=frozenset({APPROVALS_CHECK, MANIFEST_CHECK}),
                           teams=(Grant("@acme/release-managers", "write", "team"),)),
        INFRA: protected(INFRA, 2, teams=(Grant("@acme/infra-team", "admin", "team"),)),
        APP: protected(APP, 2, teams=(Grant("@acme/payments-team", "write", "team"), Grant("@acme/docs", "write", "team"))),
    }
    return forge


@pytest.fixture
def ctx(forge):
    return Context(forge=forge, now=NOW, public_url="https://rc.example", store=DictStore(), details_link_key="k")


def test_each_managed_repo_is_judged_by_its_policy(forge):
    [item] = audit(forge, enforce=False)
    assert [a.repo for a in item.report.repos] == [RELEASE, APP, INFRA]  # acme/unrelated is not managed
    targets = {a.repo: a.target for a in item.report.repos}
    assert targets[INFRA].writers == {"@acme/infra-team"} and targets[INFRA].min_approvals == 2
    assert targets[APP].writers == {"@acme/payments-team", "@acme/docs"}  # owning teams from its CODEOWNERS
    assert targets[APP].min_approvals == 2  # the repo's own file overrides the default 1
    assert targets[RELEASE].writers == {"@acme/release-managers"} and MANIFEST_CHECK in targets[RELEASE].checks
    assert item.report.status == "clean"


def test_clean_audit_posts_a_green_check_and_no_issue(ctx, forge):
    audit_and_publish(ctx, account=1)
    check = forge.checks_on(RELEASE, "c" * 40)[ACCESS]
    assert check.conclusion is Conclusion.SUCCESS and check.title == "Access matches the policy (3 repositories)"
    assert check.details_url.startswith("https://rc.example/access/github/acme/release?sig=")
    assert forge.access.issues[RELEASE] == []
    assert ctx.store.get_json(INDEX_KEY)[f"github:{RELEASE}"]["status"] == "clean"


def test_drift_opens_one_issue_edits_it_closes_it_and_reopens_it(ctx, forge):
    forge.access.states[INFRA] = protected(INFRA, 1, teams=(Grant("@acme/infra-team", "admin", "team"),
                                                            Grant("@acme/payments-team", "write", "team")))
    audit_and_publish(ctx, account=1)
    [issue] = forge.access.issues[RELEASE]
    assert issue["title"] == ISSUE_TITLE and issue["state"] == "open"
    assert "@acme/payments-team has write" in issue["body"] and "PUT /orgs/acme/teams/payments-team/repos/acme/infra" in issue["body"]
    assert forge.checks_on(RELEASE, "c" * 40)[ACCESS].conclusion is Conclusion.FAILURE
    audit_and_publish(ctx, account=1)  # nothing changed: no edit
    assert forge.access.calls["edit_issue"] == 0 and len(forge.access.issues[RELEASE]) == 1
    forge.access.states[INFRA] = protected(INFRA, 2, teams=(Grant("@acme/infra-team", "admin", "team"),))
    audit_and_publish(ctx, account=1)
    assert issue["state"] == "closed"
    forge.access.states[APP] = RepoState(APP, "main", api=f"/repos/{APP}")  # protection removed
    audit_and_publish(ctx, account=1)
    assert issue["state"] == "open" and "Default branch is not protected" in issue["body"]
    assert len(forge.access.issues[RELEASE]) == 1  # the same issue, reopened


def test_a_component_the_app_cannot_see_is_unverified_not_clean(ctx, forge):
    forge.access.hidden.add(INFRA)
    audit_and_publish(ctx, account=1)
    report = ctx.store.get_json(report_key("github", RELEASE))
    assert report["status"] == "unverified"
    assert [f["code"] for r in report["repos"] if r["repo"] == INFRA for f in r["findings"]] == ["not-visible"]


def test_enforce_applies_the_plan_lists_it_in_the_issue_and_judges_the_result(ctx, forge):
    forge.add_file(INFRA, ".github/release-coordinator.yml", "access:\n  enforce: true\n")
    forge.access.states[INFRA] = RepoState(INFRA, "main", teams=(Grant("@acme/infra-team", "admin", "team"),), api=f"/repos/{INFRA}")
    forge.access.after_apply[INFRA] = protected(INFRA, 2, teams=(Grant("@acme/infra-team", "admin", "team"),))
    audit_and_publish(ctx, account=1)
    [(method, path, body)] = forge.access.applied
    assert (method, path) == ("POST", f"/repos/{INFRA}/rulesets") and body["name"] == "release-coordinator"
    report = ctx.store.get_json(report_key("github", RELEASE))
    assert report["status"] == "clean" and "create ruleset 'release-coordinator'" in report["applied"][0]


def test_enforce_without_administration_write_says_so(ctx, forge):
    forge.add_file(INFRA, ".github/release-coordinator.yml", "access:\n  enforce: true\n")
    forge.access.states[INFRA] = RepoState(INFRA, "main", api=f"/repos/{INFRA}")
    forge.access.refuse_writes = True
    audit_and_publish(ctx, account=1)
    [issue] = forge.access.issues[RELEASE]
    assert "could not change" in issue["body"] and "Administration: write" in issue["body"]


def test_settings_events_and_the_daily_run_audit(ctx, forge):
    event = Event(forge="github", name="branch_protection_rule", action="edited", delivery_id="d1", installation_id=9, repo=INFRA)
    on_settings_changed(event, ctx)
    assert forge.access.calls["read_repo"] == 3
    assert periodic(lambda account: ctx, ctx.store, NOW + dt.timedelta(hours=1)) == 0  # audited an hour ago
    assert periodic(lambda account: ctx, ctx.store, NOW + dt.timedelta(hours=25)) == 1
    assert forge.access.calls["read_repo"] == 6


def test_gitlab_is_audited_daily_with_a_commit_status_and_an_issue():
    forge = FakeForge(kind="gitlab")
    project = "acme/platform/release"
    forge.add_file(project, ".gitlab/release-coordinator.yml", "release: {manifest: release.yml}\n")
    forge.add_file(project, "CODEOWNERS", "* @acme/platform\n")
    forge.repos[project].branches["main"] = "d" * 40
    forge.access.branches = {project: "main"}
    forge.access.states = {project: RepoState(project, "main", can_enforce=False, api="/projects/acme%2Fplatform%2Frelease",
                                              fix_hints=(("unprotected", "Settings > Repository > Protected branches",
                                                          "POST /projects/acme%2Fplatform%2Frelease/protected_branches"),))}
    ctx = Context(forge=forge, now=NOW, public_url="https://rc.example", store=DictStore(), details_link_key="k")
    assert periodic(lambda account: ctx, ctx.store, NOW, forge="gitlab") == 1  # no hook to wait for: the first tick
    check = forge.checks_on(project, "d" * 40)[ACCESS]
    assert check.conclusion is Conclusion.FAILURE
    [issue] = forge.access.issues[project]
    assert "POST /projects/acme%2Fplatform%2Frelease/protected_branches" in issue["body"]
    assert forge.access.calls["apply"] == 0  # enforce has no GitLab writes
    assert periodic(lambda account: ctx, ctx.store, NOW + dt.timedelta(hours=2), forge="gitlab") == 0


def test_a_push_to_the_release_repos_default_branch_moves_the_check_to_the_new_head(ctx, forge):
    from bot.handlers.access import on_push

    audit_and_publish(ctx, account=1)
    before = forge.checks_on(RELEASE, "c" * 40)[ACCESS]
    reads = forge.access.calls["read_repo"]
    push = Event(forge="github", name="push", action=None, delivery_id="p1", installation_id=1, repo=RELEASE,
                 default_branch="main", base_ref="main", head_sha="e" * 40)
    on_push(push, ctx)
    after = forge.checks_on(RELEASE, "e" * 40)[ACCESS]
    assert (after.title, after.summary, after.text) == (before.title, before.summary, before.text)
    assert forge.access.calls["read_repo"] == reads  # no new audit
    on_push(Event(forge="github", name="push", action=None, delivery_id="p2", installation_id=1, repo=RELEASE,
                  default_branch="main", base_ref="feature", head_sha="f" * 40), ctx)
    assert forge.checks_on(RELEASE, "f" * 40) == {}


def test_an_invalid_component_config_is_said_and_its_overrides_not_applied(forge):
    forge.add_file(APP, ".github/release-coordinator.yml", "access:\n  application: {min_approvals: many}\n")
    [item] = audit(forge, enforce=False)
    app = next(a for a in item.report.repos if a.repo == APP)
    assert app.target.min_approvals == 1  # the release repo's and defaults' policy
    [notice] = [f for f in app.findings if f.code == "config-invalid"]
    assert "min_approvals must be a whole number" in notice.actual


def test_a_repository_gone_since_the_listing_is_not_visible_rather_than_a_crash(forge):
    from bot.forge.errors import NotFound

    real = forge.access.read_repo

    def read(repo, *, branch):
        if repo == INFRA:
            raise NotFound(f"GET /repos/{repo}/rules/branches/main: 404 Not Found")
        return real(repo, branch=branch)

    forge.access.read_repo = read
    [item] = audit(forge, enforce=False)
    assert [f.code for a in item.report.repos if a.repo == INFRA for f in a.findings] == ["not-visible"]


def test_issues_disabled_still_publishes_the_check(ctx, forge):
    from bot.forge.errors import ForgeError

    forge.access.states[APP] = RepoState(APP, "main", api=f"/repos/{APP}")

    def gone(repo, *, title, body):
        raise ForgeError(f"POST /repos/{repo}/issues: 410 Issues are disabled for this repo")

    forge.access.create_issue = gone
    audit_and_publish(ctx, account=1)
    assert forge.checks_on(RELEASE, "c" * 40)[ACCESS].conclusion is Conclusion.FAILURE
