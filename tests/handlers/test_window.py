"""The window check over FakeForge, and its periodic re-evaluation when windows open and close."""
from __future__ import annotations

import datetime as dt

from bot.core.checks import WINDOW, Conclusion
from bot.forge.base import PullRequest
from bot.handlers import Context
from bot.handlers.window import REPOS_KEY, periodic, router
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge
from tests.handlers.test_manifest import BASE_SHA, HEAD_SHA, RELEASE, world

UTC = dt.timezone.utc
TUESDAY_MORNING = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 11:00 CET
TUESDAY_EVENING = dt.datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 16:00 CET: the window just closed
IN_FREEZE = dt.datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
MANIFEST = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"


def run(forge: FakeForge, now: dt.datetime, store=None, action="opened"):
    event = Event(forge="github", name="pull_request", action=action, delivery_id="d", installation_id=42,
                  repo=RELEASE, pull_number=7, head_sha=HEAD_SHA, base_ref="main")
    ctx = Context(forge=forge, now=now, store=store if store is not None else DictStore())
    for handler in router.handlers_for(event.name, event.action):
        handler(event, ctx)
    return forge.checks_on(RELEASE, HEAD_SHA).get(WINDOW)


def test_inside_window_passes_and_says_when_it_closes():
    check = run(world(MANIFEST), TUESDAY_MORNING)
    assert (check.conclusion, check.title) == (Conclusion.SUCCESS, "Inside a release window")
    assert "The window closes Tue 2026-12-01 16:00 CET (15:00 UTC)." in check.summary


def test_outside_window_is_pending_and_says_when_the_next_opens():
    check = run(world(MANIFEST), TUESDAY_EVENING)
    assert check.conclusion is Conclusion.PENDING  # waiting for time, not something to fix
    assert check.title == "Outside the release windows; next window opens Wed 2026-12-02 09:00 CET"


def test_freeze_names_its_reason_and_the_override_label_passes():
    check = run(world(MANIFEST), IN_FREEZE)
    assert check.conclusion is Conclusion.PENDING
    assert check.title.startswith("Release freeze 2026-12-20–2027-01-04 (Holiday freeze)")
    overridden = run(world(MANIFEST, labels={"emergency-release"}), IN_FREEZE)
    assert overridden.conclusion is Conclusion.SUCCESS and "one more approval" in overridden.summary


def test_label_added_rechecks():
    forge = world(MANIFEST)
    assert run(forge, IN_FREEZE).conclusion is Conclusion.PENDING
    pull = forge.repos[RELEASE].pulls[7]
    forge.repos[RELEASE].pulls[7] = PullRequest(**{**pull.__dict__, "labels": frozenset({"emergency-release"})})
    assert run(forge, IN_FREEZE, action="labeled").conclusion is Conclusion.SUCCESS


def test_pr_not_touching_the_manifest_passes_the_window_check_so_it_can_be_required():
    # SPEC §4: on the release repo the window check is posted on every pull request (GitLab too)
    result = run(world(MANIFEST, files=("README.md",)), TUESDAY_EVENING)
    assert result.conclusion is Conclusion.SUCCESS and result.title == "Manifest unchanged"


def test_periodic_flips_the_check_when_the_window_closes_and_writes_nothing_otherwise():
    forge, store = world(MANIFEST), DictStore()
    run(forge, TUESDAY_MORNING, store)
    assert store.get_json(REPOS_KEY) == {RELEASE: 42}
    contexts = lambda installation_id: Context(forge=forge, now=TUESDAY_MORNING, store=store)  # noqa: E731
    assert periodic(contexts, store, TUESDAY_MORNING + dt.timedelta(minutes=5)) == 0
    files_listed = forge.calls["list_pull_files"]
    assert periodic(contexts, store, TUESDAY_EVENING) == 1
    assert forge.checks_on(RELEASE, HEAD_SHA)[WINDOW].conclusion is Conclusion.PENDING
    assert periodic(contexts, store, TUESDAY_EVENING + dt.timedelta(minutes=5)) == 0
    assert forge.calls["list_pull_files"] == files_listed  # remembered per head sha
    assert forge.calls["update_check"] == 1


def test_periodic_forgets_repos_the_app_can_no_longer_see():
    from bot.forge.errors import NotFound

    forge, store = world(MANIFEST), DictStore()
    store.set_json(REPOS_KEY, {RELEASE: 42, "acme/gone": 43})
    forge.fail_next["list_open_pulls"] = NotFound("acme/gone")  # sorted: acme/gone is polled first
    periodic(lambda i: Context(forge=forge, now=TUESDAY_MORNING), store, TUESDAY_MORNING)
    assert store.get_json(REPOS_KEY) == {RELEASE: 42}


def test_closed_pulls_are_dropped_from_the_memory():
    forge, store = world(MANIFEST), DictStore()
    run(forge, TUESDAY_MORNING, store)
    pull = forge.repos[RELEASE].pulls[7]
    forge.repos[RELEASE].pulls[7] = PullRequest(**{**pull.__dict__, "state": "closed"})
    periodic(lambda i: Context(forge=forge, now=TUESDAY_MORNING), store, TUESDAY_EVENING)
    assert store.get_json(f"window:pulls:{RELEASE}") == {}
    assert forge.checks_on(RELEASE, HEAD_SHA)[WINDOW].conclusion is Conclusion.SUCCESS  # closed: left alone


