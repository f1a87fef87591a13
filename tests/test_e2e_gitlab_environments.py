"""End to end on GitLab through staging and production (issue 14, "GitLab: the same through MR notes, commit
statuses and GitLab releases"): hooks shaped like GitLab's documented payloads, posted to the Flask app with the
X-Gitlab-Token, journaled in the real SQLite queue and run by the worker from it (huey's dequeue/execute, what the
consumer process does), against the stateful stand-in GitLab (tests/forge/fakegitlab.py) under a path prefix
behind GitLabForge and python-gitlab; announcements go from the same queue to a real HTTP receiver on 127.0.0.1.

staging MR merged -> `staging/release-…` on the merge commit, its CHANGELOG commit (last_commit_id), a GitLab
Release, shipped-in notes on the component MRs; the production MR with the same versions: the promotion status
`pending` while the staging commit's `e2e-staging` job is missing or running and while the soak runs (the clock
advanced), then `success` by itself (a Pipeline Hook for the job, the scheduled recheck at the soak's end), the one
summary note carrying the release plan, edited in place; merged -> the production tag with `Verified-In:`,
"Shipped in … to production on …" once per environment, one signed announcement; `/rollback` in an MR note opens a
rollback MR; replaying every hook creates nothing new. A failed verification turns the status `failed`."""
from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib

import pytest
import responses

from bot.core import release as core
from bot.core.checks import APPROVALS, MANIFEST
from bot.core.promotion import PROMOTION
from bot.forge.gitlab import GitLabForge, client
from bot.handlers import all_handlers
from bot.journal import State
from bot.notify import deliver as notify
from bot.notify.render import SIGNATURE_HEADER, verify
from bot.queue import JOB_FORGE, Queue
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.worker import Worker
from tests.fakeforge import DictStore
from tests.forge.fakegitlab import FakeGitLab
from tests.notify.conftest import receiver  # noqa: F401 (the loopback HTTP receiver fixture)
from tests.test_e2e_environments import Clock

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
GITLAB_URL = "https://code.example.com/gitlab"  # self-managed, under a path prefix
TOKEN, HOOK_SECRET = "hook-token", "receiver-secret"
RELEASES, APP, INFRA = "acme/releases", "acme/payments-app", "acme/platform/infra"
UTC = dt.timezone.utc
# huey schedules by the machine's clock: the story happens in its future so the soak recheck is parked as in
# production (the handlers and the stand-in read the story's clock)
T0 = dt.datetime(2036, 12, 3, 8, 0, tzinfo=UTC)
STAGING, PRODUCTION = "environments/staging/release.yml", "environments/production/release.yml"
STAGING_ID, PRODUCTION_ID, EARLIER_ID = "staging/release-1.5.3-2.1.0", "release-1.5.3-2.1.0", "release-1.5.2-2.0.9"
CONFIG = """\
release:
  tag: "release-{application_version}-{infrastructure_version}"
components:
  payments-app:   {repo: acme/payments-app,   kind: application}
  platform-infra: {repo: acme/platform/infra, kind: infrastructure}
environments:
  - name: staging
    manifest: environments/staging/release.yml
  - name: production
    manifest: environments/production/release.yml
    verification: [e2e-staging]
    soak: 2h
notify:
  - {kind: webhook, url_env: RELEASE_HOOK_URL, secret_env: RELEASE_HOOK_SECRET, on: [released, rolled_back], environments: [production]}
"""
CODEOWNERS = "[Release]\n/environments/ @acme/platform\n"
OLD = "release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"
NEW = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"
EARLIER_TAG = (f"Deploy\n\nRelease-Id: {EARLIER_ID}\nComponent-Version: payments-app=1.5.2\n"
               "Component-Version: platform-infra=2.0.9\nEnvironment: production\n")


