"""End to end (issue 14), a component pull request merged by REBASE: its commits name no pull request, so only
the forge can say which one brought them (Forge.merged_pulls_for_commits). Signed deliveries -> Flask app ->
SQLite queue -> worker -> handlers over FakeForge: the staging plan links the commits to #14 and names its
author, the merge notes #14 "Shipped in", the Release and the changelog list it; a replay writes nothing."""
from __future__ import annotations

from bot.core.checks import MANIFEST
from bot.forge.base import Commit, Comparison
from tests.test_e2e_communication import APP, REPO, STAGING_HEAD, STAGING_MERGE, app, forge  # noqa: F401
from tests.test_e2e_environments import T0, deliver, merge, pull_payload
from tests.notify.conftest import receiver  # noqa: F401 (the loopback HTTP receiver fixture)

REBASED = ("7" * 40, "8" * 40)
STAGING_ID = "staging/release-1.5.3-2.1.0"


def rebase_merged(forge) -> None:
    """payments-app 1.5.2 -> 1.5.3: squash-merged #12, then #14's two commits rebased onto main (by grace)."""
    forge.repos[APP].comparisons[("v1.5.2", "v1.5.3")] = Comparison("v1.5.2", "v1.5.3", "ahead", (
        Commit("c" * 40, "fix: rounding of invoice totals (#12)", author="erin"),
        Commit(REBASED[0], "feat: invoice numbers", parents=("c" * 40,)),
        Commit(REBASED[1], "fix: invoice number padding", parents=(REBASED[0],)),
    ), ())
    forge.add_commit_pull(APP, 14, REBASED, author="grace")


def test_a_rebase_merged_pull_request_is_planned_noted_listed_and_never_twice(app, forge, receiver):  # noqa: F811
    rebase_merged(forge)
    deliver(app, "pull_request", pull_payload(forge, 1, "opened"), delivery="s-open")
    summary = forge.checks_on(REPO, STAGING_HEAD)[MANIFEST].summary
    assert f"- invoice numbers ([#14](https://github.com/{APP}/pull/14)) ([`7777777`]" in summary
    assert ") by @grace" in summary  # the pull request's author: the rebased commits' author is not a known login

    merge(forge, 1, STAGING_MERGE)
    deliver(app, "pull_request", pull_payload(forge, 1, "closed", merged=True), delivery="s-merged")
    assert STAGING_ID in forge.repos[REPO].tags
    (note,) = forge.repos[APP].comments[14]
    assert f"Shipped in {STAGING_ID} to staging on {T0.date().isoformat()}" in note
    listed = f"- [{APP}#14](https://github.com/{APP}/pull/14) (payments-app)"
    assert listed in forge.repos[REPO].releases[STAGING_ID].body
    changelog = forge.get_file(REPO, "environments/staging/CHANGELOG.md", ref="main")  # staging's own changelog
    assert listed in changelog.content.decode()
    assert f"- invoice numbers ([#14](https://github.com/{APP}/pull/14))" in changelog.content.decode()

    calls = forge.calls["ensure_note"]
    deliver(app, "pull_request", pull_payload(forge, 1, "closed", merged=True), delivery="s-merged-again")
    assert forge.calls["ensure_note"] == calls and len(forge.repos[APP].comments[14]) == 1
