"""load_config (SPEC §3): layering, the schema, and problems a person can act on (file, line, message)."""
import datetime as dt
import zoneinfo

import pytest

from bot.core.config import (
    ApprovalMode, BumpFrom, ConfigSource, Invalidate, Kind, MAX_CONFIG_BYTES, load_config,
)
from bot.handlers.configs import builtin_defaults

REPO_PATH = ".github/release-coordinator.yml"
ORG_PATH = "acme/.github:.github/release-coordinator.yml"

# SPEC §3's example with its one YAML typo fixed (the `requires` range lacks its closing quote in the SPEC).
SPEC_EXAMPLE = """\
release:                       # only in the release repo
  manifest: release.yml
  tag: "release-{application_version}-{infrastructure_version}"
  tag_message: "Deploy: Application v{application_version} and Infrastructure v{infrastructure_version}"
  changelog: CHANGELOG.md      # updated on the default branch after merge
  github_release: true
  tag_components: false        # also tag each component repo with the release id
  allow_prerelease: false      # pre-release versions (1.6.0-rc.1) allowed in the manifest
components:
  payments-app:   {repo: acme/payments-app,   kind: application,    tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
approvals:
  mode: each-team              # each-team (default) | any-owner (GitHub's native rule)
  teams:                       # per-team minimum; default 1
    "@acme/infra-team": 2
  invalidate_on_push: owned-files   # owned-files (default) | all | never
  distinct: true               # one person counts for at most one team
  allow_author: false
  ignore_bots: true
  request_reviews: true        # request review from teams that still owe one
versioning:                    # only in component repos
  file: VERSION                # or Chart.yaml#version, pyproject.toml#project.version, package.json#version
  bump_from: conventional-commits   # conventional-commits | labels | both
  ignore_paths: ["docs/**", "*.md"] # changes that need no bump
  requires:                    # compatibility this component declares, read at its release tag
    platform-infra: ">=2.1.0 <3.0.0"
windows:
  timezone: Europe/Berlin
  allow: [{days: [mon, tue, wed, thu], hours: "09:00-16:00"}]
  freeze: [{from: 2026-12-20, to: 2027-01-04, reason: "Holiday freeze"}]
  override_label: emergency-release # allows merging outside windows; needs one more approval per team
"""


def load(repo_text=None, org_text=None, *, repo="acme/payments-app", timezones=None):
    layers = [
        builtin_defaults(),
        ConfigSource(ORG_PATH, None if org_text is None else org_text.encode()),
        ConfigSource(REPO_PATH, None if repo_text is None else repo_text.encode()),
    ]
    return load_config(layers, repo=repo, timezones=timezones)


def only_problem(result):
    assert len(result.problems) == 1, result.problems
    return result.problems[0]


# --- the SPEC example and the defaults


def test_spec_example_loads_into_typed_config():
    result = load(SPEC_EXAMPLE, timezones=zoneinfo.available_timezones())
    assert result.ok, result.problems
    config = result.config
    assert config.managed
    assert config.release.tag == "release-{application_version}-{infrastructure_version}"
    assert config.components["platform-infra"].kind is Kind.INFRASTRUCTURE
    assert config.components["payments-app"].tag("1.5.3") == "v1.5.3"
    assert config.approvals.minimum("@acme/infra-team") == 2
    assert config.approvals.minimum("@ACME/Infra-Team") == 2  # slugs are case-insensitive on GitHub
    assert config.approvals.minimum("@acme/app-team") == 1
    assert config.versioning.bump_from is BumpFrom.CONVENTIONAL_COMMITS
    assert config.versioning.ignore_paths == ("docs/**", "*.md")
    assert config.versioning.requires == {"platform-infra": ">=2.1.0 <3.0.0"}
    window = config.windows.allow[0]
    assert window.days == frozenset({0, 1, 2, 3})
    assert (window.start, window.end) == (dt.time(9), dt.time(16))
    assert config.windows.freeze[0].start == dt.date(2026, 12, 20)
    assert config.windows.freeze[0].reason == "Holiday freeze"


def test_spec_example_as_printed_is_a_yaml_error_on_the_requires_line():
    printed = SPEC_EXAMPLE.replace('">=2.1.0 <3.0.0"', '">=2.1.0 <3.0.0')
    problem = only_problem(load(printed))
    assert problem.file == REPO_PATH
    assert "YAML syntax error" in problem.message
    assert problem.line is not None and problem.line >= 25


def test_defaults_alone_give_the_documented_approval_policy():
    config = load("{}").config
    assert config.approvals.mode is ApprovalMode.EACH_TEAM
    assert config.approvals.invalidate_on_push is Invalidate.OWNED_FILES
    assert (config.approvals.distinct, config.approvals.allow_author, config.approvals.ignore_bots) == (True, False, True)
    assert config.approvals.request_reviews is True
    assert config.release is None and config.versioning is None and config.windows is None


# --- managed or not (SPEC §3: the app posts nothing on other repositories)


