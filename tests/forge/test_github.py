"""GitHubForge over `responses`: the requests it sends, what it parses, what it caches, how errors surface."""
from __future__ import annotations

import base64
import datetime as dt
import logging
import re

import github
import pytest
import requests
import responses
from github import Auth

from bot.core.checks import APPROVALS, MANIFEST, Annotation, CheckResult, Conclusion, Level, result_digest
from bot.forge.base import ChangedFile, ExistingCheck, FileRef, Permission, ReviewState, Tag, TeamInfo
from bot.forge.errors import (
    AlreadyExists, Conflict, ForgeError, NotFound, PermissionDenied, RateLimited, TeamNotFound, TransientError,
)
from bot.forge.github import GitHubForge
from bot.forge.http import error_for
from tests.forge.fakegraphql import execute
from tests.forge.fakegithub import GHES_API, GITHUB_API, FakeGitHub, blob_sha, commit_json, fake_sha, file_json

REPO = "acme/payments-app"
NOW = 1_800_000_000.0
HEAD = fake_sha("head")


def api(path: str) -> re.Pattern:
    """A `responses` URL for an API path: PyGithub spells out :443, and queries vary."""
    return re.compile(r"https://api\.github\.com(:443)?" + re.escape(path) + r"(\?.*)?$")


def make_forge(base_url: str = GITHUB_API, **kwargs) -> GitHubForge:
    # Token auth stands in for the App installation auth; no pacing sleeps in tests.
    gh = github.Github(auth=Auth.Token("test-token"), base_url=base_url, seconds_between_requests=None, seconds_between_writes=None)
    return GitHubForge(gh, **{"app_id": 4242, "clock": lambda: NOW, **kwargs})


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fg(rsps):
    return FakeGitHub().register(rsps)


@pytest.fixture
def forge():
    return make_forge()


def paths(fg: FakeGitHub) -> list[str]:
    return [f"{c.method} {c.path}" for c in fg.calls]


def seed_pull(fg: FakeGitHub, *, files=(), commits=(), number: int = 7) -> str:
    base = fg.add_file(REPO, "README.md", "hello\n")
    fg.add_pull(REPO, number, author="alice", head_sha=HEAD, base_sha=base, files=list(files), commits=list(commits))
    return base


def result(name=APPROVALS, *, conclusion=Conclusion.FAILURE, summary="| team | required |", annotations=()) -> CheckResult:
    return CheckResult(name=name, head_sha=HEAD, conclusion=conclusion, title="1 team still missing", summary=summary,
                       annotations=tuple(annotations), details_url="https://rc.example.com/pulls/acme/payments-app/7")


# --- pull requests
def test_get_pull_parses_what_handlers_read(fg, forge):
    seed_pull(fg)
    pull_json = fg.repos[REPO].pulls[7]
    pull_json.update(labels=[{"name": "emergency-release"}], requested_teams=[{"slug": "infra-team"}],
                     requested_reviewers=[{"login": "bob"}], merged_at="2026-11-20T09:00:00Z",
                     merge_commit_sha=fake_sha("merge"), body=None, draft=True)
    pull = forge.get_pull(REPO, 7)
    assert (pull.number, pull.author, pull.head_sha, pull.base_ref, pull.head_ref) == (7, "alice", HEAD, "main", "feature")
    assert pull.labels == {"emergency-release"}
    assert pull.requested_teams == {"@acme/infra-team"}
    assert pull.requested_users == {"bob"}
    assert pull.merged and pull.merge_commit_sha == fake_sha("merge") and pull.draft and pull.body == ""
    assert paths(fg) == ["GET /repos/acme/payments-app/pulls/7"]


def test_get_pull_is_revalidated_with_its_etag_and_a_304_reuses_the_body(fg, forge):
    seed_pull(fg)
    first = forge.get_pull(REPO, 7)
    second = forge.get_pull(REPO, 7)
    assert first == second
    assert [c.status for c in fg.calls] == [200, 304]
    assert fg.calls[1].headers["If-None-Match"].startswith('W/"')
    assert forge.http.stats.not_modified == 1


def test_a_changed_pull_is_fetched_again_not_served_from_the_etag_cache(fg, forge):
    seed_pull(fg)
    forge.get_pull(REPO, 7)
    fg.repos[REPO].pulls[7]["head"]["sha"] = fake_sha("new head")
    assert forge.get_pull(REPO, 7).head_sha == fake_sha("new head")
    assert [c.status for c in fg.calls] == [200, 200]


def test_missing_pull_is_not_found(fg, forge):
    with pytest.raises(NotFound):
        forge.get_pull(REPO, 99)


def test_pull_files_follow_link_pages_and_keep_both_paths_of_a_rename(fg, forge):
    files = [file_json(f"src/f{i}.py") for i in range(249)] + [file_json("new/name.py", status="renamed", previous="old/name.py")]
    seed_pull(fg, files=files)
    got = forge.list_pull_files(REPO, 7)
    assert len(got) == 250
    assert got[-1] == ChangedFile(path="new/name.py", status="renamed", previous_path="old/name.py")
    assert paths(fg) == [
        "GET /repos/acme/payments-app/pulls/7/files?per_page=100",
        "GET /repos/acme/payments-app/pulls/7/files?page=2&per_page=100",
        "GET /repos/acme/payments-app/pulls/7/files?page=3&per_page=100",
    ]


def test_pull_files_of_a_known_head_and_base_are_fetched_once(fg, forge):
    base = seed_pull(fg, files=[file_json(f"src/f{i}.py") for i in range(150)])
    first = forge.list_pull_files(REPO, 7, head_sha=HEAD, base_sha=base)
    assert forge.list_pull_files(REPO, 7, head_sha=HEAD, base_sha=base) == first
    assert fg.requests() == 2  # two pages, once
    forge.list_pull_files(REPO, 7, head_sha=fake_sha("pushed"), base_sha=base)  # a new head: a new diff
    forge.list_pull_files(REPO, 7)  # no shas to key on: revalidated page by page
    assert fg.requests() == 6 and [c.status for c in fg.calls[4:]] == [200, 200]


def test_pull_files_stop_at_githubs_3000(fg, forge):
    seed_pull(fg, files=[file_json(f"f{i}") for i in range(3100)])
    from tests.forge.fakegithub import Paged
    fg._routes.insert(0, ("GET", re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/files"),
                          lambda q, b, repo, n: (200, Paged(fg.repos[repo].pull_files[int(n)]))))  # a server without the cap
    got = forge.list_pull_files(REPO, 7)
    assert len(got) == 3000 and got.truncated  # PullFiles says the owners of the rest are unknown
    assert fg.requests() == 30


def test_reviews_parse_states_bots_ghosts_and_the_commit_reviewed(fg, forge):
    seed_pull(fg)
    fg.add_review(REPO, 7, user="bob", state="APPROVED", commit_id=HEAD)
    fg.add_review(REPO, 7, user="dependabot[bot]", state="COMMENTED", commit_id=HEAD, bot=True)
    ghost = fg.add_review(REPO, 7, user="gone", state="CHANGES_REQUESTED", commit_id=None)
    ghost["user"] = None
    reviews = forge.list_reviews(REPO, 7)
    assert [(r.user, r.state, r.user_is_bot, r.commit_id) for r in reviews] == [
        ("bob", ReviewState.APPROVED, False, HEAD),
        ("dependabot[bot]", ReviewState.COMMENTED, True, HEAD),
        ("ghost", ReviewState.CHANGES_REQUESTED, False, None),
    ]
    assert reviews[0].submitted_at == dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone.utc)