def seed_component(gl: FakeGitLab, project: str, old: str, new: str, commits: list[tuple[str, int, bool]]) -> None:
    """A component project: tag v{old}, then merged MRs (their merge commits as GitLab writes them), tag v{new}."""
    start = gl.add_commit(project, {"VERSION": f"{old}\n"}, branch="main", message="chore: start")
    gl.add_tag(project, f"v{old}", sha=start, message=f"v{old}")
    for subject, iid, merge_commit in commits:
        # the MR's commit, then (merge-commit method) GitLab's merge commit naming it; squashed: "subject (!N)" alone
        gl.add_commit(project, {f"src/{iid}.py": "x"}, branch=f"topic-{iid}", parent=gl.project(project).branches["main"],
                      message=subject if merge_commit else f"{subject} (!{iid})")
        mr = gl.add_mr(project, iid, author="erin", source_branch=f"topic-{iid}", title=subject)
        gl.project(project).branches["main"] = gl.project(project).branches[f"topic-{iid}"]
        if merge_commit:
            gl.add_commit(project, {}, branch="main", message=f"Merge branch 'topic-{iid}' into 'main'\n\n{subject}\n\n"
                                                               f"See merge request {project}!{iid}")
        mr.state = "merged"
    end = gl.add_commit(project, {"VERSION": f"{new}\n"}, branch="main", message=f"chore: release {new}")
    gl.add_tag(project, f"v{new}", sha=end, message=f"v{new}")


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def world(tmp_path, clock, receiver):  # noqa: F811 (the fixture imported above)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")  # the announcement receiver is a real server
        gl = FakeGitLab(GITLAB_URL).register(rsps)
        gl.now = T0 - dt.timedelta(days=30)
        # GitLab's merge commit message names the MR: "See merge request group/project!N" (squash: "(!N)")
        seed_component(gl, APP, "1.5.2", "1.5.3", [("fix: rounding of invoice totals", 12, True),
                                                    ("fix: invoice PDF totals", 13, False)])
        seed_component(gl, INFRA, "2.0.9", "2.1.0", [("feat: VPC peering", 30, True)])
        init = gl.add_commit(RELEASES, {".gitlab/release-coordinator.yml": CONFIG, "CODEOWNERS": CODEOWNERS,
                                        STAGING: OLD, PRODUCTION: OLD, "CHANGELOG.md": "# Changelog\n"},
                             branch="main", message="init")
        gl.add_tag(RELEASES, EARLIER_ID, sha=init, message=EARLIER_TAG)  # production runs 1.5.2 / 2.0.9
        gl.add_group("acme/platform", {"ivan": 30})
        gl.set_access(RELEASES, "ivan", 30)
        gl.set_access(RELEASES, "alice", 30)
        gl.now = T0 - dt.timedelta(minutes=30)
        gl.add_commit(RELEASES, {STAGING: NEW}, branch="stage", parent=init, message="Staging: 1.5.3 / 2.1.0")
        gl.add_mr(RELEASES, 1, author="alice", source_branch="stage", title="Staging: 1.5.3 / 2.1.0")

        queue = Queue(f"sqlite:///{tmp_path}/queue.db")
        settings = Settings(gitlab_url=GITLAB_URL, gitlab_token=Secret("glpat-test"), gitlab_webhook_secret=Secret(TOKEN),
                            queue_url=queue.url, public_url="https://rc.example", details_link_secret=Secret("links"),
                            announce_env={"RELEASE_HOOK_URL": Secret(receiver.url),
                                          "RELEASE_HOOK_SECRET": Secret(HOOK_SECRET)})
        store = DictStore()

        def gitlab_forge(account):  # the worker keeps one adapter per (forge, account), caches and all
            return GitLabForge(client(GITLAB_URL, "glpat-test"), retry=0)

        worker = Worker(settings, store=store, gitlab_forge_for=gitlab_forge, clock=clock)
        queue.runner = worker
        worker.jobs = queue  # as bot.commands._runtime.build wires it: rechecks and announcements go through it
        notify.install(queue, settings)
        app = create_app(settings, queue=queue, store=store, router=all_handlers())
        world = World(gl, queue, app.test_client(), clock, receiver, store)
        world.worker = worker
        yield world


