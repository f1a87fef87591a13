"""`release-coordinator validate`: exit codes, lines, JSON, and tag checks against real temporary git repos."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from bot.cli import main

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
CONFIG = """\
release:
  manifest: release.yml
components:
  payments-app:   {repo: acme/payments-app,   kind: application,    tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "infra-"}
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A release repo checkout with its config, as the current directory (how CI and pre-commit run it)."""
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "release-coordinator.yml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def git_repo(path: pathlib.Path, *tags: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(path), "PATH": "/usr/bin:/bin"}
    path.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "feat: first"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)
    for tag in tags:
        subprocess.run(["git", "-C", str(path), "tag", "-a", tag, "-m", tag], check=True, env=env)
    return str(path)


def copy(name: str, repo: pathlib.Path) -> str:
    shutil.copy(FIXTURES / name, repo / "release.yml")
    return "release.yml"


def test_valid_manifest_exits_0(repo, capsys):
    assert main(["validate", copy("valid-general-form.yml", repo)]) == 0
    assert capsys.readouterr().out.strip() == "release.yml: valid: payments-app 1.5.3, platform-infra 2.1.0"


@pytest.mark.parametrize("fixture, expected", [
    ("invalid-v-prefix.yml", "release.yml:2: payments-app: write 1.5.3, not v1.5.3"),
    ("invalid-unknown-component.yml", "release.yml:3: unknown component `payment-app` (did you mean `payments-app`?)"),
    ("invalid-yaml-syntax.yml", "release.yml:3: YAML syntax error"),
    ("invalid-float-version.yml", "release.yml:2: payments-app: YAML reads `1.5` as a number"),
])
def test_invalid_manifest_exits_1_with_each_line(repo, capsys, fixture, expected):
    assert main(["validate", copy(fixture, repo)]) == 1
    assert expected in capsys.readouterr().err


def test_json_lists_problems_with_lines(repo, capsys):
    assert main(["validate", copy("invalid-unknown-key.yml", repo), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and out["config"] == ".github/release-coordinator.yml"
    assert [(p["line"], p["level"]) for p in out["problems"]] == [(4, "failure")]


def test_explicit_config_and_usage_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rc.yml").write_text(CONFIG)
    shutil.copy(FIXTURES / "valid-short-form.yml", tmp_path / "release.yml")
    assert main(["validate", "release.yml", "--config", "rc.yml"]) == 0
    assert main(["validate", "missing.yml"]) == 2
    assert main(["validate", "release.yml", "--config", "nope.yml"]) == 2
    assert main(["validate", "release.yml", "--repo-path", "no-equals-sign"]) == 2
    assert main(["validate"]) == 2  # argparse: MANIFEST is required
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "releases").mkdir()
    assert main(["validate", "releases"]) == 2
    assert main(["validate", "release.yml", "--config", "releases"]) == 2
    assert capsys.readouterr().err.count("releases: is a directory, not a file") == 2


def test_without_config_only_structure_is_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(FIXTURES / "valid-short-form.yml", tmp_path / "release.yml")
    assert main(["validate", "release.yml"]) == 0
    assert "component names not checked" in capsys.readouterr().out


def test_invalid_config_is_invalid_with_its_line(repo, capsys):
    (repo / ".github" / "release-coordinator.yml").write_text(CONFIG.replace("kind: application", "kind: app"))
    assert main(["validate", copy("valid-short-form.yml", repo)]) == 1
    assert ".github/release-coordinator.yml:4:" in capsys.readouterr().err


def test_tags_checked_in_real_git_checkouts(repo, tmp_path, capsys):
    app = git_repo(tmp_path / "app", "v1.5.3")
    infra = git_repo(tmp_path / "infra", "infra-2.0.9")  # 2.1.0 was never tagged
    manifest = copy("valid-short-form.yml", repo)
    assert main(["validate", manifest, "--repo-path", f"payments-app={app}"]) == 0
    assert main(["validate", manifest, "--repo-path", f"payments-app={app}", "--repo-path", f"platform-infra={infra}"]) == 1
    assert f"release.yml:3: platform-infra 2.1.0: no tag `infra-2.1.0` in {infra}" in capsys.readouterr().err
    assert main(["validate", manifest, "--repo-path", f"payments-app={tmp_path}"]) == 1  # not a checkout
    assert "is not a git checkout" in capsys.readouterr().err
    assert main(["validate", manifest, "--repo-path", f"billing={app}"]) == 2


ENVIRONMENTS = CONFIG + """\
environments:
  - {name: staging, manifest: environments/staging/release.yml}
  - {name: production, manifest: environments/production/release.yml}