def test_pull_commits_parse_and_paginate(fg, forge):
    commits = [commit_json(fake_sha(i), f"feat: change {i}") for i in range(120)]
    commits[0]["author"] = None  # an author GitHub cannot map to an account
    seed_pull(fg, commits=commits)
    got = forge.list_pull_commits(REPO, 7)
    assert [c.sha for c in got] == [fake_sha(i) for i in range(120)]
    assert got[0].author is None and got[1].author == "octocat" and got[1].message == "feat: change 1"
    assert fg.requests() == 2


def test_open_pulls_filter_by_base(fg, forge):
    seed_pull(fg)
    fg.add_pull(REPO, 8, head_sha=fake_sha("h8"), base_sha=fake_sha("b"), base_ref="release")
    assert [p.number for p in forge.list_open_pulls(REPO, base="release")] == [8]
    assert fg.calls[-1].query == {"state": ["open"], "base": ["release"], "per_page": ["100"]}


def test_pulls_for_commit_lists_only_open_pulls_headed_by_it(fg, forge):
    seed_pull(fg)
    fg.add_pull(REPO, 3, head_sha=HEAD, base_sha=fake_sha("b"), state="closed")
    assert forge.pulls_for_commit(REPO, HEAD) == (7,)
    assert paths(fg) == [f"GET /repos/acme/payments-app/commits/{HEAD}/pulls?per_page=100"]


def test_request_reviewers_sends_team_slugs(fg, forge):
    seed_pull(fg)
    forge.request_reviewers(REPO, 7, teams=frozenset({"@acme/infra-team", "@acme/app-team"}), users=frozenset({"carol"}))
    assert fg.calls[-1].method == "POST" and fg.calls[-1].path == "/repos/acme/payments-app/pulls/7/requested_reviewers"
    assert fg.calls[-1].body == {"reviewers": ["carol"], "team_reviewers": ["app-team", "infra-team"]}


# --- git data
def _seed_compare(fg, base, head, n_commits=150, n_files=120):
    fg.repo(REPO).compares[(base, head)] = {
        "status": "ahead", "ahead_by": n_commits, "behind_by": 0, "total_commits": n_commits,
        "commits": [commit_json(fake_sha("c", i), f"fix: {i}") for i in range(n_commits)],
        "files": [file_json(f"src/{i}.py") for i in range(n_files)],
    }


def test_compare_pages_commits_and_takes_files_from_the_first_page(fg, forge):
    base, head = fake_sha("v1"), fake_sha("v2")
    _seed_compare(fg, base, head)
    got = forge.compare(REPO, base, head)
    assert got.status == "ahead" and len(got.commits) == 150 and got.commits[149].message == "fix: 149"
    assert [f.path for f in got.files] == [f"src/{i}.py" for i in range(120)]
    assert paths(fg) == [
        f"GET /repos/acme/payments-app/compare/{base}...{head}?per_page=100",
        f"GET /repos/acme/payments-app/compare/{base}...{head}?page=2&per_page=100",
    ]


def test_compare_past_githubs_300_files_unions_each_commits_files(fg, forge):
    base, head = fake_sha("v1"), fake_sha("v2")
    _seed_compare(fg, base, head, n_commits=3, n_files=350)  # GitHub lists only 300 of them
    for i in range(3):
        fg.repo(REPO).commit_files[fake_sha("c", i)] = [file_json(f"src/{n}.py") for n in range(i * 130, i * 130 + 150)]
    got = forge.compare(REPO, base, head)
    assert {f.path for f in got.files} == {f"src/{n}.py" for n in range(410)}  # nothing past the cap is lost
    assert fg.requests() == 1 + 3 * 2  # the comparison, then each commit's two pages of files
    assert forge.compare(REPO, base, head) == got and fg.requests() == 7


def test_compare_between_two_shas_is_cached_for_good(fg, forge):
    base, head = fake_sha("v1"), fake_sha("v2")
    _seed_compare(fg, base, head, n_commits=3)
    assert forge.compare(REPO, base, head) == forge.compare(REPO, base, head)
    assert fg.requests() == 1


def test_compare_between_tags_is_revalidated(fg, forge):
    _seed_compare(fg, "v1.0.0", "v1.1.0", n_commits=3)
    forge.compare(REPO, "v1.0.0", "v1.1.0")
    forge.compare(REPO, "v1.0.0", "v1.1.0")
    assert [c.status for c in fg.calls] == [200, 304]


def test_file_at_a_commit_sha_is_fetched_once(fg, forge):
    sha = fg.add_file(REPO, ".github/release-coordinator.yml", "approvals:\n  mode: each-team\n")
    first = forge.get_file(REPO, ".github/release-coordinator.yml", ref=sha)
    assert first.content == b"approvals:\n  mode: each-team\n"
    assert first.sha == blob_sha(first.content)
    assert forge.get_file(REPO, ".github/release-coordinator.yml", ref=sha) == first
    assert paths(fg) == [f"GET /repos/acme/payments-app/contents/.github/release-coordinator.yml?ref={sha}"]
    assert forge.http.stats.cache_hits == 1


def test_a_file_absent_at_a_commit_sha_stays_absent_without_asking_again(fg, forge):
    sha = fg.add_file(REPO, "README.md", "x")
    assert forge.get_file(REPO, ".github/CODEOWNERS", ref=sha) is None
    assert forge.get_file(REPO, ".github/CODEOWNERS", ref=sha) is None
    assert fg.requests() == 1


def test_file_on_a_branch_is_revalidated_each_time(fg, forge):
    fg.add_file(REPO, "CHANGELOG.md", "# Changelog\n")
    forge.get_file(REPO, "CHANGELOG.md", ref="main")
    fg.add_file(REPO, "CHANGELOG.md", "# Changelog\n\n## release-1\n")
    assert forge.get_file(REPO, "CHANGELOG.md", ref="main").content.endswith(b"release-1\n")
    assert forge.get_file(REPO, "CHANGELOG.md", ref="main").content.endswith(b"release-1\n")
    assert [c.status for c in fg.calls] == [200, 200, 304]


def test_a_directory_is_not_a_file(fg, forge):
    sha = fg.add_file(REPO, "docs/CODEOWNERS/x", "")
    assert forge.get_file(REPO, "docs/CODEOWNERS", ref=sha) is None


def test_large_files_come_from_the_blob_api(rsps, forge):
    big = b"x" * 2_000_000
    sha = blob_sha(big)
    rsps.get(api(f"/repos/{REPO}/contents/CHANGELOG.md"),
             json={"type": "file", "encoding": "none", "content": "", "sha": sha, "size": len(big)})
    rsps.get(api(f"/repos/{REPO}/git/blobs/{sha}"), json={"sha": sha, "encoding": "base64", "content": base64.b64encode(big).decode()})
    assert forge.get_file(REPO, "CHANGELOG.md", ref="main").content == big


def test_default_branch_and_branch_sha(fg, forge):
    sha = fg.add_file(REPO, "README.md", "x", ref="develop")
    fg.repo(REPO).default_branch = "develop"
    assert forge.get_default_branch(REPO) == "develop"
    assert forge.get_branch_sha(REPO, "develop") == sha
    assert paths(fg) == ["GET /repos/acme/payments-app", "GET /repos/acme/payments-app/git/ref/heads/develop"]
    with pytest.raises(NotFound):
        forge.get_branch_sha(REPO, "nope")


def test_get_tag_peels_an_annotated_tag_and_caches_the_tag_object(fg, forge):
    commit = fg.add_file(REPO, "release.yml", "release: {}")
    made = forge.create_tag(REPO, name="release-1.5.3-2.1.0", message="Deploy: ...\n\nRelease-Id: release-1.5.3-2.1.0", sha=commit)
    fg.calls.clear()
    tag = forge.get_tag(REPO, "release-1.5.3-2.1.0")
    assert tag == Tag(name="release-1.5.3-2.1.0", commit_sha=commit, message="Deploy: ...\n\nRelease-Id: release-1.5.3-2.1.0", tag_sha=made.tag_sha)
    assert forge.get_tag(REPO, "release-1.5.3-2.1.0") == tag
    assert paths(fg) == [
        "GET /repos/acme/payments-app/git/ref/tags/release-1.5.3-2.1.0",
        f"GET /repos/acme/payments-app/git/tags/{made.tag_sha}",
        "GET /repos/acme/payments-app/git/ref/tags/release-1.5.3-2.1.0",  # the ref can move: revalidated (304)
    ]
    assert fg.calls[-1].status == 304


