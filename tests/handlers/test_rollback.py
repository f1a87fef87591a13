"""`/rollback` against FakeForge: who may, which release, one branch and one pull request per target."""
import dataclasses
import datetime as dt

import pytest
import yaml

from bot.forge.base import Permission, Tag
from bot.forge.errors import TransientError
from bot.handlers import Context
from bot.handlers.rollback import on_rollback_comment
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

REPO = "acme/release"
CONFIG = b"""
release:
  manifest: release.yml
components:
  payments-app: {repo: acme/payments-app, kind: application}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure}
"""
LIVE = b"# the live release\nrelease:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"


def _tag(release_id, app, infra, previous=None):
    message = (f"Deploy\n\nRelease-Id: {release_id}\nComponent-Version: payments-app={app}\n"
               f"Component-Version: platform-infra={infra}\n")
    if previous:
        message += f"Previous-Release: {previous}\n"
    return Tag(release_id, f"sha-{release_id}", message, f"tag-{release_id}")


def _world(*, codeowners="release.yml @acme/infra-team @acme/app-team\n", kind="github"):
    forge = FakeForge(kind)
    state = forge.repos[REPO]
    state.branches["main"] = "head1"
    config_path = forge.layout.config_path  # .github/ or .gitlab/release-coordinator.yml
    for ref in ("main", "head1"):
        forge.add_file(REPO, config_path, CONFIG, ref=ref)
        forge.add_file(REPO, "release.yml", LIVE, ref=ref)
        if codeowners is not None:
            forge.add_file(REPO, ".github/CODEOWNERS" if kind == "github" else "CODEOWNERS", codeowners, ref=ref)
    for tag in (_tag("release-1.5.1-2.0.9", "1.5.1", "2.0.9"),
                _tag("release-1.5.2-2.0.9", "1.5.2", "2.0.9", previous="release-1.5.1-2.0.9"),
                _tag("release-1.5.3-2.1.0", "1.5.3", "2.1.0", previous="release-1.5.2-2.0.9")):
        state.tags[tag.name] = tag
    state.tags["v0-hand-made"] = Tag("v0-hand-made", "x", None, None)
    forge.teams = {"@acme/infra-team": frozenset({"Alice"}), "@acme/app-team": frozenset({"carol"})}
    return forge, Context(forge=forge, now=dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc))


def _comment(body="/rollback", author="alice", number=7, **changes):
    fields = dict(forge="github", name="issue_comment", action="created", delivery_id="d1", repo=REPO, default_branch="main",
                  sender=author, comment_author=author, issue_number=number, comment_body=body)
    fields.update(changes)
    return Event(**fields)


def _opened(forge):
    return [p for p in forge.repos[REPO].pulls.values() if p.state == "open"]


def test_rollback_opens_a_pull_request_restoring_the_previous_release():
    forge, ctx = _world()
    on_rollback_comment(_comment(), ctx)
    (pull,) = _opened(forge)
    assert pull.head_ref == "rollback/release-1.5.2-2.0.9" and pull.base_ref == "main"
    assert pull.title == "Roll back to release-1.5.2-2.0.9"
    manifest = forge.repos[REPO].files["rollback/release-1.5.2-2.0.9"]["release.yml"].decode()
    assert manifest.startswith("# the live release\nrelease:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n  rollback: true\n")
    assert yaml.safe_load(manifest)["release"]["notes"] == "Rollback to release-1.5.2-2.0.9, requested by @alice in #7"
    assert forge.repos[REPO].files["main"]["release.yml"] == LIVE  # the default branch is untouched
    (reply,) = forge.repos[REPO].comments[7]
    assert reply.startswith(f"Opened {pull.html_url} to roll back to `release-1.5.2-2.0.9` (payments-app 1.5.2, platform-infra 2.0.9).")


def test_on_gitlab_the_rollback_names_the_asking_merge_request_as_gitlab_writes_it():
    """`#7` on GitLab links issue 7: the manifest note and the MR description say `!7`."""
    forge, ctx = _world(kind="gitlab")
    on_rollback_comment(_comment(forge="gitlab", name="Note Hook", action=None), ctx)
    (pull,) = _opened(forge)
    manifest = forge.repos[REPO].files["rollback/release-1.5.2-2.0.9"]["release.yml"].decode()
    assert yaml.safe_load(manifest)["release"]["notes"] == "Rollback to release-1.5.2-2.0.9, requested by @alice in !7"
    assert "as asked in !7." in pull.body and "#7" not in pull.body
    (reply,) = forge.repos[REPO].comments[7]
    assert reply.startswith(f"Opened {pull.html_url} to roll back")


