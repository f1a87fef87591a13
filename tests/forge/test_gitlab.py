"""GitLabForge over `responses` (tests/forge/fakegitlab.py): the requests it sends, what it parses and caches,
GitLab's status state machine and summary note, and how errors surface."""
from __future__ import annotations

import logging
import re

import pytest
import responses

from bot.core.checks import APPROVALS, MANIFEST, CheckResult, Conclusion
from bot.forge.errors import (
    AlreadyExists, Conflict, ForgeError, NotFound, PermissionDenied, RateLimited, TeamNotFound, TransientError,
)
from bot.forge.gitlab import GitLabForge, client
from bot.forge.gitlab.http import error_for
from bot.model import ChangedFile, FileRef, Permission, ReviewState
from tests.forge.fakegitlab import FakeGitLab, diff_json

REPO = "acme/payments/app"  # a project in a subgroup: paths are URL-encoded as one id
P = "/projects/acme%2Fpayments%2Fapp"
NOW = 1_800_000_000.0


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def gl(rsps):
    return FakeGitLab().register(rsps)


def make_forge(url: str = "https://gitlab.example.com", **kwargs) -> GitLabForge:
    return GitLabForge(client(url, "glpat-secret-token"), **{"clock": lambda: NOW, "retry": None, **kwargs})


@pytest.fixture
def forge():
    return make_forge()


def paths(gl: FakeGitLab) -> list[str]:
    return [f"{c.method} {c.path}" for c in gl.calls]


def seed_mr(gl: FakeGitLab, *, files: dict | None = None, iid: int = 7) -> tuple[str, str]:
    base = gl.add_commit(REPO, {"README.md": "hello\n", "CODEOWNERS": "* @acme/infra\n"}, branch="main")
    head = gl.add_commit(REPO, files or {"src/app.py": "print(1)\n"}, branch="feature", parent=base)
    gl.add_mr(REPO, iid, author="carol", source_branch="feature", target_branch="main")
    return base, head


def result(name=APPROVALS, *, conclusion=Conclusion.PENDING, title="waiting for @acme/infra", head: str) -> CheckResult:
    return CheckResult(name=name, head_sha=head, conclusion=conclusion, title=title, summary="| team | required |",
                       details_url="https://rc.example.com/pulls/gitlab/acme/payments/app/7")


# --- merge requests
def test_get_pull_maps_diff_refs_states_and_the_squash_commit(gl, forge):
    base, head = seed_mr(gl)
    mr = gl.project(REPO).mrs[7]
    mr.labels, mr.draft = ["emergency-release"], True
    gl.project(REPO).mrs[7].reviewers["bob"] = {"state": "unreviewed", "created_at": "2026-11-20T09:00:00.000Z"}
    gl.add_user("bob")
    pull = forge.get_pull(REPO, 7)
    assert (pull.number, pull.author, pull.head_sha, pull.base_sha, pull.head_ref, pull.base_ref, pull.state) == (
        7, "carol", head, base, "feature", "main", "open")
    assert pull.labels == {"emergency-release"} and pull.draft and pull.requested_users == {"bob"}
    assert pull.html_url == "https://gitlab.example.com/acme/payments/app/-/merge_requests/7"
    squash = gl.merge(REPO, 7, squash=True)
    merged = forge.get_pull(REPO, 7)
    assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, squash)
    assert paths(gl) == [f"GET {P}/merge_requests/7"] * 2


def test_a_merge_after_the_target_moved_keeps_the_targets_changes(gl, forge):
    """The stand-in merges like git: the MR's changes on the target's head, not the MR's tree over it."""
    base, _head = seed_mr(gl)
    gl.add_commit(REPO, {"CODEOWNERS": "* @acme/platform\n"}, branch="main", message="elsewhere")
    landed = gl.merge(REPO, 7)
    files = gl.project(REPO).commits[landed].files
    assert files["CODEOWNERS"] == b"* @acme/platform\n" and files["src/app.py"] == b"print(1)\n"
    assert forge.get_file(REPO, "CODEOWNERS", ref=landed).content == b"* @acme/platform\n"