def test_get_tag_lightweight_and_absent(fg, forge):
    commit = fg.add_file(REPO, "VERSION", "1.5.3")
    fg.repo(REPO).tag_refs["v1.5.3"] = ("commit", commit)
    assert forge.get_tag(REPO, "v1.5.3") == Tag(name="v1.5.3", commit_sha=commit)
    assert forge.get_tag(REPO, "v9.9.9") is None


def test_list_tags_pages(fg, forge):
    commit = fg.add_file(REPO, "VERSION", "1")
    for i in range(130):
        fg.repo(REPO).tag_refs[f"v1.0.{i}"] = ("commit", commit)
    tags = forge.list_tags(REPO)
    assert len(tags) == 130 and tags[0] == Tag(name="v1.0.0", commit_sha=commit)
    assert fg.requests() == 2


# --- people
def test_team_members_page_through_the_org_team_endpoint(fg, forge):
    fg.add_team("@acme/infra-team", [f"user{i}" for i in range(150)])
    assert forge.team_members("@acme/infra-team") == {f"user{i}" for i in range(150)}
    assert paths(fg) == [
        "GET /orgs/acme/teams/infra-team/members?per_page=100",
        "GET /orgs/acme/teams/infra-team/members?page=2&per_page=100",
    ]


def test_missing_team_is_team_not_found_naming_the_team(fg, forge):
    with pytest.raises(TeamNotFound) as caught:
        forge.team_members("@acme/ghosts")
    assert caught.value.team == "@acme/ghosts" and "@acme/ghosts" in str(caught.value)


@pytest.mark.parametrize("role, expected", [
    ("admin", Permission.ADMIN), ("maintain", Permission.MAINTAIN), ("write", Permission.WRITE),
    ("triage", Permission.TRIAGE), ("read", Permission.READ), ("none", Permission.NONE),
])
def test_permission_keeps_githubs_role_names(fg, forge, role, expected):
    fg.repo(REPO).roles["bob"] = role
    assert forge.permission(REPO, "bob") is expected
    assert paths(fg) == ["GET /repos/acme/payments-app/collaborators/bob/permission"]


def test_permission_of_a_custom_role_falls_back_to_the_legacy_field(rsps, forge):
    rsps.get(api(f"/repos/{REPO}/collaborators/bob/permission"), json={"permission": "write", "role_name": "release-manager"})
    assert forge.permission(REPO, "bob") is Permission.WRITE


def test_permission_of_a_user_github_does_not_know_is_none(rsps, forge):
    rsps.get(api(f"/repos/{REPO}/collaborators/left-the-org/permission"), status=404, json={"message": "Not Found"})
    assert forge.permission(REPO, "left-the-org") is Permission.NONE


# --- checks
def test_find_check_asks_for_the_latest_run_of_our_app_by_name(fg, forge):
    fg.repo(REPO)
    assert forge.find_check(REPO, head_sha=HEAD, name=APPROVALS) is None
    assert fg.calls[-1].path.split("?")[0] == f"/repos/acme/payments-app/commits/{HEAD}/check-runs"
    assert fg.calls[-1].query == {"check_name": [APPROVALS], "filter": ["latest"], "app_id": ["4242"], "per_page": ["100"]}


def test_find_check_ignores_runs_of_other_apps(rsps, forge):
    rsps.get(api(f"/repos/{REPO}/commits/{HEAD}/check-runs"), json={"total_count": 1, "check_runs": [
        {"id": 1, "name": APPROVALS, "external_id": "rc1-theirs", "app": {"id": 999}}]})
    assert forge.find_check(REPO, head_sha=HEAD, name=APPROVALS) is None


def test_create_check_sends_the_digest_as_external_id(fg, forge):
    wanted = result()
    check_id = forge.create_check(REPO, wanted)
    call = fg.calls[-1]
    assert (call.method, call.path) == ("POST", "/repos/acme/payments-app/check-runs")
    assert call.body == {
        "name": APPROVALS, "head_sha": HEAD, "status": "completed", "conclusion": "failure",
        "external_id": result_digest(wanted), "details_url": "https://rc.example.com/pulls/acme/payments-app/7#approvals",
        "output": {"title": "1 team still missing", "summary": "| team | required |", "annotations": []},
    }
    assert forge.find_check(REPO, head_sha=HEAD, name=APPROVALS).__dict__ == {"id": check_id, "digest": result_digest(wanted)}


def test_more_than_50_annotations_go_in_follow_up_patches(fg, forge):
    notes = [Annotation(path="release.yml", start_line=i, end_line=i, level=Level.FAILURE, message=f"bad {i}") for i in range(1, 121)]
    check_id = forge.create_check(REPO, result(MANIFEST, annotations=notes))
    assert [(c.method, c.path) for c in fg.calls] == [("POST", "/repos/acme/payments-app/check-runs")] + [
        ("PATCH", f"/repos/acme/payments-app/check-runs/{check_id}")] * 2
    sizes = [len(c.body["output"]["annotations"]) for c in fg.calls]
    assert sizes == [50, 50, 20]
    assert fg.calls[1].body["output"]["annotations"][0] == {
        "path": "release.yml", "start_line": 51, "end_line": 51, "annotation_level": "failure", "message": "bad 51"}
    assert fg.repo(REPO).check_runs[check_id]["output"]["annotations_count"] == 120


def test_update_check_writes_a_fresh_run_so_fixed_annotations_disappear(fg, forge):
    old = result(MANIFEST, annotations=[Annotation("release.yml", 2, 2, Level.FAILURE, "not semver")])
    old_id = forge.create_check(REPO, old)
    new = result(MANIFEST, conclusion=Conclusion.SUCCESS, summary="valid")
    forge.update_check(REPO, old_id, new)
    found = forge.find_check(REPO, head_sha=HEAD, name=MANIFEST)
    assert found.digest == result_digest(new) and found.id != old_id
    assert fg.repo(REPO).check_runs[found.id]["output"]["annotations_count"] == 0



def test_a_pending_check_is_in_progress_without_a_conclusion_and_concluded_before_its_successor(fg, forge):
    # https://docs.github.com/en/rest/checks/runs#create-a-check-run: no conclusion while status is in_progress
    waiting_id = forge.create_check(REPO, result(conclusion=Conclusion.PENDING))
    body = fg.calls[-1].body
    assert body["status"] == "in_progress" and "conclusion" not in body
    forge.update_check(REPO, waiting_id, result(conclusion=Conclusion.SUCCESS, summary="approved"))
    # the replaced run first takes the new verdict, then the fresh run is created: whichever a reader takes as
    # the latest, it says success, and nothing is left in progress
    assert [(c.method, c.path) for c in fg.calls[-2:]] == [
        ("PATCH", f"/repos/{REPO}/check-runs/{waiting_id}"), ("POST", f"/repos/{REPO}/check-runs")]
    assert (fg.calls[-1].body["status"], fg.calls[-1].body["conclusion"]) == ("completed", "success")
    replaced = fg.repo(REPO).check_runs[waiting_id]
    assert (replaced["status"], replaced["conclusion"]) == ("completed", "success")
    found = forge.find_check(REPO, head_sha=HEAD, name=APPROVALS)
    assert found.id != waiting_id and found.digest == result_digest(result(conclusion=Conclusion.SUCCESS, summary="approved"))


