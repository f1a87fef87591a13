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


def test_a_red_check_never_says_waiting_and_its_summary_says_what_must_change():
    short = render_check(judge(config=ApprovalsConfig(teams={INFRA: 3}), author="ivan"))
    assert short.conclusion is Conclusion.FAILURE
    assert short.title == "@acme/infra needs 3 more approvals, but only 2 members can approve"
    assert short.summary.startswith("**What must change first:**\n- @acme/infra: needs 3 more approvals but only")
    blocked = render_check(judge(reviews=[review("ivan", C)]))
    assert "Waiting" not in blocked.title and "- @acme/infra: changes requested by @ivan" in blocked.summary
    waiting = render_check(judge())
    assert waiting.title.startswith("Waiting for") and "What must change first" not in waiting.summary


def test_codeowners_line_whose_pattern_is_its_only_path_says_it_once():
    from bot.core.approvals_render import rule_text

    code = lambda t: f"`{t}`"  # noqa: E731
    assert rule_text(1, "release.yml", ["release.yml"], code=code) == "CODEOWNERS line 1 for `release.yml`"
    assert rule_text(1, "/release.yml", ["release.yml"], code=code) == "CODEOWNERS line 1 for `release.yml`"
    assert rule_text(3, "/infra/", ["infra/a", "infra/b"], code=code) == "CODEOWNERS line 3 `/infra/` for `infra/a`, `infra/b`"
