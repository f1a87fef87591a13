"""The access role's contract, run alike against FakeAccess (tests/fakeforge.py), GitHubAccess over FakeGitHub and
GitLabAccess over FakeGitLab: the drift issue is found again, edited in place, closed and reopened; a repository
the app cannot see has no default branch; the installation lists what it can see."""
from __future__ import annotations

import github
import pytest
import responses
from github import Auth

from bot.core.access_render import ISSUE_MARKER, ISSUE_TITLE
from bot.forge.access import access_for
from bot.forge.github import GitHubForge
from bot.forge.gitlab import GitLabForge
from bot.forge.gitlab.forge import client
from tests.fakeforge import FakeForge
from tests.forge import fakegithub_access, fakegitlab_access
from tests.forge.fakegithub import FakeGitHub
from tests.forge.fakegitlab import FakeGitLab

REPO = "acme/release"


@pytest.fixture(params=["fake", "github", "gitlab"])
def role(request):
    if request.param == "fake":
        forge = FakeForge()
        forge.access.branches = {REPO: "main"}
        yield access_for(forge)
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        if request.param == "github":
            gh = FakeGitHub().register(rsps)
            gh.add_commit(REPO, {"README.md": "x"}, branch="main")
            fakegithub_access.install(gh).installed = [REPO]
            yield access_for(GitHubForge(github.Github(auth=Auth.Token("t"), base_url="https://api.github.com",
                                                       seconds_between_requests=None, seconds_between_writes=None)))
        else:
            gl = FakeGitLab().register(rsps)
            gl.add_commit(REPO, {"README.md": "x"}, branch="main")
            fakegitlab_access.install(gl)
            yield access_for(GitLabForge(client("https://gitlab.example.com", "t"), retry=None))


def test_installation_lists_the_visible_repositories_and_unknown_ones_have_no_branch(role):
    assert role.installation_repos() == ((REPO, "main"),)
    assert role.default_branch(REPO) == "main"
    assert role.default_branch("acme/nowhere") is None


def test_the_issue_is_found_edited_closed_and_reopened_in_place(role):
    assert role.find_issue(REPO, title=ISSUE_TITLE) is None
    created = role.create_issue(REPO, title=ISSUE_TITLE, body=f"{ISSUE_MARKER}\nfirst")
    assert created.state == "open"
    role.edit_issue(REPO, created.number, body=f"{ISSUE_MARKER}\nsecond")
    found = role.find_issue(REPO, title=ISSUE_TITLE)
    assert (found.number, found.state, found.body) == (created.number, "open", f"{ISSUE_MARKER}\nsecond")
    role.edit_issue(REPO, created.number, state="closed")
    assert role.find_issue(REPO, title=ISSUE_TITLE, number=created.number).state == "closed"
    role.edit_issue(REPO, created.number, state="open")
    assert role.find_issue(REPO, title=ISSUE_TITLE).state == "open"


def test_an_issue_without_our_marker_is_not_ours(role):
    role.create_issue(REPO, title=ISSUE_TITLE, body="a person's issue with the same title")
    assert role.find_issue(REPO, title=ISSUE_TITLE) is None
