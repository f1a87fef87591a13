"""What GitLab reports on a commit, for the promotion gate: its commit statuses (external ones and pipeline jobs').

Mixed into GitLabForge (ENV-release). GitLab environments' deployments are not read yet: name a job or an external
status in `verification:` (a deploy job's status says the same on GitLab).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from bot.core.promotion import CheckKind, CheckState, CommitCheck
from bot.forge.errors import NotFound
from bot.forge.github_verification import iso_time  # GitLab's times read the same way
from bot.forge.gitlab.urls import project as _project, q as _q
from bot.model import Tag

# https://docs.gitlab.com/api/commits/#list-the-statuses-of-a-commit: created, waiting_for_resource, preparing,
# pending, running, success, failed, canceled, skipped, manual, scheduled. A manual job waits for a person, a
# skipped or canceled one will not run: neither becomes success by waiting.
_WAITING = {"created", "waiting_for_resource", "preparing", "pending", "running", "scheduled"}


def _check(status: dict) -> CommitCheck:
    state = status.get("status") or ""
    verdict = CheckState.SUCCESS if state == "success" else CheckState.PENDING if state in _WAITING else CheckState.FAILURE
    return CommitCheck(name=status["name"], kind=CheckKind.STATUS, state=verdict, detail=state,
                       at=iso_time(status.get("finished_at") or status.get("started_at") or status.get("created_at")),
                       url=status.get("target_url") or "")


class Verification:
    """Needs self.http (GitLabHttp)."""

    def commit_checks(self, repo: str, sha: str, *, names: Iterable[str] | None = None) -> tuple[CommitCheck, ...]:
        """The latest status of each name on sha (GitLab lists the latest per name unless all=true): one request
        per 100 statuses."""
        try:
            statuses = self.http.get_pages(f"{_project(repo)}/repository/commits/{sha}/statuses",
                                           parse=lambda d: [s for s in d or () if isinstance(s, dict) and s.get("name")],
                                           needs=f"Reporter on {repo} to read commit statuses")
        except NotFound:
            return ()
        latest: dict[str, dict] = {}
        for status in statuses:
            if status["name"] not in latest or status.get("id", 0) > latest[status["name"]].get("id", 0):
                latest[status["name"]] = status
        return tuple(_check(s) for s in latest.values())

    def tag_date(self, repo: str, tag: Tag) -> dt.datetime | None:
        """An annotated tag's creation time (GitLab 15.x+ `created_at`), else its commit's; cached per tag object.
        https://docs.gitlab.com/api/tags/#get-a-single-repository-tag"""
        key = ("tag date", repo, tag.tag_sha or tag.commit_sha)

        def parse(d: dict) -> dt.datetime | None:
            return iso_time(d.get("created_at")) or iso_time((d.get("commit") or {}).get("created_at"))

        try:
            return self.http.get(f"{_project(repo)}/repository/tags/{_q(tag.name)}", parse=parse, immutable=key)
        except NotFound:
            return None
