"""A "Re-run" writes every check run again, unchanged or not; any other repeat of an evaluation writes nothing."""
from __future__ import annotations

from collections import Counter

from bot.core.checks import APPROVALS, MANIFEST, WINDOW, Conclusion
from bot.handlers import Context, all_handlers
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge
from tests.handlers.test_manifest import HEAD_SHA, NOW, RELEASE, pr_event, world

VALID = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"


def deliver(forge: FakeForge, store: DictStore, event: Event) -> Counter[str]:
    """Run every handler routed for event, as the worker does; the check runs written, by name."""
    before = dict(forge.repos[RELEASE].checks)
    ctx = Context(forge=forge, now=NOW, public_url="https://rc.example.com", store=store)
    for handler in all_handlers().handlers_for(event.name, event.action):
        handler(event, ctx)
    return Counter(run[1].name for check_id, run in forge.repos[RELEASE].checks.items() if before.get(check_id) != run)


def suite(action: str) -> Event:
    return Event(forge="github", name="check_suite", action=action, delivery_id=f"suite-{action}", installation_id=42,
                 repo=RELEASE, head_sha=HEAD_SHA, pull_numbers=(7,))


def rerun(name: str) -> Event:
    return Event(forge="github", name="check_run", action="rerequested", delivery_id=f"run-{name}", installation_id=42,
                 repo=RELEASE, head_sha=HEAD_SHA, pull_numbers=(7,), check_name=name)


def test_a_second_identical_pull_request_event_writes_nothing():
    forge, store = world(VALID), DictStore()
    assert deliver(forge, store, pr_event()) == {APPROVALS: 1, MANIFEST: 1, WINDOW: 1}
    calls = forge.calls.copy()
    assert deliver(forge, store, pr_event(delivery_id="d-again")) == {}
    assert forge.calls["create_check"] == calls["create_check"] and forge.calls["update_check"] == calls["update_check"]
    assert deliver(forge, store, suite("requested")) == {}  # check_suite.requested is not a Re-run


def test_re_run_all_checks_writes_each_check_run_once_though_nothing_changed():
    forge, store = world(VALID), DictStore()
    deliver(forge, store, pr_event())
    first = forge.checks_on(RELEASE, HEAD_SHA)
    creates = forge.calls["create_check"]
    assert deliver(forge, store, suite("rerequested")) == {APPROVALS: 1, MANIFEST: 1, WINDOW: 1}
    assert forge.calls["create_check"] == creates + 3 and forge.calls["update_check"] == 0  # fresh runs, per GitHub
    assert forge.checks_on(RELEASE, HEAD_SHA) == first  # the same results, written again
    assert first[MANIFEST].conclusion is Conclusion.SUCCESS
    # ...and the record of what was written follows the fresh runs: the next no-op writes nothing again
    assert deliver(forge, store, pr_event(delivery_id="d-after")) == {}


def test_re_run_of_one_check_writes_that_check_run_only():
    forge, store = world(VALID), DictStore()
    deliver(forge, store, pr_event())
    assert deliver(forge, store, rerun(MANIFEST)) == {MANIFEST: 1}
    assert deliver(forge, store, rerun(APPROVALS)) == {APPROVALS: 1}
    assert deliver(forge, store, rerun(WINDOW)) == {WINDOW: 1}
