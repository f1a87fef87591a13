"""Announcements the release handler does not make itself: promotion_blocked, when a promotion's verification
failed in the earlier environment (the other events: bot.handlers.shipped for released / rolled_back,
bot.handlers.release_plan for plan_ready). Jobs are keyed by pull request, environment and release id, so each
blocked version set is announced once however often the gate is judged again."""
from __future__ import annotations

from bot.core import release as core_release
from bot.core.announcements import AnnouncementEvent
from bot.core.config import Config
from bot.core.promotion import Outcome, PromotionVerdict
from bot.handlers import Context
from bot.model import PullRequest
from bot.notify import deliver
from bot.notify.render import Announcement


def blocked_reason(verdict: PromotionVerdict) -> str:
    failed = [e for e in verdict.evidence if e.state is not None and e.state.value == "failure"]
    names = ", ".join(f"{e.name} ({e.found.detail})" if e.found and e.found.detail else e.name for e in failed)
    where = f" on {verdict.release.tag}" if verdict.release is not None else ""
    return f"verification failed{where}: {names or 'see the promotion check'}"


def promotion_blocked(ctx: Context, pull: PullRequest, config: Config, verdict: PromotionVerdict) -> int:
    """Queue promotion_blocked to the targets that want it, when the verdict is a failed verification."""
    if verdict.outcome is not Outcome.VERIFICATION_FAILED or config.release is None:
        return 0
    environment = next((e for e in getattr(config, "environments", ()) if e.name == verdict.environment), None)
    try:
        plain = core_release.render_template(config.release.tag, versions=verdict.versions,
                                             components=config.components)
    except core_release.TemplateError:
        return 0
    release_id = environment.release_id(plain) if environment is not None else plain
    announcement = Announcement(
        event=AnnouncementEvent.PROMOTION_BLOCKED, forge=ctx.forge.kind, repository=pull.repo,
        environment=verdict.environment, release_id=release_id, tag=None, components=dict(verdict.versions),
        url=pull.html_url or ctx.forge.links.pull(pull.repo, pull.number),
        pull_request={"number": pull.number, "url": pull.html_url or ctx.forge.links.pull(pull.repo, pull.number),
                      "title": pull.title},
        reason=blocked_reason(verdict),
    )
    return deliver.announce(ctx.jobs, getattr(config, "notify", ()), announcement)