def test_a_merge_request_squashed_by_a_merge_commit_method_landed_on_its_merge_commit(gl, forge):
    """Squash with the "Merge commit" method: a squash commit, then a merge commit over it; the target branch (and
    its pipeline) is at the merge commit, so that is the commit a release is tagged on."""
    seed_mr(gl)
    landed = gl.merge(REPO, 7, squash=True, merge_commit=True)
    mr = gl.project(REPO).mrs[7]
    assert mr.squash_commit_sha and mr.squash_commit_sha != landed == gl.project(REPO).branches["main"]
    assert forge.get_pull(REPO, 7).merge_commit_sha == landed


def test_get_pull_is_revalidated_with_its_etag(gl, forge):
    seed_mr(gl)
    assert forge.get_pull(REPO, 7) == forge.get_pull(REPO, 7)
    assert [c.status for c in gl.calls] == [200, 304]
    assert gl.calls[1].headers["If-None-Match"].startswith('W/"')


def test_missing_merge_request_is_not_found(gl, forge):
    seed_mr(gl)
    with pytest.raises(NotFound, match="cannot see it"):
        forge.get_pull(REPO, 99)


def test_diffs_follow_link_pages_keep_renames_and_are_cached_by_head_and_base(gl, forge):
    seed_mr(gl)
    mr = gl.project(REPO).mrs[7]
    mr.diffs = [diff_json(f"src/f{i}.py") for i in range(249)] + [
        diff_json("new/name.py", old_path="old/name.py", renamed_file=True), diff_json("gone.txt", deleted_file=True)]
    pull = forge.get_pull(REPO, 7)
    files = forge.list_pull_files(REPO, 7, head_sha=pull.head_sha, base_sha=pull.base_sha)
    assert len(files) == 251 and not files.truncated
    assert files[249] == ChangedFile("new/name.py", "renamed", previous_path="old/name.py")
    assert files[250] == ChangedFile("gone.txt", "removed")
    assert paths(gl)[1:] == [f"GET {P}/merge_requests/7/diffs?per_page=100",
                             f"GET {P}/merge_requests/7/diffs?per_page=100&page=2",
                             f"GET {P}/merge_requests/7/diffs?per_page=100&page=3"]
    assert forge.list_pull_files(REPO, 7, head_sha=pull.head_sha, base_sha=pull.base_sha) == files
    assert gl.requests() == 4


def test_diffs_past_gitlabs_limit_are_truncated(gl, forge):
    seed_mr(gl)
    gl.project(REPO).mrs[7].diffs = [diff_json(f"f{i}") for i in range(1200)]
    files = forge.list_pull_files(REPO, 7)
    assert len(files) == 1000 and files.truncated  # changes_count "1000+", asked only because the list hit 1,000


def test_pagination_by_x_next_page_when_there_is_no_link_header(rsps, forge):
    url = "https://gitlab.example.com/api/v4" + P + "/merge_requests/7/commits"
    rsps.add("GET", re.compile(re.escape(url) + r"\?per_page=100$"), json=[{"id": "b" * 40, "message": "second"}],
             headers={"X-Next-Page": "2"})
    rsps.add("GET", re.compile(re.escape(url) + r"\?.*page=2"), json=[{"id": "a" * 40, "message": "first"}],
             headers={"X-Next-Page": ""})
    assert [c.message for c in forge.list_pull_commits(REPO, 7)] == ["first", "second"]  # GitLab lists newest first


# --- approvals
def test_approvals_carry_the_head_they_were_given_on_from_the_versions(gl, forge):
    base, first = seed_mr(gl)
    gl.project(REPO).reset_approvals_on_push = False
    gl.approve(REPO, 7, "alice")
    second = gl.push(REPO, 7, {"src/later.py": "x"})
    gl.approve(REPO, 7, "bob")
    reviews = forge.list_reviews(REPO, 7)
    assert [(r.user, r.state, r.commit_id) for r in reviews] == [
        ("alice", ReviewState.APPROVED, first), ("bob", ReviewState.APPROVED, second)]
    assert paths(gl)[:3] == [f"GET {P}/merge_requests/7/approvals", f"GET {P}/merge_requests/7/reviewers?per_page=100",
                             f"GET {P}/merge_requests/7/versions?per_page=100"]


