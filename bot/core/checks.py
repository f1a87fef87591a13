"""Check-run results as values: what the handlers publish and the pages render."""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field

APPROVALS = "release-coordinator/approvals"
MANIFEST = "release-coordinator/manifest"
SEMVER = "release-coordinator/semver"
WINDOW = "release-coordinator/window"


class Conclusion(enum.Enum):
    # https://docs.github.com/en/rest/checks/runs#create-a-check-run (conclusion)
    SUCCESS = "success"
    # Not concluded: can still pass by more approvals or by time (SPEC §4). Not one of GitHub's conclusions:
    # GitHub adapters write it as status "in_progress" with no conclusion (yellow), GitLab as commit status
    # "pending". FAILURE is kept for "something must change first".
    PENDING = "pending"
    FAILURE = "failure"
    NEUTRAL = "neutral"
    ACTION_REQUIRED = "action_required"
    SKIPPED = "skipped"


    @property
    def concluded(self) -> bool:
        return self is not Conclusion.PENDING


class Level(enum.Enum):
    # GitHub's annotation_level values
    NOTICE = "notice"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class Problem:
    """A user mistake found in a file: becomes a failing check and an annotation, never an exception."""

    file: str
    line: int | None
    message: str
    level: Level = Level.FAILURE

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Annotation:
    path: str
    start_line: int
    end_line: int
    level: Level
    message: str
    title: str = ""

    @classmethod
    def from_problem(cls, problem: Problem) -> "Annotation":
        line = problem.line or 1
        return cls(path=problem.file, start_line=line, end_line=line, level=problem.level, message=problem.message)


@dataclass(frozen=True)
class CheckResult:
    """One check run as it should look on GitHub; equality decides whether a write is needed."""

    name: str
    head_sha: str
    conclusion: Conclusion
    title: str
    summary: str
    text: str = ""
    annotations: tuple[Annotation, ...] = field(default=())
    details_url: str | None = None


def result_digest(result: CheckResult) -> str:
    """A stable fingerprint of everything a user sees in a check run. Adapters store it in the check run's
    external_id, so "did anything change?" costs no extra request for annotations."""
    fields = asdict(result)
    fields["conclusion"] = result.conclusion.value
    fields["annotations"] = [{**asdict(a), "level": a.level.value} for a in result.annotations]
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return "rc1-" + hashlib.sha256(blob).hexdigest()[:40]
