"""The promotion verdict over plain data (SPEC §4 `release-coordinator/promotion`): a table of named cases."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.core.checks import Conclusion
from bot.core.environments import Environment
from bot.core.promotion import (
    PROMOTION, CheckKind, CheckState, CommitCheck, Outcome, judge_promotion, promotion_check,
)
from bot.core.release import ReleaseRecord

UTC = dt.timezone.utc
TAGGED = dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
SHA = "5" * 40
VERSIONS = {"payments-app": "1.5.3", "platform-infra": "2.1.0"}
OLDER = {"payments-app": "1.5.2", "platform-infra": "2.1.0"}
PRODUCTION = Environment(name="production", manifest="environments/production/release.yml", verified_in="staging",
                         verification=("e2e-staging",), soak=dt.timedelta(hours=2))
STAGING_RELEASE = ReleaseRecord(tag="staging/release-1.5.3-2.1.0", commit_sha=SHA, versions=VERSIONS,
                                environment="staging", tagged_at=TAGGED)
OLD_STAGING = ReleaseRecord(tag="staging/release-1.5.2-2.1.0", commit_sha="4" * 40, versions=OLDER,
                            environment="staging", tagged_at=TAGGED - dt.timedelta(days=2))


def e2e(state: CheckState, detail: str, *, minutes: int = 30, kind=CheckKind.STATUS, name="e2e-staging") -> CommitCheck:
    return CommitCheck(name=name, kind=kind, state=state, detail=detail, at=TAGGED + dt.timedelta(minutes=minutes),
                       url="https://ci.example.com/run/1")


GREEN = (e2e(CheckState.SUCCESS, "success"),)
AFTER_SOAK = TAGGED + dt.timedelta(hours=2, seconds=1)
DURING_SOAK = TAGGED + dt.timedelta(hours=1)

CASES = [
    # name, environment, versions, rollback, history, checks, now -> outcome, conclusion
    ("same set released, verified, soaked", PRODUCTION, VERSIONS, False, (STAGING_RELEASE, OLD_STAGING), GREEN,
     AFTER_SOAK, Outcome.PROMOTABLE, Conclusion.SUCCESS),
    ("soak ends exactly now: elapsed", PRODUCTION, VERSIONS, False, (STAGING_RELEASE,), GREEN,
     TAGGED + dt.timedelta(hours=2), Outcome.PROMOTABLE, Conclusion.SUCCESS),
    ("soak not elapsed: pending, not red", PRODUCTION, VERSIONS, False, (STAGING_RELEASE,), GREEN,
     DURING_SOAK, Outcome.WAITING_FOR_SOAK, Conclusion.PENDING),
    ("never released to staging: failure", PRODUCTION, {"payments-app": "1.6.0", "platform-infra": "2.1.0"}, False,
     (STAGING_RELEASE, OLD_STAGING), GREEN, AFTER_SOAK, Outcome.NOT_RELEASED, Conclusion.FAILURE),
    ("a subset of the versions is not the same set", PRODUCTION, {"payments-app": "1.5.3"}, False,
     (STAGING_RELEASE,), GREEN, AFTER_SOAK, Outcome.NOT_RELEASED, Conclusion.FAILURE),
    ("empty staging history", PRODUCTION, VERSIONS, False, (), (), AFTER_SOAK, Outcome.NOT_RELEASED, Conclusion.FAILURE),
    ("verification missing: waiting, as GitHub shows an expected check", PRODUCTION, VERSIONS, False,
     (STAGING_RELEASE,), (), AFTER_SOAK, Outcome.WAITING_FOR_VERIFICATION, Conclusion.PENDING),
    ("verification pending", PRODUCTION, VERSIONS, False, (STAGING_RELEASE,), (e2e(CheckState.PENDING, "pending"),),
     AFTER_SOAK, Outcome.WAITING_FOR_VERIFICATION, Conclusion.PENDING),
    ("verification failed", PRODUCTION, VERSIONS, False, (STAGING_RELEASE,), (e2e(CheckState.FAILURE, "failure"),),
     AFTER_SOAK, Outcome.VERIFICATION_FAILED, Conclusion.FAILURE),
    ("verification failed during the soak: failure wins over waiting", PRODUCTION, VERSIONS, False,
     (STAGING_RELEASE,), (e2e(CheckState.FAILURE, "timed_out", kind=CheckKind.CHECK_RUN),), DURING_SOAK,
     Outcome.VERIFICATION_FAILED, Conclusion.FAILURE),
    ("a later success of the same name replaces an earlier failure", PRODUCTION, VERSIONS, False, (STAGING_RELEASE,),
     (e2e(CheckState.FAILURE, "failure", minutes=10), e2e(CheckState.SUCCESS, "success", minutes=40, kind=CheckKind.CHECK_RUN)),
     AFTER_SOAK, Outcome.PROMOTABLE, Conclusion.SUCCESS),
    ("a deployment status names the environment", PRODUCTION.__class__(**{**PRODUCTION.__dict__, "verification": ("staging",)}),
     VERSIONS, False, (STAGING_RELEASE,), (e2e(CheckState.SUCCESS, "success", kind=CheckKind.DEPLOYMENT, name="staging"),),
     AFTER_SOAK, Outcome.PROMOTABLE, Conclusion.SUCCESS),
    ("only the named statuses count: another red one does not", PRODUCTION, VERSIONS, False, (STAGING_RELEASE,),
     GREEN + (e2e(CheckState.FAILURE, "failure", name="lint"),), AFTER_SOAK, Outcome.PROMOTABLE, Conclusion.SUCCESS),
    ("rollback without the skip is gated like any promotion", PRODUCTION, OLDER, True, (STAGING_RELEASE, OLD_STAGING), (),
     AFTER_SOAK, Outcome.WAITING_FOR_VERIFICATION, Conclusion.PENDING),
    ("rollback with rollback_skips_verification passes and says so",
     PRODUCTION.__class__(**{**PRODUCTION.__dict__, "rollback_skips_verification": True}), {"payments-app": "1.0.0"}, True,
     (), (), DURING_SOAK, Outcome.ROLLBACK_SKIPPED, Conclusion.SUCCESS),
    ("the skip applies to rollbacks only", PRODUCTION.__class__(**{**PRODUCTION.__dict__, "rollback_skips_verification": True}),
     {"payments-app": "1.0.0"}, False, (), (), DURING_SOAK, Outcome.NOT_RELEASED, Conclusion.FAILURE),
    ("no soak, no verification: released there is enough",
     Environment(name="production", manifest="p.yml", verified_in="staging"), VERSIONS, False, (STAGING_RELEASE,), (),
     TAGGED, Outcome.PROMOTABLE, Conclusion.SUCCESS),
    ("a soak but no known release time", PRODUCTION, VERSIONS, False,
     (ReleaseRecord(tag="staging/x", commit_sha=SHA, versions=VERSIONS),), GREEN, AFTER_SOAK,
     Outcome.RELEASE_TIME_UNKNOWN, Conclusion.FAILURE),
    ("the newest release of the set counts (re-released after a rollback in staging)", PRODUCTION, VERSIONS, False,
     (ReleaseRecord(tag="staging/release-1.5.3-2.1.0-pr9", commit_sha="9" * 40, versions=VERSIONS,
                    tagged_at=DURING_SOAK, repeat_of="staging/release-1.5.3-2.1.0"), OLD_STAGING, STAGING_RELEASE),
     (), AFTER_SOAK, Outcome.WAITING_FOR_VERIFICATION, Conclusion.PENDING),
]


@pytest.mark.parametrize(("name", "environment", "versions", "rollback", "history", "checks", "now", "outcome", "conclusion"),
                         CASES, ids=[case[0] for case in CASES])
def test_verdict(name, environment, versions, rollback, history, checks, now, outcome, conclusion):
    verdict = judge_promotion(environment, versions=versions, rollback=rollback, history=history, checks=checks, now=now)
    assert (verdict.outcome, verdict.conclusion) == (outcome, conclusion)
    check = promotion_check(verdict, head_sha="h" * 40)
    assert (check.name, check.conclusion) == (PROMOTION, conclusion)
    assert len(check.title) <= 200


def test_waiting_for_soak_says_when_it_ends_and_schedules_that_moment():
    verdict = judge_promotion(PRODUCTION, versions=VERSIONS, rollback=False, history=(STAGING_RELEASE,), checks=GREEN,
                              now=DURING_SOAK)
    assert verdict.recheck_at == TAGGED + dt.timedelta(hours=2)
    check = promotion_check(verdict, head_sha="h" * 40)
    assert check.title == "Soaking in staging until 2026-12-03 10:00 UTC"
    # the summary names the staging release, its evidence (which status, at which commit, when) and the soak's end
    assert "`staging/release-1.5.3-2.1.0`" in check.summary and f"`{SHA}`" in check.summary
    assert "| `e2e-staging` | status | ✅ [success](https://ci.example.com/run/1) | 2026-12-03 08:30 UTC |" in check.summary
    assert "| soak | 2h, ends 2026-12-03 10:00 UTC |" in check.summary
    assert "tagged | 2026-12-03 08:00 UTC" in check.summary


def test_the_summary_never_mentions_now_so_an_unchanged_verdict_writes_nothing():
    first, later = (promotion_check(judge_promotion(PRODUCTION, versions=VERSIONS, rollback=False, history=(STAGING_RELEASE,),
                                                    checks=GREEN, now=now), head_sha="h" * 40)
                    for now in (DURING_SOAK, DURING_SOAK + dt.timedelta(minutes=5)))
    assert first == later


def test_waiting_for_verification_during_the_soak_still_schedules_the_soak_end():
    verdict = judge_promotion(PRODUCTION, versions=VERSIONS, rollback=False, history=(STAGING_RELEASE,), checks=(),
                              now=DURING_SOAK)
    assert verdict.outcome is Outcome.WAITING_FOR_VERIFICATION and verdict.recheck_at == TAGGED + dt.timedelta(hours=2)
    summary = promotion_check(verdict, head_sha="h").summary
    assert "| `e2e-staging` | — | ⏳ not reported yet | — |" in summary and "updates by itself" in summary


def test_not_released_lists_what_staging_has():
    verdict = judge_promotion(PRODUCTION, versions={"payments-app": "1.6.0", "platform-infra": "2.1.0"}, rollback=False,
                              history=(STAGING_RELEASE, OLD_STAGING), now=AFTER_SOAK)
    check = promotion_check(verdict, head_sha="h")
    assert check.title == "Not released to staging: payments-app 1.6.0, platform-infra 2.1.0"
    assert "- `staging/release-1.5.3-2.1.0`: payments-app 1.5.3, platform-infra 2.1.0" in check.summary


def test_a_failed_verification_names_it_and_its_commit():
    verdict = judge_promotion(PRODUCTION, versions=VERSIONS, rollback=False, history=(STAGING_RELEASE,),
                              checks=(e2e(CheckState.FAILURE, "failure"),), now=AFTER_SOAK)
    check = promotion_check(verdict, head_sha="h")
    assert check.title == "Verification failed in staging: `e2e-staging` (failure)"
    assert SHA[:12] in check.summary


def test_the_rollback_skip_is_said_out_loud():
    env = Environment(**{**PRODUCTION.__dict__, "rollback_skips_verification": True})
    check = promotion_check(judge_promotion(env, versions=OLDER, rollback=True, history=(), now=TAGGED), head_sha="h")
    assert check.title == "Rollback: promotion gate skipped for production"
    assert "**skipped**, not met" in check.summary


def test_the_first_environment_has_no_gate():
    with pytest.raises(ValueError):
        judge_promotion(Environment(name="staging", manifest="s.yml"), versions=VERSIONS, rollback=False, history=(), now=TAGGED)