def test_approvals_are_read_again_on_every_call_since_a_push_that_resets_them_sends_no_hook(gl, forge):
    seed_mr(gl)
    gl.approve(REPO, 7, "alice")
    assert [r.user for r in forge.list_reviews(REPO, 7)] == ["alice"]
    gl.push(REPO, 7, {"src/more.py": "x"})  # reset_approvals_on_push
    assert forge.list_reviews(REPO, 7) == ()


def test_requested_changes_bots_and_the_access_of_every_reviewer_in_one_request(gl, forge):
    seed_mr(gl)
    gl.set_access(REPO, "alice", 30)
    gl.set_access(REPO, "dave", 20)
    gl.approve(REPO, 7, "alice")
    gl.approve(REPO, 7, "project_42_bot_9f3a1c")  # a project access token's bot user
    gl.request_changes(REPO, 7, "dave")
    reviews = {r.user: r for r in forge.list_reviews(REPO, 7)}
    assert reviews["dave"].state is ReviewState.CHANGES_REQUESTED
    assert reviews["project_42_bot_9f3a1c"].user_is_bot and not reviews["alice"].user_is_bot
    access = [c for c in gl.calls if "/members/all" in c.path]
    assert len(access) == 1 and len(access[0].query["user_ids[]"]) == 3
    before = gl.requests()
    assert forge.permission(REPO, "alice") is Permission.WRITE and forge.permission(REPO, "dave") is Permission.TRIAGE
    assert forge.permission(REPO, "project_42_bot_9f3a1c") is Permission.NONE
    assert gl.requests() == before  # answered from the prefetch


def test_changed_since_compares_the_two_heads_trees_even_across_a_force_push(gl, forge):
    base, first = seed_mr(gl)
    gl.push(REPO, 7, {"infra/main.tf": "x"})
    pull = forge.get_pull(REPO, 7)
    assert forge.changed_since(pull, first) == {"infra/main.tf"}
    assert gl.calls[-1].query["straight"] == ["true"]
    assert forge.changed_since(pull, pull.head_sha) == frozenset()
    assert forge.changed_since(pull, base) is None  # never a head of this MR
    gl.force_push(REPO, 7, {"src/rewritten.py": "x"})  # from main: src/app.py and infra/main.tf are gone
    rewritten = forge.get_pull(REPO, 7)
    assert forge.changed_since(rewritten, first) == {"src/app.py", "src/rewritten.py"}
    before = gl.requests()
    assert forge.changed_since(rewritten, first) == {"src/app.py", "src/rewritten.py"} and gl.requests() == before


def test_compare_says_diverged_when_base_is_not_an_ancestor(gl, forge):
    base, head = seed_mr(gl)
    other = gl.add_commit(REPO, {"x": "y"}, branch="other", parent=base)
    assert forge.compare(REPO, base, head).status == "ahead"
    assert forge.compare(REPO, other, head).status == "diverged"
    before = gl.requests()
    forge.compare(REPO, base, head)
    assert gl.requests() == before  # two shas: kept for good


# --- people
def test_team_members_walk_the_subgroups_and_leave_blocked_users_out(gl, forge):
    gl.add_group("acme", {"cto": 50})
    gl.add_group("acme/infra", {"alice": 30, "mallory": 30})
    gl.add_group("acme/infra/sre", {"bob": 30})
    gl.add_group("acme/infra/sre/oncall", {"erin": 30})
    gl.add_group("acme/web", {"walter": 30})
    gl.add_user("mallory", state="blocked")
    assert forge.team_members("@acme/infra") == {"cto", "alice", "bob", "erin"}
    assert paths(gl) == [
        "GET /groups/acme%2Finfra/members/all?per_page=100", "GET /groups/acme%2Finfra/descendant_groups?per_page=100",
        f"GET /groups/{gl.groups['acme/infra/sre'].id}/members?per_page=100",
        f"GET /groups/{gl.groups['acme/infra/sre/oncall'].id}/members?per_page=100"]
    assert forge.team_members("@acme/infra") == {"cto", "alice", "bob", "erin"} and gl.requests() == 4  # 60 s
    with pytest.raises(TeamNotFound) as caught:
        forge.team_members("@acme/nope")
    assert caught.value.team == "@acme/nope"


