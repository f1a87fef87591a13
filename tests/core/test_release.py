"""bot.core.release: ids, trailers, tag messages, changelog entries, rollback manifests, as tables of cases."""
import datetime as dt
import subprocess
from types import MappingProxyType

import pytest

from bot.core.config import Component, Config, Kind, ReleaseConfig
from bot.core.environments import Environment
from bot.core import release as r

APP = Component("payments-app", "acme/payments-app", Kind.APPLICATION)
INFRA = Component("platform-infra", "acme/platform-infra", Kind.INFRASTRUCTURE)
CONFIG = Config(managed=True, release=ReleaseConfig(), components=MappingProxyType({c.name: c for c in (APP, INFRA)}))
VERSIONS = {"payments-app": "1.5.3", "platform-infra": "2.1.0"}


# ------------------------------------------------------------------ trailers

TAG_MESSAGE = """Deploy: Application v1.5.3 and Infrastructure v2.1.0

Pull request: https://github.com/acme/release/pull/42
Approved by:
  @acme/infra-team: alice at 0123456789ab

Release-Id: release-1.5.3-2.1.0
Component-Version: platform-infra=2.1.0
Component-Version: payments-app=1.5.3
Rollback-Of: release-1.5.2-2.0.9
"""


@pytest.mark.parametrize(
    "name, message, expected",
    [
        ("full", TAG_MESSAGE, ("release-1.5.3-2.1.0", {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, "release-1.5.2-2.0.9")),
        ("no trailers: a hand-made tag", "v1.0.0\n\nsome release notes\n", (None, {}, None)),
        ("empty", "", (None, {}, None)),
        ("None (lightweight tag)", None, (None, {}, None)),
        ("only trailers, no subject", "Release-Id: x\n", (None, {}, None)),
        ("prose with a colon is not a trailer block", "t\n\nNote: this\nis prose\n", (None, {}, None)),
        ("keys are case-insensitive, CRLF tolerated", "t\r\n\r\nrelease-id: r1\r\ncomponent-version: a=1.0.0-rc.1+b.2\r\n",
         ("r1", {"a": "1.0.0-rc.1+b.2"}, None)),
        ("signed tag: the signature is not the last paragraph",
         "t\n\nRelease-Id: r2\nComponent-Version: a=1.0.0\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n",
         ("r2", {"a": "1.0.0"}, None)),
        ("component names with = and dashes", "t\n\nRelease-Id: r3\nComponent-Version: we=ird-name=2.0.0\n", ("r3", {"we=ird-name": "2.0.0"}, None)),
    ],
)
def test_parse_release_trailers(name, message, expected):
    release_id, versions, rollback_of = r.parse_release_trailers(message)
    assert (release_id, dict(versions), rollback_of) == expected


def test_trailers_are_what_git_itself_reads(tmp_path):
    """git interpret-trailers must see the same block we parse, so `git tag --format=%(trailers)` works too."""
    message = r.render_tag_message(
        title="Deploy", release_id="release-1", versions=VERSIONS,
        provenance=r.Provenance(pull_number=4, pull_url="https://github.com/acme/release/pull/4", head_sha="a" * 40,
                                approvals=(r.Approval("@acme/infra-team", "alice", "a" * 40),)),
        rollback_of="release-0", environment="production", verified_in=("staging/release-1", "b" * 40),
    )
    out = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "Release-Id: release-1",
        "Component-Version: payments-app=1.5.3",
        "Component-Version: platform-infra=2.1.0",
        "Rollback-Of: release-0",
        "Environment: production",
        f"Verified-In: staging/release-1 {'b' * 40}",
    ]
    assert r.parse_lineage(message) == ("production", None, ("staging/release-1", "b" * 40))


# ------------------------------------------------------------------ templates


@pytest.mark.parametrize(
    "template, versions, expected",
    [
        ("release-{application_version}-{infrastructure_version}", VERSIONS, "release-1.5.3-2.1.0"),
        ("rel/{payments-app_version}+{platform-infra_version}", VERSIONS, "rel/1.5.3+2.1.0"),
        ("{{literal}}-{application_version}", VERSIONS, "{literal}-1.5.3"),
        ("r-{ application_version }", VERSIONS, "r-1.5.3"),
        ("r-{application_version}", {"payments-app": "1.6.0-rc.1", "platform-infra": "2.1.0"}, "r-1.6.0-rc.1"),
    ],
)
def test_render_template(template, versions, expected):
    assert r.render_template(template, versions=versions, components=CONFIG.components) == expected


