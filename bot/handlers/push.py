"""A push to a base branch that changes the config or CODEOWNERS re-evaluates every open pull request targeting
that branch (SPEC §4), on every forge: GitHub `push`, GitLab Push Hook. Without it an open pull request stays
judged by the policy it was last evaluated under until its next event.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from bot import logs
from bot.handlers import Context
from bot.handlers.configs import layout_of, remember_rules_tip
from bot.routing import Router
from bot.webhooks.event import PULL_CHANGED, Event

log = logging.getLogger("bot.handlers.push")
router = Router()


@router.register("push")
def on_push(event: Event, ctx: Context) -> None:
    if not event.repo or not event.base_ref or not event.head_sha or set(event.head_sha) == {"0"}:
        return  # a tag, or a deleted branch
    if not changes_rules(event, ctx):
        return
    remember_rules_tip(ctx, event.repo, event.base_ref, event.head_sha)  # later evaluations read the rules there too
    pulls = ctx.forge.list_open_pulls(event.repo, base=event.base_ref)
    if not pulls:
        return
    from bot.handlers import all_handlers  # the other handlers' routes; imported here (they import this package)

    router_all = all_handlers()
    logs.event(log, "policy changed: re-evaluating open pull requests", repo=event.repo, branch=event.base_ref,
               pulls=len(pulls), forge=event.forge)
    for pull in pulls:
        # The rules are read at the pull request's base sha; the push moved the base branch to head_sha, and a
        # pull request's own base sha can lag behind it (GitHub updates it on the pull request's next sync,
        # GitLab's diff base is the merge base): judge by the rules just pushed.
        pinned = replace(pull, base_sha=event.head_sha)
        again = Event(forge=event.forge, name=PULL_CHANGED, action=None, delivery_id=event.delivery_id,
                      installation_id=event.installation_id, account=event.account, kind=PULL_CHANGED,
                      repo=event.repo, default_branch=event.default_branch, sender=event.sender,
                      pull_number=pull.number, head_sha=pull.head_sha, base_ref=pull.base_ref,
                      base_sha=event.head_sha, pull=pinned)
        for handler in router_all.handlers_for(again):
            if handler is not on_push:
                handler(again, ctx)


def changes_rules(event: Event, ctx: Context) -> bool:
    """Did the push touch the config or a CODEOWNERS file of this forge's layout? A push whose list of paths the
    forge cut (too many commits) counts as touching them: re-evaluating costs requests, missing it costs a
    wrong check."""
    if event.paths_truncated:
        return True
    return bool(event.pushed_paths & set(layout_of(ctx.forge).rule_files))
