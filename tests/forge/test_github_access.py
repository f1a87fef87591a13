"""GitHubAccess over `responses` (FakeGitHub + its access slice): what is read, how it maps, how many requests."""
from __future__ import annotations

import datetime as dt

import github
import pytest
import responses
from github import Auth

from bot.core.access import APPROVALS_CHECK, Reviews
from bot.forge.access import access_for
from bot.forge.github import GitHubForge
from tests.forge.fakegithub import FakeGitHub
from tests.forge.fakegithub_access import install, ruleset

NOW = dt.datetime(2026, 12, 3, 10, tzinfo=dt.timezone.utc).timestamp()
REPO = "acme/infra"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def gh(rsps):
    gh = FakeGitHub().register(rsps)
    gh.add_commit(REPO, {"README.md": "hi"}, branch="main")
    return gh


@pytest.fixture
def world(gh):
    world = install(gh)
    world.installed = [REPO]
    world.orgs = {"acme"}
    return world


@pytest.fixture
def clock():
    return {"now": NOW}


@pytest.fixture
def access(clock, world):
    client = github.Github(auth=Auth.Token("t"), base_url="https://api.github.com", seconds_between_requests=None,
                           seconds_between_writes=None)
    role = access_for(GitHubForge(client, app_id=4242, clock=lambda: clock["now"]))
    assert role.installation_repos() == ((REPO, "main"),)  # also learns that acme is an organization
    return role


CLASSIC = {
    "url": f"https://api.github.com/repos/{REPO}/branches/main/protection",
    "required_status_checks": {"strict": True, "contexts": [APPROVALS_CHECK],
                               "checks": [{"context": APPROVALS_CHECK, "app_id": 4242}]},
    "enforce_admins": {"enabled": False},
    "required_pull_request_reviews": {"dismiss_stale_reviews": False, "require_code_owner_reviews": True,
                                      "required_approving_review_count": 2, "require_last_push_approval": False,
                                      "bypass_pull_request_allowances": {"users": [{"login": "hotfixer"}], "teams": [], "apps": []}},
    "allow_force_pushes": {"enabled": False}, "allow_deletions": {"enabled": True},
    "required_linear_history": {"enabled": True},
}


def paths(gh):
    return [f"{c.method} {c.path.split('?')[0]}" for c in gh.calls]


def test_classic_protection_present(gh, world, access):
    world.protection[(REPO, "main")] = CLASSIC
    state = access.read_repo(REPO, branch="main")
    [classic] = state.protections
    assert classic.kind == "branch protection" and classic.reviews == Reviews(2, True, False)
    assert classic.checks == {APPROVALS_CHECK} and classic.blocks_force_push and not classic.blocks_deletion
    assert classic.bypass == {"role:admin", "@hotfixer"}  # enforce_admins off; a review bypass allowance
    settings = classic.settings  # the PUT body that reproduces it, for enforce
    assert settings["required_status_checks"] == {"strict": True, "checks": [{"context": APPROVALS_CHECK, "app_id": 4242}]}
    assert settings["required_linear_history"] is True and settings["allow_deletions"] is True
    assert settings["required_pull_request_reviews"]["bypass_pull_request_allowances"] == {"users": ["hotfixer"], "teams": [], "apps": []}


def test_no_protection_is_a_404_and_reads_as_none(gh, world, access):
    state = access.read_repo(REPO, branch="main")
    assert state.protections == () and state.unreadable == ()
    assert any(c.status == 404 and c.path.endswith("/branches/main/protection") for c in gh.calls)


