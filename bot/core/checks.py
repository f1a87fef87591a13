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
    """One check run as it should look on GitHub; equality decides whether a write is needed.

    details_url: the pull request's details page; the anchor of this check's section is added when the link has
    none, so every check's "Details" opens the page at its own section (INTERFACES.md §4)."""

    name: str
    head_sha: str
    conclusion: Conclusion
    title: str
    summary: str
    text: str = ""
    annotations: tuple[Annotation, ...] = field(default=())
    details_url: str | None = None

    def __post_init__(self) -> None:
        if self.details_url and "#" not in self.details_url:
            object.__setattr__(self, "details_url", f"{self.details_url}#{section_anchor(self.name)}")


def section_anchor(check_name: str) -> str:
    """The details page's id for a check's section: "release-coordinator/approvals" -> "approvals"."""
    short = check_name.rsplit("/", 1)[-1]
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in short.lower()) or "check"


def result_to_json(result: CheckResult) -> dict:
    """A CheckResult as plain JSON (the per-pull-request results record keeps these; see result_from_json)."""
    data = asdict(result)
    data["conclusion"] = result.conclusion.value
    data["annotations"] = [{**asdict(a), "level": a.level.value} for a in result.annotations]
    return data


def result_from_json(data: dict) -> CheckResult:
    """The inverse of result_to_json; keys it does not know (head_sha and evaluated_at of the record) are ignored.
    A conclusion or level this version does not know reads as NEUTRAL / NOTICE rather than failing the page."""
    return CheckResult(
        name=data["name"], head_sha=data.get("head_sha", ""), conclusion=_member(Conclusion, data.get("conclusion"),
                                                                                Conclusion.NEUTRAL),
        title=data.get("title", ""), summary=data.get("summary", ""), text=data.get("text") or "",
        annotations=tuple(
            Annotation(path=a["path"], start_line=a.get("start_line") or 1, end_line=a.get("end_line") or a.get("start_line") or 1,
                       level=_member(Level, a.get("level"), Level.NOTICE), message=a.get("message", ""),
                       title=a.get("title") or "")
            for a in data.get("annotations") or ()
        ),
        details_url=data.get("details_url"),
    )


def _member(enum_type, value, default):
    try:
        return enum_type(value)
    except ValueError:
        return default


def result_digest(result: CheckResult) -> str:
    """A stable fingerprint of everything a user sees in a check run. Adapters store it in the check run's
    external_id, so "did anything change?" costs no extra request for annotations."""
    fields = asdict(result)
    fields["conclusion"] = result.conclusion.value
    fields["annotations"] = [{**asdict(a), "level": a.level.value} for a in result.annotations]
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return "rc1-" + hashlib.sha256(blob).hexdigest()[:40]
