"""The release manifest: both forms, each kind of mistake with its line, and the rules against the world."""
from __future__ import annotations

import pathlib
from types import MappingProxyType

import pytest

from bot.core.checks import MANIFEST, Conclusion, Level
from bot.core.config import Component, Config, Kind, ReleaseConfig
from bot.core.manifest import Manifest, World, judge_manifest, manifest_check, parse_manifest
from bot.core.release import parse_release_trailers

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "manifests"


def make_config(*, allow_prerelease: bool = False, components=None) -> Config:
    components = components or {
        "payments-app": Component("payments-app", "acme/payments-app", Kind.APPLICATION, "v"),
        "platform-infra": Component("platform-infra", "acme/platform-infra", Kind.INFRASTRUCTURE, "v"),
    }
    return Config(managed=True, release=ReleaseConfig(allow_prerelease=allow_prerelease),
                  components=MappingProxyType(components))


def parse_fixture(name: str, config: Config | None = None):
    return parse_manifest((FIXTURES / name).read_bytes(), path="release.yml", config=config or make_config())


@pytest.mark.parametrize("name, versions, rollback, notes", [
    ("valid-short-form.yml", {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, False, ""),
    ("valid-general-form.yml", {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, False, "Payments v2 API behind a flag"),
    ("valid-rollback.yml", {"payments-app": "1.5.2", "platform-infra": "2.0.9"}, True, ""),
])
def test_valid_manifests_map_to_component_names(name, versions, rollback, notes):
    manifest, problems = parse_fixture(name)
    assert problems == ()
    assert dict(manifest.versions) == versions
    assert (manifest.rollback, manifest.notes) == (rollback, notes)


@pytest.mark.parametrize("name, line, words", [
    ("invalid-not-semver.yml", 2, "`1.5.3.1` is not a semver 2.0.0 version"),
    ("invalid-v-prefix.yml", 2, "write 1.5.3, not v1.5.3"),
    ("invalid-float-version.yml", 2, "YAML reads `1.5` as a number"),
    ("invalid-unknown-key.yml", 4, "unknown key `rolback` (did you mean `rollback`?)"),
    ("invalid-unknown-component.yml", 3, "unknown component `payment-app` (did you mean `payments-app`?)"),
    ("invalid-missing-component.yml", 2, "missing component `platform-infra`"),
    ("invalid-not-a-mapping.yml", 1, "must be a mapping with a `release:` key, found a list"),
    ("invalid-yaml-syntax.yml", 3, "YAML syntax error"),
    ("invalid-anchor-bomb.yml", 1, "anchors and aliases are not allowed"),
    ("invalid-build-metadata.yml", 2, "build metadata `+build.7` is not allowed"),
    ("invalid-prerelease.yml", 2, "needs `release.allow_prerelease: true`"),
    ("invalid-mixed-forms.yml", 2, "use either `components:` or application_version"),
])
def test_each_mistake_is_a_problem_on_its_line(name, line, words):
    manifest, problems = parse_fixture(name)
    assert manifest is None
    assert any(p.line == line and words in p.message and p.file == "release.yml" for p in problems), problems


def test_prerelease_is_allowed_when_config_says_so():
    manifest, problems = parse_fixture("invalid-prerelease.yml", make_config(allow_prerelease=True))
    assert problems == () and manifest.versions["payments-app"] == "1.6.0-rc.1"


def test_oversized_manifest_is_refused_not_parsed():
    text = b"release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n" + b"# padding\n" * 7000
    manifest, problems = parse_manifest(text, path="release.yml", config=make_config())
    assert manifest is None and "limit is 65,536 bytes" in problems[0].message


@pytest.mark.parametrize("text, words", [
    (b"", "found an empty file"),
    (b"release: 1.5.3\n", "`release` must be a mapping"),
    (b"release:\n  application_version: 1.5.3\n", "missing `infrastructure_version` for component `platform-infra`"),
    (b"release:\n  application_version: 2\n  infrastructure_version: 2.1.0\n", "YAML reads `2` as a number"),
    (b"release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n  rollback: yes please\n",
     "`rollback` must be true or false"),
    (b"releases:\n  application_version: 1.5.3\n", "unknown key `releases` (did you mean `release`?)"),
])
def test_more_mistakes(text, words):
    manifest, problems = parse_manifest(text, path="release.yml", config=make_config())
    assert manifest is None and any(words in p.message for p in problems), problems


def test_short_form_refuses_ambiguous_kind():
    config = make_config(components={
        "a": Component("a", "acme/a", Kind.APPLICATION), "b": Component("b", "acme/b", Kind.APPLICATION),
        "infra": Component("infra", "acme/infra", Kind.INFRASTRUCTURE),
    })
    manifest, problems = parse_fixture("valid-short-form.yml", config)
    assert "needs exactly one component of kind application in the config (it has: a, b)" in problems[0].message


def test_without_components_names_are_not_checked():
    manifest, problems = parse_fixture("valid-short-form.yml", Config())
    assert dict(manifest.versions) == {"application": "1.5.3", "infrastructure": "2.1.0"}


# --- against the world

def manifest_of(versions: dict, *, rollback=False) -> Manifest:
    return Manifest(MappingProxyType(versions), rollback, "", MappingProxyType({n: i + 3 for i, n in enumerate(versions)}))


BASE = manifest_of({"payments-app": "1.5.2", "platform-infra": "2.0.9"})
TAGS = {"payments-app": True, "platform-infra": True}


def judge(versions, *, rollback=False, **world):
    world.setdefault("base", BASE)
    world.setdefault("tags", TAGS)
    return judge_manifest(manifest_of(versions, rollback=rollback), path="release.yml", config=make_config(),
                          world=World(**world))


def messages(verdict):
    return [(p.line, p.message) for p in verdict.problems if p.level is Level.FAILURE]


def test_forward_versions_with_tags_pass():
    verdict = judge({"payments-app": "1.5.3", "platform-infra": "2.0.9"},
                    commits={"payments-app": (("a1b2c3d4", "fix: rounding (#12)"),)})
    assert messages(verdict) == []
    assert [(r.component, r.old, r.new, r.bump) for r in verdict.rows] == [
        ("payments-app", "1.5.2", "1.5.3", "patch"), ("platform-infra", "2.0.9", "2.0.9", "none")]


@pytest.mark.parametrize("versions, kwargs, line, words", [
    ({"payments-app": "1.5.3", "platform-infra": "2.1.0"}, {"tags": {"payments-app": True, "platform-infra": False}},
     4, "platform-infra 2.1.0: no tag `v2.1.0` in acme/platform-infra"),
    ({"payments-app": "1.5.1", "platform-infra": "2.0.9"}, {}, 3, "payments-app goes back from 1.5.2 to 1.5.1"),
    ({"payments-app": "1.5.2", "platform-infra": "2.0.9"}, {}, 3, "no component version changed"),
    ({"payments-app": "1.5.3", "platform-infra": "2.0.9"},
     {"commits": {"payments-app": (("a1b2c3d4e5", "feat: refunds (#14)"), ("0f0f0f0f", "fix: typo"))}},
     3, "payments-app 1.5.2 → 1.5.3 is a patch bump, but the commits since `v1.5.2` need at least minor: a1b2c3d feat: refunds (#14)"),
    ({"payments-app": "1.6.0", "platform-infra": "2.0.9"},
     {"commits": {"payments-app": (("a1b2c3d4e5", "feat!: drop v1 API"),)}}, 3, "need at least major"),
    ({"payments-app": "1.5.3", "platform-infra": "3.0.0"},
     {"requires": {"payments-app": {"platform-infra": ">=2.1.0 <3.0.0"}}},
     4, "platform-infra 3.0.0 does not satisfy `>=2.1.0 <3.0.0`, which payments-app 1.5.3 requires (declared at `v1.5.3`)"),
    ({"payments-app": "1.5.3", "platform-infra": "2.0.9"},
     {"requires": {"payments-app": {"platform-infra": "^2.1"}}}, 3, "which is not a range"),
    ({"payments-app": "1.5.3", "platform-infra": "2.0.9"},
     {"requires_errors": {"payments-app": "kind: unknown value"}}, 3, "its config at `v1.5.3` is invalid (kind: unknown value)"),
])
def test_world_rules(versions, kwargs, line, words):
    found = messages(judge(versions, **kwargs))
    assert any(l == line and words in m for l, m in found), found


def test_requires_met_shows_in_compatibility_column():
    verdict = judge({"payments-app": "1.5.3", "platform-infra": "2.1.0"},
                    requires={"payments-app": {"platform-infra": ">=2.1.0 <3.0.0"}})
    assert messages(verdict) == []
    assert verdict.rows[0].compatibility == "platform-infra `>=2.1.0 <3.0.0` ✓"
    summary = manifest_check(verdict, path="release.yml", head_sha="abc123").summary
    assert "| component | kind | from | to | bump | commits | compatibility |" in summary
    assert "| platform-infra `>=2.1.0 <3.0.0` ✓ |" in summary and "No component declares" not in summary


def test_prerelease_precedence_counts_as_forward():
    base = manifest_of({"payments-app": "1.6.0-rc.1", "platform-infra": "2.0.9"})
    verdict = judge({"payments-app": "1.6.0", "platform-infra": "2.0.9"}, base=base,
                    commits={"payments-app": (("abcdef12", "feat: final touches"),)})
    assert messages(verdict) == [] and verdict.rows[0].bump == "pre-release"


def test_pre_1_0_breaking_change_needs_only_minor():
    base = manifest_of({"payments-app": "0.4.2", "platform-infra": "2.0.9"})
    verdict = judge({"payments-app": "0.5.0", "platform-infra": "2.0.9"}, base=base,
                    commits={"payments-app": (("abcdef12", "refactor!: new storage"),)})
    assert messages(verdict) == []


RELEASE_TAG_MESSAGE = """Deploy: Application v1.5.2 and Infrastructure v2.0.9

Pull request: acme/release#7

Release-Id: release-1.5.2-2.0.9
Component-Version: payments-app=1.5.2
Component-Version: platform-infra=2.0.9
"""


def test_rollback_to_an_earlier_release_is_valid():
    history = (parse_release_trailers(RELEASE_TAG_MESSAGE),)
    base = manifest_of({"payments-app": "1.5.3", "platform-infra": "2.1.0"})
    verdict = judge({"payments-app": "1.5.2", "platform-infra": "2.0.9"}, rollback=True, base=base, history=history)
    assert messages(verdict) == [] and verdict.rollback_of == "release-1.5.2-2.0.9"
    result = manifest_check(verdict, path="release.yml", head_sha="abc", rollback=True)
    assert result.conclusion is Conclusion.SUCCESS and result.title == "Valid rollback to release-1.5.2-2.0.9"


def test_rollback_to_versions_never_released_is_refused():
    history = (parse_release_trailers(RELEASE_TAG_MESSAGE),)
    base = manifest_of({"payments-app": "1.5.3", "platform-infra": "2.1.0"})
    verdict = judge({"payments-app": "1.5.1", "platform-infra": "2.0.9"}, rollback=True, base=base, history=history)
    assert "no earlier coordinated release has exactly these versions" in messages(verdict)[0][1]
    assert "release-1.5.2-2.0.9" in messages(verdict)[0][1]


def test_check_run_has_table_and_annotations():
    verdict = judge({"payments-app": "1.5.3", "platform-infra": "2.1.0"}, tags={"payments-app": True, "platform-infra": False})
    result = manifest_check(verdict, path="release.yml", head_sha="abc123")
    assert (result.name, result.conclusion, result.title) == (MANIFEST, Conclusion.FAILURE, "1 problem in release.yml")
    assert "| component | kind | from | to | bump | commits |\n" in result.summary  # no `requires`: no column
    assert "No component declares `versioning.requires`" in result.summary
    assert "| platform-infra | infrastructure | 2.0.9 | 2.1.0 | minor |" in result.summary
    [annotation] = result.annotations
    assert (annotation.path, annotation.start_line) == ("release.yml", 4)
