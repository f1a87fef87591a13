"""Release windows: wall-clock windows in a zone, DST transitions, freezes and their edges, the override."""
from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.core.checks import WINDOW, Conclusion
from bot.core.config import AllowWindow, Freeze, WindowsConfig
from bot.core.windows import evaluate, first_instant, override_active, window_check

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
MON_THU = frozenset({0, 1, 2, 3})

OFFICE = WindowsConfig(
    timezone="Europe/Berlin",
    allow=(AllowWindow(MON_THU, dt.time(9), dt.time(16)),),
    freeze=(Freeze(dt.date(2026, 12, 20), dt.date(2027, 1, 4), "Holiday freeze"),),
    override_label="emergency-release",
)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def berlin(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize("now, inside", [
    (berlin(2026, 11, 30, 9, 0), True),  # Monday, opening minute
    (berlin(2026, 11, 30, 8, 59, 59), False),
    (berlin(2026, 11, 30, 15, 59, 59), True),
    (berlin(2026, 11, 30, 16, 0), False),  # end is exclusive
    (berlin(2026, 12, 4, 10, 0), False),  # Friday
    (berlin(2026, 7, 2, 9, 30), True),  # summer time: 07:30 UTC is 09:30 CEST
    (utc(2026, 7, 2, 14, 30), False),  # 16:30 CEST
    (utc(2026, 12, 3, 14, 30), True),  # 15:30 CET
])
def test_inside_window(now, inside):
    assert evaluate(OFFICE, now=now).in_window is inside


@pytest.mark.parametrize("now, frozen", [
    (berlin(2026, 12, 19, 23, 59, 59), False),
    (berlin(2026, 12, 20, 0, 0), True),  # first day inclusive, local midnight
    (utc(2026, 12, 19, 23, 30), True),  # 00:30 CET on the 20th
    (berlin(2027, 1, 4, 23, 59), True),  # last day inclusive
    (berlin(2027, 1, 5, 0, 0), False),
])
def test_freeze_edges(now, frozen):
    assert (evaluate(OFFICE, now=now).freeze is not None) is frozen


def test_freeze_wins_over_window_and_next_open_is_after_it():
    state = evaluate(OFFICE, now=berlin(2026, 12, 21, 10, 0))  # a Monday inside the hours, inside the freeze
    assert state.in_window and state.freeze.reason == "Holiday freeze" and not state.allowed
    assert state.next_open == berlin(2027, 1, 5, 9, 0)  # Tuesday after the freeze (Jan 4 is a frozen Monday)


@pytest.mark.parametrize("now, next_open", [
    (berlin(2026, 11, 30, 7, 0), berlin(2026, 11, 30, 9, 0)),
    (berlin(2026, 12, 3, 16, 0), berlin(2026, 12, 7, 9, 0)),  # Thursday close -> Monday
    (berlin(2026, 3, 26, 17, 0), berlin(2026, 3, 30, 9, 0)),  # across spring forward: 07:00 UTC, not 08:00
    (berlin(2026, 10, 22, 17, 0), berlin(2026, 10, 26, 9, 0)),  # across fall back: 08:00 UTC
])
def test_next_open_across_dst(now, next_open):
    state = evaluate(OFFICE, now=now)
    assert not state.allowed and state.next_open == next_open.astimezone(UTC)


def test_window_length_in_real_hours_changes_only_on_transition_days():
    sundays = WindowsConfig(timezone="Europe/Berlin", allow=(AllowWindow(frozenset({6}), dt.time(0), dt.time(6)),))
    march = evaluate(sundays, now=berlin(2026, 3, 29, 0, 30))  # last Sunday of March: 02:00 -> 03:00
    october = evaluate(sundays, now=berlin(2026, 10, 25, 0, 30))  # last Sunday of October: 03:00 -> 02:00
    normal = evaluate(sundays, now=berlin(2026, 6, 7, 0, 30))
    assert march.closes_at - utc(2026, 3, 28, 23, 0) == dt.timedelta(hours=5)
    assert october.closes_at - utc(2026, 10, 24, 22, 0) == dt.timedelta(hours=7)
    assert normal.closes_at - utc(2026, 6, 6, 22, 0) == dt.timedelta(hours=6)


@pytest.mark.parametrize("day, wall, expected", [
    (dt.date(2026, 3, 29), dt.time(2, 30), utc(2026, 3, 29, 1, 0)),  # never happens: the jump to 03:00 CEST
    (dt.date(2026, 3, 29), dt.time(3, 0), utc(2026, 3, 29, 1, 0)),
    (dt.date(2026, 10, 25), dt.time(2, 30), utc(2026, 10, 25, 0, 30)),  # happens twice: the first (CEST)
    (dt.date(2026, 10, 25), dt.time(3, 0), utc(2026, 10, 25, 2, 0)),
])
def test_first_instant_in_gaps_and_folds(day, wall, expected):
    assert first_instant(day, wall, BERLIN) == expected


def test_window_starting_inside_the_spring_gap_opens_at_the_jump():
    gap = WindowsConfig(timezone="Europe/Berlin", allow=(AllowWindow(frozenset({6}), dt.time(2, 30), dt.time(5)),))
    assert evaluate(gap, now=berlin(2026, 3, 29, 1, 59)).next_open == utc(2026, 3, 29, 1, 0)
    assert evaluate(gap, now=utc(2026, 3, 29, 1, 0)).in_window  # 03:00 CEST: 02:30 has passed on the wall clock


def test_overnight_window():
    nights = WindowsConfig(timezone="Europe/Berlin", allow=(AllowWindow(frozenset({4}), dt.time(22), dt.time(2)),))
    assert evaluate(nights, now=berlin(2026, 12, 5, 1, 30)).in_window  # Saturday 01:30 belongs to Friday night
    assert not evaluate(nights, now=berlin(2026, 12, 5, 2, 0)).in_window


def test_no_allow_windows_means_only_freezes_apply():
    freezes_only = WindowsConfig(timezone="UTC", freeze=OFFICE.freeze)
    assert evaluate(freezes_only, now=utc(2026, 12, 6, 3, 0)).allowed  # a Sunday night
    assert evaluate(freezes_only, now=utc(2026, 12, 24, 12, 0)).next_open == utc(2027, 1, 5)


def test_override_label_allows_and_is_case_insensitive():
    state = evaluate(OFFICE, now=berlin(2026, 12, 24, 12), labels={"Emergency-Release"})
    assert state.allowed and override_active(OFFICE, ["Emergency-Release"])
    assert not override_active(OFFICE, ["bug"]) and not override_active(None, ["emergency-release"])


def test_naive_now_is_a_bug():
    with pytest.raises(ValueError):
        evaluate(OFFICE, now=dt.datetime(2026, 12, 1, 10))


def test_check_run_says_when_the_next_window_opens():
    state = evaluate(OFFICE, now=berlin(2026, 12, 18, 17, 0))
    result = window_check(state, OFFICE, head_sha="abc")
    assert (result.name, result.conclusion) == (WINDOW, Conclusion.PENDING)  # time alone will pass it
    assert window_check(state, OFFICE, head_sha="abc", queued=True).conclusion is Conclusion.FAILURE  # merge queue
    assert result.title == "Outside the release windows; next window opens Tue 2027-01-05 09:00 CET"
    assert "add the label `emergency-release`" in result.summary
    overridden = window_check(evaluate(OFFICE, now=berlin(2026, 12, 18, 17, 0), labels={"emergency-release"}),
                              OFFICE, head_sha="abc")
    assert overridden.conclusion is Conclusion.SUCCESS and "one more approval" in overridden.summary


def test_check_run_does_not_change_while_nothing_changes():
    early = window_check(evaluate(OFFICE, now=berlin(2026, 12, 1, 10, 0)), OFFICE, head_sha="abc")
    later = window_check(evaluate(OFFICE, now=berlin(2026, 12, 1, 10, 5)), OFFICE, head_sha="abc")
    assert early == later and early.conclusion is Conclusion.SUCCESS
    assert "The window closes Tue 2026-12-01 16:00 CET" in early.summary


# Any instant, any zone with DST: the announced next opening is itself allowed, and nothing before it is.
from hypothesis import given, settings, strategies as st  # noqa: E402

SOME_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "UTC"]


