"""Release windows and freezes (SPEC §3 `windows`): wall-clock rules judged on instants, DST-safe."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.checks import WINDOW, CheckResult, Conclusion
from bot.core.config import AllowWindow, Freeze, WindowsConfig

UTC = dt.timezone.utc
HORIZON_DAYS = 800  # how far ahead "next window opens" looks (covers a freeze of a year and more)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def first_instant(day: dt.date, wall: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The first UTC instant at which the wall clock in tz reads `wall` on `day`, or has jumped past it.

    Fall back (a wall time happens twice): the earlier one. Spring forward (it never happens, e.g.
    02:30 on the last Sunday of March in Europe/Berlin): the moment the clock jumps over it."""
    naive = dt.datetime.combine(day, wall)
    early = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late or early.astimezone(tz).replace(tzinfo=None) == naive:
        return min(early, late)
    # In a gap, fold=0 reads the wall time with the offset before the jump (an instant after it) and
    # fold=1 with the offset after it (an instant before it): the jump lies between. PEP 495.
    low, high = min(early, late), max(early, late)
    after = high.astimezone(tz).utcoffset()
    while high - low > dt.timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == after:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


@dataclass(frozen=True)
class Interval:
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive

    def __contains__(self, instant: dt.datetime) -> bool:
        return self.start <= instant < self.end


def _window_intervals(allow: AllowWindow, day: dt.date, tz: ZoneInfo) -> Iterator[Interval]:
    if day.weekday() not in allow.days:
        return
    end_day = day if allow.end > allow.start else day + dt.timedelta(days=1)  # "22:00-02:00" runs overnight
    yield Interval(first_instant(day, allow.start, tz), first_instant(end_day, allow.end, tz))


def freeze_interval(freeze: Freeze, tz: ZoneInfo) -> Interval:
    """Freeze dates are whole local days, both ends inclusive."""
    return Interval(first_instant(freeze.start, dt.time(0), tz),
                    first_instant(freeze.end + dt.timedelta(days=1), dt.time(0), tz))


def open_intervals(windows: WindowsConfig, tz: ZoneInfo, since: dt.datetime, days: int) -> list[Interval]:
    """Allowed intervals (before freezes) from the local day before `since`, merged where they touch."""
    if not windows.allow:
        return [Interval(dt.datetime.min.replace(tzinfo=UTC), dt.datetime.max.replace(tzinfo=UTC))]
    first_day = since.astimezone(tz).date() - dt.timedelta(days=1)
    spans = sorted(
        (interval for offset in range(days + 1) for allow in windows.allow
         for interval in _window_intervals(allow, first_day + dt.timedelta(days=offset), tz)),
        key=lambda i: i.start,
    )
    merged: list[Interval] = []
    for span in spans:
        if merged and span.start <= merged[-1].end:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


@dataclass(frozen=True)
class WindowState:
    now: dt.datetime  # UTC
    timezone: str
    in_window: bool
    freeze: Freeze | None  # the freeze in force now
    override: bool  # the override label is on the pull request
    next_open: dt.datetime | None  # UTC; when merging is next allowed without the override (None: now, or never)
    closes_at: dt.datetime | None  # UTC; when the current allowed period ends (None: not open, or open-ended)

    @property
    def allowed(self) -> bool:
        return self.override or (self.in_window and self.freeze is None)


def zone_problem(name: str) -> str | None:
    """Why `windows.timezone` names no IANA zone this machine knows (load_config cannot always tell)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"windows.timezone: unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
    return None


def override_active(windows: WindowsConfig | None, labels: Iterable[str]) -> bool:
    """The override label is on the pull request: the approvals check then asks one more approval per team."""
    if windows is None or not windows.override_label:
        return False
    wanted = windows.override_label.lower()
    return any(label.lower() == wanted for label in labels)


def evaluate(windows: WindowsConfig, *, now: dt.datetime, labels: Iterable[str] = (),
             tz: ZoneInfo | None = None) -> WindowState:
    """Where `now` (aware) stands: in a window, in a freeze, overridden; and when that next changes."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = tz or ZoneInfo(windows.timezone)
    now = now.astimezone(UTC)
    freezes = [(f, freeze_interval(f, tz)) for f in windows.freeze]
    frozen = next((f for f, span in freezes if now in span), None)
    intervals = open_intervals(windows, tz, now, HORIZON_DAYS)
    current = next((i for i in intervals if now in i), None)
    next_open = closes_at = None
    if current is None or frozen is not None:
        next_open = _next_allowed(intervals, [span for _, span in freezes], now)
    else:
        starts = [span.start for _, span in freezes if current.start <= span.start < current.end and span.start > now]
        end = min([current.end, *starts])
        closes_at = None if end.year == dt.MAXYEAR else end
    return WindowState(now, windows.timezone, current is not None, frozen, override_active(windows, labels),
                       next_open, closes_at)


