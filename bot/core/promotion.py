"""`release-coordinator/promotion` (SPEC §4): was this exact version set released to the earlier environment,
is its verification success on that release's commit, and has the soak elapsed? Pure: pass `now`."""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Mapping, Sequence

from bot.core.checks import CheckResult, Conclusion
from bot.core.environments import Environment, describe_duration
from bot.core.release import ReleaseRecord, versions_equal

PROMOTION = "release-coordinator/promotion"
UTC = dt.timezone.utc


class CheckState(enum.Enum):
    """A commit status, check run or deployment status, reduced to what the gate needs."""

    SUCCESS = "success"
    PENDING = "pending"  # queued, in progress, waiting: may still become success
    FAILURE = "failure"  # failure, error, cancelled, timed out, neutral, skipped, inactive: it will not


class CheckKind(enum.Enum):
    STATUS = "status"  # https://docs.github.com/en/rest/commits/statuses (context)
    CHECK_RUN = "check run"  # https://docs.github.com/en/rest/checks/runs (name)
    DEPLOYMENT = "deployment"  # https://docs.github.com/en/rest/deployments/statuses (the deployment's environment)


@dataclass(frozen=True)
class CommitCheck:
    """One verification signal reported on a commit, as a forge adapter read it (the latest of its name and kind)."""

    name: str
    kind: CheckKind
    state: CheckState
    detail: str  # the forge's own word: "success", "timed_out", "in_progress", ...
    at: dt.datetime | None = None  # when it reached that state (UTC)
    url: str = ""


class Outcome(enum.Enum):
    PROMOTABLE = "promotable"
    ROLLBACK_SKIPPED = "rollback skipped"
    WAITING_FOR_SOAK = "waiting for soak"
    WAITING_FOR_VERIFICATION = "waiting for verification"
    VERIFICATION_FAILED = "verification failed"
    NOT_RELEASED = "not released"
    RELEASE_TIME_UNKNOWN = "release time unknown"


@dataclass(frozen=True)
class Evidence:
    name: str  # the configured verification name
    state: CheckState | None  # None: nothing of that name on the commit (yet)
    found: CommitCheck | None


@dataclass(frozen=True)
class PromotionVerdict:
    environment: str
    verified_in: str
    outcome: Outcome
    versions: Mapping[str, str]
    release: ReleaseRecord | None = None  # the earlier environment's release of the same set
    evidence: tuple[Evidence, ...] = ()
    soak: dt.timedelta = dt.timedelta(0)
    soak_ends_at: dt.datetime | None = None
    recheck_at: dt.datetime | None = None  # when time alone changes the verdict: schedule a re-evaluation
    earlier_releases: tuple[ReleaseRecord, ...] = ()  # the latest few, named when none matches

    @property
    def conclusion(self) -> Conclusion:
        if self.outcome in (Outcome.PROMOTABLE, Outcome.ROLLBACK_SKIPPED):
            return Conclusion.SUCCESS
        if self.outcome in (Outcome.WAITING_FOR_SOAK, Outcome.WAITING_FOR_VERIFICATION):
            return Conclusion.PENDING
        return Conclusion.FAILURE


def judge_promotion(
    environment: Environment,
    *,
    versions: Mapping[str, str],
    rollback: bool,
    history: Sequence[ReleaseRecord],
    checks: Sequence[CommitCheck] = (),
    now: dt.datetime,
) -> PromotionVerdict:
    """history: the earlier environment's releases, newest first; checks: what the forge reports on the commit
    of the newest one with exactly `versions` (the handler reads them for that commit only)."""
    if environment.verified_in is None:
        raise ValueError(f"environment {environment.name} has no verified_in: the promotion gate does not apply")
    base = dict(environment=environment.name, verified_in=environment.verified_in, versions=dict(versions),
                soak=environment.soak)
    if rollback and environment.rollback_skips_verification:
        return PromotionVerdict(outcome=Outcome.ROLLBACK_SKIPPED, **base)
    release = match(history, versions)
    if release is None:
        return PromotionVerdict(outcome=Outcome.NOT_RELEASED, earlier_releases=tuple(history[:3]), **base)
    evidence = tuple(_evidence(name, checks) for name in environment.verification)
    soak_ends_at = release.tagged_at + environment.soak if release.tagged_at is not None else None
    verdict = dict(release=release, evidence=evidence, soak_ends_at=soak_ends_at, **base)
    if any(e.state is CheckState.FAILURE for e in evidence):
        return PromotionVerdict(outcome=Outcome.VERIFICATION_FAILED, **verdict)
    if environment.soak and soak_ends_at is None:
        return PromotionVerdict(outcome=Outcome.RELEASE_TIME_UNKNOWN, **verdict)
    waiting_soak = soak_ends_at is not None and now < soak_ends_at
    recheck_at = soak_ends_at if waiting_soak else None
    if any(e.state is not CheckState.SUCCESS for e in evidence):
        return PromotionVerdict(outcome=Outcome.WAITING_FOR_VERIFICATION, recheck_at=recheck_at, **verdict)
    if waiting_soak:
        return PromotionVerdict(outcome=Outcome.WAITING_FOR_SOAK, recheck_at=recheck_at, **verdict)
    return PromotionVerdict(outcome=Outcome.PROMOTABLE, **verdict)


def match(history: Sequence[ReleaseRecord], versions: Mapping[str, str]) -> ReleaseRecord | None:
    """The newest release with exactly these versions: the set ran there from then on, so its soak counts
    from then, and its commit is the one verified (a rollback to the set counts as releasing it again)."""
    return next((r for r in history if versions_equal(r.versions, versions)), None)