def test_a_component_named_like_a_kind_wins_over_the_kind():
    comps = {"application": Component("application", "acme/a", Kind.INFRASTRUCTURE), "web": Component("web", "acme/w", Kind.APPLICATION)}
    assert r.render_template("{application_version}", versions={"application": "9.0.0", "web": "1.0.0"}, components=comps) == "9.0.0"


@pytest.mark.parametrize(
    "template, components, message",
    [
        ("{nope}", CONFIG.components, "unknown placeholder {nope}"),
        ("{other_version}", CONFIG.components, "no component named 'other'"),
        ("{application_version}", {"a": APP, "b": Component("b", "acme/b", Kind.APPLICATION)}, "exactly one component of kind application"),
    ],
)
def test_template_errors_are_explained(template, components, message):
    with pytest.raises(r.TemplateError, match=message.replace("{", r"\{").replace("}", r"\}").replace("(", r"\(")):
        r.render_template(template, versions={"a": "1.0.0", "b": "1.0.0", **VERSIONS}, components=components)


@pytest.mark.parametrize("name, ok", [
    ("release-1.5.3-2.1.0", True), ("rel/1.0.0+build.5", True), ("has space", False), ("a..b", False),
    ("ends.lock", False), ("-dash", False), ("x:y", False), ("", False), ("a/.hidden", False),
])
def test_ref_name_problem(name, ok):
    assert (r.ref_name_problem(name) is None) is ok


def test_plan_reports_a_bad_template_as_a_config_problem():
    config = Config(managed=True, release=ReleaseConfig(tag="release {application_version}"), components=CONFIG.components)
    plan, problems = r.plan_release(config=config, versions=VERSIONS, rollback=False, notes="", changes=(),
                                    provenance=r.Provenance(), date=dt.date(2026, 11, 29))
    assert plan is None
    assert problems[0].file == ".github/release-coordinator.yml" and "contains a space" in problems[0].message


# ------------------------------------------------------------------ plan: tag message and changelog entry

COMMITS = (
    r.CommitInfo("1" * 40, "feat(api)!: drop the v1 endpoints (#12)"),
    r.CommitInfo("2" * 40, "feat: pay by invoice (#13)\n\nbody"),
    r.CommitInfo("3" * 40, "fix: rounding of cents, see #7"),
    r.CommitInfo("4" * 40, "Merge pull request #13 from acme/invoice"),
    r.CommitInfo("5" * 40, "update readme"),
    r.CommitInfo("6" * 40, "chore: bump deps\n\nBREAKING CHANGE: needs python 3.12"),
)
PROVENANCE = r.Provenance(
    pull_number=42, pull_url="https://github.com/acme/release/pull/42", head_sha="f" * 40,
    approvals=(r.Approval("@acme/app-team", "carol", "e" * 40), r.Approval("@acme/infra-team", "alice", "f" * 40),
               r.Approval("@acme/infra-team", "bob", "f" * 40)),
)


def _plan(**overrides):
    args = dict(
        config=CONFIG, versions=VERSIONS, rollback=False, notes="Ships invoicing.",
        changes=(r.ComponentChange("payments-app", "acme/payments-app", "1.5.2", "1.5.3", COMMITS),
                 r.ComponentChange("platform-infra", "acme/platform-infra", "2.1.0", "2.1.0")),
        provenance=PROVENANCE, date=dt.date(2026, 11, 29), release_repo="acme/release",
    )
    args.update(overrides)
    plan, problems = r.plan_release(**args)
    assert problems == ()
    return plan


def test_tag_message_has_template_line_provenance_and_trailers():
    plan = _plan()
    assert plan.release_id == "release-1.5.3-2.1.0"
    assert plan.tag_message == (
        "Deploy: Application v1.5.3 and Infrastructure v2.1.0\n\n"
        "Pull request: https://github.com/acme/release/pull/42\n"
        f"Pull request head: {'f' * 40}\n"
        "Approved by:\n"
        "  @acme/app-team: carol at eeeeeeeeeeee\n"
        "  @acme/infra-team: alice at ffffffffffff, bob at ffffffffffff\n\n"
        "Release-Id: release-1.5.3-2.1.0\n"
        "Component-Version: payments-app=1.5.3\n"
        "Component-Version: platform-infra=2.1.0\n"
    )
    assert r.parse_release_trailers(plan.tag_message) == ("release-1.5.3-2.1.0", VERSIONS, None)