def _next_allowed(intervals: list[Interval], freezes: list[Interval], now: dt.datetime) -> dt.datetime | None:
    for interval in intervals:
        if interval.end <= now:
            continue
        candidate = max(interval.start, now)
        moved = True
        while moved and candidate < interval.end:
            moved = False
            for span in freezes:
                if candidate in span:
                    candidate, moved = span.end, True
        if candidate < interval.end:
            return candidate
    return None


# --- rendering

def describe_allow(windows: WindowsConfig) -> list[str]:
    if not windows.allow:
        return ["any time (no `allow` windows configured)"]
    out = []
    for allow in windows.allow:
        days = ", ".join(_DAY_NAMES[d] for d in sorted(allow.days))
        out.append(f"{days} {allow.start:%H:%M}–{allow.end:%H:%M}")
    return out


def local(instant: dt.datetime, timezone: str) -> str:
    moment = instant.astimezone(ZoneInfo(timezone))
    return f"{moment:%a %Y-%m-%d %H:%M} {moment.tzname()} ({instant.astimezone(UTC):%H:%M} UTC)"


def window_check(state: WindowState, windows: WindowsConfig, *, head_sha: str,
                 details_url: str | None = None, queued: bool = False) -> CheckResult:
    """The `release-coordinator/window` check run for one pull request head. Closed is pending while a window
    will open (time alone passes it, SPEC §4), failure when none opens within the horizon; on a merge queue's
    commit (queued) closed is failure, so the queue does not hold the group until it times out."""
    tzname = windows.timezone
    if state.in_window and state.freeze is None:
        title = "Inside a release window"
        # never print `now`: the periodic re-evaluation must write nothing while nothing changed
        lead = "Merging is allowed now."
        if state.closes_at:
            lead += f" The window closes {local(state.closes_at, tzname)}."
    else:
        why = "Outside the release windows"
        if state.freeze:
            why = f"Release freeze {state.freeze.start}–{state.freeze.end}"
            why += f" ({state.freeze.reason})" if state.freeze.reason else ""
        opens = "no window opens in the next two years"
        if state.next_open:
            opens = f"next window opens {local(state.next_open, tzname)}"
        title = f"{why}; {opens.split(' (')[0]}"
        lead = f"{why}: the {opens}."
        if state.override:
            title = f"Override `{windows.override_label}`: merging allowed outside the window"
            lead += (f"\n\nThe `{windows.override_label}` label overrides the window: each owning team needs "
                     "**one more approval** than usual (see the approvals check).")
        else:
            lead += (f"\n\nIn an emergency, add the label `{windows.override_label}`: it allows the merge and asks "
                     "each owning team for one more approval.")
    rows = ["| rule | value |", "| --- | --- |", f"| timezone | {tzname} |"]
    rows += [f"| window | {text} |" for text in describe_allow(windows)]
    rows += [f"| freeze | {f.start} – {f.end}{' — ' + f.reason if f.reason else ''} |" for f in windows.freeze]
    rows.append(f"| override label | `{windows.override_label}` |")
    summary = lead + "\n\n" + "\n".join(rows)
    return CheckResult(
        name=WINDOW, head_sha=head_sha,
        conclusion=window_conclusion(state, queued=queued),
        title=title, summary=summary, details_url=details_url,
    )


def window_conclusion(state: WindowState, *, queued: bool = False) -> Conclusion:
    if state.allowed:
        return Conclusion.SUCCESS
    return Conclusion.PENDING if state.next_open is not None and not queued else Conclusion.FAILURE