def test_get_teams_asks_every_group_with_its_subgroups_in_one_graphql_query(gl, forge):
    gl.add_group("acme/infra", {"alice": 30, "mallory": 30})
    gl.add_group("acme/infra/sre", {"bob": 30})
    gl.add_group("acme/docs", {f"writer{i}": 30 for i in range(130)})
    gl.add_user("mallory", state="blocked")
    found = forge.get_teams(["@acme/infra", "@acme/docs", "@acme/nope"], repo=REPO)
    assert found["@acme/infra"].members == {"alice", "bob"} and found["@acme/nope"] is None
    assert len(found["@acme/docs"].members) == 130
    queries = [c.body["query"] for c in gl.calls]
    assert len(queries) == 2 and "DESCENDANTS" in queries[0]  # the second page of docs only
    assert forge.team_members("@acme/infra") == found["@acme/infra"].members  # REST and GraphQL agree


def test_permission_is_the_effective_access_level_inherited_from_groups(gl, forge):
    gl.project(REPO)
    gl.add_group("acme/payments", {"maria": 40})
    gl.set_access(REPO, "dev", 30)
    gl.set_access(REPO, "guest", 10)
    gl.add_user("gone", state="blocked")
    gl.set_access(REPO, "gone", 30)
    assert [forge.permission(REPO, u) for u in ("maria", "dev", "guest", "gone", "stranger")] == [
        Permission.MAINTAIN, Permission.WRITE, Permission.READ, Permission.NONE, Permission.NONE]
    assert f"GET {P}/members/all/{gl.users['maria']['id']}" in paths(gl)
    assert "GET /users?username=stranger" in paths(gl)


def test_request_reviewers_keeps_the_current_ones_and_cannot_request_groups(gl, forge):
    seed_mr(gl)
    gl.add_user("bob")
    gl.add_user("alice")
    gl.project(REPO).mrs[7].reviewers["bob"] = {"state": "unreviewed", "created_at": "2026-11-20T09:00:00.000Z"}
    forge.request_reviewers(REPO, 7, teams=frozenset({"@acme/infra"}), users=frozenset({"alice"}))
    put = [c for c in gl.calls if c.method == "PUT"]
    assert put[0].body == {"reviewer_ids": sorted([gl.users["alice"]["id"], gl.users["bob"]["id"]])}
    forge.request_reviewers(REPO, 7, teams=frozenset({"@acme/infra"}))
    assert len([c for c in gl.calls if c.method == "PUT"]) == 1  # groups alone: nothing GitLab can do


# --- files
def test_get_files_reads_many_projects_and_refs_in_one_query_and_caches_by_sha(gl, forge):
    base, head = seed_mr(gl)
    gl.add_file("acme/settings", ".gitlab/release-coordinator.yml", "approvals: {}\n")
    gl.add_symlink(REPO, "docs/CODEOWNERS", "../CODEOWNERS", ref=base)
    wanted = [FileRef("acme/settings", ".gitlab/release-coordinator.yml"), FileRef(REPO, "CODEOWNERS", base),
              FileRef(REPO, "docs/CODEOWNERS", base), FileRef(REPO, ".gitlab/CODEOWNERS", base), FileRef("acme/none", "x")]
    found = forge.get_files(wanted)
    assert [f and f.content for f in found] == [b"approvals: {}\n", b"* @acme/infra\n", None, None, None]
    assert paths(gl) == ["POST /graphql"]
    assert forge.get_files(wanted[1:4]) == found[1:4] and gl.requests() == 1  # at a sha: for good