def test_changelog_entry_groups_commits_and_links_pull_requests_to_the_component_repo():
    entry = _plan().changelog_entry
    assert entry.startswith("## [release-1.5.3-2.1.0](https://github.com/acme/release/releases/tag/release-1.5.3-2.1.0) - 2026-11-29\n")
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in entry
    assert "| platform-infra | 2.1.0 | unchanged |" in entry
    assert "### platform-infra" not in entry  # nothing to list for an unchanged component
    heading = "### payments-app [1.5.2 → 1.5.3](https://github.com/acme/payments-app/compare/v1.5.2...v1.5.3)\n"
    section = entry.split(heading, 1)[1].split("### Approvals")[0]
    assert section.index("#### Breaking changes") < section.index("#### Features") < section.index("#### Fixes") < section.index("#### Other")
    assert "- **api:** drop the v1 endpoints ([#12](https://github.com/acme/payments-app/pull/12)) ([`1111111`](https://github.com/acme/payments-app/commit/" in section
    assert "- bump deps ([`6666666`]" in section.split("#### Features")[0]  # BREAKING CHANGE footer counts
    assert "rounding of cents, see acme/payments-app#7" in section  # not the release repo's issue 7
    assert "Merge pull request" not in section
    assert "- update readme ([`5555555`]" in section.split("#### Other")[1]
    assert "- `@acme/infra-team`: @alice, @bob" in entry
    assert "### Notes\n\nShips invoicing.\n" in entry
    assert "Released by [acme/release#42](https://github.com/acme/release/pull/42)." in entry
    assert _plan().release_body == entry.split("\n", 2)[2]


def test_rollback_gets_its_own_id_names_the_restored_release_and_lists_withdrawn_changes():
    plan = _plan(
        versions={"payments-app": "1.5.2", "platform-infra": "2.1.0"}, rollback=True, restored_id="release-1.5.2-2.1.0",
        changes=(r.ComponentChange("payments-app", "acme/payments-app", "1.5.3", "1.5.2", COMMITS[:1]),),
    )
    assert plan.release_id == "release-1.5.2-2.1.0-rollback-pr42"
    assert plan.rollback_of == "release-1.5.2-2.1.0"
    assert r.parse_release_trailers(plan.tag_message).rollback_of == "release-1.5.2-2.1.0"
    assert "**Rollback:** restores the versions of `release-1.5.2-2.1.0`." in plan.changelog_entry
    assert "### payments-app [1.5.3 → 1.5.2](https://github.com/acme/payments-app/compare/v1.5.2...v1.5.3) (rollback)\n\nThese changes from acme/payments-app are withdrawn:" in plan.changelog_entry
    assert "| payments-app | 1.5.3 → 1.5.2 | rolled back |" in plan.changelog_entry


def test_a_huge_release_is_cut_for_the_github_release_but_not_for_the_changelog():
    commits = tuple(r.CommitInfo(f"{i:040x}", f"feat: feature number {i} " + "x" * 300) for i in range(400))
    changes = tuple(r.ComponentChange(name, f"acme/{name}", "1.0.0", "2.0.0", commits) for name in ("a", "b", "c"))
    plan = _plan(changes=changes)
    assert len(plan.release_body) <= r.MAX_RELEASE_BODY
    assert plan.release_body.endswith("…the full notes are in the changelog entry for release-1.5.3-2.1.0.\n")
    assert len(plan.changelog_entry) > r.MAX_RELEASE_BODY
    assert plan.changelog_entry.count("…and 150 more commits ([compare](https://github.com/acme/a/compare/v1.0.0...v2.0.0))") == 1


def test_unreadable_commits_are_said_not_hidden():
    plan = _plan(changes=(r.ComponentChange("payments-app", "acme/payments-app", "1.5.2", "1.5.3", None),))
    assert "_The commits between 1.5.2 and 1.5.3 could not be read from acme/payments-app._" in plan.changelog_entry


# ------------------------------------------------------------------ prepending to CHANGELOG.md

EXISTING = (
    "# Changelog\n\nAll notable releases.\n\n"
    "## [release-1.5.2-2.1.0] - 2026-11-01\n\nold entry  \nwith trailing spaces\n\n"
    "## [release-1.5.1-2.1.0] - 2026-10-01\n\nolder\n"
).encode()