class World:
    def __init__(self, gl, queue, client, clock, receiver, store):
        self.gl, self.queue, self.client, self.clock, self.receiver, self.store = gl, queue, client, clock, receiver, store
        self.n = 0
        self.sent: list[tuple[str, dict]] = []  # every hook posted, to replay them all

    @property
    def releases(self):
        return self.gl.project(RELEASES)

    def at(self, when: dt.datetime) -> None:
        """The story's clock, for the worker and the stand-in GitLab alike."""
        self.clock.now = when
        self.gl.now = when

    def mr_hook(self, iid: int, action: str, **attributes) -> dict:
        payload = copy.deepcopy(json.loads((FIXTURES / "merge_request" / "update.json").read_text()))
        mr = self.releases.mrs[iid]
        head = self.releases.branches[mr.source_branch]
        payload["project"].update(path_with_namespace=RELEASES, default_branch="main", web_url=f"{GITLAB_URL}/{RELEASES}")
        payload["object_attributes"].update({"iid": iid, "action": action, "target_branch": "main",
                                             "source_branch": mr.source_branch, "state": mr.state,
                                             "last_commit": {"id": head}, "title": mr.title, **attributes})
        payload["user"]["username"] = "alice"
        return payload

    def merged_hook(self, iid: int) -> dict:
        mr = self.releases.mrs[iid]
        return self.mr_hook(iid, "merge", state="merged", merge_commit_sha=mr.merge_commit_sha,
                            squash_commit_sha=mr.squash_commit_sha)

    def note_hook(self, iid: int, text: str, *, author: str) -> dict:
        payload = copy.deepcopy(json.loads((FIXTURES / "note" / "merge_request.json").read_text()))
        payload["project"].update(path_with_namespace=RELEASES, default_branch="main")
        payload["object_attributes"].update(note=text, noteable_type="MergeRequest", system=False)
        mr = self.releases.mrs[iid]
        payload["merge_request"].update(iid=iid, target_branch="main", state=mr.state,
                                        last_commit={"id": self.releases.branches[mr.source_branch]})
        payload["user"]["username"] = author
        return payload

    def pipeline_hook(self, sha: str, status: str, jobs: dict[str, str]) -> dict:
        """https://docs.gitlab.com/user/project/integrations/webhook_events/#pipeline-events"""
        return {"object_kind": "pipeline",
                "object_attributes": {"id": 31, "iid": 3, "ref": "main", "tag": False, "sha": sha, "status": status,
                                      "detailed_status": status, "source": "push", "stages": ["test"]},
                "user": {"id": 1, "name": "Runner", "username": "ci"},
                "project": {"id": self.releases.id, "path_with_namespace": RELEASES, "default_branch": "main",
                            "web_url": f"{GITLAB_URL}/{RELEASES}"},
                "builds": [{"id": 380 + i, "stage": "test", "name": name, "status": state}
                           for i, (name, state) in enumerate(jobs.items())]}

    def post(self, event: str, payload: dict) -> None:
        self.n += 1
        self.sent.append((event, payload))
        response = self.client.post("/webhooks/gitlab", data=json.dumps(payload).encode(), headers={
            "X-Gitlab-Token": TOKEN, "X-Gitlab-Event": event, "Idempotency-Key": f"delivery-{self.n}",
            "X-Gitlab-Event-UUID": f"uuid-{self.n}", "Content-Type": "application/json"})
        assert response.status_code == 202, response.json
        assert response.json["status"] == "queued", response.json
        self.drain()

    def drain(self) -> None:
        """What the consumer does next: run every delivery and job that is due, each to its end."""
        while (task := self.queue.huey.dequeue()) is not None:
            self.queue.huey.execute(task)
        assert self.queue.journal.state(f"delivery-{self.n}") is State.DONE

    def run_due_rechecks(self) -> int:
        """The consumer's scheduler handing over what is due (huey's clock is the machine's: run as of its eta)."""
        due = self.queue.huey.read_schedule(dt.datetime(2100, 1, 1))
        for task in due:
            self.queue.huey.execute(task, timestamp=task.eta)
        self.drain()
        return len(due)

    def pipeline_job(self, sha: str, name: str, status: str) -> None:
        """A CI job of the staging release commit's pipeline moving to `status` (a job is a commit status on GitLab)."""
        self.gl.set_job(RELEASES, sha, name, status)

    def status(self, sha: str, name: str) -> dict:
        return self.gl.statuses_of(RELEASES, sha)[name]

    def ours(self, iid: int, project: str = RELEASES) -> list[str]:
        return [n for n in self.gl.notes_of(project, iid) if "release-coordinator" in n]

    def status_snapshot(self) -> dict:
        return {(job["sha"], job["name"]): (job["id"], job["status"], job["description"])
                for job in self.releases.jobs if not job["retried"]}

    def note_ids(self, iid: int) -> list[int]:
        return [n["id"] for n in self.releases.mrs[iid].notes if "release-coordinator:summary" in n["body"]]

    def shipped(self) -> dict[tuple[str, int], list[str]]:
        return {(project, iid): [line for note in self.gl.notes_of(project, iid) for line in note.splitlines()
                                 if line.startswith("Shipped in")]
                for project, iid in ((APP, 12), (APP, 13), (INFRA, 30))}

    def writes(self) -> int:
        return sum(1 for c in self.gl.calls if c.method in ("POST", "PUT", "DELETE") and c.status < 300 and c.path != "/graphql")

    def merge(self, iid: int, at: dt.datetime, **method) -> str:
        self.at(at)
        return self.gl.merge(RELEASES, iid, **method)


