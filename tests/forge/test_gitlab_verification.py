"""GitLabForge's promotion-gate reads over `responses`: a commit's statuses (latest per name), a tag's date."""
from __future__ import annotations

import datetime as dt

import responses

from bot.core.promotion import CheckKind, CheckState
from bot.model import Tag
from tests.forge.test_gitlab import make_forge

API = "https://gitlab.example.com/api/v4/projects/acme%2Frelease"
SHA = "5" * 40


@responses.activate
def test_statuses_of_a_commit_latest_per_name_in_one_request():
    responses.get(f"{API}/repository/commits/{SHA}/statuses", json=[
        {"id": 1, "name": "e2e-staging", "status": "failed", "finished_at": "2026-12-03T08:20:00Z"},
        {"id": 3, "name": "e2e-staging", "status": "success", "finished_at": "2026-12-03T08:35:00Z",
         "target_url": "https://gitlab.example.com/acme/release/-/jobs/3"},
        {"id": 2, "name": "deploy-staging", "status": "running", "started_at": "2026-12-03T08:30:00Z"},
        {"id": 4, "name": "approve-prod", "status": "manual"},
    ])
    found = {c.name: c for c in make_forge().commit_checks("acme/release", SHA, names=["e2e-staging"])}
    assert len(responses.calls) == 1
    e2e = found["e2e-staging"]
    assert (e2e.kind, e2e.state, e2e.detail, e2e.at) == (CheckKind.STATUS, CheckState.SUCCESS, "success",
                                                         dt.datetime(2026, 12, 3, 8, 35, tzinfo=dt.timezone.utc))
    assert (found["deploy-staging"].state, found["approve-prod"].state) == (CheckState.PENDING, CheckState.FAILURE)


@responses.activate
def test_a_tags_date_is_its_creation_or_its_commits_and_read_once():
    responses.get(f"{API}/repository/tags/staging%2Frelease-1.5.3-2.1.0", json={
        "name": "staging/release-1.5.3-2.1.0", "target": "t" * 40, "message": "m", "created_at": "2026-12-03T08:00:00Z",
        "commit": {"id": SHA, "created_at": "2026-12-03T07:58:00Z"}})
    forge = make_forge()
    tag = Tag("staging/release-1.5.3-2.1.0", SHA, "m", "t" * 40)
    assert forge.tag_date("acme/release", tag) == dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)
    assert forge.tag_date("acme/release", tag) == dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)
    assert len(responses.calls) == 1