def test_binary_files_come_from_the_files_api(gl, forge):
    sha = gl.add_file(REPO, "logo.png", b"\x89PNG\r\n\x1a\n\x00\xff")
    assert forge.get_file(REPO, "logo.png", ref=sha).content == b"\x89PNG\r\n\x1a\n\x00\xff"
    assert paths(gl)[1] == f"GET {P}/repository/files/logo.png?ref={sha}"


def test_update_file_commits_with_the_files_last_commit_id(gl, forge):
    gl.add_file(REPO, "CHANGELOG.md", "# Changelog\n")
    current = forge.get_file(REPO, "CHANGELOG.md", ref="main")
    new = forge.update_file(REPO, "CHANGELOG.md", content=b"# Changelog\n\n## r1\n", message="release r1", branch="main", sha=current.sha)
    post = gl.calls[-1]
    assert post.method == "POST" and post.path == f"{P}/repository/commits"
    assert post.body["actions"][0]["action"] == "update" and post.body["actions"][0]["last_commit_id"]
    assert gl.project(REPO).branches["main"] == new
    gl.add_file(REPO, "CHANGELOG.md", "a human edit\n")
    with pytest.raises(Conflict):
        forge.update_file(REPO, "CHANGELOG.md", content=b"ours", message="m", branch="main", sha=current.sha)


def test_a_stale_last_commit_id_is_conflict(gl, forge, rsps):
    gl.add_file(REPO, "CHANGELOG.md", "# Changelog\n")
    current = forge.get_file(REPO, "CHANGELOG.md", ref="main")
    gl.fail("POST", r"/repository/commits$", 400,
            body={"message": "You are attempting to update a file that has changed since you started editing it."})
    with pytest.raises(Conflict):
        forge.update_file(REPO, "CHANGELOG.md", content=b"ours", message="m", branch="main", sha=current.sha)


# --- tags, releases, merge requests
def test_create_tag_sends_the_message_and_a_taken_name_is_already_exists(gl, forge):
    sha = gl.add_file(REPO, "release.yml", "x")
    tag = forge.create_tag(REPO, name="release-1", message="Deploy\n\nRelease-Id: release-1", sha=sha)
    assert gl.calls[-1].body == {"tag_name": "release-1", "ref": sha, "message": "Deploy\n\nRelease-Id: release-1"}
    assert (tag.commit_sha, tag.message) == (sha, "Deploy\n\nRelease-Id: release-1") and tag.tag_sha != sha
    with pytest.raises(AlreadyExists):
        forge.create_tag(REPO, name="release-1", message="m", sha=sha)
    assert forge.list_annotated_tags(REPO)[0] == tag
    assert gl.calls[-1].query == {"per_page": ["100"], "order_by": ["updated"], "sort": ["desc"]}


def test_a_tag_made_later_than_its_commit_is_dated_when_it_was_made(gl, forge):
    """The soak starts when staging was tagged: an annotated tag's `created_at` (GitLab 16.11+) is the tag
    object's own time, not its commit's (https://docs.gitlab.com/api/tags/#get-a-single-repository-tag)."""
    sha = gl.add_file(REPO, "release.yml", "x")
    committed = gl.project(REPO).commits[sha].date
    gl.tick(minutes=7)  # the merge hook arrives minutes after the merge commit
    tag = forge.create_tag(REPO, name="staging/release-1", message="m", sha=sha)
    made = forge.tag_date(REPO, tag)
    assert made is not None and (made - committed).total_seconds() >= 7 * 60


def test_release_and_merge_request_twice_are_already_exists(gl, forge):
    sha = gl.add_file(REPO, "release.yml", "x")
    forge.create_tag(REPO, name="r1", message="m", sha=sha)
    made = forge.create_release(REPO, tag="r1", name="r1", body="notes")
    assert gl.calls[-1].body == {"tag_name": "r1", "name": "r1", "description": "notes"}
    assert made.html_url.endswith("/acme/payments/app/-/releases/r1")
    with pytest.raises(AlreadyExists):
        forge.create_release(REPO, tag="r1", name="r1", body="notes")
    forge.create_branch(REPO, name="rollback/r1", sha=sha)
    pull = forge.create_pull(REPO, title="Roll back", body="b", head="rollback/r1", base="main")
    assert gl.calls[-1].body == {"source_branch": "rollback/r1", "target_branch": "main", "title": "Roll back", "description": "b"}
    with pytest.raises(AlreadyExists):
        forge.create_pull(REPO, title="Roll back", body="b", head="rollback/r1", base="main")
    forge.comment(REPO, pull.number, "/rollback is done")
    assert gl.calls[-1].path == f"{P}/merge_requests/{pull.number}/notes" and gl.calls[-1].body == {"body": "/rollback is done"}