def test_rulesets_at_org_and_repo_level_are_layered(gh, world, access):
    world.rulesets[7] = ruleset(7, "org baseline", source="acme", source_type="Organization", include=("~ALL",),
                                rules=[{"type": "deletion"}, {"type": "non_fast_forward"},
                                       {"type": "pull_request", "parameters": {"required_approving_review_count": 1,
                                                                              "require_code_owner_review": False,
                                                                              "dismiss_stale_reviews_on_push": True}}],
                                bypass_actors=[{"actor_id": 1, "actor_type": "OrganizationAdmin", "bypass_mode": "always"}])
    world.rulesets[9] = ruleset(9, "infra main", source=REPO,
                                rules=[{"type": "pull_request", "parameters": {"required_approving_review_count": 2,
                                                                              "require_code_owner_review": True}},
                                       {"type": "required_status_checks", "parameters": {
                                           "required_status_checks": [{"context": APPROVALS_CHECK, "integration_id": 4242}],
                                           "strict_required_status_checks_policy": False}}],
                                bypass_actors=[{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"},
                                               {"actor_id": 77, "actor_type": "Team", "bypass_mode": "pull_request"}])
    world.rulesets[11] = ruleset(11, "evaluate only", source=REPO, enforcement="evaluate", rules=[{"type": "deletion"}])
    world.rulesets[12] = ruleset(12, "other branch", source=REPO, include=("refs/heads/release/*",), rules=[{"type": "deletion"}])
    world.teams[REPO] = [{"id": 77, "slug": "infra-team", "permission": "push"}]
    state = access.read_repo(REPO, branch="main")
    org, repo = state.protections
    assert (org.level, org.name, org.bypass) == ("organization", "org baseline", {"org-admins"})
    assert org.blocks_deletion and org.blocks_force_push and org.reviews == Reviews(1, False, True)
    assert (repo.level, repo.name, repo.checks) == ("repository", "infra main", {APPROVALS_CHECK})
    assert repo.bypass == {"role:admin", "@acme/infra-team"}  # the team's id named through the repo's teams


def test_hidden_bypass_actors_read_as_unknown(gh, world, access):
    world.rulesets[9] = ruleset(9, "infra main", source=REPO, rules=[{"type": "deletion"}])
    world.hide_bypass = True
    [rs] = access.read_repo(REPO, branch="main").protections
    assert rs.bypass is None


def test_team_permissions_and_outside_collaborators(gh, world, access):
    world.teams[REPO] = [{"id": 1, "slug": "infra-team", "permission": "maintain"},
                         {"id": 2, "slug": "app-team", "permission": "triage"}]
    world.collaborators[REPO] = [("alice", "admin"), ("vendor", "write"), ("reader", "read")]
    world.outside["acme"] = ["vendor"]
    world.base_permission["acme"] = "read"
    state = access.read_repo(REPO, branch="main")
    assert [(t.who, t.permission) for t in state.teams] == [("@acme/infra-team", "maintain"), ("@acme/app-team", "triage")]
    assert [(p.who, p.permission, p.via) for p in state.people] == [
        ("alice", "admin", "direct"), ("vendor", "write", "outside collaborator"), ("reader", "read", "direct")]
    assert state.base_permission == "read"


def test_a_403_for_a_missing_permission_becomes_unreadable_naming_it(gh, world, access):
    gh.fail("GET", r"/branches/main/protection$", 403, body={"message": "Resource not accessible by integration"},
            headers={"X-Accepted-GitHub-Permissions": "administration=read"})
    gh.fail("GET", r"/repos/acme/infra/teams$", 403, body={"message": "Resource not accessible by integration"})
    state = access.read_repo(REPO, branch="main")
    assert [(u.what, u.permission) for u in state.unreadable] == [
        ("branch protection", "Repository permissions > Administration: read (GitHub asks for: administration=read)"),
        ("teams", "Repository permissions > Administration: read")]


def test_a_private_repo_on_the_free_plan_says_so_rather_than_blaming_a_permission(gh, world, access):
    gh.fail("GET", r"/branches/main/protection$", 403,
            body={"message": "Upgrade to GitHub Pro or make this repository public to enable this feature."})
    [unread] = access.read_repo(REPO, branch="main").unreadable
    assert unread.what == "branch protection" and "GitHub Pro" in unread.permission


def test_requests_cold_and_warm(gh, world, access, clock):
    world.protection[(REPO, "main")] = CLASSIC
    world.rulesets[7] = ruleset(7, "org baseline", source="acme", source_type="Organization", include=("~ALL",),
                                rules=[{"type": "deletion"}])
    world.teams[REPO] = [{"id": 1, "slug": "infra-team", "permission": "push"}]
    access.installation_repos()
    start = len(gh.calls)
    first = access.read_repo(REPO, branch="main")
    cold = paths(gh)[start:]
    assert cold == ["GET /repos/acme/infra/branches/main/protection", "GET /repos/acme/infra/rules/branches/main",
                    "GET /repos/acme/infra/rulesets/7", "GET /repos/acme/infra/teams", "GET /repos/acme/infra/collaborators",
                    "GET /orgs/acme/outside_collaborators", "GET /orgs/acme"]
    clock["now"] += 3600  # the next day's run: fresh answers expired, ETags kept
    start = len(gh.calls)
    assert access.read_repo(REPO, branch="main") == first
    warm = gh.calls[start:]
    assert len(warm) == len(cold) and all(c.status == 304 for c in warm)  # conditional: no rate limit spent
    assert all("If-None-Match" in c.headers for c in warm)


def test_issue_is_found_again_by_its_marker_and_edited_in_place(gh, world, access):
    created = access.create_issue("acme/release", title="Access control drift", body="<!-- release-coordinator:access -->\nx")
    assert access.find_issue("acme/release", title="Access control drift").number == created.number
    access.edit_issue("acme/release", created.number, body="<!-- release-coordinator:access -->\ny", state="closed")
    found = access.find_issue("acme/release", title="Access control drift", number=created.number)
    assert (found.state, found.body.endswith("y")) == ("closed", True)
    [patch] = [c for c in gh.calls if c.method == "PATCH"]
    assert patch.body == {"body": "<!-- release-coordinator:access -->\ny", "state": "closed", "state_reason": "completed"}