@pytest.mark.parametrize(
    "repo_text, org_text, managed",
    [
        pytest.param(None, None, False, id="no-file-anywhere"),
        pytest.param("", None, True, id="empty-repo-file-still-opts-in"),
        pytest.param(None, "approvals: {allow_author: true}\n", False, id="org-file-without-this-repo"),
        pytest.param(None, "components:\n  pay: {repo: acme/payments-app, kind: application}\n", True, id="org-lists-repo"),
        pytest.param(None, "components:\n  pay: {repo: ACME/Payments-App, kind: application}\n", True, id="org-lists-repo-any-case"),
        pytest.param(None, "components:\n  infra: {repo: acme/platform-infra, kind: infrastructure}\n", False, id="org-lists-others"),
        pytest.param(None, "components:\n  pay: {repo: acme/payments-app, kind: app}\n", True, id="broken-org-file-naming-repo"),
        pytest.param(None, "components:\n  pay: {repo: acme/other, kind: app}\n", False, id="broken-org-file-not-naming-repo"),
    ],
)
def test_managed(repo_text, org_text, managed):
    assert load(repo_text, org_text).config.managed is managed


# --- precedence: defaults < org < repo, mappings deep-merged, lists replaced


def test_repo_overrides_org_overrides_defaults_key_by_key():
    org = "approvals:\n  mode: any-owner\n  allow_author: true\n  teams: {'@acme/infra': 2, '@acme/sec': 3}\n"
    repo = "approvals:\n  allow_author: false\n  teams: {'@acme/sec': 1}\n"
    approvals = load(repo, org).config.approvals
    assert approvals.mode is ApprovalMode.ANY_OWNER  # from org
    assert approvals.allow_author is False  # repo wins
    assert approvals.ignore_bots is True  # default survives
    assert (approvals.minimum("@acme/infra"), approvals.minimum("@acme/sec")) == (2, 1)  # merged mapping


def test_lists_are_replaced_not_concatenated():
    org = "versioning:\n  ignore_paths: ['docs/**']\n"
    repo = "versioning:\n  ignore_paths: ['*.md']\n"
    assert load(repo, org).config.versioning.ignore_paths == ("*.md",)


def test_component_can_be_completed_across_layers():
    org = "components:\n  pay: {repo: acme/payments-app, kind: application}\n"
    repo = "components:\n  pay: {tag_prefix: ''}\n"
    assert load(repo, org).config.components["pay"].tag("1.0.0") == "1.0.0"


# --- problems: file, line, and a message that says what to do


