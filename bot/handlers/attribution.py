"""Which pull request brought each commit a release ships (issue 14): the shipped-in notes, the Release's and the
changelog's "Pull requests shipped", and the release plan's linked pull requests and authors all read it.

Messages first, for free (bot.core.plan.pulls_by_message: squash "(#N)", "Merge pull request #N", GitLab's "See
merge request path!N", and every commit a merge commit that names its pull request brought in); then the forge,
only for the commits still unattributed (Forge.merged_pulls_for_commits: rebase merges, GitLab squash commits
without the trailer), at most MAX_LOOKUPS per component. A found answer is cached by sha in the adapter.
"""
from __future__ import annotations

import dataclasses
import logging

from bot import logs
from bot.core import plan as core_plan
from bot.core.release import ComponentChange
from bot.forge.errors import NotFound, PermissionDenied
from bot.forge.protocol import Forge

log = logging.getLogger(__name__)

# Per component and release: GitHub answers 100 commits per GraphQL query (5 queries at most); GitLab asks per
# commit (500 requests at most, only for a component whose merges name nothing: fast-forward merges, squash
# commits without the trailer; its merge commits name their MR and bring their commits along for free). Past it,
# the commits left are linked by their sha only, and the log says so.
MAX_LOOKUPS = 500


def attribute(forge: Forge, change: ComponentChange) -> tuple[ComponentChange, dict[str, str]]:
    """The change with each commit's pull_number filled where its message names none (from the merge commit
    that brought it in, else from the forge), and {sha: login of the pull request's author} the forge told.
    Only an upgrade asks the forge: a rollback ships nothing (its withdrawn commits get what their merge commits
    say, for free), and an added component has no commits listed."""
    if not change.commits:
        return change, {}
    if change.direction != "upgraded":
        return dataclasses.replace(change, commits=core_plan.with_pulls(change.commits)), {}
    wanted = core_plan.unattributed(change.commits)
    found = {}
    if wanted:
        if len(wanted) > MAX_LOOKUPS:
            logs.event(log, "pull request attribution capped", level=logging.WARNING, repo=change.repo,
                       component=change.name, unattributed=len(wanted), asked=MAX_LOOKUPS)
        try:
            found = forge.merged_pulls_for_commits(change.repo, wanted[:MAX_LOOKUPS])
        except (NotFound, PermissionDenied) as exc:  # the app cannot see the component: messages only
            logs.event(log, "pull request attribution skipped", level=logging.WARNING, repo=change.repo,
                       component=change.name, error=str(exc))
    commits = core_plan.with_pulls(change.commits, {sha: pull.number for sha, pull in found.items()})
    authors = {sha: pull.author for sha, pull in found.items() if pull.author}
    return dataclasses.replace(change, commits=commits), authors


def attribute_all(forge: Forge, changes: tuple[ComponentChange, ...]) -> tuple[tuple[ComponentChange, ...], dict[str, str]]:
    """attribute() for every component; the pull requests' authors of all of them."""
    attributed, authors = [], {}
    for change in changes:
        change, found = attribute(forge, change)
        attributed.append(change)
        authors.update(found)
    return tuple(attributed), authors
