"""`plan --environment` (the promotion verdict, per-environment ids) and `plan --rollback` (the drill), on real git."""
import pytest

from tests.test_cli_plan import Repo, _plan

ENV_CONFIG = """\
release:
  tag: "release-{application_version}-{infrastructure_version}"
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
environments:
  - {name: staging, manifest: environments/staging/release.yml}
  - {name: production, manifest: environments/production/release.yml, verification: [e2e-staging], soak: 2h}
"""
OLD_MANIFEST = "release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"
NEW_MANIFEST = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"


def _trailers(release_id, app, infra, environment):
    return (f"Deploy\n\nRelease-Id: {release_id}\nComponent-Version: payments-app={app}\n"
            f"Component-Version: platform-infra={infra}\nEnvironment: {environment}\n")


@pytest.fixture
def environments(tmp_path):
    """staging and production at 1.5.2/2.0.9, staging released 1.5.3/2.1.0, HEAD promotes it to production."""
    clock = [0]
    app, infra = Repo(tmp_path / "payments-app", clock), Repo(tmp_path / "platform-infra", clock)
    for repo, versions in ((app, ("1.5.2", "1.5.3")), (infra, ("2.0.9", "2.1.0"))):
        for version in versions:
            repo.commit(f"fix: towards {version}")
            repo.tag(f"v{version}", f"v{version}")
    release = Repo(tmp_path / "release", clock)
    release.git("remote", "add", "origin", "https://github.com/acme/release.git")
    release.commit("chore: set up", {".github/release-coordinator.yml": ENV_CONFIG,
                                     "environments/staging/release.yml": OLD_MANIFEST,
                                     "environments/production/release.yml": OLD_MANIFEST})
    release.tag("staging/release-1.5.2-2.0.9", _trailers("staging/release-1.5.2-2.0.9", "1.5.2", "2.0.9", "staging"))
    release.tag("release-1.5.2-2.0.9", _trailers("release-1.5.2-2.0.9", "1.5.2", "2.0.9", "production"))
    release.commit("release: staging 1.5.3", {"environments/staging/release.yml": NEW_MANIFEST})
    release.tag("staging/release-1.5.3-2.1.0", _trailers("staging/release-1.5.3-2.1.0", "1.5.3", "2.1.0", "staging"))
    release.commit("release: production 1.5.3", {"environments/production/release.yml": NEW_MANIFEST})
    return release, app, infra


def test_with_environments_an_environment_must_be_named(environments, capsys):
    code, _out, err = _plan(capsys, *environments)
    assert code == 2 and "the config names environments (staging, production): pass --environment NAME" in err
    assert _plan(capsys, *environments, extra=["--environment", "qa"])[0] == 2


def test_plan_of_a_promotion_prints_the_production_tag_with_verified_in_and_the_verdict(environments, capsys):
    release = environments[0]
    staging_sha = release.git("rev-parse", "staging/release-1.5.3-2.1.0^{commit}").strip()
    code, out, err = _plan(capsys, *environments, extra=["--environment", "production", "--verification",
                                                          "e2e-staging=success"])
    assert code == 0, err
    assert out.startswith("Tag: release-1.5.3-2.1.0 (on ")
    assert f"Verified-In: staging/release-1.5.3-2.1.0 {staging_sha}" in out and "Environment: production" in out
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in out  # compared with production's last release
    promotion = out.split("--- promotion ---\n", 1)[1]
    # the staging tag's date is in 2026-09 (the fixture's clock): the soak is long over; the status was given
    assert promotion.startswith("release-coordinator/promotion passes: Verified in staging: staging/release-1.5.3-2.1.0")
    assert "| `e2e-staging` | status | ✅ success (given with --verification) |" in promotion


def test_plan_of_a_promotion_without_the_verification_waits(environments, capsys):
    code, out, _err = _plan(capsys, *environments, extra=["--environment", "production"])
    assert code == 0
    assert "release-coordinator/promotion waits: Waiting for `e2e-staging` on staging/release-1.5.3-2.1.0" in out
    assert "Verified-In" not in out  # merged now, it would go around the gate: released, but not as verified
    assert _plan(capsys, *environments, extra=["--environment", "production", "--verification", "e2e=green"])[0] == 2


