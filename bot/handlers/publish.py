"""Write a check run only when what the user would see changed (SPEC §4: a no-op re-evaluation writes nothing)."""
from __future__ import annotations

from bot.core.checks import CheckResult, result_digest
from bot.forge.base import Forge


def publish_check(forge: Forge, repo: str, result: CheckResult) -> bool:
    """Create or update the check run keyed by (name, head_sha). Returns True when it wrote."""
    existing = forge.find_check(repo, head_sha=result.head_sha, name=result.name)
    if existing is None:
        forge.create_check(repo, result)
        return True
    if existing.digest == result_digest(result):
        return False
    forge.update_check(repo, existing.id, result)
    return True
