"""End to end on GitLab: hooks shaped like GitLab's documented payloads, posted to the Flask app with the
X-Gitlab-Token, journaled in the real SQLite queue, run by a real consumer through the worker into the handlers,
against a stand-in GitLab API over `responses` (tests/forge/fakegitlab.py) behind GitLabForge and python-gitlab.
Asserted: the commit statuses, the one summary note (edited, never duplicated), the tag on the squash commit,
the CHANGELOG commit with last_commit_id, the GitLab release, and replays creating nothing."""
from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
import time

import pytest
import responses

from bot.core.checks import APPROVALS, MANIFEST
from bot.forge.gitlab import GitLabForge, client
from bot.handlers import all_handlers
from bot.journal import State
from bot.queue import Queue
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.worker import Worker
from tests.fakeforge import DictStore
from tests.forge.fakegitlab import FakeGitLab

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
GITLAB_URL = "https://code.example.com/gitlab"  # self-managed, under a path prefix
TOKEN = "hook-secret"
RELEASES, APP = "acme/releases", "acme/payments-app"
CONFIG = """\
release:
  manifest: release.yml
  changelog: CHANGELOG.md
  tag: "release-{payments-app_version}"
  tag_message: "Deploy: payments-app v{payments-app_version}"
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
"""
CODEOWNERS = "[Release]\n/release.yml @acme/platform\n"
NOW = dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone.utc)  # a Tuesday