# --- commit statuses: GitLab's state machine
def test_pending_twice_is_written_once_and_a_changed_reason_is_not_sent(gl, forge):
    base, head = seed_mr(gl)
    forge.create_check(REPO, result(head=head))
    forge.create_check(REPO, result(head=head))
    forge.create_check(REPO, result(head=head, title="waiting for @acme/docs"))  # still pending: the note says why
    posts = [c for c in gl.calls if c.method == "POST"]
    assert len(posts) == 1
    assert posts[0].body == {"state": "pending", "name": APPROVALS, "description": "waiting for @acme/infra",
                             "target_url": "https://rc.example.com/pulls/gitlab/acme/payments/app/7#approvals"}
    forge.create_check(REPO, result(head=head, conclusion=Conclusion.SUCCESS, title="all teams approved"))
    forge.create_check(REPO, result(head=head, conclusion=Conclusion.SUCCESS, title="all teams approved"))
    assert [c.body["state"] for c in gl.calls if c.method == "POST"] == ["pending", "success"]
    assert gl.statuses_of(REPO, head)[APPROVALS]["status"] == "success"
    forge.create_check(REPO, result(head=head, conclusion=Conclusion.FAILURE, title="changes requested"))
    assert gl.statuses_of(REPO, head)[APPROVALS]["status"] == "failed"


def test_a_refused_same_state_transition_from_another_writer_is_a_no_op(gl, forge):
    base, head = seed_mr(gl)
    forge.create_check(REPO, result(head=head, conclusion=Conclusion.SUCCESS, title="approved"))
    other = make_forge()  # another worker, on a newer event, made it pending after this one last looked
    other.create_check(REPO, result(head=head, title="a new team owns a changed file"))
    status_id = forge.create_check(REPO, result(head=head))
    refused = [c for c in gl.calls if c.method == "POST" and c.status == 400]
    assert len(refused) == 1 and refused[0].body["state"] == "pending"  # GitLab refused; the adapter took it as done
    assert status_id == gl.statuses_of(REPO, head)[APPROVALS]["id"]
    assert gl.statuses_of(REPO, head)[APPROVALS]["description"] == "a new team owns a changed file"


def test_digest_of_what_gitlab_shows_round_trips_and_description_is_cut_to_255(gl, forge):
    base, head = seed_mr(gl)
    long = result(MANIFEST, conclusion=Conclusion.FAILURE, title="release.yml:3 " + "x" * 400, head=head)
    forge.create_check(REPO, long)
    assert len(gl.calls[-1].body["description"]) == 255
    fresh = make_forge()
    found = fresh.find_check(REPO, head_sha=head, name=MANIFEST)
    assert found.digest == fresh.check_digest(long)
    assert gl.calls[-1].path == f"{P}/repository/commits/{head}/statuses?per_page=100&name=release-coordinator%2Fmanifest"


def test_a_status_on_a_commit_gitlab_does_not_have_says_so(gl, forge):
    gl.project(REPO)
    with pytest.raises(NotFound, match="Developer on acme/payments/app to set commit statuses"):
        forge.create_check(REPO, result(head="f" * 40))


