"""The release plan over plain data: when it can ship, who must still approve, what it carries."""
import datetime as dt

import pytest

from bot.core import plan
from bot.core.approvals import TEAM, Evaluation, GroupResult
from bot.core.config import ApprovalMode, Freeze, Invalidate, WindowsConfig
from bot.core.release import CommitInfo, ComponentChange
from bot.core.windows import WindowState

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
LATER = dt.datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
OPEN = WindowState(NOW, "UTC", in_window=True, freeze=None, override=False, next_open=None, closes_at=None)
CLOSED = WindowState(NOW, "UTC", in_window=False, freeze=None, override=False, next_open=LATER, closes_at=None)
FROZEN = WindowState(NOW, "UTC", in_window=True, freeze=Freeze(dt.date(2026, 12, 1), dt.date(2026, 12, 3)),
                     override=False, next_open=LATER, closes_at=None)
OVERRIDDEN = WindowState(NOW, "UTC", in_window=False, freeze=None, override=True, next_open=LATER, closes_at=None)
NEVER = WindowState(NOW, "UTC", in_window=False, freeze=None, override=False, next_open=None, closes_at=None)
SOAK_END = dt.datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name, approvals, window, waits, when, at", [
    ("all clear", True, OPEN, (), plan.When.NOW, None),
    ("no windows configured", True, None, (), plan.When.NOW, None),
    ("approvals missing, window open", False, OPEN, (), plan.When.AFTER_APPROVALS, None),
    ("approvals never evaluated", None, OPEN, (), plan.When.AFTER_APPROVALS, None),
    ("outside the window", True, CLOSED, (), plan.When.WINDOW_OPENS, LATER),
    ("outside the window, approvals missing: time still says when", False, CLOSED, (), plan.When.WINDOW_OPENS, LATER),
    ("in a freeze", True, FROZEN, (), plan.When.FREEZE_ENDS, LATER),
    ("override label", True, OVERRIDDEN, (), plan.When.OVERRIDE, None),
    ("no window within the horizon", True, NEVER, (), plan.When.NOT_SOON, None),
    ("a soak ends later than now", True, OPEN, (("the staging soak ends", SOAK_END),), plan.When.WINDOW_OPENS, SOAK_END),
    ("a soak ending after the window opens", True, CLOSED,
     (("the staging soak ends", LATER + dt.timedelta(hours=1)),), plan.When.WINDOW_OPENS, LATER + dt.timedelta(hours=1)),
    ("a soak already over", True, OPEN, (("soak", NOW - dt.timedelta(hours=1)),), plan.When.NOW, None),
])
def test_when_it_can_ship(name, approvals, window, waits, when, at):
    ship = plan.ship_time(approvals_passed=approvals, window=window, waits=waits)
    assert (ship.when, ship.at) == (when, at), name


@pytest.mark.parametrize("approvals, window, waits, holds, when, reason", [
    (True, OPEN, (), ("`e2e-staging` passes on staging/r",), plan.When.AFTER_PROMOTION,
     "once `e2e-staging` passes on staging/r"),
    (False, OPEN, (), ("`e2e-staging` passes on staging/r",), plan.When.AFTER_PROMOTION,
     "once `e2e-staging` passes on staging/r and the missing approvals are given"),
    (True, CLOSED, (), ("x passes",), plan.When.WINDOW_OPENS, "the next release window opens (and once x passes)"),
    (True, OPEN, (("the soak in staging ends", SOAK_END),), ("x passes",), plan.When.WINDOW_OPENS,
     "the soak in staging ends (and once x passes)"),
    (True, NEVER, (), ("x passes",), plan.When.NOT_SOON, "no release window opens in the next two years (and once x passes)"),
])
def test_what_only_people_or_other_systems_can_change_is_said_too(approvals, window, waits, holds, when, reason):
    ship = plan.ship_time(approvals_passed=approvals, window=window, waits=waits, holds=holds)
    assert (ship.when, ship.reason) == (when, reason)