def test_still_waiting_updates_the_run_in_progress_in_place(fg, forge):
    waiting_id = forge.create_check(REPO, result(conclusion=Conclusion.PENDING, summary="0 of 2"))
    later = result(conclusion=Conclusion.PENDING, summary="1 of 2")
    forge.update_check(REPO, waiting_id, later)
    call = fg.calls[-1]
    assert (call.method, call.path) == ("PATCH", f"/repos/{REPO}/check-runs/{waiting_id}")
    assert call.body["status"] == "in_progress" and call.body["output"]["summary"] == "1 of 2"
    assert forge.find_check(REPO, head_sha=HEAD, name=APPROVALS) == ExistingCheck(waiting_id, result_digest(later))


def test_waiting_again_after_a_verdict_is_a_fresh_run_and_the_old_one_cancelled_first(fg, forge):
    waiting_id = forge.create_check(REPO, result(conclusion=Conclusion.PENDING))
    restarted = make_forge()  # does not know whether the run is still in progress
    restarted.update_check(REPO, waiting_id, result(conclusion=Conclusion.PENDING, summary="still waiting"))
    assert [c.method for c in fg.calls[-2:]] == ["PATCH", "POST"]
    assert fg.repo(REPO).check_runs[waiting_id]["conclusion"] == "cancelled"  # never a pass


def test_replacing_a_run_this_process_wrote_completed_costs_no_patch(fg, forge):
    failed_id = forge.create_check(REPO, result(conclusion=Conclusion.FAILURE))
    forge.update_check(REPO, failed_id, result(conclusion=Conclusion.SUCCESS, summary="approved"))
    assert [c.method for c in fg.calls[-2:]] == ["POST", "POST"]
    assert fg.repo(REPO).check_runs[failed_id]["conclusion"] == "failure"


def test_replacing_a_run_from_before_a_restart_concludes_it_with_the_new_verdict(fg, forge):
    old_id = forge.create_check(REPO, result(conclusion=Conclusion.PENDING))
    restarted = make_forge()
    restarted.update_check(REPO, old_id, result(conclusion=Conclusion.FAILURE, summary="changes requested"))
    assert (fg.repo(REPO).check_runs[old_id]["status"], fg.repo(REPO).check_runs[old_id]["conclusion"]) == (
        "completed", "failure")


def test_a_forced_re_run_over_a_waiting_run_cancels_it_before_the_fresh_one(fg, forge):
    # a Re-run (publish_check force=True) used to create the fresh run only, leaving the old one in progress
    from bot.handlers.publish import publish_check
    from tests.fakeforge import DictStore

    store = DictStore()
    publish_check(forge, REPO, result(conclusion=Conclusion.PENDING, summary="0 of 2"), store=store)
    [waiting_id] = fg.repo(REPO).check_runs
    assert publish_check(forge, REPO, result(conclusion=Conclusion.PENDING, summary="0 of 2"), store=store,
                         force=True) is True
    assert [(c.method, c.path) for c in fg.calls[-2:]] == [
        ("PATCH", f"/repos/{REPO}/check-runs/{waiting_id}"), ("POST", f"/repos/{REPO}/check-runs")]
    old = fg.repo(REPO).check_runs[waiting_id]
    assert (old["status"], old["conclusion"]) == ("completed", "cancelled")  # the successor waits: never a pass
    fresh = forge.find_check(REPO, head_sha=HEAD, name=APPROVALS)
    assert fresh.id != waiting_id and fg.repo(REPO).check_runs[fresh.id]["status"] == "in_progress"


def test_a_forced_re_run_over_a_concluded_run_patches_nothing(fg, forge):
    from bot.handlers.publish import publish_check
    from tests.fakeforge import DictStore

    store = DictStore()
    publish_check(forge, REPO, result(conclusion=Conclusion.FAILURE), store=store)
    publish_check(forge, REPO, result(conclusion=Conclusion.FAILURE), store=store, force=True)
    assert [c.method for c in fg.calls[-2:]] == ["POST", "POST"]  # this process knows the old run completed


def test_a_refused_close_of_a_replaced_run_does_not_stop_the_fresh_one(fg, forge):
    old_id = forge.create_check(REPO, result(conclusion=Conclusion.SUCCESS))
    fg.fail("PATCH", rf"/check-runs/{old_id}$", 422, body={"message": "Validation Failed"})
    make_forge().update_check(REPO, old_id, result(conclusion=Conclusion.FAILURE, summary="changes requested"))
    assert fg.calls[-1].method == "POST" and fg.calls[-1].body["conclusion"] == "failure"

# --- writes
def test_create_tag_makes_the_tag_object_then_the_ref(fg, forge):
    commit = fg.add_file(REPO, "release.yml", "x")
    tag = forge.create_tag(REPO, name="release-1", message="Deploy", sha=commit)
    assert [(c.method, c.path, c.body) for c in fg.calls[-2:]] == [
        ("POST", "/repos/acme/payments-app/git/tags", {"tag": "release-1", "message": "Deploy", "object": commit, "type": "commit"}),
        ("POST", "/repos/acme/payments-app/git/refs", {"ref": "refs/tags/release-1", "sha": tag.tag_sha}),
    ]
    assert tag.commit_sha == commit and tag.message == "Deploy"
    with pytest.raises(AlreadyExists):
        forge.create_tag(REPO, name="release-1", message="Deploy", sha=commit)


def test_update_file_puts_base64_content_with_the_blob_sha(fg, forge):
    fg.add_file(REPO, "CHANGELOG.md", "# Changelog\n")
    current = forge.get_file(REPO, "CHANGELOG.md", ref="main")
    new_commit = forge.update_file(REPO, "CHANGELOG.md", content=b"# Changelog\n\n## r1\n", message="chore: changelog", branch="main", sha=current.sha)
    call = fg.calls[-1]
    assert (call.method, call.path) == ("PUT", "/repos/acme/payments-app/contents/CHANGELOG.md")
    assert call.body == {"message": "chore: changelog", "content": base64.b64encode(b"# Changelog\n\n## r1\n").decode(),
                         "branch": "main", "sha": current.sha}
    assert fg.repo(REPO).branches["main"] == new_commit
    with pytest.raises(Conflict):  # 409: the sha we hold is stale now
        forge.update_file(REPO, "CHANGELOG.md", content=b"again", message="m", branch="main", sha=current.sha)
    with pytest.raises(Conflict):  # 422 "sha" wasn't supplied: we thought the file was new
        forge.update_file(REPO, "CHANGELOG.md", content=b"again", message="m", branch="main", sha=None)


def test_create_branch_twice_is_already_exists(fg, forge):
    commit = fg.add_file(REPO, "release.yml", "x")
    forge.create_branch(REPO, name="rollback/release-1", sha=commit)
    assert fg.calls[-1].body == {"ref": "refs/heads/rollback/release-1", "sha": commit}
    with pytest.raises(AlreadyExists):
        forge.create_branch(REPO, name="rollback/release-1", sha=commit)


def test_releases(fg, forge):
    fg.repo(REPO)
    assert forge.get_release(REPO, "release-1") is None
    made = forge.create_release(REPO, tag="release-1", name="release-1", body="notes")
    assert fg.calls[-1].body == {"tag_name": "release-1", "name": "release-1", "body": "notes"}
    assert forge.get_release(REPO, "release-1") == made
    with pytest.raises(AlreadyExists):  # 422 with errors[].code already_exists
        forge.create_release(REPO, tag="release-1", name="release-1", body="notes")


def test_create_pull_and_comment(fg, forge):
    commit = fg.add_file(REPO, "release.yml", "x")
    fg.repo(REPO).branches["rollback/r1"] = commit
    pull = forge.create_pull(REPO, title="Roll back to r1", body="why", head="rollback/r1", base="main")
    assert fg.calls[-1].body == {"title": "Roll back to r1", "body": "why", "head": "rollback/r1", "base": "main"}
    assert pull.head_sha == commit and pull.state == "open"
    forge.comment(REPO, pull.number, "Opened #1")
    assert fg.calls[-1].path == f"/repos/acme/payments-app/issues/{pull.number}/comments"
    assert fg.repo(REPO).comments[pull.number] == ["Opened #1"]


