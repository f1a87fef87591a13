"""`environments:` (SPEC §3): defaults per position, validation with lines, durations, the implicit environment."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.core import environments as envs
from bot.core.config import ConfigSource, load_config

TWO = """\
release:
  tag: "release-{application_version}-{infrastructure_version}"
  changelog: CHANGELOG.md
environments:
  - name: staging
    manifest: environments/staging/release.yml
  - name: production
    manifest: environments/production/release.yml
    verification: [e2e-staging, staging]
    soak: 2h
"""


def load(text: str):
    return load_config([ConfigSource(".github/release-coordinator.yml", text.encode())], repo="acme/release")


def test_defaults_follow_the_position_staging_then_production():
    staging, production = load(TWO).config.environments
    assert (staging.name, staging.allow_prerelease, staging.tag_prefix, staging.verified_in, staging.gated) == \
        ("staging", True, "staging/", None, False)
    assert staging.changelog == "environments/staging/CHANGELOG.md"
    assert (production.allow_prerelease, production.tag_prefix, production.verified_in, production.gated) == \
        (False, "", "staging", True)
    assert production.verification == ("e2e-staging", "staging") and production.soak == dt.timedelta(hours=2)
    assert production.changelog == "CHANGELOG.md" and not production.rollback_skips_verification
    assert staging.release_id("release-1.5.3-2.1.0") == "staging/release-1.5.3-2.1.0"
    assert production.release_id("release-1.5.3-2.1.0") == "release-1.5.3-2.1.0"


def test_absent_means_one_implicit_environment_with_todays_behaviour():
    config = load("release:\n  manifest: rel.yml\n  allow_prerelease: true\n").config
    assert config.environments == ()
    (only,) = envs.of(config)
    assert (only.manifest, only.allow_prerelease, only.tag_prefix, only.gated, only.configured) == ("rel.yml", True, "", False, False)


def test_explicit_values_win():
    text = TWO.replace("    soak: 2h\n", "    soak: 1h30m\n    tag_prefix: prod-\n    allow_prerelease: true\n"
                                         "    rollback_skips_verification: true\n    changelog: PROD.md\n")
    production = load(text).config.environments[1]
    assert (production.soak, production.tag_prefix, production.allow_prerelease, production.rollback_skips_verification,
            production.changelog) == (dt.timedelta(minutes=90), "prod-", True, True, "PROD.md")


@pytest.mark.parametrize(("name", "entries", "line", "message"), [
    ("unknown key", "  - {name: staging, manifest: s.yml, verifid_in: x}\n", 6, "unknown key 'verifid_in'"),
    ("missing manifest", "  - {name: staging}\n", 6, "environments[0]: missing required key 'manifest'"),
    ("bad soak", "  - {name: staging, manifest: s.yml}\n  - {name: production, manifest: p.yml, soak: 2 hours}\n", 7,
     "environments[1].soak must be a duration such as 30m, 2h, 1d or 1h30m, not '2 hours'"),
    ("a number is no duration", "  - {name: staging, manifest: s.yml}\n  - {name: production, manifest: p.yml, soak: 2}\n", 7,
     "environments[1].soak must be a duration"),
    ("soak too long", "  - {name: staging, manifest: s.yml}\n  - {name: production, manifest: p.yml, soak: 3000h}\n", 7,
     "is longer than 90 days"),
    ("verified_in unknown", "  - {name: staging, manifest: s.yml}\n  - {name: production, manifest: p.yml, verified_in: qa}\n", 7,
     "environments[1].verified_in 'qa' must name an earlier environment (before it: staging)"),
    ("verified_in later", "  - {name: staging, manifest: s.yml, verified_in: production}\n  - {name: production, manifest: p.yml}\n",
     6, "environments[0] is the first environment"),
    ("first with verification", "  - {name: staging, manifest: s.yml, verification: [e2e]}\n", 6,
     "environments[0].verification: the first environment has no earlier one"),
    ("duplicate name", "  - {name: staging, manifest: s.yml}\n  - {name: staging, manifest: p.yml}\n", 7,
     "environments[1].name 'staging' is also environments[0]'s"),
    ("shared manifest", "  - {name: staging, manifest: s.yml}\n  - {name: production, manifest: s.yml}\n", 7,
     "each environment needs its own file"),
    ("name that cannot be in a tag", "  - {name: Staging Env, manifest: s.yml}\n", 6, "must be lower-case letters"),
    ("not a list", "  staging: {manifest: s.yml}\n", 5, "environments must be a list"),
])
def test_mistakes_are_reported_with_their_line(name, entries, line, message):
    result = load("release:\n  tag: r-{application_version}\ncomponents: {}\n\nenvironments:\n" + entries)
    assert not result.ok
    found = [p for p in result.problems if message in p.message]
    assert found, [str(p) for p in result.problems]
    assert found[0].line == line


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", dt.timedelta(minutes=30)), ("2h", dt.timedelta(hours=2)), ("1d", dt.timedelta(days=1)),
    ("1h30m", dt.timedelta(minutes=90)), ("45s", dt.timedelta(seconds=45)), (0, dt.timedelta(0)), ("0m", dt.timedelta(0)),
    ("", None), ("2", None), ("h", None), ("1.5h", None), ("2 h", None), (True, None), (None, None), ("30m2h", None),
])
def test_durations(text, expected):
    assert envs.parse_duration(text) == expected


def test_touched_keeps_the_configured_order():
    staging, production = load(TWO).config.environments
    assert envs.touched((staging, production), ["environments/production/release.yml", "README.md",
                                                "environments/staging/release.yml"]) == (staging, production)
    assert envs.describe_duration(dt.timedelta(hours=26, minutes=5)) == "1d2h5m"
