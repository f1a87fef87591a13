"""SPEC §4: the approvals check is pending while more approvals alone can pass it, failure only when something
must change first. One row per situation a reviewer meets; evaluation on plain data, as in test_approvals."""
import pytest

from bot.core.approvals_render import blockers, conclusion, render_check
from bot.core.checks import Conclusion, Level, Problem
from bot.core.config import ApprovalsConfig
from bot.forge.base import Permission
from tests.core.test_approvals import APP, INFRA, C, judge, review

CASES = [
    # (what happens, judge() arguments, conclusion, a word the blocker names or None)
    ("nobody reviewed yet, members can approve", dict(), Conclusion.PENDING, None),
    ("one of two teams approved", dict(paths=("infra/a", "app/b"), reviews=[review("ivan")]), Conclusion.PENDING, None),
    ("every team approved", dict(reviews=[review("ivan")]), Conclusion.SUCCESS, None),
    ("a member requested changes", dict(reviews=[review("ivan", C)]), Conclusion.FAILURE, "changes requested"),
    ("the team cannot be seen", dict(unknown=frozenset({INFRA})), Conclusion.FAILURE, INFRA),
    ("needs three, only two others could approve",
     dict(config=ApprovalsConfig(teams={INFRA: 3}), author="ivan"), Conclusion.FAILURE, "only @both, @irene can still"),
    ("needs two, two members with write access are left",
     dict(config=ApprovalsConfig(teams={INFRA: 2})), Conclusion.PENDING, None),
    ("the only other members have read access", dict(
        reviews=[review("ivan")], config=ApprovalsConfig(teams={INFRA: 3}),
        permissions={"ivan": Permission.WRITE, "irene": Permission.READ, "both": Permission.READ}),
     Conclusion.FAILURE, "needs 2 more approvals but nobody else can approve"),
]


@pytest.mark.parametrize("what, args, expected, blocker", CASES, ids=[c[0] for c in CASES])
def test_conclusion(what, args, expected, blocker):
    evaluation = judge(**args)
    assert conclusion(evaluation) is expected
    assert render_check(evaluation).conclusion is expected
    reasons = blockers(evaluation)
    assert bool(reasons) is (expected is Conclusion.FAILURE)
    if blocker:
        assert any(blocker in reason for reason in reasons), reasons


def test_a_failing_config_problem_fails_a_warning_does_not():
    warning = Problem(".github/CODEOWNERS", 5, "unknown owner", Level.WARNING)
    failing = Problem(".github/release-coordinator.yml", 3, "approvals.mode: must be one of", Level.FAILURE)
    evaluation = judge()
    assert conclusion(evaluation.__class__(**{**evaluation.__dict__, "problems": (warning,)})) is Conclusion.PENDING
    broken = evaluation.__class__(**{**evaluation.__dict__, "problems": (failing,)})
    assert conclusion(broken) is Conclusion.FAILURE
    assert blockers(broken) == [".github/release-coordinator.yml line 3: approvals.mode: must be one of"]


def test_too_many_files_fails_more_approvals_cannot_name_the_unknown_owners():
    evaluation = judge(reviews=[review("ivan")])
    truncated = evaluation.__class__(**{**evaluation.__dict__, "files_truncated": True})
    assert conclusion(truncated) is Conclusion.FAILURE and "split the pull request" in blockers(truncated)[0]


def test_on_a_merge_queue_commit_waiting_is_failure():
    waiting = judge(paths=("infra/a", "app/b"), reviews=[review("ivan")])
    assert render_check(waiting, queued=True).conclusion is Conclusion.FAILURE
    assert render_check(judge(reviews=[review("ivan")]), queued=True).conclusion is Conclusion.SUCCESS
    assert APP in render_check(waiting).title