def test_prepend_keeps_title_on_top_and_the_rest_byte_for_byte():
    entry = "## [release-2] - 2026-11-29\n\nnew\n"
    out = r.prepend_entry(EXISTING, entry=entry, release_id="release-2")
    head, rest = out.split(b"## [release-1.5.2-2.1.0]", 1)
    assert head == b"# Changelog\n\nAll notable releases.\n\n## [release-2] - 2026-11-29\n\nnew\n\n"
    assert b"## [release-1.5.2-2.1.0]" + rest == EXISTING[EXISTING.index(b"## [release-1.5.2"):]


def test_prepend_is_idempotent_by_release_id():
    entry = "## [release-1.5.2-2.1.0] - 2026-11-29\n\nagain\n"
    assert r.prepend_entry(EXISTING, entry=entry, release_id="release-1.5.2-2.1.0") is None
    # a linked heading counts as the same entry
    linked = r.prepend_entry(None, entry="## [r.1](https://x/r.1) - 2026-11-29\n\nx\n", release_id="r.1")
    assert r.prepend_entry(linked, entry="## [r.1] - 2026-11-30\n", release_id="r.1") is None
    assert r.prepend_entry(linked, entry="## [r-1] - 2026-11-30\n", release_id="r-1") is not None  # "." is literal


@pytest.mark.parametrize("existing, expected", [
    (None, r.DEFAULT_CHANGELOG_HEADER + "## [x] - d\n"),
    (b"", r.DEFAULT_CHANGELOG_HEADER + "## [x] - d\n"),
    (b"# Changes\n", "# Changes\n\n## [x] - d\n"),
    (b"# Changes\r\n\r\nintro\r\n\r\n## [old]\r\n", "# Changes\r\n\r\nintro\r\n\r\n## [x] - d\r\n\r\n## [old]\r\n"),
])
def test_prepend_edge_cases(existing, expected):
    assert r.prepend_entry(existing, entry="## [x] - d\n", release_id="x").decode() == expected


# ------------------------------------------------------------------ rollback command and manifest


@pytest.mark.parametrize("body, expected", [
    ("/rollback", r.RollbackCommand(None)),
    ("/rollback release-1.5.2-2.0.9", r.RollbackCommand("release-1.5.2-2.0.9")),
    ("  /rollback release-1 \r\nbecause payments broke", r.RollbackCommand("release-1")),
    ("/rollbacks", None),
    ("please /rollback", None),
    ("", None),
    (None, None),
])
def test_parse_rollback_command(body, expected):
    assert r.parse_rollback_command(body) == expected


def test_rollback_manifest_keeps_the_short_form_and_leading_comments():
    current = b"# Owned by release managers\nrelease:\n  application_version: 1.5.3\n  infrastructure_version: \"2.1.0\"\n"
    out = r.rollback_manifest_text(current, versions={"payments-app": "1.5.2", "platform-infra": "2.0.9"}, config=CONFIG,
                                   notes='Rollback to "release-1.5.2-2.0.9"')
    assert out.decode() == (
        "# Owned by release managers\nrelease:\n  application_version: 1.5.2\n  infrastructure_version: 2.0.9\n"
        '  rollback: true\n  notes: "Rollback to \\"release-1.5.2-2.0.9\\""\n'
    )
    import yaml
    assert yaml.safe_load(out)["release"]["notes"] == 'Rollback to "release-1.5.2-2.0.9"'


def test_rollback_manifest_keeps_the_general_form():
    current = b"release:\n  components:\n    payments-app: 1.5.3\n    platform-infra: 2.1.0\n"
    out = r.rollback_manifest_text(current, versions={"platform-infra": "2.0.9", "payments-app": "1.5.2"}, config=CONFIG, notes="")
    assert out.decode() == "release:\n  components:\n    payments-app: 1.5.2\n    platform-infra: 2.0.9\n  rollback: true\n"


# ------------------------------------------------------------------ properties

from hypothesis import given, settings, strategies as st  # noqa: E402

_names = st.from_regex(r"[a-z][a-z0-9_.=-]{0,20}", fullmatch=True)
_versions = st.from_regex(r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})(-[0-9A-Za-z.-]{1,12})?(\+[0-9A-Za-z.-]{1,8})?", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(versions=st.dictionaries(_names, _versions, min_size=1, max_size=6), title=st.text(max_size=80),
       approver=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30))
