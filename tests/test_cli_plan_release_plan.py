"""`release-coordinator plan` also prints the release plan the pull request's manifest check shows."""
from tests.test_cli_plan import _plan, world  # noqa: F401 (the fixture of real git checkouts)


def test_plan_prints_the_release_plan(world, capsys):  # noqa: F811
    release, app, infra = world
    code, out, err = _plan(capsys, release, app, infra)
    assert code == 0, err
    plan = out.split("--- release plan ---\n", 1)[1]
    assert plan.startswith("### Release plan\n\nMerging tags **`release-1.5.3-2.1.0`**.\n")
    assert "**Approvals:** not known to a local dry run" in plan
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in plan
    assert "| platform-infra | 2.0.9 → 2.1.0 | upgraded |" in plan
    breaking = plan.split("##### Breaking changes", 1)[1].split("#####", 1)[0]
    assert "drop the v1 payment API ([#15](https://github.com/acme/payments-app/pull/15))" in breaking
    assert "**Can ship:** " in plan  # no windows configured: time alone does not hold it


def test_plan_says_when_a_freeze_ends(world, capsys, monkeypatch):  # noqa: F811
    release, app, infra = world
    config = open(f"{release.path}/.github/release-coordinator.yml").read()
    release.commit("chore: freeze", {".github/release-coordinator.yml": config + (
        "windows:\n  timezone: UTC\n  freeze: [{from: 2000-01-01, to: 2999-12-31, reason: forever}]\n")})
    code, out, err = _plan(capsys, release, app, infra)
    assert code == 0, err
    plan = out.split("--- release plan ---\n", 1)[1]
    assert "**Can ship:** not before Wed 3000-01-01 00:00 UTC, when the release freeze 2000-01-01–2999-12-31 ends" in plan
