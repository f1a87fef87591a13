"""The approvals handler over GitHubForge over `responses`: the requests one evaluation costs, cold and warm
(issue 4: cold <= 8 for <= 100 files, warm <= 4, growing only with pages)."""
from __future__ import annotations

import datetime as dt

import github
import pytest
import responses
from github import Auth

from bot.core.checks import APPROVALS, Conclusion
from bot.forge.github import GitHubForge
from bot.forge.github_json import pull_request
from bot.handlers import Context
from bot.handlers.approvals import router
from bot.webhooks.event import Event
from tests.fakeforge import DictStore
from tests.forge.fakegithub import FakeGitHub, fake_sha, file_json

REPO = "acme/payments-app"
CODEOWNERS = "*  @acme/app\n/infra/  @acme/infra\n"


@pytest.fixture
def world():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fg = FakeGitHub(our_app_id=4242).register(rsps)
        fg.add_file("acme/.github", ".github/release-coordinator.yml", "approvals:\n  ignore_bots: true\n")
        base = fg.add_commit(REPO, {".github/release-coordinator.yml": "approvals: {}\n", ".github/CODEOWNERS": CODEOWNERS}, branch="main")
        fg.add_team("@acme/app", [f"app{i}" for i in range(30)], repos={REPO: "write"})
        fg.add_team("@acme/infra", [f"infra{i}" for i in range(130)], repos={REPO: "maintain"})  # two pages of members
        head = fake_sha("head")
        files = [file_json(f"infra/m{i}.tf") if i % 4 == 0 else file_json(f"src/f{i}.py") for i in range(100)]
        fg.add_pull(REPO, 7, author="app0", head_sha=head, base_sha=base, files=files)
        now = [1_800_000_000.0]
        forge = GitHubForge(github.Github(auth=Auth.Token("t"), seconds_between_requests=None, seconds_between_writes=None),
                            app_id=4242, clock=lambda: now[0])
        ctx = Context(forge=forge, now=dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc), store=DictStore())
        yield fg, ctx, head, now


def review(fg, ctx, head, *, user, state="APPROVED"):
    fg.add_review(REPO, 7, user=user, state=state, commit_id=head)
    pull = pull_request(REPO, fg.repo(REPO).pulls[7])  # what the delivery carries
    evt = Event(forge="github", name="pull_request_review", action="submitted", delivery_id=user, repo=REPO,
                pull_number=7, head_sha=head, base_sha=pull.base_sha, pull=pull)
    fg.calls.clear()
    for handler in router.handlers_for(evt.name, evt.action):
        handler(evt, ctx)
    return [f"{c.method} {c.path.split('?')[0]}" for c in fg.calls]


def latest_check(fg):
    return max(fg.repo(REPO).check_runs.values(), key=lambda run: run["id"])


def test_cold_then_warm_evaluation(world):
    fg, ctx, head, now = world
    cold = review(fg, ctx, head, user="app1")
    assert cold == [
        "POST /graphql",  # org config, repo config and the three CODEOWNERS candidates
        f"GET /repos/{REPO}/pulls/7/files",
        f"GET /repos/{REPO}/pulls/7/reviews",
        "POST /graphql",  # both teams with their grant on the repo
        "POST /graphql",  # @acme/infra's second page of members
        f"POST /repos/{REPO}/check-runs",
        f"POST /repos/{REPO}/pulls/7/requested_reviewers",
    ]
    waiting = latest_check(fg)  # more approvals can still pass it: in progress (yellow), not a failure
    assert (waiting["status"], waiting["conclusion"]) == ("in_progress", None)
    assert review(fg, ctx, head, user="infra120") == [
        f"GET /repos/{REPO}/pulls/7/reviews",
        f"PATCH /repos/{REPO}/check-runs/{waiting['id']}",  # the pending run is concluded first, not left spinning
        f"POST /repos/{REPO}/check-runs",
    ]
    assert (waiting["status"], waiting["conclusion"]) == ("completed", "success")
    assert latest_check(fg)["conclusion"] == "success"  # a member from the second page, vouched for by the team
    assert review(fg, ctx, head, user="outsider", state="COMMENTED") == [f"GET /repos/{REPO}/pulls/7/reviews"]
    now[0] += 61  # teams and the org config are asked again; the rules at the base sha never are
    later = review(fg, ctx, head, user="someone", state="COMMENTED")
    assert later == ["POST /graphql", f"GET /repos/{REPO}/pulls/7/reviews", "POST /graphql", "POST /graphql"]
    assert fg.calls[0].body["variables"] == {"o0": "acme", "n0": ".github", "e0": "HEAD:.github/release-coordinator.yml"}


def test_a_reviewer_whose_team_grants_less_than_write_is_looked_up_once(world):
    fg, ctx, head, now = world
    fg.team_repos[("acme", "app")][REPO] = "triage"
    fg.repo(REPO).roles["app1"] = "write"
    calls = review(fg, ctx, head, user="app1")
    assert calls.count(f"GET /repos/{REPO}/collaborators/app1/permission") == 1
    assert latest_check(fg)["output"]["title"].startswith("Waiting for 1 of 2")  # app counted, infra missing
    assert APPROVALS == latest_check(fg)["name"] and latest_check(fg)["status"] == "in_progress"