def test_the_trailers_of_any_tag_message_give_back_its_versions(versions, title, approver):
    message = r.render_tag_message(
        title=title, release_id="release-x", versions=versions,
        provenance=r.Provenance(pull_number=1, approvals=(r.Approval("@acme/t", approver, None),)),
    )
    assert r.parse_release_trailers(message) == ("release-x", versions, None)


@settings(max_examples=150, deadline=None)
@given(preamble=st.text(max_size=200).filter(lambda t: "## [" not in t and "\n## " not in t and not t.startswith("## ")),
       entries=st.lists(st.text(max_size=100).filter(lambda t: "## [" not in t), max_size=3))
def test_prepending_keeps_every_older_entry_byte_for_byte_and_is_idempotent(preamble, entries):
    older = "".join(f"## [old-{i}] - 2026-01-01\n{body}\n" for i, body in enumerate(entries))
    existing = ("# Changelog\n" + preamble + "\n" + older).encode("utf-8", errors="surrogateescape")
    once = r.prepend_entry(existing, entry="## [new] - 2026-11-29\n\nbody\n", release_id="new")
    assert once.startswith(b"# Changelog\n")
    assert once.endswith(older.encode("utf-8", errors="surrogateescape"))
    assert once.count(b"## [new] - 2026-11-29") == 1
    assert r.prepend_entry(once, entry="## [new] - 2026-11-30\n", release_id="new") is None


def test_prepending_to_a_title_only_changelog_with_a_stray_cr_keeps_the_title_bytes():
    # found by the property above: "# Changelog\n\r\n" (CRLF detected) used to come back as "# Changelog\r\n..."
    once = r.prepend_entry(b"# Changelog\n\r\n", entry="## [new] - 2026-11-29\n\nbody\n", release_id="new")
    assert once == b"# Changelog\n\r\n\r\n## [new] - 2026-11-29\r\n\r\nbody\r\n"
    assert r.prepend_entry(b"# Changelog\n", entry="## [new] - 2026-11-29\n", release_id="new") == (
        b"# Changelog\n\n## [new] - 2026-11-29\n")


# ------------------------------------------------------------------ environments (SPEC §6)

STAGING_ENV = Environment(
    name="staging", manifest="environments/staging/release.yml", tag_prefix="staging/", allow_prerelease=True)
PRODUCTION_ENV = Environment(
    name="production", manifest="environments/production/release.yml", verified_in="staging")


@pytest.mark.parametrize(("overrides", "release_id", "lineage"), [
    ({"environment": STAGING_ENV}, "staging/release-1.5.3-2.1.0", ("staging", None, None)),
    ({"environment": PRODUCTION_ENV, "verified_in": ("staging/release-1.5.3-2.1.0", "5" * 40)}, "release-1.5.3-2.1.0",
     ("production", None, ("staging/release-1.5.3-2.1.0", "5" * 40))),
    ({"environment": STAGING_ENV, "repeat_of": "staging/release-1.5.3-2.1.0"}, "staging/release-1.5.3-2.1.0-pr42",
     ("staging", "staging/release-1.5.3-2.1.0", None)),
    ({"repeat_of": "release-1.5.3-2.1.0"}, "release-1.5.3-2.1.0-pr42", (None, "release-1.5.3-2.1.0", None)),
    ({"rollback": True, "restored_id": "staging/release-1.5.3-2.1.0", "environment": STAGING_ENV,
      "repeat_of": "ignored for a rollback"}, "staging/release-1.5.3-2.1.0-rollback-pr42", ("staging", None, None)),
])
def test_ids_and_trailers_per_environment(overrides, release_id, lineage):
    plan = _plan(**overrides)
    assert plan.release_id == release_id
    assert r.parse_release_trailers(plan.tag_message).release_id == release_id
    assert r.parse_lineage(plan.tag_message) == lineage
    assert (plan.environment, plan.repeat_of, plan.verified_in) == lineage
    assert plan.changelog_entry.startswith(f"## [{release_id}](https://github.com/acme/release/releases/tag/{release_id})")


def test_the_notes_say_where_the_release_went_and_what_it_follows():
    plan = _plan(environment=PRODUCTION_ENV, verified_in=("staging/release-1.5.3-2.1.0", "5" * 40))
    assert plan.release_body.startswith("Deploy: Application v1.5.3 and Infrastructure v2.1.0\n\n**Environment:** production  \n"
                                        "**Verified in:** `staging/release-1.5.3-2.1.0` at `555555555555`\n\n| Component |")
    assert "**Environment:**" not in _plan().release_body  # one implicit environment: the notes as before