def test_promotion_terms_from_the_gate_s_verdict():
    from bot.core.promotion import CheckState, Evidence, Outcome, PromotionVerdict
    from bot.core.release import ReleaseRecord

    staging = ReleaseRecord(tag="staging/r", commit_sha="5" * 40, versions={"a": "1.0.0"})

    def verdict(outcome, state=None, soak_ends_at=SOAK_END):
        return PromotionVerdict(environment="production", verified_in="staging", outcome=outcome,
                                versions={"a": "1.0.0"}, release=staging, soak_ends_at=soak_ends_at,
                                evidence=(Evidence("e2e", state, None),))

    assert plan.promotion_terms(verdict(Outcome.PROMOTABLE, CheckState.SUCCESS)) == ((), ())
    assert plan.promotion_terms(verdict(Outcome.WAITING_FOR_SOAK, CheckState.SUCCESS)) == (
        (("the soak in staging ends", SOAK_END),), ())
    assert plan.promotion_terms(verdict(Outcome.WAITING_FOR_VERIFICATION)) == (
        (("the soak in staging ends", SOAK_END),), ("`e2e` passes on staging/r",))
    assert plan.promotion_terms(verdict(Outcome.VERIFICATION_FAILED, CheckState.FAILURE, None)) == (
        (), ("the failed verification (`e2e`) passes on staging/r",))
    assert plan.promotion_terms(verdict(Outcome.NOT_RELEASED, None, None)) == (
        (), ("these versions are released to staging first",))


def _evaluation(*groups):
    return Evaluation(head_sha="h", mode=ApprovalMode.EACH_TEAM, invalidate_on_push=Invalidate.OWNED_FILES,
                      distinct=True, groups=groups, unowned=(), codeowners_path="CODEOWNERS")


CHANGE = ComponentChange("payments-app", "acme/payments-app", "1.5.2", "1.5.3", (
    CommitInfo("a" * 40, "feat: pay by invoice (#12)"),
    CommitInfo("b" * 40, "fix(api)!: cents are integers (#13)"),
    CommitInfo("c" * 40, "fix: round half up"),
    CommitInfo("d" * 40, "Merge pull request #14 from acme/x\n\ndocs: readme"),
))
SAME = ComponentChange("platform-infra", "acme/platform-infra", "2.1.0", "2.1.0", ())


def test_the_plan_renders_versions_groups_authors_pending_teams_and_when():
    evaluation = _evaluation(
        GroupResult("@acme/app-team", TEAM, ("@acme/app-team",), 1, approved_by=("carol",)),
        GroupResult("@acme/infra-team", TEAM, ("@acme/infra-team",), 2, approved_by=("alice",),
                    can_unblock=("bob", "eve")),
    )
    view = plan.build_plan(release_id="release-1.5.3-2.1.0", changes=(CHANGE, SAME), evaluation=evaluation,
                           window=CLOSED, authors={"a" * 40: "erin"})
    text = plan.render_plan(view, web_url="https://github.com", windows=WindowsConfig(timezone="Europe/Berlin"))
    assert text.startswith("### Release plan\n\nMerging tags **`release-1.5.3-2.1.0`**.\n")
    assert "**Can ship:** not before Fri 2026-12-04 09:00 CET (08:00 UTC), when the next release window opens" in text
    assert "| payments-app | 1.5.2 → 1.5.3 | upgraded |" in text and "| platform-infra | 2.1.0 | unchanged |" in text
    assert "- `@acme/infra-team`: 1 more approval (can approve: @bob, @eve)" in text
    assert "@acme/app-team" not in text.split("**Still to approve:**")[1].split("####")[0]
    # the changelog's own grouping, one heading level down, with the PR links and authors
    assert "#### payments-app [1.5.2 → 1.5.3](https://github.com/acme/payments-app/compare/v1.5.2...v1.5.3)" in text
    breaking = text.index("##### Breaking changes")
    features = text.index("##### Features")
    fixes = text.index("##### Fixes")
    assert breaking < features < fixes
    assert "- pay by invoice ([#12](https://github.com/acme/payments-app/pull/12))" in text
    assert "by @erin" in text.split("pay by invoice")[1].splitlines()[0]
    assert "**api:** cents are integers" in text[breaking:features]


