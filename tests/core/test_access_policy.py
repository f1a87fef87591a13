"""The `access:` section: defaults that follow the practice, overrides, and errors with their lines."""
import pytest

from bot.core.access_policy import OWNING_TEAMS, AccessPolicy, AccessRule
from bot.core.config import ConfigSource, load_config
from bot.handlers.configs import builtin_defaults


def load(text: str):
    return load_config([builtin_defaults(), ConfigSource(".github/release-coordinator.yml", text.encode())], repo="acme/x")


def test_defaults_follow_the_practice():
    policy = load("").config.access
    assert policy == AccessPolicy()
    assert policy.infrastructure == AccessRule(writers=(OWNING_TEAMS,), min_approvals=2)
    assert policy.application.min_approvals == policy.release.min_approvals == 1
    assert policy.require_checks and not policy.enforce and not policy.enforce_permissions and policy.bypass == ()


def test_the_spec_example_and_a_per_repo_override():
    policy = load('access:\n  infrastructure: {writers: ["@acme/infra-team"], min_approvals: 3}\n'
                  '  application: {writers: owning teams, min_approvals: 1}\n  bypass: [role:admin, "@acme/sre"]\n'
                  '  enforce: true\n').config.access
    assert policy.infrastructure == AccessRule(writers=("@acme/infra-team",), min_approvals=3)
    assert policy.application.writers == (OWNING_TEAMS,) and policy.enforce
    assert policy.bypass == ("role:admin", "@acme/sre")


@pytest.mark.parametrize("text, line, message", [
    ("access:\n  infrastructure: {min_approvals: 7}\n", 2, "from 0 to 6"),
    ("access:\n  application: {writers: [everyone]}\n", 2, 'must name teams (@org/team) or "owning teams"'),
    ("access:\n  bypass: [role:owner]\n", 2, "role:admin, role:maintain, role:write, org-admins, app:ID or deploy-keys"),
    ("access:\n  enforce: yes please\n", 2, "access.enforce must be true or false"),
    ("access:\n  infra: {}\n", 2, "unknown key 'infra' in access; did you mean 'infrastructure'?"),
])
def test_errors_point_at_their_line(text, line, message):
    [problem] = load(text).problems
    assert problem.line == line and message in problem.message