# --- GraphQL: many files, many teams, one request
BLOB = "... on Blob { text isBinary byteSize oid isTruncated }"


def test_get_files_asks_for_every_file_in_one_aliased_query(fg, forge):
    sha = fg.add_commit(REPO, {".github/release-coordinator.yml": "approvals: {}\n", ".github/CODEOWNERS": "* @acme/app\n"}, branch="main")
    fg.add_file("acme/.github", ".github/release-coordinator.yml", "approvals:\n  distinct: false\n")
    wanted = [FileRef("acme/.github", ".github/release-coordinator.yml"), FileRef(REPO, ".github/release-coordinator.yml", sha),
              FileRef(REPO, ".github/CODEOWNERS", sha), FileRef(REPO, "CODEOWNERS", sha), FileRef(REPO, "docs/CODEOWNERS", sha)]
    found = forge.get_files(wanted)
    assert [f and f.content for f in found] == [b"approvals:\n  distinct: false\n", b"approvals: {}\n", b"* @acme/app\n", None, None]
    assert found[2].sha == blob_sha(b"* @acme/app\n")
    assert paths(fg) == ["POST /graphql"]
    call = fg.calls[0]
    assert call.body["variables"] == {
        "o0": "acme", "n0": ".github", "e0": "HEAD:.github/release-coordinator.yml",
        "o1": "acme", "n1": "payments-app", "e1": f"{sha}:.github/release-coordinator.yml",
        "e2": f"{sha}:.github/CODEOWNERS", "e3": f"{sha}:CODEOWNERS", "e4": f"{sha}:docs/CODEOWNERS",
    }
    query = call.body["query"]
    assert "r0: repository(owner: $o0, name: $n0) { f0: object(expression: $e0) { " + BLOB + " } }" in query
    assert "r1: repository(owner: $o1, name: $n1) { f1: object(expression: $e1)" in query
    assert query.startswith("query($o0: String!, $n0: String!, $e0: String!, $o1: String!")


def test_get_files_at_commit_shas_are_cached_for_good_and_the_default_branch_for_a_minute(fg):
    now = [NOW]
    forge = make_forge(clock=lambda: now[0])
    sha = fg.add_file(REPO, "CODEOWNERS", "* @acme/app\n")
    wanted = [FileRef(REPO, "CODEOWNERS", sha), FileRef(REPO, "docs/CODEOWNERS", sha)]
    assert forge.get_files(wanted) == forge.get_files(wanted)
    assert fg.requests() == 1
    assert forge.get_file(REPO, "CODEOWNERS", ref=sha).content == b"* @acme/app\n"  # one cache for both
    assert fg.requests() == 1
    forge.get_files([FileRef(REPO, "CODEOWNERS", sha), FileRef(REPO, "CODEOWNERS")])
    assert fg.calls[-1].body["variables"] == {"o0": "acme", "n0": "payments-app", "e1": "HEAD:CODEOWNERS"}  # only the branch
    fg.add_file(REPO, "CODEOWNERS", "* @acme/platform\n")  # pushed to main
    now[0] += 59
    assert forge.get_files([FileRef(REPO, "CODEOWNERS")])[0].content == b"* @acme/app\n"  # fresh for 60 s
    assert fg.requests() == 2
    now[0] += 1
    assert forge.get_files([FileRef(REPO, "CODEOWNERS")])[0].content == b"* @acme/platform\n"
    assert fg.requests() == 3


def test_teams_and_permissions_are_reused_for_a_minute_then_asked_again(fg):
    now = [NOW]
    forge = make_forge(clock=lambda: now[0])
    fg.add_file(REPO, "README.md", "x")
    fg.add_team("@acme/app", ["anna"], repos={REPO: "write"})
    fg.repo(REPO).roles["bob"] = "write"
    for _ in range(2):
        assert forge.get_teams(["@acme/app", "@acme/gone"], repo=REPO)["@acme/app"].members == {"anna"}
        assert forge.permission(REPO, "bob") is Permission.WRITE
    assert fg.requests() == 2
    fg.add_team("@acme/app", ["anna", "alex"])
    fg.repo(REPO).roles["bob"] = "read"
    now[0] += 60
    assert forge.get_teams(["@acme/app", "@acme/gone"], repo=REPO) == {
        "@acme/app": TeamInfo(frozenset({"anna", "alex"}), Permission.WRITE), "@acme/gone": None}
    assert forge.permission(REPO, "bob") is Permission.READ
    now[0] += 60
    assert forge.permission(REPO, "bob") is Permission.READ
    assert [c.status for c in fg.calls] == [200, 200, 200, 200, 304]  # past a minute: a conditional request


def test_get_files_of_a_missing_repository_is_none_not_an_error(fg, forge):
    fg.add_file(REPO, "README.md", "x\n")
    found = forge.get_files([FileRef("acme/.github", ".github/release-coordinator.yml"), FileRef(REPO, "README.md")])
    assert [f and f.content for f in found] == [None, b"x\n"]
    assert fg.requests() == 1
    # GitHub's answer, as the fake sends it: the alias is null and an error of type NOT_FOUND names it.
    answer = fg_answer(fg, forge, [FileRef("acme/.github", "x")])
    assert answer["data"] == {"r0": None}
    assert answer["errors"][0]["type"] == "NOT_FOUND" and answer["errors"][0]["path"] == ["r0"]
    assert answer["errors"][0]["message"] == "Could not resolve to a Repository with the name 'acme/.github'."


def fg_answer(fg, forge, wanted):
    """The raw GraphQL body GitHub would send for this get_files."""
    forge.get_files(wanted)
    last = [c for c in fg.calls if c.path == "/graphql"][-1]
    return execute(last.body["query"], last.body["variables"], fg.graphql_resolvers())


def test_get_files_reads_binary_and_truncated_blobs_from_the_rest_api(fg, forge):
    big = "x" * (600 * 1024)
    sha = fg.add_commit(REPO, {"logo.png": b"\x89PNG\0\0", "big.yml": big}, branch="main")
    found = forge.get_files([FileRef(REPO, "logo.png", sha), FileRef(REPO, "big.yml", sha)])
    assert [f.content for f in found] == [b"\x89PNG\0\0", big.encode()]
    assert paths(fg) == ["POST /graphql", f"GET /repos/{REPO}/contents/logo.png?ref={sha}", f"GET /repos/{REPO}/contents/big.yml?ref={sha}"]


