"""`release-coordinator plan` on real temporary git repositories with conventional commits and annotated tags."""
import os
import subprocess

import pytest

from bot.cli import main
from bot.core.release import parse_release_trailers

CONFIG = """\
release:
  manifest: release.yml
  changelog: CHANGELOG.md
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
"""
PREVIOUS_TAG = """Deploy: Application v1.5.2 and Infrastructure v2.0.9

Release-Id: release-1.5.2-2.0.9
Component-Version: payments-app=1.5.2
Component-Version: platform-infra=2.0.9
"""


class Repo:
    def __init__(self, path, clock):
        self.path, self.clock = str(path), clock
        path.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args, **kwargs):
        self.clock[0] += 60  # distinct, increasing dates so "latest tag" is well defined
        stamp = f"{1_790_000_000 + self.clock[0]} +0000"
        env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev",
               "GIT_COMMITTER_EMAIL": "dev@example.com", "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
               "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        return subprocess.run(["git", "-C", self.path, *args], check=True, capture_output=True, text=True, env=env, **kwargs).stdout

    def commit(self, message, files=None):
        for name, text in (files or {f"f{self.clock[0]}.txt": message}).items():
            target = os.path.join(self.path, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as handle:
                handle.write(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def tag(self, name, message):
        self.git("tag", "-a", name, "-F", "-", input=message)

    def state(self):
        return self.git("status", "--porcelain"), self.git("for-each-ref"), self.git("rev-parse", "HEAD")


@pytest.fixture
def world(tmp_path):
    clock = [0]
    app = Repo(tmp_path / "payments-app", clock)
    app.commit("chore: initial")
    app.tag("v1.5.2", "v1.5.2")
    app.commit("feat(invoices): pay by invoice (#12)")
    app.commit("fix: round cents the way accounting expects (#14)\n\nCloses #9")
    app.commit("refactor!: drop the v1 payment API (#15)\n\nBREAKING CHANGE: clients must use /v2")
    app.commit("docs: explain refunds")
    app.tag("v1.5.3", "v1.5.3")
    infra = Repo(tmp_path / "platform-infra", clock)
    infra.commit("chore: initial")
    infra.tag("v2.0.9", "v2.0.9")
    infra.commit("feat(dns): add a record for invoices.acme.example (#31)")
    infra.commit("perf: shard the queue (#32)")
    infra.tag("v2.1.0", "v2.1.0")
    release = Repo(tmp_path / "release", clock)
    release.git("remote", "add", "origin", "git@github.com:acme/release.git")
    release.commit("chore: set up", {".github/release-coordinator.yml": CONFIG, "CHANGELOG.md": "# Changelog\n",
                                     "release.yml": "release:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"})
    release.tag("release-1.5.2-2.0.9", PREVIOUS_TAG)
    release.commit("release: payments 1.5.3, infra 2.1.0", {"release.yml": (
        "release:\n  components:\n    payments-app: 1.5.3\n    platform-infra: 2.1.0\n  notes: Invoices go live.\n")})
    return release, app, infra


def _plan(capsys, release, *repos, extra=()):
    args = ["plan", "--release-repo", release.path, "--date", "2026-11-29", *extra]
    for repo in repos:
        args += ["--repo", f"{os.path.basename(repo.path)}={repo.path}"]
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_prints_tag_message_and_entry_and_writes_nothing(world, capsys):
    release, app, infra = world
    before = [repo.state() for repo in world]
    code, out, err = _plan(capsys, release, app, infra)
    assert code == 0, err
    assert [repo.state() for repo in world] == before
    assert out.startswith("Tag: release-1.5.3-2.1.0 (on ")
    message = out.split("--- tag message ---\n", 1)[1].split("\n--- changelog entry", 1)[0]
    assert parse_release_trailers(message) == ("release-1.5.3-2.1.0", {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, None)
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in out  # compared with the release before: its trailers
    entry = out.split("--- changelog entry (CHANGELOG.md) ---\n", 1)[1]
    assert entry.startswith("## [release-1.5.3-2.1.0](https://github.com/acme/release/releases/tag/release-1.5.3-2.1.0) - 2026-11-29\n")
    app_section = entry.split("### payments-app", 1)[1].split("### platform-infra", 1)[0]
    assert "#### Breaking changes\n\n- drop the v1 payment API ([#15](https://github.com/acme/payments-app/pull/15))" in app_section
    assert "#### Features\n\n- **invoices:** pay by invoice ([#12](https://github.com/acme/payments-app/pull/12))" in app_section
    assert "#### Fixes\n\n- round cents the way accounting expects ([#14]" in app_section
    assert "#### Other\n\n- explain refunds" in app_section
    assert "initial" not in app_section  # before v1.5.2
    infra_section = entry.split("### platform-infra", 1)[1]
    assert "[2.0.9 → 2.1.0](https://github.com/acme/platform-infra/compare/v2.0.9...v2.1.0)" in infra_section
    assert "- **dns:** add a record" in infra_section and "- shard the queue ([#32]" in infra_section
    assert "### Notes\n\nInvoices go live.\n" in entry


def test_plan_without_release_tags_compares_with_the_previous_commit(world, capsys):
    release, app, infra = world
    release.git("tag", "-d", "release-1.5.2-2.0.9")
    code, out, err = _plan(capsys, release, app, infra)
    assert code == 0, err
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in out
    assert "Previous-Release" not in out


def test_plan_ignores_the_tag_of_head_itself(world, capsys):
    release, app, infra = world
    release.tag("release-1.5.3-2.1.0", PREVIOUS_TAG.replace("1.5.2", "1.5.3").replace("2.0.9", "2.1.0"))
    code, out, _ = _plan(capsys, release, app, infra)
    assert code == 0 and out.startswith("Tag: release-1.5.3-2.1.0 (on ")  # not a repeat of itself
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in out


def test_plan_of_a_rollback_names_the_restored_release(world, capsys):
    release, app, infra = world
    release.tag("release-1.5.3-2.1.0", PREVIOUS_TAG.replace("1.5.2", "1.5.3").replace("2.0.9", "2.1.0"))
    release.commit("release: roll back", {"release.yml": (
        "release:\n  components:\n    payments-app: 1.5.2\n    platform-infra: 2.0.9\n  rollback: true\n")})
    code, out, err = _plan(capsys, release, app, infra, extra=["--pull", "43"])
    assert code == 0, err
    assert out.startswith("Tag: release-1.5.2-2.0.9-rollback-pr43 ")
    assert "Pull request: https://github.com/acme/release/pull/43" in out
    assert "Rollback-Of: release-1.5.2-2.0.9" in out
    assert "**Rollback:** restores the versions of `release-1.5.2-2.0.9`." in out
    assert "These changes from acme/payments-app are withdrawn:" in out and "pay by invoice" in out


def test_a_missing_checkout_is_said_in_the_entry_and_on_stderr(world, capsys):
    release, app, _infra = world
    code, out, err = _plan(capsys, release, app)
    assert code == 0
    assert "no --repo platform-infra=PATH given" in err
    assert "_The commits between 2.0.9 and 2.1.0 could not be read from acme/platform-infra._" in out


def test_an_invalid_manifest_exits_1_with_its_line(world, capsys):
    release, app, infra = world
    release.commit("release: typo", {"release.yml": "release:\n  components:\n    payments-app: 1.5.3\n    platform-infra: two\n"})
    code, out, err = _plan(capsys, release, app, infra)
    assert code == 1 and out == ""
    assert "release.yml:4" in err


@pytest.mark.parametrize("extra, code", [(["--repo", "no-equals-sign"], 2)])
def test_usage_errors_exit_2(world, capsys, extra, code):
    release, _app, _infra = world
    assert _plan(capsys, release, extra=extra)[0] == code


def test_a_path_that_is_not_a_git_repo_exits_2(tmp_path, capsys):
    assert main(["plan", "--release-repo", str(tmp_path)]) == 2
    assert "git:" in capsys.readouterr().err