def test_the_same_note_delivered_twice_is_answered_once_and_a_new_one_is_answered_again():
    """Two deliveries of one note (a group hook and a project hook, or a GitLab without Idempotency-Key
    resending): the note's id says it was answered. Another /rollback note is answered: it points to the MR."""
    forge, ctx = _world(kind="gitlab")
    ctx = Context(forge=forge, now=ctx.now, store=DictStore())
    note = _comment(forge="gitlab", name="Note Hook", action=None, comment_id=1244)
    on_rollback_comment(note, ctx)
    on_rollback_comment(dataclasses.replace(note, delivery_id="d2"), ctx)
    (pull,) = _opened(forge)
    assert len(forge.repos[REPO].comments[7]) == 1
    on_rollback_comment(dataclasses.replace(note, delivery_id="d3", comment_id=1250), ctx)
    assert forge.repos[REPO].comments[7][-1] == f"A rollback to `release-1.5.2-2.0.9` is already open: {pull.html_url}"


def test_rollback_to_a_named_release():
    forge, ctx = _world()
    on_rollback_comment(_comment("/rollback release-1.5.1-2.0.9\nplease, payments are down", author="carol"), ctx)
    (pull,) = _opened(forge)
    assert pull.head_ref == "rollback/release-1.5.1-2.0.9"
    assert b"application_version: 1.5.1" in forge.repos[REPO].files[pull.head_ref]["release.yml"]


def test_the_same_comment_twice_gives_one_branch_one_pull_request_and_points_to_it():
    forge, ctx = _world()
    on_rollback_comment(_comment(), ctx)
    on_rollback_comment(_comment(), ctx)
    assert len(_opened(forge)) == 1
    assert forge.calls["create_branch"] == forge.calls["update_file"] == forge.calls["create_pull"] == 1
    first, second = forge.repos[REPO].comments[7]
    assert second == f"A rollback to `release-1.5.2-2.0.9` is already open: {_opened(forge)[0].html_url}"


@pytest.mark.parametrize("crash_at", ["update_file", "create_pull", "comment"])
def test_a_retry_after_a_crash_reuses_the_branch(crash_at):
    forge, ctx = _world()
    forge.fail_next[crash_at] = TransientError("boom")
    with pytest.raises(TransientError):
        on_rollback_comment(_comment(), ctx)
    on_rollback_comment(_comment(), ctx)
    assert [p.head_ref for p in _opened(forge)] == ["rollback/release-1.5.2-2.0.9"]
    assert sorted(b for b in forge.repos[REPO].branches if b.startswith("rollback/")) == ["rollback/release-1.5.2-2.0.9"]
    assert forge.calls["create_pull"] == 1 + (crash_at == "create_pull")
    assert len(forge.repos[REPO].comments[7]) == 1


def test_a_stale_branch_from_an_old_rollback_is_left_alone():
    forge, ctx = _world()
    state = forge.repos[REPO]
    state.branches["rollback/release-1.5.2-2.0.9"] = "ancient"
    forge.add_file(REPO, "release.yml", b"release:\n  application_version: 1.0.0\n", ref="rollback/release-1.5.2-2.0.9")
    on_rollback_comment(_comment(), ctx)
    (pull,) = _opened(forge)
    assert pull.head_ref == "rollback/release-1.5.2-2.0.9-7"
    assert state.files["rollback/release-1.5.2-2.0.9"]["release.yml"] == b"release:\n  application_version: 1.0.0\n"


@pytest.mark.parametrize("author", ["mallory", "bot-user"])
def test_someone_outside_the_owning_teams_gets_a_polite_refusal(author):
    forge, ctx = _world()
    on_rollback_comment(_comment(author=author), ctx)
    assert _opened(forge) == [] and forge.calls["create_branch"] == 0
    (reply,) = forge.repos[REPO].comments[7]
    assert reply == (f"Sorry @{author}, only members of the teams that own `release.yml` (`@acme/infra-team`, "
                     "`@acme/app-team`) can start a rollback. Ask one of them to comment `/rollback`.")


def test_team_membership_ignores_login_case_and_individual_owners_count():
    forge, ctx = _world(codeowners="release.yml @acme/missing-team @dave\n")
    on_rollback_comment(_comment(author="DAVE"), ctx)
    assert len(_opened(forge)) == 1


def test_an_unowned_manifest_needs_write_access():
    forge, ctx = _world(codeowners=None)
    forge.repos[REPO].permissions["erin"] = Permission.WRITE
    on_rollback_comment(_comment(author="frank"), ctx)
    assert _opened(forge) == [] and "people who can push" in forge.repos[REPO].comments[7][0]
    on_rollback_comment(_comment(author="erin"), ctx)
    assert len(_opened(forge)) == 1