def test_staging_then_production_on_gitlab(world):
    gl = world.gl

    # 1. the staging MR opened: manifest checked, the plan in the one summary note; nothing to promote yet
    world.at(T0)
    world.post("Merge Request Hook", world.mr_hook(1, "open"))
    head = world.releases.branches["stage"]
    assert world.status(head, MANIFEST)["status"] == "success", world.ours(1)
    assert world.status(head, PROMOTION)["status"] == "success"
    (note,) = world.ours(1)
    assert "Release plan: staging" in note and f"`{STAGING_ID}`" in note
    assert f"invoice PDF totals ([!13]({GITLAB_URL}/{APP}/-/merge_requests/13))" in note  # the MR, in its own project
    # a commit merged by a merge commit names no MR itself: the MR that brought it (GitLab's commit -> MRs) is linked
    assert f"rounding of invoice totals ([!12]({GITLAB_URL}/{APP}/-/merge_requests/12))" in note

    # 2. merged, squashed with GitLab's default "Merge commit" method: a squash commit, then a merge commit over it;
    # the branch (and the pipeline running e2e-staging) is at the merge commit: the staging release is tagged there
    gl.approve(RELEASES, 1, "ivan")
    staging_sha = world.merge(1, T0 + dt.timedelta(minutes=5), squash=True, merge_commit=True)
    assert world.releases.mrs[1].squash_commit_sha not in (None, staging_sha)
    world.at(T0 + dt.timedelta(minutes=8))  # GitLab delivers hooks from a background job: a few minutes later, here
    world.post("Merge Request Hook", world.merged_hook(1))
    tag = world.releases.tags[STAGING_ID]
    assert tag["commit"] == staging_sha
    assert core.parse_lineage(tag["message"]).environment == "staging"
    assert PRODUCTION_ID not in world.releases.tags
    changelog_writes = [c for c in gl.calls if c.method == "POST" and c.path.endswith("/repository/commits")]
    # staging's changelog is new beside its manifest: created (a concurrent create is refused by GitLab too)
    assert [(a["action"], a["file_path"]) for c in changelog_writes for a in c.body["actions"]] == [
        ("create", "environments/staging/CHANGELOG.md")]
    assert STAGING_ID in world.releases.releases
    on_staging = f"Shipped in {STAGING_ID} to staging on {T0.date().isoformat()}"
    assert world.shipped() == {key: [on_staging] for key in ((APP, 12), (APP, 13), (INFRA, 30))}
    assert world.receiver.received == []  # the receiver wants production releases only

    # 3. the production MR, 10 minutes later: the set ran in staging, but e2e-staging has not reported
    world.at(T0 + dt.timedelta(minutes=10))
    gl.add_commit(RELEASES, {PRODUCTION: NEW}, branch="promote", parent=world.releases.branches["main"],
                  message="Production: 1.5.3 / 2.1.0")
    gl.add_mr(RELEASES, 2, author="alice", source_branch="promote", title="Production: 1.5.3 / 2.1.0")
    world.post("Merge Request Hook", world.mr_hook(2, "open"))
    head = world.releases.branches["promote"]
    assert world.status(head, PROMOTION)["status"] == "pending"  # waiting is never red
    (note,) = world.ours(2)
    assert f"Waiting for `e2e-staging` on {STAGING_ID}" in note and "Release plan: production" in note
    assert tag["created"] > world.releases.commits[staging_sha].date
    soak_end = tag["created"] + dt.timedelta(hours=2)  # from when it was tagged, not when the commit was made
    assert f"ends {soak_end:%Y-%m-%d %H:%M} UTC" in note
    (summary_id,) = world.note_ids(2)
    (timer,) = world.queue.huey.scheduled()
    assert timer.args[0] == f"recheck:gitlab:{RELEASES}!2:{PROMOTION}:{int(soak_end.timestamp())}"

    # 4. the staging commit's pipeline runs e2e-staging: a Pipeline Hook; still waiting, the same note edited
    world.at(T0 + dt.timedelta(minutes=20))
    world.pipeline_job(staging_sha, "e2e-staging", "running")
    world.post("Pipeline Hook", world.pipeline_hook(staging_sha, "running", {"e2e-staging": "running"}))
    assert world.status(head, PROMOTION)["status"] == "pending"
    (note,) = world.ours(2)
    assert "`e2e-staging`" in note and "running" in note

    # 5. it passes: the Pipeline Hook re-evaluates the waiting MR; now only the soak is left
    world.at(T0 + dt.timedelta(minutes=40))
    world.pipeline_job(staging_sha, "e2e-staging", "success")
    world.post("Pipeline Hook", world.pipeline_hook(staging_sha, "success", {"e2e-staging": "success"}))
    assert world.status(head, PROMOTION)["status"] == "pending"
    (note,) = world.ours(2)
    assert f"Soaking in staging until {soak_end:%Y-%m-%d %H:%M} UTC" in note
    assert len(world.queue.huey.scheduled()) == 1  # the same recheck, not a second

    # 6. the soak ends: the scheduled recheck flips it by itself (no hook from GitLab)
    world.at(soak_end + dt.timedelta(seconds=2))
    assert world.run_due_rechecks() == 1
    assert world.status(head, PROMOTION)["status"] == "success"
    (note,) = world.ours(2)
    assert f"Verified in staging: {STAGING_ID}" in note
    assert world.queue.huey.scheduled() == []
    assert world.note_ids(2) == [summary_id]  # the same note all along, edited (PUT) in place
    # the status links the MR's details page, which shows the same verdict
    target = world.status(head, PROMOTION)["target_url"]
    assert target.startswith(f"https://rc.example/pulls/gitlab/{RELEASES}/2")
    page = world.client.get(target.removeprefix("https://rc.example"))
    assert page.status_code == 200 and f"Verified in staging: {STAGING_ID}" in page.get_data(as_text=True)
    assert [c.method for c in gl.calls if c.path.endswith("/merge_requests/2/notes") and c.method == "POST"] == ["POST"]

    # 7. approved and merged: the production release, verified in staging
    gl.approve(RELEASES, 2, "ivan")
    world.post("Merge Request Hook", world.mr_hook(2, "approved"))
    assert world.status(head, APPROVALS)["status"] == "success"
    assert "**Can ship:** now" in world.ours(2)[0]
    production_sha = world.merge(2, soak_end + dt.timedelta(minutes=5), squash=True)  # a fast-forward squash
    before = len(gl.calls)
    world.post("Merge Request Hook", world.merged_hook(2))
    # the shipped-in notes' cost on GitLab: per carried MR, its notes listed for the marker and one POST
    notes_calls = [c for c in gl.calls[before:] if "/merge_requests/" in c.path and c.path.split("?")[0].endswith("/notes")
                   and not c.path.startswith(f"/projects/{RELEASES.replace('/', '%2F')}/")]
    assert sorted(c.method for c in notes_calls) == ["GET"] * 3 + ["POST"] * 3
    tag = world.releases.tags[PRODUCTION_ID]
    assert tag["commit"] == production_sha
    assert f"Verified-In: {STAGING_ID} {staging_sha}" in tag["message"]
    assert core.parse_lineage(tag["message"]) == ("production", None, (STAGING_ID, staging_sha))
    assert "**Verified in:** `staging/release-1.5.3-2.1.0`" in world.releases.releases[PRODUCTION_ID]["description"]
    changelog = world.releases.commits[world.releases.branches["main"]].files["CHANGELOG.md"].decode()
    assert PRODUCTION_ID in changelog
    (entry,) = [a for c in gl.calls[before:] if c.method == "POST" and c.path.endswith("/repository/commits")
                for a in c.body["actions"]]
    assert (entry["action"], entry["file_path"]) == ("update", "CHANGELOG.md") and entry["last_commit_id"]
    on_production = f"Shipped in {PRODUCTION_ID} to production on {soak_end.date().isoformat()}"
    assert world.shipped() == {key: [on_staging, on_production] for key in ((APP, 12), (APP, 13), (INFRA, 30))}
    body = world.releases.releases[PRODUCTION_ID]["description"]
    assert f"[acme/platform/infra!30]({GITLAB_URL}/{INFRA}/-/merge_requests/30)" in body

    (got,) = world.receiver.received  # production only: staging's release announced nothing
    assert verify(got.body, header=got.headers[SIGNATURE_HEADER.lower()], secret=HOOK_SECRET)
    announced = got.json()
    assert (announced["event"], announced["environment"], announced["release_id"], announced["tag"]) == (
        "released", "production", PRODUCTION_ID, PRODUCTION_ID)
    assert announced["previous"] == {"payments-app": "1.5.2", "platform-infra": "2.0.9"}
    assert announced["url"] == f"{GITLAB_URL}/{RELEASES}/-/releases/{PRODUCTION_ID}"
    assert announced["pull_request"]["url"] == f"{GITLAB_URL}/{RELEASES}/-/merge_requests/2"

    # 8. /rollback in a note on the production MR: a rollback MR restoring the earlier production release
    world.post("Note Hook", world.note_hook(2, "/rollback", author="ivan"))
    (rollback,) = [mr for mr in world.releases.mrs.values() if mr.iid not in (1, 2)]
    assert EARLIER_ID in rollback.title
    restored = world.releases.commits[world.releases.branches[rollback.source_branch]].files[PRODUCTION].decode()
    assert "1.5.2" in restored and "2.0.9" in restored
    assert "rollback: true" in restored and "requested by @ivan in !2" in restored  # !2: a merge request, #2 an issue
    assert "as asked in !2" in rollback.description
    (reply,) = [n for n in world.gl.notes_of(RELEASES, 2) if "release-coordinator" not in n]
    assert reply.startswith(f"Opened {GITLAB_URL}/{RELEASES}/-/merge_requests/{rollback.iid} to roll back to `{EARLIER_ID}`")

    # 9. the rollback MR: its set never ran in staging, and rollback_skips_verification is off, so the gate is red;
    # merged all the same (by a maintainer), it is tagged as the rollback it is, ships nothing and is announced
    world.post("Merge Request Hook", world.mr_hook(rollback.iid, "open"))
    rollback_head = world.releases.branches[rollback.source_branch]
    assert world.status(rollback_head, PROMOTION)["status"] == "failed"
    shipped_before = world.shipped()
    world.merge(rollback.iid, soak_end + dt.timedelta(minutes=30))
    world.post("Merge Request Hook", world.merged_hook(rollback.iid))
    rollback_tag = f"{EARLIER_ID}-rollback-pr{rollback.iid}"
    assert core.parse_release_trailers(world.releases.tags[rollback_tag]["message"]).rollback_of == EARLIER_ID
    assert world.shipped() == shipped_before  # a rollback withdraws commits: nothing is "shipped in" it
    assert [r.json()["event"] for r in world.receiver.received] == ["released", "rolled_back"]

    # the release history page (signed link under every plan) shows both environments' releases, from the store
    link = next(line for line in world.ours(2)[0].splitlines() if "/releases/gitlab/" in line)
    page = world.client.get(link[link.index("https://rc.example") + len("https://rc.example"):link.rindex(")")])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert STAGING_ID in html and PRODUCTION_ID in html and rollback_tag in html

    # 10. every hook again, as new deliveries (GitLab's "Resend request" gets a new id): nothing new anywhere
    tags, releases, mrs = dict(world.releases.tags), dict(world.releases.releases), dict(world.releases.mrs)
    notes = {(p, iid): list(gl.notes_of(p, iid)) for p in (RELEASES, APP, INFRA) for iid in gl.project(p).mrs}
    statuses = world.status_snapshot()
    for event, payload in list(world.sent):
        world.post(event, payload)
    assert world.releases.tags == tags and world.releases.releases == releases and world.releases.mrs == mrs
    assert {(p, iid): list(gl.notes_of(p, iid)) for p in (RELEASES, APP, INFRA) for iid in gl.project(p).mrs} == notes
    assert world.status_snapshot() == statuses  # no status went back to pending, none was written twice
    assert len(world.receiver.received) == 2
    jobs = world.queue.journal._db.get().execute("select state from rc_deliveries where forge = ?", (JOB_FORGE,)).fetchall()
    assert [State(row[0]) for row in jobs] == [State.DONE, State.DONE]


