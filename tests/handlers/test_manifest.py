"""The manifest check end to end over FakeForge: config at the base sha, manifest at head, world, one check run."""
from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from bot.core.checks import MANIFEST, Conclusion
from bot.forge.base import ChangedFile, Commit, Comparison, PullRequest, Tag
from bot.handlers import Context
from bot.handlers.manifest import on_merge_group, on_pull, router
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
RELEASE = "acme/release"
APP, INFRA = "acme/payments-app", "acme/platform-infra"
BASE_SHA, HEAD_SHA = "b" * 40, "h" * 40
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)  # a Tuesday, 11:00 in Berlin

RELEASE_CONFIG = """\
release:
  manifest: release.yml
components:
  payments-app:   {repo: acme/payments-app,   kind: application,    tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
windows:
  timezone: Europe/Berlin
  allow: [{days: [mon, tue, wed, thu], hours: "09:00-16:00"}]
  freeze: [{from: 2026-12-20, to: 2027-01-04, reason: "Holiday freeze"}]
  override_label: emergency-release
"""
APP_CONFIG_AT_TAG = """\
versioning:
  file: VERSION
  requires:
    platform-infra: ">=2.1.0 <3.0.0"
"""
BASE_MANIFEST = "release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"


def world(head_manifest: str | bytes, *, files=("release.yml",), labels=frozenset(), app_commits=("fix: rounding (#12)",)) -> FakeForge:
    forge = FakeForge()
    forge.add_file(RELEASE, ".github/release-coordinator.yml", RELEASE_CONFIG, ref=BASE_SHA)
    forge.add_file(RELEASE, "release.yml", BASE_MANIFEST, ref=BASE_SHA)
    forge.add_file(RELEASE, "release.yml", head_manifest, ref=HEAD_SHA)
    forge.add_pull(PullRequest(RELEASE, 7, "Release 1.5.3 / 2.1.0", "alice", HEAD_SHA, "release-next", "main", BASE_SHA,
                               "open", labels=frozenset(labels)),
                   files=[ChangedFile(p, "modified") for p in files])
    for repo, versions in ((APP, ("1.5.2", "1.5.3", "1.6.0")), (INFRA, ("2.0.9", "2.1.0", "3.0.0"))):
        for version in versions:
            forge.repos[repo].tags[f"v{version}"] = Tag(f"v{version}", f"{repo}-{version}".ljust(40, "0"))
    commits = tuple(Commit(f"{i:07x}".ljust(40, "c"), message) for i, message in enumerate(app_commits))
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", commits, ())
    forge.repos[INFRA].comparisons[("v2.0.9", "v2.1.0")] = Comparison("v2.0.9", "v2.1.0", "ahead",
                                                                      (Commit("d" * 40, "feat: new VPC peering"),), ())
    forge.repos[INFRA].comparisons[("v2.0.9", "v3.0.0")] = Comparison("v2.0.9", "v3.0.0", "ahead",
                                                                      (Commit("e" * 40, "feat!: drop classic LB"),), ())
    forge.add_file(APP, ".github/release-coordinator.yml", APP_CONFIG_AT_TAG, ref="v1.5.3")
    return forge


def pr_event(action="opened", **extra) -> Event:
    fields = dict(forge="github", name="pull_request", action=action, delivery_id="d-1", installation_id=42,
                  repo=RELEASE, pull_number=7, head_sha=HEAD_SHA, base_ref="main")
    fields.update(extra)
    return Event(**fields)


def run(forge: FakeForge, event: Event | None = None, *, store: DictStore | None = None) -> dict:
    ctx = Context(forge=forge, now=NOW, public_url="https://rc.example.com", store=store if store is not None else DictStore())
    for handler in router.handlers_for((event or pr_event()).name, (event or pr_event()).action):
        handler(event or pr_event(), ctx)
    return forge.checks_on(RELEASE, HEAD_SHA)


def test_valid_release_passes_with_the_table():
    forge = world(FIXTURES.joinpath("valid-short-form.yml").read_bytes())
    check = run(forge)[MANIFEST]
    assert check.conclusion is Conclusion.SUCCESS
    assert check.title == "Manifest valid: payments-app 1.5.3, platform-infra 2.1.0"
    assert "| payments-app | application | 1.5.2 | 1.5.3 | patch | 1 (1 fix) | platform-infra `>=2.1.0 <3.0.0` ✓ |" in check.summary
    assert "| platform-infra | infrastructure | 2.0.9 | 2.1.0 | minor | 1 (1 feat) | — |" in check.summary
    assert check.details_url == "https://rc.example.com/pulls/github/acme/release/7#manifest"