def test_plan_of_staging_has_no_promotion_and_a_prefixed_id(environments, capsys):
    release = environments[0]
    release.commit("release: staging 1.5.2 again", {"environments/staging/release.yml": OLD_MANIFEST})
    code, out, err = _plan(capsys, *environments, extra=["--environment", "staging", "--pull", "9"])
    assert code == 0, err
    # staging ran 1.5.2 before: moving to it again without `rollback: true` is a repeat, not a clash
    assert out.startswith("Tag: staging/release-1.5.2-2.0.9-pr9 (on ")
    assert "Repeat-Of: staging/release-1.5.2-2.0.9" in out and "Environment: staging" in out
    assert "--- promotion ---" not in out
    assert "--- changelog entry (environments/staging/CHANGELOG.md) ---" in out


def test_rollback_drill_prints_manifest_tag_and_entry_and_writes_nothing(environments, capsys):
    release, _app, _infra = environments
    release.tag("release-1.5.3-2.1.0", _trailers("release-1.5.3-2.1.0", "1.5.3", "2.1.0", "production"))
    before = [repo.state() for repo in environments]
    code, out, err = _plan(capsys, *environments, extra=["--environment", "production", "--rollback", "--pull", "44"])
    assert code == 0, err
    assert [repo.state() for repo in environments] == before
    assert out.startswith("Rollback drill: restores release-1.5.2-2.0.9 in production")
    manifest = out.split("--- environments/production/release.yml (the rollback pull request's change) ---\n", 1)[1]
    assert manifest.startswith("release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n  rollback: true\n")
    assert "--- tag: release-1.5.2-2.0.9-rollback-pr44 ---" in out and "Rollback-Of: release-1.5.2-2.0.9" in out
    entry = out.split("--- changelog entry (CHANGELOG.md) ---\n", 1)[1]
    assert "**Rollback:** restores the versions of `release-1.5.2-2.0.9`." in entry
    assert "These changes from acme/payments-app are withdrawn:" in entry


def test_rollback_drill_with_both_releases_tagged_in_the_same_second(environments, capsys):
    # git dates have whole seconds and for-each-ref breaks ties by name: release-1.5.2 sorted "newer" than
    # release-1.5.3, and the drill said 1.5.3 was the first release; the tagged commits' order decides instead
    release, _app, _infra = environments
    release.git("tag", "-d", "release-1.5.2-2.0.9")
    second = release.clock[0]
    release.git("tag", "-a", "release-1.5.2-2.0.9", "HEAD~2", "-F", "-",
                input=_trailers("release-1.5.2-2.0.9", "1.5.2", "2.0.9", "production"))
    release.clock[0] = second  # the next tag gets the very same date
    release.tag("release-1.5.3-2.1.0", _trailers("release-1.5.3-2.1.0", "1.5.3", "2.1.0", "production"))
    dates = release.git("for-each-ref", "--format=%(creatordate:raw)", "refs/tags/release-*").split("\n")
    assert len(set(filter(None, dates))) == 1
    code, out, err = _plan(capsys, *environments, extra=["--environment", "production", "--rollback"])
    assert code == 0, err
    assert out.startswith("Rollback drill: restores release-1.5.2-2.0.9 in production")


def test_rollback_drill_to_a_named_release_tagged_before_the_app(environments, capsys):
    release = environments[0]
    release.git("tag", "-d", "release-1.5.2-2.0.9")
    first = release.git("rev-list", "--max-parents=0", "HEAD").strip()
    release.git("tag", "-a", "release-1.5.2-2.0.9", first, "-m", "hand-made, no trailers")
    code, out, err = _plan(capsys, *environments, extra=["--environment", "production", "--rollback", "release-1.5.2-2.0.9"])
    assert code == 0, err  # the versions come from the manifest at the tagged commit
    assert out.startswith("Rollback drill: restores release-1.5.2-2.0.9 in production")
    assert "  application_version: 1.5.2\n" in out
    code, _out, err = _plan(capsys, *environments, extra=["--environment", "production", "--rollback", "release-9-9"])
    assert code == 1 and "I found no release `release-9-9`" in err


def test_a_staging_release_tagged_by_hand_counts_from_its_manifest_and_commit_date(environments, capsys):
    release = environments[0]
    staged = release.git("rev-parse", "staging/release-1.5.3-2.1.0^{commit}").strip()
    release.git("tag", "-d", "staging/release-1.5.3-2.1.0")
    release.git("tag", "staging/release-1.5.3-2.1.0", staged)  # lightweight, no trailers: made before the app
    code, out, err = _plan(capsys, *environments, extra=["--environment", "production", "--verification",
                                                          "e2e-staging=success"])
    assert code == 0, err
    assert "release-coordinator/promotion passes: Verified in staging: staging/release-1.5.3-2.1.0" in out
    assert f"Verified-In: staging/release-1.5.3-2.1.0 {staged}" in out