@settings(max_examples=60, deadline=None)
@given(moment=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)),
       zone=st.sampled_from(SOME_ZONES))
def test_next_open_is_allowed_and_the_minute_before_is_not(moment, zone):
    windows = WindowsConfig(timezone=zone, allow=(AllowWindow(frozenset({0, 2, 6}), dt.time(2, 30), dt.time(4)),),
                            freeze=OFFICE.freeze)
    now = moment.replace(tzinfo=UTC)
    state = evaluate(windows, now=now)
    if state.allowed:
        assert state.next_open is None and state.closes_at > now
        return
    assert state.next_open > now
    at_open = evaluate(windows, now=state.next_open)
    assert at_open.allowed
    assert not evaluate(windows, now=max(now, state.next_open - dt.timedelta(minutes=1))).allowed


def test_closed_with_no_window_ahead_fails_waiting_would_never_pass():
    never = WindowsConfig(timezone="Europe/Berlin", allow=())
    state = dataclasses.replace(evaluate(OFFICE, now=berlin(2026, 12, 18, 17, 0)), next_open=None)
    assert window_check(state, OFFICE, head_sha="abc").conclusion is Conclusion.FAILURE
    assert window_check(evaluate(never, now=berlin(2026, 12, 18, 17, 0)), never, head_sha="abc").conclusion \
        is Conclusion.SUCCESS  # no allow windows: any time