def test_releases_tagged_under_an_older_template_are_found_in_one_listing():
    forge, ctx = _world()
    state = forge.repos[REPO]
    state.tags.clear()
    for i in range(250):  # the template used to be deploy-N: the live release is not where the template says
        app, infra = ("1.5.3", "2.1.0") if i == 249 else ("1.5.2", "2.0.9") if i == 248 else (f"0.{i}.0", "1.0.0")
        tag = _tag(f"deploy-{i}", app, infra, previous=f"deploy-{i - 1}" if i else None)
        state.tags[tag.name] = tag
    on_rollback_comment(_comment(), ctx)
    (pull,) = _opened(forge)
    assert pull.title == "Roll back to deploy-248"
    assert forge.calls["list_annotated_tags"] == 1
    assert forge.calls["get_tag"] == 0  # the listing carries every message: no request per tag


@pytest.mark.parametrize("body, message", [
    ("/rollback release-9.9.9-9.9.9", "I found no release `release-9.9.9-9.9.9`"),
    ("/rollback v0-hand-made", "I found no release `v0-hand-made`"),
    ("/rollback release-1.5.3-2.1.0", "The manifest already has the versions of `release-1.5.3-2.1.0`"),
    ("/rollback `@everyone`", "`/rollback` takes a release id"),
    ("/rollback ../../etc", "`/rollback` takes a release id"),
])
def test_targets_that_cannot_be_restored_are_explained(body, message):
    forge, ctx = _world()
    on_rollback_comment(_comment(body), ctx)
    assert _opened(forge) == []
    assert forge.repos[REPO].comments[7][0].startswith(message)


def test_the_one_before_comes_from_the_release_history_not_from_a_trailer():
    forge, ctx = _world()
    state = forge.repos[REPO]
    state.tags.clear()  # no Previous-Release trailers anywhere: the order the releases were made says it
    for tag in (_tag("release-1.5.1-2.0.9", "1.5.1", "2.0.9"), _tag("release-1.5.2-2.0.9", "1.5.2", "2.0.9"),
                _tag("release-1.5.3-2.1.0", "1.5.3", "2.1.0")):
        state.tags[tag.name] = tag
    on_rollback_comment(_comment(), ctx)
    (pull,) = _opened(forge)
    assert pull.title == "Roll back to release-1.5.2-2.0.9"


def test_after_a_rollback_the_one_before_is_the_release_it_replaced():
    forge, ctx = _world()
    state = forge.repos[REPO]
    # 1.5.3 was rolled back to 1.5.2 (its own tag), the manifest runs 1.5.2 now: "the one before" is 1.5.3
    rollback = _tag("release-1.5.2-2.0.9-rollback-pr9", "1.5.2", "2.0.9")
    state.tags[rollback.name] = rollback
    for ref in ("main", "head1"):
        forge.add_file(REPO, "release.yml", b"release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n  rollback: true\n", ref=ref)
    on_rollback_comment(_comment(), ctx)
    (pull,) = _opened(forge)
    assert pull.title == "Roll back to release-1.5.3-2.1.0"


def test_the_first_release_has_none_before_it():
    forge, ctx = _world()
    state = forge.repos[REPO]
    state.tags.clear()
    state.tags["release-1.5.3-2.1.0"] = _tag("release-1.5.3-2.1.0", "1.5.3", "2.1.0")
    on_rollback_comment(_comment(), ctx)
    assert forge.repos[REPO].comments[7] == [
        "`release-1.5.3-2.1.0` is the first release: there is none before it to roll back to."]


def test_a_release_tagged_before_the_app_was_installed_can_be_rolled_back_to_by_name_and_as_the_one_before():
    forge, ctx = _world()
    state = forge.repos[REPO]
    state.tags.clear()
    # tagged by hand, no trailers: the versions are read from the manifest at the tagged commit
    state.tags["release-1.4.0-2.0.0"] = Tag("release-1.4.0-2.0.0", "old-commit", "Deploy by hand\n", "t-old")
    forge.add_file(REPO, "release.yml", b"release:\n  application_version: 1.4.0\n  infrastructure_version: 2.0.0\n",
                   ref="old-commit")
    state.tags["release-1.5.3-2.1.0"] = _tag("release-1.5.3-2.1.0", "1.5.3", "2.1.0")
    on_rollback_comment(_comment("/rollback release-1.4.0-2.0.0"), ctx)
    (pull,) = _opened(forge)
    assert pull.title == "Roll back to release-1.4.0-2.0.0"
    manifest = yaml.safe_load(state.files[pull.head_ref]["release.yml"])
    assert manifest["release"]["application_version"] == "1.4.0" and manifest["release"]["rollback"] is True
    forge2, ctx2 = _world()
    forge2.repos[REPO].tags.clear()
    forge2.repos[REPO].tags.update(state.tags)
    forge2.add_file(REPO, "release.yml", b"release:\n  application_version: 1.4.0\n  infrastructure_version: 2.0.0\n",
                    ref="old-commit")
    on_rollback_comment(_comment(), ctx2)
    assert [p.title for p in _opened(forge2)] == ["Roll back to release-1.4.0-2.0.0"]


