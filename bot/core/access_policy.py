"""The `access:` section (SPEC §3): what each managed repository's settings must be. Values and their parsing;
bot/core/config.py validates the shape (one SCHEMA entry) and calls build(). The audit is bot/core/access.py."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

OWNING_TEAMS = "owning teams"  # stands for every team CODEOWNERS names, read on the repo's default branch
# Who may bypass the rules, as a policy names it (bot/core/access.py maps each ruleset bypass actor to one):
#   "@org/team"             a team
#   "role:admin" | "role:maintain" | "role:write"   a repository role (rulesets: RepositoryRole 5, 2, 4)
#   "org-admins"            organization owners (rulesets: OrganizationAdmin)
#   "app:ID"                a GitHub App by its numeric id (rulesets: Integration)
#   "deploy-keys"           deploy keys (rulesets: DeployKey)
_BYPASS = re.compile(r"^(@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+|role:(admin|maintain|write)|org-admins|app:\d+|deploy-keys)$")
_TEAM = re.compile(r"^@[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9._-]+)+$")
MAX_APPROVALS = 6  # GitHub's own ceiling for required_approving_review_count (branch protection and rulesets)


@dataclass(frozen=True)
class AccessRule:
    """What one kind of repository (infrastructure, application, or the release repo) must have.

    writers: the teams allowed write, maintain or admin on the repository (everyone else at most triage);
      "owning teams" means the teams its CODEOWNERS names on the default branch.
    min_approvals: approving reviews the default branch requires before a merge (branch protection or a ruleset).
    code_owner_review: the default branch requires a review from a code owner."""

    writers: tuple[str, ...] = (OWNING_TEAMS,)
    min_approvals: int = 1
    code_owner_review: bool = True


@dataclass(frozen=True)
class AccessPolicy:
    """The `access:` section. Read from each repository's default branch (defaults < org < repo), like the rest.

    infrastructure / application: the rule for component repos of that kind; release: for the release repo (a
      release repo that is also a component must meet both: the stricter number, its kind's writers).
    require_checks: the checks this app posts are required status checks on the default branch
      (release-coordinator/approvals everywhere; manifest, and window when windows are configured, on the release repo).
    bypass: who may bypass the protection (see _BYPASS above); anyone else who can is drift, admins included.
    enforce: apply missing protection (needs the App's "Administration: write"); never lowers what is there.
    enforce_permissions: with enforce, also lower write access of teams and people not listed to triage."""

    infrastructure: AccessRule = field(default_factory=lambda: AccessRule(min_approvals=2))
    application: AccessRule = field(default_factory=AccessRule)
    release: AccessRule = field(default_factory=AccessRule)
    require_checks: bool = True
    bypass: tuple[str, ...] = ()
    enforce: bool = False
    enforce_permissions: bool = False


def writers_error(value: Any) -> str | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return None  # the schema says "text or a list"
    for item in items:
        if not isinstance(item, str) or not (item.strip().lower() == OWNING_TEAMS or _TEAM.match(item.strip())):
            return f'must name teams (@org/team) or "{OWNING_TEAMS}", not {item!r}'
    return None


def approvals_error(value: int) -> str | None:
    if 0 <= value <= MAX_APPROVALS:
        return None
    return f"must be a whole number from 0 to {MAX_APPROVALS} (GitHub's most), not {value}"


def bypass_error(value: str) -> str | None:
    if _BYPASS.match(value.strip()):
        return None
    return f'must be a team (@org/team), role:admin, role:maintain, role:write, org-admins, app:ID or deploy-keys, not {value!r}'


def build(data: Any) -> AccessPolicy:
    """The merged `access:` mapping (already validated) as a value; anything absent keeps its default."""
    data = data if isinstance(data, dict) else {}
    defaults = AccessPolicy()
    return AccessPolicy(
        infrastructure=_rule(data.get("infrastructure"), defaults.infrastructure),
        application=_rule(data.get("application"), defaults.application),
        release=_rule(data.get("release"), defaults.release),
        require_checks=bool(data.get("require_checks", defaults.require_checks)),
        bypass=tuple(str(b).strip() for b in data.get("bypass") or ()),
        enforce=bool(data.get("enforce", False)),
        enforce_permissions=bool(data.get("enforce_permissions", False)),
    )


def _rule(data: Any, default: AccessRule) -> AccessRule:
    if not isinstance(data, dict):
        return default
    writers = data.get("writers", list(default.writers))
    writers = [writers] if isinstance(writers, str) else list(writers)
    return AccessRule(
        writers=tuple(OWNING_TEAMS if w.strip().lower() == OWNING_TEAMS else w.strip().lower() for w in writers),
        min_approvals=int(data.get("min_approvals", default.min_approvals)),
        code_owner_review=bool(data.get("code_owner_review", default.code_owner_review)),
    )