@pytest.mark.parametrize("fixture, line, words", [
    ("invalid-v-prefix.yml", 2, "write 1.5.3, not v1.5.3"),
    ("invalid-float-version.yml", 2, "YAML reads `1.5` as a number"),
    ("invalid-unknown-key.yml", 4, "did you mean `rollback`?"),
    ("invalid-yaml-syntax.yml", 3, "YAML syntax error"),
    ("invalid-anchor-bomb.yml", 1, "anchors and aliases are not allowed"),
])
def test_bad_manifest_fails_with_annotations_on_its_lines(fixture, line, words):
    check = run(world(FIXTURES.joinpath(fixture).read_bytes()))[MANIFEST]
    assert check.conclusion is Conclusion.FAILURE
    assert any(a.path == "release.yml" and a.start_line == line and words in a.message for a in check.annotations)


@pytest.mark.parametrize("manifest, line, words", [
    ("release:\n  application_version: 1.5.4\n  infrastructure_version: 2.1.0\n", 2,
     "payments-app 1.5.4: no tag `v1.5.4` in acme/payments-app"),
    ("release:\n  application_version: 1.5.3\n  infrastructure_version: 3.0.0\n", 3,
     "platform-infra 3.0.0 does not satisfy `>=2.1.0 <3.0.0`, which payments-app 1.5.3 requires"),
    ("release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n", 2, "no component version changed"),
])
def test_world_problems(manifest, line, words):
    check = run(world(manifest))[MANIFEST]
    assert check.conclusion is Conclusion.FAILURE
    assert any(a.start_line == line and words in a.message for a in check.annotations), check.annotations


def test_feature_commits_force_a_minor_and_are_named():
    forge = world("release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n",
                  app_commits=("fix: rounding (#12)", "feat: refunds API (#14)"))
    check = run(forge)[MANIFEST]
    assert check.conclusion is Conclusion.FAILURE
    [annotation] = check.annotations
    assert annotation.start_line == 2
    assert "payments-app 1.5.2 → 1.5.3 is a patch bump, but the commits since `v1.5.2` need at least minor" in annotation.message
    assert "feat: refunds API (#14)" in annotation.message


def test_rollback_matches_an_earlier_release_tag():
    forge = world("release:\n  components:\n    payments-app: 1.5.2\n    platform-infra: 2.0.9\n  rollback: true\n")
    forge.add_file(RELEASE, "release.yml", "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n",
                   ref=BASE_SHA)
    forge.repos[RELEASE].tags["release-1.5.2-2.0.9"] = Tag(
        "release-1.5.2-2.0.9", "f" * 40, tag_sha="1" * 40,
        message="Deploy: Application v1.5.2 and Infrastructure v2.0.9\n\nRelease-Id: release-1.5.2-2.0.9\n"
                "Component-Version: payments-app=1.5.2\nComponent-Version: platform-infra=2.0.9\n")
    forge.repos[RELEASE].tags["unrelated"] = Tag("unrelated", "a" * 40)
    check = run(forge)[MANIFEST]
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Valid rollback to release-1.5.2-2.0.9")


def test_rollback_check_reads_250_releases_in_one_listing_not_a_call_per_tag():
    forge = world("release:\n  components:\n    payments-app: 1.5.2\n    platform-infra: 2.0.9\n  rollback: true\n")
    forge.add_file(RELEASE, "release.yml", "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n",
                   ref=BASE_SHA)
    for i in range(250):  # the oldest is the release being restored
        app, infra = ("1.5.2", "2.0.9") if i == 0 else (f"1.{i}.0", f"3.{i}.0")
        name = f"release-{app}-{infra}"
        forge.repos[RELEASE].tags[name] = Tag(name, f"{i:040x}", tag_sha=f"{i:040x}".replace("0", "1"), message=(
            f"Deploy\n\nRelease-Id: {name}\nComponent-Version: payments-app={app}\nComponent-Version: platform-infra={infra}\n"))
        forge.repos[RELEASE].tags[f"nightly-{i}"] = Tag(f"nightly-{i}", f"{i:040x}")  # lightweight tags cost nothing more
    check = run(forge)[MANIFEST]
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Valid rollback to release-1.5.2-2.0.9")
    assert forge.calls["list_annotated_tags"] == 1
    assert forge.calls["get_tag"] == 2  # the two component versions' tags; none for the 500 release-repo tags
    assert forge.calls["list_tags"] == 0