# --- the summary note
def test_the_summary_note_is_created_once_then_edited_in_place(gl, forge):
    seed_mr(gl)
    gl.project(REPO).mrs[7].notes.append({"id": 1, "body": "LGTM", "author": gl.user_json("bob"), "system": False})
    first = forge.ensure_note(REPO, 7, topic="summary", body="| team | missing |")
    again = forge.ensure_note(REPO, 7, topic="summary", body="| team | missing |")
    edited = forge.ensure_note(REPO, 7, topic="summary", body="all approved")
    assert first.id == again.id == edited.id
    assert [c.method for c in gl.calls] == ["GET", "POST", "PUT"]
    assert gl.notes_of(REPO, 7) == ["LGTM", "<!-- release-coordinator:summary -->\nall approved"]
    restarted = make_forge()  # a new process finds it by its marker
    assert restarted.ensure_note(REPO, 7, topic="summary", body="all approved").id == first.id
    assert [c.method for c in gl.calls] == ["GET", "POST", "PUT", "GET"]


def test_a_deleted_summary_note_is_written_again(gl, forge):
    seed_mr(gl)
    forge.ensure_note(REPO, 7, topic="summary", body="a")
    gl.project(REPO).mrs[7].notes.clear()
    forge.ensure_note(REPO, 7, topic="summary", body="b")
    assert gl.notes_of(REPO, 7) == ["<!-- release-coordinator:summary -->\nb"]


# --- errors
def test_429_surfaces_at_once_with_retry_after_then_the_retry_works(gl, forge):
    seed_mr(gl)
    gl.fail("GET", r"/merge_requests/7$", 429, headers={"Retry-After": "7", "RateLimit-Reset": str(int(NOW) + 30)})
    with pytest.raises(RateLimited) as caught:
        forge.get_pull(REPO, 7)
    assert caught.value.retry_after == 7.0
    assert forge.get_pull(REPO, 7).number == 7  # the queue's retry: nothing lost


def test_429_without_retry_after_waits_until_ratelimit_reset(gl, forge):
    seed_mr(gl)
    gl.fail("GET", r"/merge_requests/7$", 429, headers={"RateLimit-Reset": str(int(NOW) + 30)})
    with pytest.raises(RateLimited) as caught:
        forge.get_pull(REPO, 7)
    assert caught.value.retry_after == 31.0


def test_5xx_is_retried_for_reads_then_transient(gl):
    seed_mr(gl)
    forge = GitLabForge(client(gl.url, "tok"), clock=lambda: NOW)  # the default retry policy
    gl.fail("GET", r"/merge_requests/7$", 502, times=1)
    assert forge.get_pull(REPO, 7).number == 7
    gl.fail("GET", r"/merge_requests/7$", 503, times=10)
    with pytest.raises(TransientError):
        forge.get_pull(REPO, 7)
    gl.fail("POST", r"/notes$", 502, times=1)
    with pytest.raises(TransientError):
        forge.comment(REPO, 7, "x")
    assert len([c for c in gl.calls if c.method == "POST"]) == 1  # a write is never retried by the adapter


def test_permission_errors_name_what_the_token_lacks(gl, forge):
    sha = gl.add_file(REPO, "release.yml", "x")
    gl.fail("POST", r"/repository/tags$", 403, body={"message": "403 Forbidden"})
    with pytest.raises(PermissionDenied, match="token lacks Developer on acme/payments/app to push tags"):
        forge.create_tag(REPO, name="r1", message="m", sha=sha)
    gl.fail("GET", r"/merge_requests/1$", 401, body={"message": "401 Unauthorized"})
    with pytest.raises(PermissionDenied, match="GITLAB_TOKEN was refused"):
        forge.get_pull(REPO, 1)
    gl.fail("GET", r"/merge_requests/1$", 403, body={"error": "insufficient_scope", "scope": "api",
                                                      "error_description": "The request requires higher privileges than provided by the access token."})
    with pytest.raises(PermissionDenied, match="needs the `api` scope"):
        forge.get_pull(REPO, 1)
    with pytest.raises(NotFound, match="404 Project Not Found .or the token cannot see it; it needs Reporter on acme/secret"):
        forge.get_default_branch("acme/secret")