def staged(world) -> str:
    """The staging MR merged and released; the production MR opened on top of it. Returns the staging commit."""
    world.at(T0)
    staging_sha = world.merge(1, T0 + dt.timedelta(minutes=5))
    world.post("Merge Request Hook", world.merged_hook(1))
    assert STAGING_ID in world.releases.tags
    world.gl.add_commit(RELEASES, {PRODUCTION: NEW}, branch="promote", parent=world.releases.branches["main"],
                        message="Production: 1.5.3 / 2.1.0")
    world.gl.add_mr(RELEASES, 2, author="alice", source_branch="promote", title="Production: 1.5.3 / 2.1.0")
    return staging_sha


def test_a_failed_verification_turns_the_promotion_failed_and_a_retried_job_clears_it(world):
    # the receiver also wants to hear when a promotion is blocked
    world.gl.add_commit(RELEASES, {".gitlab/release-coordinator.yml": CONFIG.replace(
        "on: [released, rolled_back]", "on: [released, rolled_back, promotion_blocked]")}, branch="main",
        message="notify: promotion_blocked too")
    staging_sha = staged(world)
    world.at(T0 + dt.timedelta(hours=3))  # the soak is over: only the verification decides
    world.pipeline_job(staging_sha, "e2e-staging", "running")
    world.post("Merge Request Hook", world.mr_hook(2, "open"))
    head = world.releases.branches["promote"]
    assert world.status(head, PROMOTION)["status"] == "pending"
    # the job fails: its Pipeline Hook turns the waiting MR's status from pending to failed (GitLab's `drop`)
    world.pipeline_job(staging_sha, "e2e-staging", "failed")
    world.post("Pipeline Hook", world.pipeline_hook(staging_sha, "failed", {"e2e-staging": "failed"}))
    status = world.status(head, PROMOTION)
    assert status["status"] == "failed" and status["description"].startswith("Verification failed in staging")
    (note,) = world.ours(2)
    assert "Verification failed in staging: `e2e-staging` (failed)" in note
    (blocked,) = [r.json() for r in world.receiver.received]
    assert (blocked["event"], blocked["environment"], blocked["tag"]) == ("promotion_blocked", "production", None)
    assert blocked["pull_request"]["url"] == f"{GITLAB_URL}/{RELEASES}/-/merge_requests/2"
    world.post("Merge Request Hook", world.mr_hook(2, "update"))  # judged again, still failed: told once
    assert len(world.receiver.received) == 1

    # the job retried on the staging commit (a new job, the failed one marked retried) and passing: the Pipeline
    # Hook re-evaluates the MR that waited on that commit, the same note is edited
    world.at(T0 + dt.timedelta(hours=3, minutes=20))
    world.pipeline_job(staging_sha, "e2e-staging", "running")
    world.post("Pipeline Hook", world.pipeline_hook(staging_sha, "running", {"e2e-staging": "running"}))
    assert world.status(head, PROMOTION)["status"] == "pending"
    world.pipeline_job(staging_sha, "e2e-staging", "success")
    world.post("Pipeline Hook", world.pipeline_hook(staging_sha, "success", {"e2e-staging": "success"}))
    assert world.status(head, PROMOTION)["status"] == "success"
    (note,) = world.ours(2)
    assert f"Verified in staging: {STAGING_ID}" in note