def test_unknown_time_zone_fails_the_check_instead_of_crashing():
    from tests.handlers.test_manifest import RELEASE_CONFIG

    forge = world(MANIFEST)
    forge.add_file(RELEASE, ".github/release-coordinator.yml",
                   RELEASE_CONFIG.replace("Europe/Berlin", "Europe/Berln"), ref=BASE_SHA)
    check = run(forge, TUESDAY_MORNING)
    assert check.conclusion is Conclusion.FAILURE and check.title == "Invalid release-coordinator config"
    assert "unknown time zone 'Europe/Berln'" in check.summary


def test_merge_group_judges_the_window_with_the_queued_pull_requests_label():
    group_sha = "9" * 40
    forge = world(MANIFEST, labels={"emergency-release"})
    forge.add_file(RELEASE, ".github/release-coordinator.yml", forge.repos[RELEASE].files[BASE_SHA][".github/release-coordinator.yml"], ref=BASE_SHA)
    forge.add_file(RELEASE, "release.yml", MANIFEST, ref=group_sha)
    event = Event(forge="github", name="merge_group", action="checks_requested", delivery_id="d-3", installation_id=42,
                  repo=RELEASE, head_sha=group_sha, base_ref="main", pull_numbers=(7,),
                  base_sha=BASE_SHA)
    for handler in router.handlers_for("merge_group", "checks_requested"):
        handler(event, Context(forge=forge, now=IN_FREEZE, public_url="https://rc.example"))
    check = forge.checks_on(RELEASE, group_sha)[WINDOW]
    assert check.conclusion is Conclusion.SUCCESS and check.title.startswith("Override `emergency-release`")
    assert check.details_url == f"https://rc.example/pulls/github/{RELEASE}/7#window"  # SPEC §4: every check run links its page


def test_periodic_stops_polling_a_repo_without_open_pulls():
    forge, store = world(MANIFEST), DictStore()
    run(forge, TUESDAY_MORNING, store)
    forge.repos[RELEASE].pulls.clear()
    periodic(lambda i: Context(forge=forge, now=TUESDAY_EVENING), store, TUESDAY_EVENING)
    assert store.get_json(REPOS_KEY) == {}


class Scheduled:
    """The queue as handlers see it for timed rechecks (bot.queue.Queue.schedule_delivery), in memory."""

    def __init__(self):
        self.deliveries = {}

    def schedule_delivery(self, delivery, *, at):
        if delivery.delivery_id in self.deliveries:
            return False
        self.deliveries[delivery.delivery_id] = (delivery, at)
        return True


def test_the_check_flips_by_itself_when_the_window_closes():
    from bot.handlers.rechecks import event_of

    forge, store, jobs = world(MANIFEST), DictStore(), Scheduled()
    event = Event(forge="github", name="pull_request", action="opened", delivery_id="d", installation_id=42,
                  repo=RELEASE, pull_number=7, head_sha=HEAD_SHA, base_ref="main")
    for handler in router.handlers_for(event):
        handler(event, Context(forge=forge, now=TUESDAY_MORNING, store=store, jobs=jobs))
    assert forge.checks_on(RELEASE, HEAD_SHA)[WINDOW].conclusion is Conclusion.SUCCESS
    ((delivery, at),) = jobs.deliveries.values()
    assert at == (TUESDAY_EVENING + dt.timedelta(seconds=2)).timestamp()  # 16:00 CET, within 30 s (SPEC §4)
    assert delivery.delivery_id == f"recheck:github:{RELEASE}!7:{WINDOW}:{int(TUESDAY_EVENING.timestamp())}"
    # a second evaluation schedules nothing new (the id dedupes)
    for handler in router.handlers_for(event):
        handler(event, Context(forge=forge, now=TUESDAY_MORNING, store=store, jobs=jobs))
    assert len(jobs.deliveries) == 1
    recheck = event_of(delivery.delivery_id, delivery.body)
    assert (recheck.account, recheck.pull_number, recheck.check_name) == (42, 7, WINDOW)
    fired_at = dt.datetime.fromtimestamp(at, UTC)
    for handler in router.handlers_for(recheck):
        handler(recheck, Context(forge=forge, now=fired_at, store=store, jobs=jobs))
    check = forge.checks_on(RELEASE, HEAD_SHA)[WINDOW]
    assert check.conclusion is Conclusion.PENDING and check.title.startswith("Outside the release windows")
    # and the next opening is scheduled in turn: Wed 09:00 CET
    assert max(at for _, at in jobs.deliveries.values()) == dt.datetime(2026, 12, 2, 8, 0, 2, tzinfo=UTC).timestamp()


def test_a_recheck_for_another_check_leaves_the_window_alone():
    from bot.handlers.rechecks import Recheck, event_of

    forge = world(MANIFEST)
    recheck = Recheck("github", 42, RELEASE, 7, "release-coordinator/promotion", TUESDAY_MORNING)
    event = event_of(recheck.delivery_id, recheck.body())
    for handler in router.handlers_for(event):
        handler(event, Context(forge=forge, now=TUESDAY_MORNING, store=DictStore()))
    assert WINDOW not in forge.checks_on(RELEASE, HEAD_SHA)