def test_pull_request_not_touching_the_manifest_passes_as_unchanged_so_it_can_be_required():
    # SPEC §4: on the release repo, manifest is posted on every pull request
    forge = world("release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n", files=("README.md",))
    check = run(forge)[MANIFEST]
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Manifest unchanged")
    assert forge.calls["get_file"] == 0 and forge.calls["get_tag"] == 0  # nothing read beyond config and files


def test_a_component_repo_pull_request_gets_no_manifest_check():
    forge = world("release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n")
    forge.add_file(RELEASE, ".github/release-coordinator.yml", APP_CONFIG_AT_TAG, ref=BASE_SHA)  # no release: section
    assert MANIFEST not in run(forge)


def test_unmanaged_repo_is_left_alone():
    forge = FakeForge()
    forge.add_pull(PullRequest("acme/other", 1, "t", "a", HEAD_SHA, "x", "main", BASE_SHA, "open"),
                   files=[ChangedFile("release.yml", "modified")])
    run(forge, pr_event(repo="acme/other", pull_number=1))
    assert forge.repos["acme/other"].checks == {}
    assert forge.calls["create_check"] == 0


def test_invalid_config_fails_the_check_with_its_line():
    forge = world(BASE_MANIFEST)
    forge.add_file(RELEASE, ".github/release-coordinator.yml", RELEASE_CONFIG.replace("kind: application", "kind: app"),
                   ref=BASE_SHA)
    check = run(forge)[MANIFEST]
    assert check.conclusion is Conclusion.FAILURE and check.title == "Invalid release-coordinator config"
    assert [(a.path, a.start_line) for a in check.annotations][0][0] == ".github/release-coordinator.yml"
    assert check.annotations[0].start_line == 4


def test_pull_request_cannot_change_the_config_that_judges_it():
    forge = world("release:\n  application_version: 1.6.0-rc.1\n  infrastructure_version: 2.1.0\n")
    forge.add_file(RELEASE, ".github/release-coordinator.yml", RELEASE_CONFIG + "  allow_prerelease: true\n", ref=HEAD_SHA)
    check = run(forge)[MANIFEST]
    assert check.conclusion is Conclusion.FAILURE
    assert "needs `release.allow_prerelease: true`" in check.annotations[0].message


def test_rerun_writes_a_fresh_run_and_a_repeated_event_writes_nothing():
    forge = world("release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n")
    store = DictStore()
    run(forge, store=store)
    run(forge, store=store)
    assert (forge.calls["create_check"], forge.calls["update_check"]) == (1, 0)
    # GitHub resets a re-requested suite to queued and expects the app to write its run again (publish.rerequested)
    run(forge, Event(forge="github", name="check_run", action="rerequested", delivery_id="d-2", installation_id=42,
                     repo=RELEASE, head_sha=HEAD_SHA, pull_numbers=(7,), check_name=MANIFEST), store=store)
    assert (forge.calls["create_check"], forge.calls["update_check"]) == (2, 0)
    assert forge.calls["find_check"] == 0  # the store remembers what we wrote


def test_rerun_of_someone_elses_check_is_ignored():
    forge = world("release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n")
    run(forge, Event(forge="github", name="check_run", action="rerequested", delivery_id="d-2", installation_id=42,
                     repo=RELEASE, head_sha=HEAD_SHA, pull_numbers=(7,), check_name="ci/build"))
    assert forge.calls["get_pull"] == 0


def test_merge_group_revalidates_the_manifest_at_the_group_sha():
    group_sha = "9" * 40
    forge = world(BASE_MANIFEST)
    forge.add_file(RELEASE, ".github/release-coordinator.yml", RELEASE_CONFIG, ref=BASE_SHA)
    forge.add_file(RELEASE, "release.yml", "release:\n  application_version: 1.5.4\n  infrastructure_version: 2.1.0\n",
                   ref=group_sha)
    event = Event(forge="github", name="merge_group", action="checks_requested", delivery_id="d-3", installation_id=42,
                  repo=RELEASE, head_sha=group_sha, base_ref="main", pull_numbers=(7,),
                  base_sha=BASE_SHA)
    on_merge_group(event, Context(forge=forge, now=NOW, public_url="https://rc.example"))
    check = forge.checks_on(RELEASE, group_sha)[MANIFEST]
    assert check.conclusion is Conclusion.FAILURE and "no tag `v1.5.4`" in check.annotations[0].message
    assert check.details_url == f"https://rc.example/pulls/github/{RELEASE}/7#manifest"  # SPEC §4: every check run links its page


