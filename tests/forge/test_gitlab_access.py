"""GitLabAccess over `responses` (FakeGitLab + its access slice): protected branches, approval settings and rules,
members and group shares, as bot.core.access values; the drift issue; a missing permission."""
from __future__ import annotations

import pytest
import responses

from bot.core.access import APPROVALS_CHECK, Reviews, evaluate, target_for
from bot.core.access_policy import AccessPolicy
from bot.forge.access import access_for
from bot.forge.gitlab import GitLabForge
from bot.forge.gitlab.forge import client
from tests.forge.fakegitlab import FakeGitLab
from tests.forge.fakegitlab_access import install, protected_branch

REPO = "acme/platform/infra"


@pytest.fixture
def gl():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gl = FakeGitLab().register(rsps)
        gl.add_commit(REPO, {"README.md": "x"}, branch="main")
        yield gl


@pytest.fixture
def world(gl):
    return install(gl)


@pytest.fixture
def access(world):
    return access_for(GitLabForge(client("https://gitlab.example.com", "glpat-t"), retry=None, clock=lambda: 1.8e9))


def target():
    return target_for(REPO, roles=("infrastructure",), policy=AccessPolicy(), owning_teams=frozenset({"@acme/platform/infra-team"}),
                      codeowners_path="CODEOWNERS", invalidate_on_push="owned-files", windows=False)


def test_a_well_protected_project_is_clean(gl, world, access):
    world.protected[REPO] = [protected_branch("main", push=0, code_owners=True)]
    world.rules[REPO] = [{"id": 1, "name": "infra", "rule_type": "regular", "approvals_required": 2, "protected_branches": []}]
    world.shares[REPO] = [{"group_id": 7, "group_full_path": "acme/platform/infra-team", "group_access_level": 40},
                          {"group_id": 8, "group_full_path": "acme/apps", "group_access_level": 20}]
    world.pipelines_must_succeed.add(REPO)
    gl.project(REPO).members = {"reporter": 20}
    assert access.installation_repos() == ((REPO, "main"),)
    state = access.read_repo(REPO, branch="main")
    [p] = state.protections
    assert p.reviews == Reviews(2, True, True, author_can_approve=False) and p.checks == {"*"} and p.bypass == frozenset()
    assert [(t.who, t.permission) for t in state.teams] == [("@acme/platform/infra-team", "maintain"), ("@acme/apps", "triage")]
    audit = evaluate(target(), state)
    assert [f.code for f in audit.drift] == []


def test_developers_who_can_push_author_approval_and_a_shared_writer_group_are_drift(gl, world, access):
    world.protected[REPO] = [protected_branch("ma*", push=30, force=True)]  # a wildcard protects main too
    world.approvals[REPO] = {"approvals_before_merge": 1, "reset_approvals_on_push": False, "merge_requests_author_approval": True}
    world.shares[REPO] = [{"group_id": 8, "group_full_path": "acme/apps", "group_access_level": 30}]
    gl.project(REPO).members = {"mallory": 40}
    audit = evaluate(target(), access.read_repo(REPO, branch="main"))
    drift = {f.code: f for f in audit.drift}
    assert set(drift) == {"approvals", "code-owner-review", "required-check", "force-push", "author-approval", "bypass",
                          "writer-team", "writer-person"}
    assert drift["required-check"].fix.api == "PUT /projects/acme%2Fplatform%2Finfra only_allow_merge_if_pipeline_succeeds=true"
    assert "role:write can bypass" in drift["bypass"].actual
    assert "lower mallory to Reporter" in drift["writer-person"].fix.where


def test_free_tier_or_a_developer_token_is_unverified_naming_what_to_grant(gl, world, access):
    world.premium = False
    gl.fail("GET", r"/protected_branches$", 403, body={"message": "403 Forbidden"})
    state = access.read_repo(REPO, branch="main")
    assert [u.what for u in state.unreadable] == ["branch protection", "approval rules"]
    audit = evaluate(target(), state)
    assert audit.drift == () and len(audit.unverified) == 2  # never a false clean, never a guessed drift
    assert state.can_enforce is False


def test_the_issue_is_created_found_and_closed(gl, world, access):
    issue = access.create_issue(REPO, title="Access control drift", body="<!-- release-coordinator:access -->\nx")
    assert access.find_issue(REPO, title="Access control drift") == issue
    access.edit_issue(REPO, issue.number, state="closed")
    assert access.find_issue(REPO, title="Access control drift", number=issue.number).state == "closed"