def test_graphql_errors_map_to_the_same_exceptions(fg, forge):
    fg.add_file(REPO, "README.md", "x")
    wanted = [FileRef(REPO, "README.md")]
    fg.fail("POST", r"^/graphql$", 200, body={"data": None, "errors": [
        {"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation ID 1."}]},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)})
    with pytest.raises(RateLimited) as caught:
        forge.get_files(wanted)
    assert caught.value.retry_after == 121.0
    fg.fail("POST", r"^/graphql$", 502)
    with pytest.raises(TransientError):
        forge.get_files(wanted)
    fg.fail("POST", r"^/graphql$", 200, body={"data": None, "errors": [
        {"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]})
    with pytest.raises(PermissionDenied):
        forge.get_files(wanted)
    fg.fail("POST", r"^/graphql$", 403, body={"message": "You have exceeded a secondary rate limit."}, headers={"retry-after": "30"})
    with pytest.raises(RateLimited) as caught:
        forge.get_files(wanted)
    assert caught.value.retry_after == 30.0
    fg.fail("POST", r"^/graphql$", 200, body={"errors": [{"message": "Parse error on \"}\""}]})
    with pytest.raises(ForgeError):
        forge.get_files(wanted)
    assert forge.get_files(wanted)[0].content == b"x"


def test_get_teams_asks_for_every_team_and_its_grant_in_one_query(fg, forge):
    fg.add_file(REPO, "README.md", "x")
    fg.add_team("@acme/infra-team", ["ivan", "irene"], repos={REPO: "write", "acme/payments-app-docs": "admin"})
    fg.add_team("@acme/app-team", ["anna"])
    found = forge.get_teams(["@acme/infra-team", "@acme/App-Team", "@acme/gone"], repo=REPO)
    assert found == {"@acme/infra-team": TeamInfo(frozenset({"ivan", "irene"}), Permission.WRITE),
                     "@acme/App-Team": TeamInfo(frozenset({"anna"}), Permission.NONE), "@acme/gone": None}
    assert paths(fg) == ["POST /graphql"]
    call = fg.calls[0]
    assert call.body["variables"] == {"repo": "payments-app", "s0": "infra-team", "s1": "app-team", "s2": "gone", "org0": "acme"}
    assert ("o0: organization(login: $org0) { t0: team(slug: $s0) { members(first: 100, membership: ALL) "
            "{ nodes { login } pageInfo { hasNextPage endCursor } } repositories(query: $repo, first: 100) "
            "{ edges { permission node { nameWithOwner } } } }") in call.body["query"]


def test_get_teams_pages_members_past_100_in_one_request_per_page(fg, forge):
    fg.add_file(REPO, "README.md", "x")
    fg.add_team("@acme/big", [f"dev{i}" for i in range(250)], repos={REPO: "maintain"})
    fg.add_team("@acme/small", ["sam"])
    found = forge.get_teams(["@acme/big", "@acme/small"], repo=REPO)
    assert found["@acme/big"] == TeamInfo(frozenset(f"dev{i}" for i in range(250)), Permission.MAINTAIN)
    assert found["@acme/small"].members == {"sam"}
    assert fg.requests() == 3  # 100 + 100 + 50 members; the small team is done after the first
    assert [set(c.body["variables"]) for c in fg.calls[1:]] == [{"s0", "c0", "org0"}] * 2


def test_get_teams_without_the_members_permission_is_none(fg, forge):
    fg.add_file(REPO, "README.md", "x")
    fg.add_team("@acme/secret", ["sid"])
    fg.add_team("@acme/open", ["olga"])
    fg.hidden_teams.add(("acme", "secret"))
    found = forge.get_teams(["@acme/secret", "@acme/open", "not-a-team"], repo=REPO)
    assert found == {"@acme/secret": None, "@acme/open": TeamInfo(frozenset({"olga"}), Permission.NONE), "not-a-team": None}


def test_graphql_goes_to_the_ghes_graphql_endpoint(rsps):
    fg = FakeGitHub(GHES_API).register(rsps)
    forge = make_forge(GHES_API)
    fg.add_file(REPO, "CODEOWNERS", "* @acme/app\n")
    fg.add_team("@acme/app", ["anna"])
    assert forge.get_files([FileRef(REPO, "CODEOWNERS")])[0].content == b"* @acme/app\n"
    assert forge.get_teams(["@acme/app"], repo=REPO)["@acme/app"].members == {"anna"}
    urls = [c.request.url for c in rsps.calls]
    assert urls == ["https://ghe.example.com:443/api/graphql"] * 2, urls


# --- GraphQL: tags with their messages, a request per 100 tags
RELEASE = "acme/release"


def seed_releases(fg: FakeGitHub, n: int) -> list[str]:
    """n coordinated releases, oldest first: a commit each, an annotated tag with our trailers on it."""
    names = []
    for i in range(n):
        commit = fg.add_commit(RELEASE, {"release.yml": f"n: {i}\n"}, branch="main", parent=fg.repo(RELEASE).branches.get("main"))
        name = f"release-1.{i}.0-2.{i}.0"
        fg.add_tag(RELEASE, name, sha=commit, message=f"Deploy\n\nRelease-Id: {name}\nComponent-Version: payments-app=1.{i}.0\n")
        names.append(name)
    return names


def test_list_annotated_tags_reads_100_tags_with_their_messages_per_request(fg, forge):
    names = seed_releases(fg, 250)
    tags = forge.list_annotated_tags(RELEASE)
    assert [t.name for t in tags] == names[::-1]  # newest tagged commit first
    assert tags[0].message == f"Deploy\n\nRelease-Id: {names[-1]}\nComponent-Version: payments-app=1.249.0\n"
    assert tags[0].commit_sha == fg.repo(RELEASE).branches["main"]
    assert tags[0].tag_sha == fg.repo(RELEASE).tag_refs[names[-1]][1]
    assert paths(fg) == ["POST /graphql"] * 3  # not 1 + 2 x 250 REST requests
    first, second, third = (c.body["variables"] for c in fg.calls)
    assert first == {"owner": "acme", "name": "release", "first": 100, "cursor": None}
    assert second["cursor"] is not None and third["cursor"] not in (None, second["cursor"])
    query = fg.calls[0].body["query"]
    assert 'refs(refPrefix: "refs/tags/", first: $first, after: $cursor, orderBy: {field: TAG_COMMIT_DATE, direction: DESC})' in query
    assert "pageInfo { hasNextPage endCursor }" in query


def test_list_annotated_tags_stops_at_the_limit(fg, forge):
    seed_releases(fg, 250)
    assert len(forge.list_annotated_tags(RELEASE, limit=150)) == 150
    assert [c.body["variables"]["first"] for c in fg.calls] == [100, 50]


def test_list_annotated_tags_peels_tags_of_tags_and_leaves_lightweight_tags_without_a_message(fg, forge):
    commit = fg.add_commit(RELEASE, {"release.yml": "x"}, branch="main")
    fg.add_tag(RELEASE, "light", sha=commit)
    inner = fg.add_tag(RELEASE, "inner", sha=commit, message="inner message")
    outer = fg.add_tag(RELEASE, "outer", sha=inner, message="outer message")  # a tag object pointing at a tag object
    chain = [commit]
    for level in range(5):  # five tag objects in a row, only the last one named by a ref: deeper than a query reaches
        chain.append(fg.add_tag(RELEASE, "deep", sha=chain[-1], message=f"level {level}"))
    tags = {t.name: t for t in forge.list_annotated_tags(RELEASE)}
    assert set(tags) == {"light", "inner", "outer", "deep"}
    assert tags["light"] == Tag("light", commit, None, None)
    assert tags["inner"] == Tag("inner", commit, "inner message", inner)
    assert tags["outer"] == Tag("outer", commit, "outer message", outer)
    assert tags["deep"] == Tag("deep", commit, "level 4", chain[5])
    # one query; the two tag objects under deep past the query's three levels are peeled over REST, for good
    assert paths(fg) == ["POST /graphql", f"GET /repos/{RELEASE}/git/tags/{chain[2]}", f"GET /repos/{RELEASE}/git/tags/{chain[1]}"]
    fg.calls.clear()
    forge.list_annotated_tags(RELEASE)
    assert paths(fg) == ["POST /graphql"]


def test_a_listed_tag_object_is_cached_for_get_tag(fg, forge):
    (name,) = seed_releases(fg, 1)
    (listed,) = forge.list_annotated_tags(RELEASE)
    fg.calls.clear()
    assert forge.get_tag(RELEASE, name) == listed
    assert paths(fg) == [f"GET /repos/{RELEASE}/git/ref/tags/{name}"]  # the ref may move; the tag object never changes


def test_list_annotated_tags_of_a_missing_repository_is_not_found(fg, forge):
    with pytest.raises(NotFound):
        forge.list_annotated_tags("acme/nope")


def test_list_annotated_tags_on_ghes(rsps):
    fg = FakeGitHub(GHES_API).register(rsps)
    forge = make_forge(GHES_API)
    seed_releases(fg, 101)
    assert len(forge.list_annotated_tags(RELEASE)) == 101
    assert [c.request.url for c in rsps.calls] == ["https://ghe.example.com:443/api/graphql"] * 2


def test_the_manifest_checks_release_history_costs_a_request_per_100_tags(fg, forge):
    from bot.handlers.manifest import fetch_history

    seed_releases(fg, 250)
    fg.add_tag(RELEASE, "v0-hand-made", sha=fg.repo(RELEASE).branches["main"])  # lightweight: skipped, no request
    history = fetch_history(forge, RELEASE)
    assert [r.release_id for r in history][:2] == ["release-1.249.0-2.249.0", "release-1.248.0-2.248.0"]
    assert len(history) == 250
    assert fg.requests() == 3


# --- symlinks: never read as the file they name
def test_a_symlinked_codeowners_reads_as_absent_over_graphql_and_rest(fg, forge):
    fg.add_file(REPO, "owners.txt", "* @acme/app\n")
    sha = fg.add_symlink(REPO, ".github/CODEOWNERS", "../owners.txt")
    fg.add_symlink(REPO, "CODEOWNERS", "nowhere", ref=sha)
    fg.add_file(REPO, "docs/CODEOWNERS", "* @acme/docs\n", ref=sha)
    wanted = [FileRef(REPO, ".github/CODEOWNERS", sha), FileRef(REPO, "CODEOWNERS", sha), FileRef(REPO, "docs/CODEOWNERS", sha),
              FileRef(REPO, "owners.txt", sha)]
    found = forge.get_files(wanted)
    # GraphQL would give the link's text ("../owners.txt") as the Blob's text; REST would follow the link
    assert [f and f.content for f in found] == [None, None, b"* @acme/docs\n", b"* @acme/app\n"]
    # the two blobs without a newline (a link's text has none) have their directory's entries asked, together
    assert paths(fg) == ["POST /graphql", "POST /graphql"]
    assert fg.calls[1].body["variables"] == {"o0": "acme", "n0": "payments-app", "e0": f"{sha}:.github", "e1": f"{sha}:"}
    assert "f0: object(expression: $e0) { ... on Tree { entries { name mode } } }" in fg.calls[1].body["query"]
    rest = make_forge()  # a fresh forge: nothing cached
    assert [rest.get_file(REPO, w.path, ref="main") for w in wanted[:2]] == [None, None]
    assert rest.get_file(REPO, "docs/CODEOWNERS", ref="main").content == b"* @acme/docs\n"


def test_a_file_without_a_newline_is_checked_for_being_a_symlink_once_and_read(fg, forge):
    sha = fg.add_file(REPO, ".github/CODEOWNERS", "* @acme/app")  # no newline at the end
    wanted = [FileRef(REPO, ".github/CODEOWNERS", sha), FileRef(REPO, "CODEOWNERS", sha)]
    assert [f and f.content for f in forge.get_files(wanted)] == [b"* @acme/app", None]
    assert forge.get_files(wanted)[0].content == b"* @acme/app"  # cached by commit sha, checked once
    assert paths(fg) == ["POST /graphql", "POST /graphql"]


def test_a_symlinked_codeowners_falls_through_to_the_next_location(fg, forge):
    from bot.handlers.configs import fetch_codeowners

    fg.add_file(REPO, "owners.txt", "* @acme/app\n")
    fg.add_symlink(REPO, ".github/CODEOWNERS", "../owners.txt")
    sha = fg.add_file(REPO, "CODEOWNERS", "* @acme/platform\n")
    assert fetch_codeowners(forge, REPO, ref=sha) == ("CODEOWNERS", b"* @acme/platform\n")


# --- errors
def test_a_502_is_retried_then_surfaces_as_transient(fg, forge):
    seed_pull(fg)
    fg.fail("GET", r"/pulls/7$", 502, times=10)
    with pytest.raises(TransientError) as caught:
        forge.get_pull(REPO, 7)
    assert not isinstance(caught.value, RateLimited)
    assert fg.requests() == 3  # the first try and two bounded retries


def test_a_502_then_success_is_invisible(fg, forge):
    seed_pull(fg)
    fg.fail("GET", r"/pulls/7$", 502)
    assert forge.get_pull(REPO, 7).number == 7
    assert [c.status for c in fg.calls] == [502, 200]


def test_a_post_is_never_retried_by_the_adapter(fg, forge):
    fg.fail("POST", r"/check-runs$", 502)
    with pytest.raises(TransientError):
        forge.create_check(REPO, result())
    assert fg.requests() == 1
    assert fg.repo(REPO).check_runs == {}


def test_secondary_rate_limit_with_retry_after_surfaces_at_once(fg, forge):
    seed_pull(fg)
    fg.fail("GET", r"/pulls/7$", 403, headers={"Retry-After": "30"},
            body={"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."})
    with pytest.raises(RateLimited) as caught:
        forge.get_pull(REPO, 7)
    assert caught.value.retry_after == 30 and fg.requests() == 1


def test_secondary_rate_limit_without_headers_waits_a_minute(fg, forge):
    seed_pull(fg)
    fg.fail("GET", r"/pulls/7$", 403, body={"message": "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later."})
    with pytest.raises(RateLimited) as caught:
        forge.get_pull(REPO, 7)
    assert caught.value.retry_after == 60


def test_primary_rate_limit_waits_until_reset(fg, forge):
    seed_pull(fg)
    fg.fail("GET", r"/pulls/7$", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)},
            body={"message": "API rate limit exceeded for installation ID 1."})
    with pytest.raises(RateLimited) as caught:
        forge.get_pull(REPO, 7)
    assert caught.value.retry_after == 121


def test_429_is_rate_limited(fg, forge):
    seed_pull(fg)
    fg.fail("GET", r"/pulls/7$", 429, headers={"Retry-After": "5"}, body={"message": "Too many requests"})
    with pytest.raises(RateLimited) as caught:
        forge.get_pull(REPO, 7)
    assert caught.value.retry_after == 5


def test_missing_permission_is_named(fg, forge):
    fg.fail("POST", r"/check-runs$", 403, headers={"X-Accepted-GitHub-Permissions": "checks=write"},
            body={"message": "Resource not accessible by integration"})
    with pytest.raises(PermissionDenied) as caught:
        forge.create_check(REPO, result())
    assert "Resource not accessible by integration" in str(caught.value) and "checks=write" in str(caught.value)


def test_409_is_conflict(fg, forge):
    fg.fail("POST", r"/git/refs$", 409, body={"message": "Git Repository is empty."})
    with pytest.raises(Conflict):
        forge.create_branch(REPO, name="x", sha=fake_sha("x"))


def test_connection_errors_are_transient(rsps, forge):
    rsps.get(api(f"/repos/{REPO}"), body=requests.ConnectionError("connection reset"))
    with pytest.raises(TransientError):
        forge.get_default_branch(REPO)


@pytest.mark.parametrize("status, headers, body, expected", [
    (500, {}, {"message": "Server Error"}, TransientError),
    (503, {"retry-after": "7"}, None, TransientError),
    (401, {}, {"message": "Bad credentials"}, TransientError),
    (403, {}, {"message": "Resource not accessible by integration"}, PermissionDenied),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"}, {"message": "API rate limit exceeded"}, RateLimited),
    (404, {}, {"message": "Not Found"}, NotFound),
    (409, {}, {"message": "conflict"}, Conflict),
    (422, {}, {"message": "Reference already exists"}, AlreadyExists),
    (422, {}, {"message": "Validation Failed", "errors": [{"code": "already_exists"}]}, AlreadyExists),
    (422, {}, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                                                          "message": "A pull request already exists for acme:rollback/r1."}]}, AlreadyExists),
    (422, {}, {"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'}, Conflict),
    (422, {}, {"message": "Validation Failed", "errors": [{"code": "invalid", "field": "head"}]}, ForgeError),
])
def test_error_mapping_table(status, headers, body, expected):
    error = error_for(status, headers, body, what="GET /x", now=NOW)
    assert type(error) is expected
    assert str(status) in str(error)


def test_success_maps_to_no_error():
    assert error_for(200, {}, {}, what="GET /x", now=NOW) is None
    assert error_for(304, {}, None, what="GET /x", now=NOW) is None


# --- GitHub Enterprise Server and secrets
def test_every_request_goes_to_the_ghes_base_url(rsps):
    fg = FakeGitHub(GHES_API).register(rsps)
    forge = make_forge(GHES_API)
    seed_pull(fg, files=[file_json(f"f{i}") for i in range(150)])
    fg.add_team("@acme/infra-team", ["bob"])
    assert forge.get_pull(REPO, 7).number == 7
    assert len(forge.list_pull_files(REPO, 7)) == 150  # page 2 comes from the Link header GHES sent
    assert forge.team_members("@acme/infra-team") == {"bob"}
    forge.create_check(REPO, result())
    urls = [c.request.url for c in rsps.calls]
    assert len(urls) == 5 and all(u.startswith("https://ghe.example.com:443/api/v3/") for u in urls), urls


def test_tokens_never_reach_the_logs(fg, forge, caplog):
    seed_pull(fg)
    with caplog.at_level(logging.DEBUG):
        forge.get_pull(REPO, 7)
        forge.create_check(REPO, result())
    assert "github" in caplog.text.lower()
    assert "test-token" not in caplog.text
    assert all(c.headers["Authorization"] == "token test-token" for c in fg.calls)  # it was sent, though


def test_requests_carry_the_rest_api_version_and_media_type(fg, forge):
    seed_pull(fg)
    forge.get_pull(REPO, 7)
    assert fg.calls[0].headers["Accept"] == "application/vnd.github+json"
    assert fg.calls[0].headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert fg.calls[0].query == {}


# --- with the App's installation client from bot/forge/auth.py
@pytest.fixture(scope="module")
def private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_installation_client_on_ghes_knows_our_app_and_keeps_its_token_out_of_logs(rsps, private_key, caplog):
    from bot.forge.auth import GitHubApp

    fg = FakeGitHub(GHES_API, our_app_id=4242).register(rsps)
    seed_pull(fg)
    client = GitHubApp(app_id=4242, private_key=private_key, api_url=GHES_API).client(77)
    forge = GitHubForge(client, clock=lambda: NOW)
    assert forge.app_id == 4242  # from the App installation auth: no second source of truth
    pacing = forge.http.requester.kwargs
    assert (pacing["seconds_between_requests"], pacing["seconds_between_writes"]) == (None, 1.0)  # GitHub's advice
    with caplog.at_level(logging.DEBUG):
        forge.create_check(REPO, result())
        assert forge.find_check(REPO, head_sha=HEAD, name=APPROVALS) is not None
        assert forge.get_files([FileRef(REPO, "README.md")])[0].content == b"hello\n"
    assert [c.path.split("?")[0] for c in fg.calls] == [
        "/app/installations/77/access_tokens",  # one token, reused for every request after it
        "/repos/acme/payments-app/check-runs",
        f"/repos/acme/payments-app/commits/{HEAD}/check-runs",
        "/graphql",  # https://ghe.example.com/api/graphql, with the same installation token
    ]
    assert fg.calls[0].headers["Authorization"].startswith("Bearer ")  # the App's JWT
    assert fg.calls[1].headers["Authorization"] == fg.calls[3].headers["Authorization"] == "token ghs_installation77token1"
    assert fg.calls[2].query["app_id"] == ["4242"]
    assert "ghs_installation77token1" not in caplog.text
    assert fg.calls[0].headers["Authorization"].split()[1] not in caplog.text


def test_a_token_exchange_that_fails_with_502_is_transient(rsps, private_key):
    from bot.forge.auth import GitHubApp

    fg = FakeGitHub(GHES_API).register(rsps)
    fg.fail("POST", r"/access_tokens$", 502)
    forge = GitHubForge(GitHubApp(app_id=4242, private_key=private_key, api_url=GHES_API).client(78))
    with pytest.raises(TransientError):
        forge.get_default_branch(REPO)


def test_the_immutable_cache_is_bounded(fg):
    forge = make_forge(cache_size=2)
    shas = [fg.add_file(REPO, f"f{i}", str(i)) for i in range(3)]
    for i, sha in enumerate(shas):
        forge.get_file(REPO, f"f{i}", ref=sha)
    forge.get_file(REPO, "f2", ref=shas[2])  # still cached
    forge.get_file(REPO, "f0", ref=shas[0])  # evicted: asked again
    assert fg.requests() == 4


# --- changed_since: what an approval given on an older head did not see (GL-core)

def _pull_at(head: str, base: str = "b" * 40):
    from bot.model import PullRequest

    return PullRequest(repo=REPO, number=9, title="t", author="a", head_sha=head, head_ref="f", base_ref="main",
                       base_sha=base, state="open")


def test_changed_since_lists_both_sides_of_a_rename(fg, forge):
    old, head = fake_sha("approved"), fake_sha("head")
    fg.repo(REPO).compares[(old, head)] = {"status": "ahead", "ahead_by": 1, "behind_by": 0, "total_commits": 1,
                                           "commits": [commit_json(fake_sha("c"), "fix: move")],
                                           "files": [file_json("new/x.py", status="renamed", previous="old/x.py")]}
    assert forge.changed_since(_pull_at(head), old) == frozenset({"new/x.py", "old/x.py"})


@pytest.mark.parametrize("status", ["diverged", "behind"])
def test_changed_since_a_force_pushed_head_is_none(fg, forge, status):
    old, head = fake_sha("approved"), fake_sha("head")
    fg.repo(REPO).compares[(old, head)] = {"status": status, "ahead_by": 1, "behind_by": 1, "total_commits": 1,
                                           "commits": [], "files": [file_json("a.py")]}
    assert forge.changed_since(_pull_at(head), old) is None


def test_changed_since_a_commit_github_no_longer_has_is_none(fg, forge):
    assert forge.changed_since(_pull_at(fake_sha("head")), fake_sha("gone")) is None


def test_changed_since_past_300_files_is_the_union_of_the_commits_not_every_path(fg, forge):
    # the defect fixed here: the widened list is complete, so it is used as it is
    old, head = fake_sha("approved"), fake_sha("head")
    _seed_compare(fg, old, head, n_commits=2, n_files=320)
    fg.repo(REPO).commit_files[fake_sha("c", 0)] = [file_json(f"app/{n}.py") for n in range(200)]
    fg.repo(REPO).commit_files[fake_sha("c", 1)] = [file_json(f"app/{n}.py") for n in range(150, 320)]
    changed = forge.changed_since(_pull_at(head), old)
    assert changed == frozenset(f"app/{n}.py" for n in range(320)) and "infra/main.tf" not in changed


def test_changed_since_when_even_a_commit_was_cut_adds_the_pulls_files(fg, forge):
    old, head, base = fake_sha("approved"), fake_sha("head"), fake_sha("base")
    _seed_compare(fg, old, head, n_commits=1, n_files=300)
    fg.repo(REPO).commit_files[fake_sha("c", 0)] = [file_json(f"gen/{n}.py") for n in range(3000)]
    fg.add_pull(REPO, 9, head_sha=head, base_sha=base, files=[file_json("infra/main.tf"), file_json("gen/1.py")])
    changed = forge.changed_since(_pull_at(head, base), old)
    assert "infra/main.tf" in changed and "gen/2999.py" in changed