@pytest.mark.parametrize(("status", "headers", "body", "expected"), [
    (429, {"retry-after": "3"}, {"message": "429 Too Many Requests"}, RateLimited),
    (500, {}, {"message": "500 Internal Server Error"}, TransientError),
    (409, {}, {"message": "Another update to this commit status is in progress"}, TransientError),
    (409, {}, {"message": "Release already exists"}, AlreadyExists),
    (409, {}, {"message": ["Another open merge request already exists for this source branch: !3"]}, AlreadyExists),
    (400, {}, {"message": "Tag v1 already exists"}, AlreadyExists),
    (400, {}, {"message": "Branch already exists"}, AlreadyExists),
    (400, {}, {"message": "You are attempting to update a file that has changed since you started editing it."}, Conflict),
    (400, {}, {"message": "Cannot transition status via :enqueue from :pending"}, ForgeError),
    (404, {}, {"message": "404 Group Not Found"}, NotFound),
    (403, {}, {"message": "403 Forbidden"}, PermissionDenied),
    (401, {}, {"message": "401 Unauthorized"}, PermissionDenied),
])
def test_error_mapping_table(status, headers, body, expected):
    error = error_for(status, headers, body, what="GET /x", needs=None, now=NOW)
    assert type(error) is expected


def test_success_maps_to_no_error():
    assert error_for(200, {}, {}, what="GET /x", needs=None, now=NOW) is None


# --- self-managed
def test_a_self_managed_gitlab_under_a_path_prefix(rsps):
    gl = FakeGitLab("https://git.example.com/gitlab").register(rsps)
    forge = make_forge("https://git.example.com/gitlab")
    base, head = seed_mr(gl)
    forge.get_pull(REPO, 7)
    forge.get_files([FileRef(REPO, "CODEOWNERS", base)])
    forge.create_check(REPO, result(head=head))
    urls = [c.request.url for c in rsps.calls]
    assert urls[0] == f"https://git.example.com/gitlab/api/v4{P}/merge_requests/7"
    assert urls[1] == "https://git.example.com/gitlab/api/graphql"
    assert all(u.startswith("https://git.example.com/gitlab/api/") for u in urls)
    assert forge.links.pull(REPO, 7) == "https://git.example.com/gitlab/acme/payments/app/-/merge_requests/7"


def test_the_token_travels_in_its_header_and_never_reaches_the_logs(gl, forge, caplog):
    seed_mr(gl)
    caplog.set_level(logging.DEBUG)
    gl.fail("GET", r"/merge_requests/7$", 403)
    with pytest.raises(PermissionDenied) as caught:
        forge.get_pull(REPO, 7)
    forge.get_pull(REPO, 7)
    assert gl.calls[-1].headers["PRIVATE-TOKEN"] == "glpat-secret-token"
    assert "glpat-secret-token" not in caplog.text and "glpat-secret-token" not in str(caught.value)


def test_an_mr_without_reviewers_costs_no_reviewers_request(gl, forge):
    seed_mr(gl)
    gl.approve(REPO, 7, "alice")
    forge.get_pull(REPO, 7)
    assert [r.user for r in forge.list_reviews(REPO, 7)] == ["alice"]
    assert not any("/reviewers" in c.path for c in gl.calls)


def test_a_new_process_writing_the_pending_already_there_takes_gitlabs_refusal_as_done(gl, forge):
    base, head = seed_mr(gl)
    first = forge.create_check(REPO, result(head=head))
    restarted = make_forge()  # knows nothing of the status: writes, and GitLab refuses pending -> pending
    assert restarted.create_check(REPO, result(head=head)) == first
    assert [c.status for c in gl.calls if c.method == "POST"] == [201, 400]
    assert restarted.create_check(REPO, result(head=head)) == first  # now it knows: nothing sent
    assert [c.status for c in gl.calls if c.method == "POST"] == [201, 400]


def test_a_details_link_past_255_characters_is_left_out_and_not_written_again(gl, forge):
    base, head = seed_mr(gl)
    long = CheckResult(name=MANIFEST, head_sha=head, conclusion=Conclusion.SUCCESS, title="manifest valid", summary="",
                       details_url="https://rc.example.com/pulls/gitlab/" + "a" * 260)
    forge.create_check(REPO, long)
    assert "target_url" not in gl.calls[-1].body
    fresh = make_forge()
    assert fresh.find_check(REPO, head_sha=head, name=MANIFEST).digest == fresh.check_digest(long)
