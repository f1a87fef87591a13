"""GitHubForge's promotion-gate reads over `responses`: which requests, how many, what a 304 costs."""
from __future__ import annotations

import datetime as dt

import responses

from bot.core.promotion import CheckKind, CheckState
from tests.forge.test_github import make_forge

GITHUB_API = "https://api.github.com:443"  # PyGithub's requester names the port
REPO, SHA = "acme/release", "5" * 40
STATUS_URL = f"{GITHUB_API}/repos/{REPO}/commits/{SHA}/status"
RUNS_URL = f"{GITHUB_API}/repos/{REPO}/commits/{SHA}/check-runs"
DEPLOYMENTS_URL = f"{GITHUB_API}/repos/{REPO}/deployments"

COMBINED = {"state": "failure", "sha": SHA, "total_count": 2, "statuses": [
    {"context": "e2e-staging", "state": "success", "target_url": "https://ci.example/1",
     "created_at": "2026-12-03T08:20:00Z", "updated_at": "2026-12-03T08:35:00Z"},
    {"context": "lint", "state": "error", "target_url": None, "updated_at": "2026-12-03T08:21:00Z"},
]}
RUNS = {"total_count": 3, "check_runs": [
    {"name": "smoke", "status": "completed", "conclusion": "success", "completed_at": "2026-12-03T08:40:00Z",
     "html_url": "https://github.com/acme/release/runs/1"},
    {"name": "load", "status": "in_progress", "conclusion": None, "started_at": "2026-12-03T08:41:00Z"},
    {"name": "canary", "status": "completed", "conclusion": "timed_out", "completed_at": "2026-12-03T08:50:00Z"},
]}


def _mock(rsps):
    rsps.get(STATUS_URL, json=COMBINED, headers={"ETag": '"s1"'})
    rsps.get(RUNS_URL, json=RUNS, headers={"ETag": '"r1"'})


@responses.activate
def test_statuses_and_check_runs_in_two_requests_normalised():
    _mock(responses)
    found = {c.name: c for c in make_forge().commit_checks(REPO, SHA, names=["e2e-staging", "smoke"])}
    assert len(responses.calls) == 2  # every name answered: no deployments read
    assert responses.calls[1].request.params == {"filter": "latest", "per_page": "100"}  # a re-run replaces the failed run
    e2e = found["e2e-staging"]
    assert (e2e.kind, e2e.state, e2e.detail, e2e.url) == (CheckKind.STATUS, CheckState.SUCCESS, "success", "https://ci.example/1")
    assert e2e.at == dt.datetime(2026, 12, 3, 8, 35, tzinfo=dt.timezone.utc)
    assert (found["lint"].state, found["load"].state, found["canary"].state) == (
        CheckState.FAILURE, CheckState.PENDING, CheckState.FAILURE)
    assert (found["smoke"].kind, found["smoke"].state) == (CheckKind.CHECK_RUN, CheckState.SUCCESS)


@responses.activate
def test_a_re_evaluation_revalidates_with_etags():
    _mock(responses)
    forge = make_forge()
    forge.commit_checks(REPO, SHA, names=["e2e-staging"])
    responses.replace(responses.GET, STATUS_URL, status=304)
    responses.replace(responses.GET, RUNS_URL, status=304)
    again = forge.commit_checks(REPO, SHA, names=["e2e-staging"])
    assert [c.request.headers.get("If-None-Match") for c in responses.calls[2:]] == ['"s1"', '"r1"']
    assert {c.name for c in again} == {"e2e-staging", "lint", "smoke", "load", "canary"}  # from the cached answers


@responses.activate
def test_a_deployment_environment_is_read_only_when_no_status_or_run_has_the_name():
    _mock(responses)
    responses.get(DEPLOYMENTS_URL, json=[{"id": 11, "environment": "staging"}, {"id": 10, "environment": "staging"},
                                         {"id": 9, "environment": "qa"}])
    responses.get(f"{DEPLOYMENTS_URL}/11/statuses", json=[{"state": "success", "created_at": "2026-12-03T08:45:00Z",
                                                           "log_url": "https://deploy.example/11"}])
    found = {c.name: c for c in make_forge().commit_checks(REPO, SHA, names=["e2e-staging", "staging"])}
    assert [c.request.url.split("?")[0] for c in responses.calls] == [STATUS_URL, RUNS_URL, DEPLOYMENTS_URL,
                                                                       f"{DEPLOYMENTS_URL}/11/statuses"]
    assert responses.calls[2].request.params["sha"] == SHA
    staging = found["staging"]  # the newest deployment of the environment speaks for it; qa's is not read
    assert (staging.kind, staging.state, staging.url) == (CheckKind.DEPLOYMENT, CheckState.SUCCESS, "https://deploy.example/11")


@responses.activate
def test_the_tag_date_is_read_once_per_tag_object():
    from bot.model import Tag

    responses.get(f"{GITHUB_API}/repos/{REPO}/git/tags/abc", json={"tag": "staging/x", "message": "m",
                                                                   "tagger": {"date": "2026-12-03T08:00:00Z"},
                                                                   "object": {"type": "commit", "sha": SHA}})
    forge = make_forge()
    tag = Tag("staging/x", SHA, "m", "abc")
    assert forge.tag_date(REPO, tag) == dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)
    assert forge.tag_date(REPO, tag) == dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)
    assert len(responses.calls) == 1
    # a lightweight tag (made by hand before the app) has no tag object: its commit's committer date stands in
    responses.get(f"{GITHUB_API}/repos/{REPO}/commits/{SHA}", json={"sha": SHA, "commit": {
        "committer": {"date": "2026-12-02T17:30:00Z"}, "author": {"date": "2026-12-01T10:00:00Z"}}})
    assert forge.tag_date(REPO, Tag("light", SHA)) == dt.datetime(2026, 12, 2, 17, 30, tzinfo=dt.timezone.utc)
    assert forge.tag_date(REPO, Tag("light-2", SHA)) is not None and len(responses.calls) == 2  # cached per commit