def test_unknown_and_complete_approvals_are_said():
    unknown = plan.build_plan(release_id=None, changes=(SAME,), evaluation=None, window=None)
    assert "not evaluated for this head yet" in plan.render_plan(unknown, web_url="https://github.com")
    done = plan.build_plan(release_id=None, changes=(SAME,), evaluation=_evaluation(), window=OPEN)
    text = plan.render_plan(done, web_url="https://github.com")
    assert "**Approvals:** complete." in text and "**Can ship:** now" in text


def test_changes_requested_and_team_errors_are_pending():
    evaluation = _evaluation(
        GroupResult("@acme/app-team", TEAM, ("@acme/app-team",), 1, approved_by=("carol",), blocked_by=("dan",)),
        GroupResult("@acme/ghosts", TEAM, ("@acme/ghosts",), 1, error="team @acme/ghosts cannot be seen"),
    )
    pending = plan.pending_approvals(evaluation)
    assert [p.group for p in pending] == ["@acme/app-team", "@acme/ghosts"]
    text = plan.render_plan(plan.build_plan(release_id=None, changes=(), evaluation=evaluation, window=OPEN),
                            web_url="https://github.com")
    assert "- `@acme/app-team`: changes requested by @dan" in text
    assert "- `@acme/ghosts`: team @acme/ghosts cannot be seen" in text


@pytest.mark.parametrize("message, number", [
    ("feat: pay by invoice (#12)", 12),
    ("Merge pull request #14 from acme/x\n\nfeat: y", 14),
    ("Merge branch 'x' into 'main'\n\nfeat: y\n\nSee merge request acme/payments!21", 21),
    ("fix: typo", None),
    ("fix: mentions #15 in passing", None),
    ("Revert \"feat: x (#12)\" (#16)", 16),
])
def test_which_pull_request_a_commit_came_from(message, number):
    assert plan.pull_number_of(message) == number


def test_carried_pulls_are_deduplicated_sorted_and_a_rollback_carries_none():
    again = ComponentChange("payments-app", "acme/payments-app", "1.5.1", "1.5.2", (CommitInfo("e" * 40, "feat: z (#12)"),))
    carried = plan.carried_pulls((CHANGE, again, SAME))
    assert [(p.repo, p.number) for p in carried] == [("acme/payments-app", 12), ("acme/payments-app", 13),
                                                     ("acme/payments-app", 14)]
    rollback = ComponentChange("payments-app", "acme/payments-app", "1.5.3", "1.5.2", CHANGE.commits)
    assert plan.carried_pulls((rollback,)) == ()
    unreadable = ComponentChange("payments-app", "acme/payments-app", "1.5.2", "1.5.3", None)
    assert plan.carried_pulls((unreadable,)) == ()


def test_shipped_comment_and_release_section():
    assert plan.shipped_comment(release_id="release-1.5.3-2.1.0", environment="production", date=dt.date(2026, 12, 3),
                                release_url=None) == "Shipped in release-1.5.3-2.1.0 to production on 2026-12-03\n"
    section = plan.shipped_section(plan.carried_pulls((CHANGE,)), pull_url=lambda r, n: f"https://x/{r}/pull/{n}")
    assert section.splitlines()[:3] == ["### Pull requests shipped", "",
                                        "- [acme/payments-app#12](https://x/acme/payments-app/pull/12) (payments-app)"]
    assert plan.shipped_section((), pull_url=None) == ""