@pytest.fixture
def world(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gl = FakeGitLab(GITLAB_URL).register(rsps)
        # the component: v1.0.0 then a feature, tagged v1.1.0
        one = gl.add_commit(APP, {"VERSION": "1.0.0\n"}, branch="main", message="chore: start")
        gl.add_tag(APP, "v1.0.0", sha=one, message="v1.0.0")
        two = gl.add_commit(APP, {"VERSION": "1.1.0\n", "src/refund.py": "x"}, branch="main", message="feat: refunds (!3)")
        gl.add_tag(APP, "v1.1.0", sha=two, message="v1.1.0")
        # the release project, its rules on main, and the release MR
        gl.add_commit(RELEASES, {".gitlab/release-coordinator.yml": CONFIG, "CODEOWNERS": CODEOWNERS,
                                 "release.yml": "release:\n  application_version: 1.0.0\n",
                                 "CHANGELOG.md": "# Changelog\n"}, branch="main", message="init")
        gl.add_commit(RELEASES, {"release.yml": "release:\n  application_version: 1.1.0\n"}, branch="bump",
                      parent=gl.project(RELEASES).branches["main"], message="Release payments 1.1.0")
        gl.add_mr(RELEASES, 1, author="dave", source_branch="bump", title="Release payments 1.1.0")
        gl.add_group("acme/platform")
        gl.add_group("acme/platform/sre", {"ivan": 30})  # a subgroup's member speaks for @acme/platform
        gl.set_access(RELEASES, "ivan", 30)
        gl.set_access(RELEASES, "mallory", 30)

        queue = Queue(f"sqlite:///{tmp_path}/queue.db")
        settings = Settings(gitlab_url=GITLAB_URL, gitlab_token=Secret("glpat-test"), gitlab_webhook_secret=Secret(TOKEN),
                            queue_url=queue.url, public_url="https://rc.example")
        store = DictStore()
        forges = []

        def gitlab_forge(account):
            forges.append(GitLabForge(client(GITLAB_URL, "glpat-test"), retry=0))
            return forges[-1]

        worker = Worker(settings, store=store, gitlab_forge_for=gitlab_forge, clock=lambda: NOW)
        queue.runner = worker
        app = create_app(settings, queue=queue, store=store, router=all_handlers())
        yield World(gl, queue, app.test_client(), forges)


class World:
    def __init__(self, gl, queue, client, forges):
        self.gl, self.queue, self.client, self.forges = gl, queue, client, forges
        self.n = 0

    def mr_hook(self, action: str, **attributes) -> dict:
        payload = copy.deepcopy(json.loads((FIXTURES / "merge_request" / "update.json").read_text()))
        mr = self.gl.project(RELEASES).mrs[1]
        head = self.gl.project(RELEASES).branches["bump"]
        payload["project"].update(path_with_namespace=RELEASES, default_branch="main", web_url=f"{GITLAB_URL}/{RELEASES}")
        payload["object_attributes"].update({"iid": 1, "action": action, "target_branch": "main", "source_branch": "bump",
                                             "state": mr.state, "last_commit": {"id": head}, **attributes})
        payload["user"]["username"] = "dave"
        return payload

    def note_hook(self, text: str, *, author: str) -> dict:
        payload = copy.deepcopy(json.loads((FIXTURES / "note" / "merge_request.json").read_text()))
        payload["project"].update(path_with_namespace=RELEASES, default_branch="main")
        payload["object_attributes"].update(note=text, noteable_type="MergeRequest", system=False)
        payload["merge_request"].update(iid=1, target_branch="main", last_commit={"id": self.gl.project(RELEASES).branches["bump"]})
        payload["user"]["username"] = author
        return payload

    def post(self, event: str, payload: dict, *, key: str | None = None) -> str:
        self.n += 1
        key = key or f"delivery-{self.n}"
        response = self.client.post("/webhooks/gitlab", data=json.dumps(payload).encode(), headers={
            "X-Gitlab-Token": TOKEN, "X-Gitlab-Event": event, "Idempotency-Key": key,
            "X-Gitlab-Event-UUID": f"uuid-{self.n}", "Content-Type": "application/json"})
        assert response.status_code == 202, response.json
        return response.json["status"]

    def run(self) -> None:
        """Drain the queue through a real consumer; every delivery must end done."""
        consumer = self.queue.consumer(workers=1, embedded=True)
        consumer.start()
        try:
            deadline = time.monotonic() + 30
            while self.queue.depth().get("queued", 0) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
        finally:
            consumer.stop()
        for i in range(1, self.n + 1):
            assert self.queue.journal.state(f"delivery-{i}") in (State.DONE, None)  # None: a duplicate, never stored

    def statuses(self, sha=None):
        sha = sha or self.gl.project(RELEASES).branches["bump"]
        return {name: job["status"] for name, job in self.gl.statuses_of(RELEASES, sha).items()}

    def writes(self) -> int:
        # GraphQL reads are POSTs too: only REST writes count
        return sum(1 for c in self.gl.calls if c.method in ("POST", "PUT") and c.status < 300 and c.path != "/graphql")

    def ours(self):
        return [n for n in self.gl.notes_of(RELEASES, 1) if "release-coordinator" in n]


def test_merge_request_lifecycle_statuses_one_note_release_and_replays(world):
    # opened: approvals pending (ivan of @acme/platform's subgroup has not approved), the manifest is valid
    assert world.post("Merge Request Hook", world.mr_hook("open")) == "queued"
    world.run()
    assert world.statuses() == {APPROVALS: "pending", MANIFEST: "success"}
    (note,) = world.ours()
    assert "@acme/platform" in note and "release.yml" in note
    job = world.gl.statuses_of(RELEASES, world.gl.project(RELEASES).branches["bump"])[APPROVALS]
    assert job["target_url"].startswith("https://rc.example/pulls/gitlab/acme/releases/1")
    page = world.client.get(job["target_url"].removeprefix("https://rc.example"))  # the details page opens for the MR
    assert page.status_code == 200 and "Release payments 1.1.0" in page.get_data(as_text=True)

    # an approval: the approvals API is read again; the status turns green, the same note is edited
    world.gl.approve(RELEASES, 1, "ivan")
    assert world.post("Merge Request Hook", world.mr_hook("approved")) == "queued"
    world.run()
    assert world.statuses() == {APPROVALS: "success", MANIFEST: "success"}
    (note,) = world.ours()
    assert "@ivan" in note

    # the same approval hook again (GitLab's retry: same Idempotency-Key) queues nothing; a new delivery of the
    # same state writes nothing at all
    assert world.post("Merge Request Hook", world.mr_hook("approved"), key="delivery-2") == "duplicate"
    before = world.writes()
    assert world.post("Merge Request Hook", world.mr_hook("approved")) == "queued"
    world.run()
    assert world.writes() == before and len(world.ours()) == 1

    # /recheck re-evaluates from scratch (a fresh adapter) and still duplicates nothing
    made = len(world.forges)
    assert world.post("Note Hook", world.note_hook("/recheck", author="dave")) == "queued"
    world.run()
    assert len(world.forges) > made and len(world.ours()) == 1

    # merged, squashed: tag on the squash commit, CHANGELOG commit guarded by last_commit_id, a GitLab release
    squash = world.gl.merge(RELEASES, 1, squash=True)
    assert world.post("Merge Request Hook", world.mr_hook("merge", state="merged", squash_commit_sha=squash)) == "queued"
    world.run()
    project = world.gl.project(RELEASES)
    (tag,) = [name for name in project.tags if name.startswith("release-")]
    assert project.tags[tag]["commit"] == squash and project.tags[tag]["message"]
    changelog_writes = [c for c in world.gl.calls if c.method == "POST" and c.path.endswith("/repository/commits")]
    assert len(changelog_writes) == 1
    (action,) = changelog_writes[0].body["actions"]
    assert action["file_path"] == "CHANGELOG.md" and action.get("last_commit_id")
    assert tag in project.releases
    changelog = project.commits[project.branches["main"]].files["CHANGELOG.md"].decode()
    assert "1.0.0" in changelog
    # links in GitLab's own routes (under /-/), at the self-managed prefix
    assert f"{GITLAB_URL}/{APP}/-/compare/v1.0.0...v1.1.0" in changelog and f"{GITLAB_URL}/{APP}/-/commit/" in changelog
    assert f"refunds ([!3]({GITLAB_URL}/{APP}/-/merge_requests/3))" in changelog  # the MR ref, in its own project

    # replaying the merge hook under a new id creates no second tag, entry or release
    tags, commits, releases = dict(project.tags), len(project.commits), dict(project.releases)
    assert world.post("Merge Request Hook", world.mr_hook("merge", state="merged", squash_commit_sha=squash)) == "queued"
    world.run()
    assert project.tags == tags and len(project.commits) == commits and project.releases == releases


def test_rollback_by_someone_outside_the_owning_team_gets_told_who_may(world):
    world.post("Note Hook", world.note_hook("/rollback", author="mallory"))
    world.run()
    replies = [n for n in world.gl.notes_of(RELEASES, 1) if "mallory" in n or "@acme/platform" in n]
    assert replies and "@acme/platform" in replies[-1]
    assert not [mr for mr in world.gl.project(RELEASES).mrs.values() if mr.iid != 1]  # nothing opened


@pytest.mark.parametrize("reset_on_push", [True, False])
def test_a_push_after_an_approval_is_judged_on_the_next_update_hook(world, reset_on_push):
    """GitLab sends no approval hook when a push resets approvals: the update hook (with oldrev) re-reads them.
    Kept approvals given on the older head go stale when the push changed a path their team owns."""
    world.gl.project(RELEASES).reset_approvals_on_push = reset_on_push
    world.gl.approve(RELEASES, 1, "ivan")
    world.post("Merge Request Hook", world.mr_hook("approved"))
    world.run()
    assert world.statuses()[APPROVALS] == "success"
    old_head = world.gl.project(RELEASES).branches["bump"]
    world.gl.push(RELEASES, 1, {"release.yml": "release:\n  application_version: 1.1.0\n  notes: typo fixed\n"})
    world.post("Merge Request Hook", world.mr_hook("update", oldrev=old_head))
    world.run()
    assert world.statuses()[APPROVALS] == "pending"  # on the new head: ivan can approve again
    (note,) = world.ours()
    if not reset_on_push:
        assert f"Stale: @ivan approved {old_head[:7]}" in note