@pytest.mark.parametrize(
    "text, line, words",
    [
        pytest.param("approvals:\n  invalidate_on_pushs: all\n", 2,
                     ["unknown key 'invalidate_on_pushs' in approvals", "did you mean 'invalidate_on_push'?"], id="unknown-key-hint"),
        pytest.param("aprovals: {}\n", 1, ["unknown key 'aprovals'", "did you mean 'approvals'?"], id="unknown-top-level"),
        pytest.param("approvals:\n  zzz: 1\n", 2, ["unknown key 'zzz'"], id="unknown-key-no-hint"),
        pytest.param("approvals:\n  distinct: maybe\n", 2, ["approvals.distinct must be true or false", "'maybe'"], id="wrong-type-bool"),
        pytest.param("approvals:\n  teams: {'@acme/infra': two}\n", 2, ["approvals.teams.@acme/infra must be a whole number"], id="wrong-type-int"),
        pytest.param("approvals:\n  teams: {'@acme/infra': 0}\n", 2, ["from 1 to 100"], id="minimum-zero"),
        pytest.param("approvals:\n  teams: {'@acme/infra': true}\n", 2, ["must be a whole number", "true"], id="bool-is-not-int"),
        pytest.param("approvals:\n  teams: {'acme/infra': 2}\n", 2, ["@org/team-slug"], id="team-without-at"),
        pytest.param("approvals:\n  mode: every-team\n", 2, ["must be one of each-team, any-owner", "did you mean 'each-team'?"], id="bad-enum"),
        pytest.param("approvals:\n  invalidate_on_push: sometimes\n", 2, ["owned-files, all, never"], id="bad-enum-no-hint"),
        pytest.param("approvals: [mode]\n", 1, ["approvals must be a mapping"], id="section-not-mapping"),
        pytest.param("components:\n  pay: {repo: payments, kind: application}\n", 2, ['"owner/name"', "'payments'"], id="bad-repo"),
        pytest.param("components:\n  pay: {repo: acme/pay, kind: app}\n", 2, ["application, infrastructure", "did you mean 'application'?"], id="bad-kind"),
        pytest.param("components:\n  pay: {repo: acme/pay}\n", 2, ["components.pay: missing required key 'kind'"], id="missing-kind"),
        pytest.param("versioning:\n  ignore_paths: docs/**\n", 2, ["versioning.ignore_paths must be a list"], id="list-expected"),
        pytest.param("versioning:\n  bump_from: label\n", 2, ["did you mean 'labels'?"], id="bump-from-typo"),
        pytest.param("windows:\n  allow:\n    - {days: [mon], hours: '9-16'}\n", 3, ['"HH:MM-HH:MM"', "'9-16'"], id="hours-shape"),
        pytest.param("windows:\n  allow:\n    - {days: [mon], hours: '16:00-09:00'}\n", 3, ["start before the end"], id="hours-reversed"),
        pytest.param("windows:\n  allow:\n    - {days: [mon], hours: '09:00-25:00'}\n", 3, ["HH:MM-HH:MM"], id="hours-out-of-range"),
        pytest.param("windows:\n  allow:\n    - days: [mon, thurs]\n", 3, ["windows.allow[0].days[1]", "'thurs'", "did you mean 'thu'?"], id="bad-day"),
        pytest.param("windows:\n  allow:\n    - {hours: '09:00-10:00'}\n", 3, ["missing required key 'days'"], id="window-without-days"),
        pytest.param("windows:\n  freeze:\n    - {from: 2026-12-20, to: soon}\n", 3, ["YYYY-MM-DD", "'soon'"], id="bad-date"),
        pytest.param("windows:\n  freeze:\n    - {from: 2027-01-04, to: 2026-12-20}\n", 3, ["ends (2026-12-20) before it starts (2027-01-04)"], id="freeze-reversed"),
        pytest.param("windows:\n  timezone: 'Europe Berlin'\n", 2, ["IANA time zone"], id="timezone-shape"),
        pytest.param("approvals:\n  mode: each-team\n  mode: any-owner\n", 3, ["duplicate key 'mode'"], id="duplicate-key"),
        pytest.param("approvals: {mode: each-team\n", 2, ["YAML syntax error"], id="yaml-syntax"),
        pytest.param("approvals:\n  teams:\n    @acme/infra: 2\n", 3, ['quote team names: "@org/team": 2'], id="unquoted-team"),
        pytest.param("base: &a {mode: each-team}\napprovals: *a\n", 1, ["anchors and aliases are not allowed"], id="alias"),
        pytest.param("- approvals\n", 1, ["the file must be a mapping of settings, not a list"], id="document-is-list"),
    ],
)
def test_problem_names_file_line_and_fix(text, line, words):
    problem = only_problem(load(text))
    assert (problem.file, problem.line) == (REPO_PATH, line)
    for word in words:
        assert word in problem.message


def test_unknown_timezone_is_checked_when_the_edge_passes_the_list():
    text = "windows:\n  timezone: Europe/Berln\n"
    assert load(text).ok  # the core alone cannot know the tz database
    problem = only_problem(load(text, timezones=zoneinfo.available_timezones()))
    assert problem.line == 2
    assert "unknown time zone 'Europe/Berln'" in problem.message and "did you mean 'Europe/Berlin'?" in problem.message


def test_oversized_file_is_a_problem_not_a_crash():
    text = "# " + "x" * MAX_CONFIG_BYTES + "\n"
    assert "limit is 65,536 bytes" in only_problem(load(text)).message


def test_problem_in_org_file_names_the_org_file():
    problem = only_problem(load("approvals: {}\n", "approvals:\n  distinct: 2\n"))
    assert (problem.file, problem.line) == (ORG_PATH, 2)


def test_every_problem_is_reported_not_just_the_first():
    result = load("approvals:\n  distinct: 2\n  allow_author: x\nwindows:\n  timezone: 'a b'\n")
    assert [p.line for p in result.problems] == [2, 3, 5]


def test_invalid_repo_file_still_marks_repo_managed_so_the_check_can_fail():
    result = load("approvals: {mode: each-team\n")
    assert not result.ok and result.config.managed


def test_missing_key_blames_the_layer_that_declared_the_entry():
    org = "components:\n  pay: {kind: application}\n"
    problem = only_problem(load(None, org))
    assert (problem.file, problem.line) == (ORG_PATH, 2)
    assert "missing required key 'repo'" in problem.message


# --- windows details


@pytest.mark.parametrize(
    "days, expected",
    [
        (["mon-fri"], {0, 1, 2, 3, 4}),
        (["fri-mon"], {4, 5, 6, 0}),
        (["Saturday", "sun"], {5, 6}),
        (["MON"], {0}),
    ],
)
def test_day_names_and_ranges(days, expected):
    text = f"windows:\n  allow:\n    - days: {days!r}\n"
    assert load(text).config.windows.allow[0].days == frozenset(expected)


def test_hours_up_to_midnight_and_whole_day_default():
    text = "windows:\n  allow:\n    - {days: [sat], hours: '18:00-24:00'}\n    - {days: [sun]}\n"
    late, whole = load(text).config.windows.allow
    assert (late.start, late.end) == (dt.time(18), dt.time.max)
    assert (whole.start, whole.end) == (dt.time.min, dt.time.max)
