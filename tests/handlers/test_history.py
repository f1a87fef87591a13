"""Release history per environment over FakeForge: which tags are whose releases, and their versions."""
from __future__ import annotations

import pytest

from bot.core.config import ConfigSource, load_config
from bot.core.environments import Environment
from bot.forge.base import Tag
from bot.handlers import history
from tests.fakeforge import FakeForge
from tests.handlers.test_promotion import CONFIG

REPO = "acme/release"
STAGING = Environment("staging", "environments/staging/release.yml", tag_prefix="staging/")
QA = Environment("qa", "environments/qa/release.yml", tag_prefix="qa/")
PRODUCTION = Environment("production", "environments/production/release.yml")


@pytest.mark.parametrize(("tag", "declared", "expected"), [
    ("staging/release-1", None, "staging"),
    ("release-1", None, "production"),  # no prefix, no trailer: tagged before environments, production's
    ("qa/release-1", "staging", "staging"),  # the trailer wins over the name
    ("qa/release-1", None, "qa"),
])
def test_environment_of(tag, declared, expected):
    assert history.environment_of(tag, declared, (STAGING, QA, PRODUCTION)) == expected


@pytest.mark.parametrize(("template", "prefix", "name", "matches"), [
    ("release-{application_version}-{infrastructure_version}", "", "release-1.5.3-2.1.0", True),
    ("release-{application_version}-{infrastructure_version}", "", "staging/release-1.5.3-2.1.0", False),
    ("release-{application_version}-{infrastructure_version}", "staging/", "staging/release-1.5.3-rc.1-2.1.0", True),
    ("release-{application_version}-{infrastructure_version}", "", "v1.5.3", False),
    ("deploy-{{{payments-app_version}}}", "", "deploy-{1.5.3}", True),
])
def test_template_pattern(template, prefix, name, matches):
    assert bool(history.template_pattern(template, prefix).fullmatch(name)) is matches


def _config():
    return load_config([ConfigSource(".github/release-coordinator.yml", CONFIG.encode())], repo=REPO).config


def test_history_per_environment_with_trailer_less_tags_read_from_their_manifest():
    forge = FakeForge()
    state = forge.repos[REPO]
    trailers = ("Deploy\n\nRelease-Id: {0}\nComponent-Version: payments-app={1}\nComponent-Version: platform-infra=2.1.0\n"
                "Environment: {2}\n")
    forge.add_file(REPO, "release.yml", "release:\n  application_version: 1.4.0\n  infrastructure_version: 2.0.0\n",
                   ref="old-commit")  # before environments: the single manifest
    state.tags["release-1.4.0-2.0.0"] = Tag("release-1.4.0-2.0.0", "old-commit")  # lightweight, by hand
    state.tags["v-not-a-release"] = Tag("v-not-a-release", "x")
    for name, app, env in (("staging/release-1.5.3-2.1.0", "1.5.3", "staging"), ("release-1.5.3-2.1.0", "1.5.3", "production")):
        state.tags[name] = Tag(name, f"sha-{name}", trailers.format(name, app, env), f"t-{name}")
    config = _config()
    staging, production = config.environments
    assert [r.tag for r in history.release_history(forge, REPO, config, environment=staging)] == ["staging/release-1.5.3-2.1.0"]
    found = history.release_history(forge, REPO, config, environment=production)
    assert [(r.tag, r.from_manifest) for r in found] == [("release-1.5.3-2.1.0", False), ("release-1.4.0-2.0.0", True)]
    assert found[1].versions == {"payments-app": "1.4.0", "platform-infra": "2.0.0"}
    assert forge.calls["get_file"] == 2  # the environment's manifest (absent there), then release.manifest: only for it
    assert history.release_named(forge, REPO, config, "release-1.4.0-2.0.0").versions == found[1].versions
    assert history.release_named(forge, REPO, config, "v-not-a-release") is None
    assert history.release_named(forge, REPO, config, "nope") is None