def test_routes_cover_spec_events():
    for event, action in [("pull_request", "opened"), ("pull_request", "synchronize"), ("pull_request", "edited"),
                          ("pull_request", "labeled"), ("check_suite", "rerequested"), ("check_run", "rerequested"),
                          ("merge_group", "checks_requested")]:
        assert router.accepts(event, action)
    assert on_pull in router.handlers_for("pull_request", "ready_for_review")


def test_signed_delivery_end_to_end_posts_manifest_and_window_checks(tmp_path):
    """A real GitHub payload, signed, through the web app, the durable queue and the worker, onto FakeForge."""
    import json

    from bot.handlers import semver, window
    from bot.queue import Queue
    from bot.routing import Router
    from bot.settings import Secret, Settings
    from bot.web import create_app
    from bot.webhooks.github import sign
    from bot.worker import Worker

    body = (FIXTURES.parent / "github" / "pull_request" / "opened.json").read_bytes()  # the checkout's copy
    payload = json.loads(body)
    repo, pull = payload["repository"]["full_name"], payload["pull_request"]
    forge = FakeForge()
    forge.add_file(repo, ".github/release-coordinator.yml", RELEASE_CONFIG, ref=pull["base"]["sha"])
    forge.add_file(repo, "release.yml", BASE_MANIFEST, ref=pull["base"]["sha"])
    forge.add_file(repo, "release.yml", FIXTURES.joinpath("invalid-v-prefix.yml").read_bytes(), ref=pull["head"]["sha"])
    forge.add_pull(PullRequest(repo, pull["number"], pull["title"], pull["user"]["login"], pull["head"]["sha"],
                               pull["head"]["ref"], pull["base"]["ref"], pull["base"]["sha"], "open"),
                   files=[ChangedFile("release.yml", "modified")])
    settings = Settings(github_webhook_secret=Secret("s3cret"), github_app_id=1, github_private_key=Secret("unused"),
                        queue_url=f"sqlite:///{tmp_path}/queue.db")
    ours = Router(router, semver.router, window.router)
    worker = Worker(settings, store=DictStore(), router=ours, forge_for=lambda _id: forge, clock=lambda: NOW)
    queue = Queue(settings.queue_url, runner=worker)
    client = create_app(settings, queue=queue, store=DictStore(), router=ours).test_client()
    response = client.post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "e2e-1", "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, secret="s3cret")})
    assert response.status_code == 202 and forge.calls["create_check"] == 0  # answered before any API call
    queue.huey.execute(queue.huey.dequeue())
    checks = forge.checks_on(repo, pull["head"]["sha"])
    assert checks[MANIFEST].conclusion is Conclusion.FAILURE
    assert [(a.path, a.start_line) for a in checks[MANIFEST].annotations] == [("release.yml", 2)]
    assert "write 1.5.3, not v1.5.3" in checks[MANIFEST].annotations[0].message
    assert checks["release-coordinator/window"].conclusion is Conclusion.SUCCESS  # Tuesday 11:00 in Berlin
    assert "release-coordinator/semver" not in checks  # the release repo declares no versioning


def test_release_config_without_components_fails_the_manifest_check():
    forge = world("release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n")
    forge.add_file(RELEASE, ".github/release-coordinator.yml", "release:\n  manifest: release.yml\n", ref=BASE_SHA)
    check = run(forge)[MANIFEST]
    assert check.conclusion is Conclusion.FAILURE and "`components` is empty" in check.summary


def test_invalid_base_manifest_is_a_warning_not_a_pass_in_silence():
    forge = world("release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n")
    forge.add_file(RELEASE, "release.yml", "release: [broken\n", ref=BASE_SHA)
    check = run(forge)[MANIFEST]
    assert check.conclusion is Conclusion.SUCCESS  # the head is valid and tagged; nothing to compare against
    assert [(a.level.value, a.start_line) for a in check.annotations] == [("warning", 2)]
    assert "the base branch's manifest is invalid" in check.summary
