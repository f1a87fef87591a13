"""`release-coordinator audit`: the same report as the check, exit 0 clean, 1 drift, 2 usage or credentials."""
import argparse
import json

import pytest

from bot.cli import main
from bot.commands import audit as audit_command
from bot.core.access import APPROVALS_CHECK, MANIFEST_CHECK, Protection, RepoState, Reviews, Unreadable
from tests.fakeforge import FakeForge

RELEASE = "acme/release"


def forge_with(state: RepoState) -> FakeForge:
    forge = FakeForge()
    forge.add_file(RELEASE, ".github/release-coordinator.yml", "release: {manifest: release.yml}\n")
    forge.access.branches = {RELEASE: "main"}
    forge.access.states = {RELEASE: state}
    return forge


CLEAN = RepoState(RELEASE, "main", protections=(Protection(
    "branch protection", reviews=Reviews(1, True, False), checks=frozenset({APPROVALS_CHECK, MANIFEST_CHECK}),
    blocks_force_push=True, blocks_deletion=True),), api=f"/repos/{RELEASE}")
DRIFT = RepoState(RELEASE, "main", api=f"/repos/{RELEASE}")
UNREAD = RepoState(RELEASE, "main", unreadable=(Unreadable("branch protection", "Repository permissions > Administration: read"),),
                   api=f"/repos/{RELEASE}")


def args(**kw):
    return argparse.Namespace(**{"json": False, "plan": False, "org": None, **kw})


@pytest.mark.parametrize("state, code", [(CLEAN, 0), (DRIFT, 1), (UNREAD, 2)], ids=["clean", "drift", "unverified"])
def test_exit_codes(state, code, capsys):
    assert audit_command.run(args(), forges=lambda org: [forge_with(state)]) == code


def test_json_with_plan(capsys):
    assert audit_command.run(args(json=True, plan=True), forges=lambda org: [forge_with(DRIFT)]) == 1
    [report] = json.loads(capsys.readouterr().out)
    assert report["status"] == "drift" and report["repos"][0]["findings"][0]["code"] == "unprotected"
    [change] = report["plan"]
    assert (change["method"], change["path"]) == ("POST", f"/repos/{RELEASE}/rulesets")
    assert change["body"]["rules"][0]["type"] == "pull_request"


def test_text_report_and_plan(capsys):
    audit_command.run(args(plan=True), forges=lambda org: [forge_with(DRIFT)])
    out = capsys.readouterr().out
    assert "Default branch is not protected" in out and f"POST /repos/{RELEASE}/rulesets" in out
    assert "<!--" not in out


def test_no_credentials_is_a_usage_error(monkeypatch, capsys):
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH", "GITLAB_URL", "GITLAB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["audit"]) == 2
    assert "set GITHUB_APP_ID" in capsys.readouterr().err


def test_no_installation_for_the_org(capsys):
    assert audit_command.run(args(org="nobody"), forges=lambda org: []) == 2
    assert "no installation on nobody" in capsys.readouterr().err


def test_a_refused_installation_list_is_a_credentials_error(capsys):
    from bot.forge.errors import ForgeError

    def refused(org):
        raise ForgeError("GET /app/installations: 401 A JSON web token could not be decoded")
        yield

    assert audit_command.run(args(), forges=refused) == 2
    assert "refused the App's credentials" in capsys.readouterr().err


def test_gitlab_forge_is_audited_by_the_same_command(capsys):
    forge = FakeForge(kind="gitlab")
    forge.add_file(RELEASE, ".gitlab/release-coordinator.yml", "release: {manifest: release.yml}\n")
    forge.access.branches = {RELEASE: "main"}
    assert audit_command.run(args(json=True), forges=lambda org: [forge]) == 1  # nothing protects it
    [report] = json.loads(capsys.readouterr().out)
    assert report["repos"][0]["findings"][0]["code"] == "unprotected"