ENVIRONMENTS = b"""
release:
  manifest: release.yml
components:
  payments-app: {repo: acme/payments-app, kind: application}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure}
environments:
  - {name: staging, manifest: environments/staging/release.yml}
  - {name: production, manifest: environments/production/release.yml, verification: [e2e-staging], soak: 2h}
"""


def _env_world(kind="github"):
    forge, ctx = _world(codeowners="environments/ @acme/infra-team\n", kind=kind)
    state = forge.repos[REPO]
    state.tags.clear()
    for ref in ("main", "head1"):
        forge.add_file(REPO, forge.layout.config_path, ENVIRONMENTS, ref=ref)
        forge.add_file(REPO, "environments/staging/release.yml", LIVE.replace(b"1.5.3", b"1.6.0"), ref=ref)
        forge.add_file(REPO, "environments/production/release.yml", LIVE, ref=ref)
    for env, prefix in (("staging", "staging/"), ("production", "")):
        for app in ("1.5.2", "1.5.3") + (("1.6.0",) if env == "staging" else ()):
            name = f"{prefix}release-{app}-2.1.0"
            message = (f"Deploy\n\nRelease-Id: {name}\nComponent-Version: payments-app={app}\n"
                       f"Component-Version: platform-infra=2.1.0\nEnvironment: {env}\n")
            state.tags[name] = Tag(name, f"sha-{name}", message, f"tag-{name}")
    return forge, ctx


@pytest.mark.parametrize(("body", "path", "title"), [
    ("/rollback", "environments/production/release.yml", "Roll back to release-1.5.2-2.1.0"),
    ("/rollback staging", "environments/staging/release.yml", "Roll back to staging/release-1.5.3-2.1.0"),
    ("/rollback staging/release-1.5.2-2.1.0", "environments/staging/release.yml", "Roll back to staging/release-1.5.2-2.1.0"),
    ("/rollback release-1.5.2-2.1.0", "environments/production/release.yml", "Roll back to release-1.5.2-2.1.0"),
])
@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_rollback_per_environment(body, path, title, kind):
    forge, ctx = _env_world(kind)
    on_rollback_comment(_comment(body, forge=kind), ctx)
    (pull,) = _opened(forge)
    assert pull.title == title
    assert yaml.safe_load(forge.repos[REPO].files[pull.head_ref][path])["release"]["rollback"] is True
    untouched = ({"environments/staging/release.yml", "environments/production/release.yml"} - {path}).pop()
    assert forge.repos[REPO].files[pull.head_ref][untouched] == forge.repos[REPO].files["main"][untouched]


@pytest.mark.parametrize("event", [
    _comment("LGTM, but /rollback if it breaks"),
    _comment("/rollback", sender_is_bot=True),
])
def test_other_comments_are_ignored(event):
    forge, ctx = _world()
    on_rollback_comment(event, ctx)
    assert forge.repos[REPO].comments == {} and forge.calls["get_branch_sha"] == 0


def test_a_repo_that_is_not_a_release_repo_stays_silent():
    forge, ctx = _world()
    forge.add_file(REPO, ".github/release-coordinator.yml", b"approvals:\n  mode: each-team\n", ref="head1")
    on_rollback_comment(_comment(), ctx)
    assert forge.repos[REPO].comments == {}


def test_a_real_issue_comment_delivery_parsed_by_the_webhook_layer():
    import json
    import pathlib

    from bot.webhooks.github import parse

    payload = json.loads((pathlib.Path(__file__).parents[2] / "fixtures/github/issue_comment/created.json").read_text())
    payload["comment"]["body"] = "/rollback"
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "carol"
    payload["repository"].update(full_name=REPO, default_branch="main")
    forge, ctx = _world()
    on_rollback_comment(parse(event="issue_comment", delivery_id="d-real", payload=payload), ctx)
    (pull,) = _opened(forge)
    assert forge.repos[REPO].comments[payload["issue"]["number"]][0].startswith(f"Opened {pull.html_url}")