def test_a_production_mr_with_a_set_staging_never_had_is_failed_and_waits_for_nothing(world):
    world.at(T0)
    world.gl.add_commit(RELEASES, {PRODUCTION: NEW}, branch="promote", parent=world.releases.branches["main"],
                        message="Production: 1.5.3 / 2.1.0")
    world.gl.add_mr(RELEASES, 2, author="alice", source_branch="promote", title="Production: 1.5.3 / 2.1.0")
    world.post("Merge Request Hook", world.mr_hook(2, "open"))
    status = world.status(world.releases.branches["promote"], PROMOTION)
    assert status["status"] == "failed"
    assert status["description"].startswith("Not released to staging: payments-app 1.5.3, platform-infra 2.1.0")
    assert world.queue.huey.scheduled() == []


def test_an_external_status_sends_no_hook_and_the_five_minute_sweep_picks_it_up(world):
    """e2e-staging set by an outside CI through POST /statuses/:sha: no Pipeline Hook is asked of GitLab here, so
    the consumer's five-minute sweep (Worker.periodic) re-evaluates the waiting MR, and the status turns green."""
    staging_sha = staged(world)
    world.at(T0 + dt.timedelta(hours=3))
    world.post("Merge Request Hook", world.mr_hook(2, "open"))
    head = world.releases.branches["promote"]
    assert world.status(head, PROMOTION)["status"] == "pending"
    world.gl.set_job(RELEASES, staging_sha, "e2e-staging", "success", target_url="https://ci.example/run/7")
    world.worker.periodic()
    assert world.status(head, PROMOTION)["status"] == "success"
    (note,) = world.ours(2)
    assert "[success](https://ci.example/run/7)" in note


def test_a_carried_reference_the_token_cannot_write_or_that_names_no_mr_is_skipped_and_the_release_goes_on(world):
    """`(!N)` can name an MR that does not exist (a typo, another project's) and the token may be a mere Reporter
    on a component: GitLab answers 404 / 403 there; that note is logged and skipped, every other one written."""
    world.gl.add_commit(APP, {"src/typo.py": "x"}, branch="main", message="fix: a typo (!99)")  # no MR !99
    world.gl.add_tag(APP, "v1.5.3", sha=world.gl.project(APP).branches["main"], message="v1.5.3 again")
    infra = INFRA.replace("/", "%2F")
    world.gl.fail("POST", rf"/projects/{infra}/merge_requests/30/notes", 403,
                  body={"message": "403 Forbidden"}, times=10)
    staged(world)
    on_staging = f"Shipped in {STAGING_ID} to staging on {T0.date().isoformat()}"
    assert world.shipped() == {(APP, 12): [on_staging], (APP, 13): [on_staging], (INFRA, 30): []}
    assert STAGING_ID in world.releases.releases  # released all the same