def _evidence(name: str, checks: Sequence[CommitCheck]) -> Evidence:
    """The most recent signal of that name, whatever its kind (a status and a check run may share a name)."""
    found = [c for c in checks if c.name == name]
    if not found:
        return Evidence(name, None, None)
    latest = max(found, key=lambda c: (c.at or dt.datetime.min.replace(tzinfo=UTC), c.state is CheckState.FAILURE))
    return Evidence(name, latest.state, latest)


# --------------------------------------------------------------------------------------------- rendering


def _when(instant: dt.datetime | None) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if instant else "at an unknown time"


def _versions_text(versions: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


_ICON = {CheckState.SUCCESS: "✅", CheckState.PENDING: "⏳", CheckState.FAILURE: "❌", None: "⏳"}


def evidence_rows(verdict: PromotionVerdict) -> list[str]:
    if not verdict.evidence:
        return []
    sha = verdict.release.commit_sha[:12] if verdict.release else "?"
    rows = [f"| verification | kind | state on `{sha}` | since |", "| --- | --- | --- | --- |"]
    for item in verdict.evidence:
        found = item.found
        if found is None:
            rows.append(f"| `{item.name}` | — | {_ICON[None]} not reported yet | — |")
            continue
        state = f"[{found.detail}]({found.url})" if found.url else found.detail
        rows.append(f"| `{item.name}` | {found.kind.value} | {_ICON[item.state]} {state} | {_when(found.at)} |")
    return rows


def promotion_check(verdict: PromotionVerdict, *, head_sha: str, details_url: str | None = None) -> CheckResult:
    """The check run; its text never contains `now`, so a re-evaluation that changes nothing writes nothing."""
    env, earlier = verdict.environment, verdict.verified_in
    release = verdict.release
    title, lead = _headline(verdict)
    parts = [lead]
    if release is not None:
        facts = ["| | |", "| --- | --- |",
                 f"| {earlier} release | `{release.tag}` |",
                 f"| its commit | `{release.commit_sha}` |",
                 f"| tagged | {_when(release.tagged_at)} |",
                 f"| versions | {_versions_text(release.versions)} |"]
        if verdict.soak:
            facts.append(f"| soak | {describe_duration(verdict.soak)}, ends {_when(verdict.soak_ends_at)} |")
        parts.append("\n".join(facts))
        rows = evidence_rows(verdict)
        if rows:
            parts.append("\n".join(rows))
        elif verdict.outcome is not Outcome.ROLLBACK_SKIPPED:
            parts.append(f"No verification is configured for {env} (`verification:`): the release in {earlier} "
                         "and the soak are the whole gate.")
    elif verdict.earlier_releases:
        listed = "\n".join(f"- `{r.tag}`: {_versions_text(r.versions)}" for r in verdict.earlier_releases)
        parts.append(f"Latest releases in {earlier}:\n{listed}")
    return CheckResult(name=PROMOTION, head_sha=head_sha, conclusion=verdict.conclusion, title=title[:200],
                       summary="\n\n".join(parts), details_url=details_url)


def _headline(verdict: PromotionVerdict) -> tuple[str, str]:
    env, earlier, release = verdict.environment, verdict.verified_in, verdict.release
    versions = _versions_text(verdict.versions)
    outcome = verdict.outcome
    if outcome is Outcome.ROLLBACK_SKIPPED:
        return (f"Rollback: promotion gate skipped for {env}",
                f"This is a rollback and `rollback_skips_verification: true` is set for {env}: the gate (released "
                f"to {earlier}, verified, soaked) was **skipped**, not met.")
    if outcome is Outcome.NOT_RELEASED:
        return (f"Not released to {earlier}: {versions}",
                f"{env} may only get a version set that was released to {earlier} first. No coordinated release of "
                f"{earlier} has exactly {versions}: release it to {earlier} first, or change the versions.")
    tag = f"`{release.tag}`"
    if outcome is Outcome.VERIFICATION_FAILED:
        failed = ", ".join(f"`{e.name}` ({e.found.detail})" for e in verdict.evidence
                           if e.state is CheckState.FAILURE and e.found)
        return (f"Verification failed in {earlier}: {failed}"[:200],
                f"{tag} in {earlier} has the same versions, but its verification failed on `{release.commit_sha[:12]}`: "
                f"{failed}. Re-run it there, or release a fixed version set to {earlier}.")
    if outcome is Outcome.RELEASE_TIME_UNKNOWN:
        return (f"Cannot tell when {release.tag} was released",
                f"{tag} in {earlier} has the same versions, but when it was tagged cannot be read, so the "
                f"{describe_duration(verdict.soak)} soak cannot be measured.")
    soak = (f" The {describe_duration(verdict.soak)} soak ends {_when(verdict.soak_ends_at)}."
            if verdict.soak and verdict.soak_ends_at else "")
    if outcome is Outcome.WAITING_FOR_VERIFICATION:
        waiting = ", ".join(f"`{e.name}`" for e in verdict.evidence if e.state is not CheckState.SUCCESS)
        return (f"Waiting for {waiting} on {release.tag}"[:200],
                f"{tag} in {earlier} has the same versions; waiting for {waiting} to succeed on its commit "
                f"`{release.commit_sha[:12]}` (not reported yet, or still running).{soak} This check updates by itself.")
    if outcome is Outcome.WAITING_FOR_SOAK:
        return (f"Soaking in {earlier} until {_when(verdict.soak_ends_at)}",
                f"{tag} in {earlier} has the same versions and its verification passed.{soak} This check turns "
                "green by itself then.")
    return (f"Verified in {earlier}: {release.tag}",
            f"{tag} in {earlier} has the same versions, its verification passed on `{release.commit_sha[:12]}`"
            + (f" and the {describe_duration(verdict.soak)} soak ended {_when(verdict.soak_ends_at)}." if verdict.soak else "."))
