"""Checks on GitLab: a commit status per check (within GitLab's state machine) and the one summary note."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.checks import CheckResult
from bot.forge.errors import ForgeError, NotFound
from bot.forge.github import note_marker
from bot.forge.gitlab.urls import project as _project
from bot.forge.statuses import WAITING_STATES, CommitStatus, commit_status, status_digest
from bot.model import ExistingCheck, Note

TARGET_URL_LIMIT = 255  # app/models/commit_status.rb: validates :ref, :target_url, :description, length: { maximum: 255 }


class Checks:
    """Mixed into GitLabForge: needs self.http, self._statuses ((repo, sha, name) -> (id, CommitStatus)) and
    self._notes ((repo, iid, topic) -> (note id, body))."""

    def check_digest(self, result: CheckResult) -> str:
        return status_digest(_shown(result))

    def find_check(self, repo: str, *, head_sha: str, name: str) -> ExistingCheck | None:
        current = self._current_status(repo, head_sha, name, ask=True)
        return None if current is None else ExistingCheck(current[0], status_digest(current[1]))

    def _current_status(self, repo: str, sha: str, name: str, *, ask: bool) -> tuple[int, CommitStatus] | None:
        """Our latest status of that name on sha: what we last saw or wrote, else (ask) GitLab's answer.
        https://docs.gitlab.com/api/commits/#list-the-statuses-of-a-commit (latest per name unless all=true)"""
        known = self._statuses.get((repo, sha, name))
        if known is not None or not ask:
            return known
        try:
            statuses = self.http.get_pages(f"{_project(repo)}/repository/commits/{sha}/statuses", {"name": name},
                                           parse=lambda d: list(d or ()), needs=f"Reporter on {repo} to read commit statuses")
        except NotFound:
            return None  # no such commit: no status on it either (a write to it then says what is missing)
        ours = [s for s in statuses if s.get("name") == name]
        if not ours:
            return None
        latest = max(ours, key=lambda s: s["id"])
        current = (int(latest["id"]), CommitStatus(latest.get("status") or "", latest.get("description") or "",
                                                   latest.get("target_url")))
        self._statuses.put((repo, sha, name), current)
        return current

    def create_check(self, repo: str, result: CheckResult) -> int:
        return self._set_status(repo, result)

    def update_check(self, repo: str, check_id: int, result: CheckResult) -> None:
        self._set_status(repo, result)

    def replace_check(self, repo: str, check_id: int, result: CheckResult) -> int:
        return self._set_status(repo, result)  # one status per (sha, name): the write moves it

    def _set_status(self, repo: str, result: CheckResult) -> int:
        """POST projects/:id/statuses/:sha, unless GitLab's state machine would refuse it: a status that is
        pending (running) cannot be moved to pending (running) again (lib/api/commit_statuses.rb ->
        Ci::CreateCommitStatusService#apply_job_state!: `job.enqueue!` / `job.run!`). Such a write is never sent,
        and the 400 "Cannot transition status via :enqueue from :pending" (another writer got there first) is
        taken as the no-op it is. https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit"""
        wanted = _shown(result)
        # Compared with what this adapter last saw or wrote there. Nothing known (a new head, a new process): the
        # write goes straight out, as publish_check asks only when its store has no record of a write there;
        # a refusal then is the no-op handled below.
        current = self._current_status(repo, result.head_sha, result.name, ask=False)
        if current is not None and current[1].state in WAITING_STATES and (
                current[1].state == wanted.state or (current[1].state, wanted.state) == ("running", "pending")):
            # refused by GitLab; a changed reason while waiting is told by the summary note (ensure_note)
            return current[0]
        if current is not None and current[1] == wanted:
            return current[0]
        body: dict[str, Any] = {"state": wanted.state, "name": result.name, "description": wanted.description}
        if wanted.target_url:
            body["target_url"] = wanted.target_url
        try:
            data = self.http.request("POST", f"{_project(repo)}/statuses/{result.head_sha}", body=body,
                                     needs=f"Developer on {repo} to set commit statuses").data
        except ForgeError as exc:
            if "cannot transition status" not in str(exc).lower():
                raise
            # Another writer (a second worker) got the status into this state after we last looked: what we
            # wanted is what is there. Read it back rather than trust what we remembered.
            self._statuses.put((repo, result.head_sha, result.name), None)
            seen = self._current_status(repo, result.head_sha, result.name, ask=True)
            return seen[0] if seen else 0
        written = (int(data["id"]), CommitStatus(data.get("status") or wanted.state, data.get("description") or "",
                                                 data.get("target_url")))
        self._statuses.put((repo, result.head_sha, result.name), written)
        return written[0]

    def ensure_note(self, repo: str, number: int, *, topic: str, body: str) -> Note:
        """The one note of ours for topic, found by its marker line: created once, edited in place with PUT when
        its body differs, left alone when equal. https://docs.gitlab.com/api/notes/#merge-requests (list sorted
        by created_at ascending, create, modify). Once found or made, its id is remembered: no list again."""
        marker = note_marker(topic)
        full = f"{marker}\n{body}"
        notes = f"{_project(repo)}/merge_requests/{number}/notes"
        needs = f"Reporter on {repo} to comment on merge requests"
        known = self._notes.get((repo, number, topic))
        if known is None:
            listed = self.http.get_pages(notes, {"sort": "asc", "order_by": "created_at"}, parse=lambda d: [
                (n["id"], n.get("body") or "") for n in d or () if not n.get("system") and (n.get("body") or "").startswith(marker)])
            known = listed[0] if listed else None
        if known is not None and known[1] == full:
            self._notes.put((repo, number, topic), known)
            return Note(known[0], body)
        if known is not None:
            try:
                self.http.request("PUT", f"{notes}/{known[0]}", body={"body": full}, needs=needs)
                self._notes.put((repo, number, topic), (known[0], full))
                return Note(known[0], body)
            except NotFound:
                pass  # someone deleted it: write it again
        data = self.http.request("POST", notes, body={"body": full}, needs=needs).data
        self._notes.put((repo, number, topic), (int(data["id"]), full))
        return Note(int(data["id"]), body)


def _shown(result: CheckResult) -> CommitStatus:
    """What GitLab will show of result: a link past its 255 characters would be refused (400), so it is left out
    (the summary note still links the details page)."""
    status = commit_status(result)
    if status.target_url and len(status.target_url) > TARGET_URL_LIMIT:
        return replace(status, target_url=None)
    return status