"""
CANDIDATE = "release:\n  components:\n    payments-app: 1.6.0-rc.1\n    platform-infra: 2.1.0\n"


@pytest.fixture
def environments_repo(tmp_path, monkeypatch):
    """A release repo with staging (pre-releases allowed by default) and production (not), both manifests a
    release candidate; the current directory is elsewhere unless a test moves."""
    root = tmp_path / "release"
    (root / ".github").mkdir(parents=True)
    (root / ".github" / "release-coordinator.yml").write_text(ENVIRONMENTS)
    for name in ("staging", "production"):
        (root / "environments" / name).mkdir(parents=True)
        (root / "environments" / name / "release.yml").write_text(CANDIDATE)
    monkeypatch.chdir(tmp_path)
    return root


@pytest.mark.parametrize("cwd, manifest, extra, code, words", [
    ("root", "environments/staging/release.yml", [], 0,
     "environments/staging/release.yml: valid (environment staging): payments-app 1.6.0-rc.1, platform-infra 2.1.0"),
    ("root", "environments/production/release.yml", [], 1,
     "environments/production/release.yml:3: payments-app: pre-release version 1.6.0-rc.1 needs"),
    # from elsewhere, with --config at its usual place: the path is taken relative to that config's repository
    ("outside", "release/environments/staging/release.yml", ["--config", "release/.github/release-coordinator.yml"],
     0, "valid (environment staging)"),
    ("outside", "release/environments/production/release.yml",
     ["--config", "release/.github/release-coordinator.yml"], 1, "pre-release version 1.6.0-rc.1"),
    # --environment wins over the path
    ("root", "environments/staging/release.yml", ["--environment", "production"], 1, "pre-release version 1.6.0-rc.1"),
])
def test_the_manifests_environment_decides_on_pre_releases(environments_repo, monkeypatch, capsys, cwd, manifest,
                                                          extra, code, words):
    if cwd == "root":
        monkeypatch.chdir(environments_repo)
    assert main(["validate", manifest, *extra]) == code
    captured = capsys.readouterr()
    assert words in (captured.out if code == 0 else captured.err)


def test_json_names_the_environment(environments_repo, monkeypatch, capsys):
    monkeypatch.chdir(environments_repo)
    assert main(["validate", "environments/staging/release.yml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["environment"] == "staging" and out["valid"] is True


@pytest.mark.parametrize("args, words", [
    (["elsewhere.yml"], "elsewhere.yml is no environment's manifest (the config has staging "
                        "(environments/staging/release.yml), production (environments/production/release.yml)): run it "
                        "from the repository's root or pass --environment NAME"),
    (["environments/staging/release.yml", "--environment", "qa"],
     "--environment 'qa' is not in the config (it has staging, production)"),
])
def test_an_environment_that_cannot_be_told_is_a_usage_error(environments_repo, monkeypatch, capsys, args, words):
    monkeypatch.chdir(environments_repo)
    (environments_repo / "elsewhere.yml").write_text(CANDIDATE)
    assert main(["validate", *args]) == 2
    assert capsys.readouterr().err.strip() == f"release-coordinator validate: error: {words}"


def test_environment_without_environments_in_the_config_is_a_usage_error(repo, capsys):
    assert main(["validate", copy("valid-general-form.yml", repo), "--environment", "staging"]) == 2
    assert "--environment: the config has no `environments:`" in capsys.readouterr().err
