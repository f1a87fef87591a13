"""publish_check: one write per changed result, remembered in the store, and never a second run on a retry."""
from bot.core.checks import APPROVALS, CheckResult, Conclusion
from bot.forge.errors import TransientError
from bot.handlers.publish import CHECK_RECORD_TTL, check_key, publish_check
from tests.fakeforge import DictStore, FakeForge

REPO, HEAD = "acme/app", "h" * 40


def result(summary="missing @acme/infra", conclusion=Conclusion.FAILURE) -> CheckResult:
    return CheckResult(name=APPROVALS, head_sha=HEAD, conclusion=conclusion, title="t", summary=summary)


def runs(forge):
    return [r for sha, r in forge.repos[REPO].checks.values() if sha == HEAD]


def test_with_a_store_the_first_write_creates_and_repeats_ask_nothing():
    forge, store = FakeForge(), DictStore()
    assert publish_check(forge, REPO, result(), store=store) is True
    assert publish_check(forge, REPO, result(), store=store) is False
    assert dict(forge.calls) == {"create_check": 1}  # no GET of the check runs at all


def test_a_changed_result_updates_the_run_the_store_names():
    forge, store = FakeForge(), DictStore()
    publish_check(forge, REPO, result(), store=store)
    assert publish_check(forge, REPO, result("all approved", Conclusion.SUCCESS), store=store) is True
    assert (forge.calls["create_check"], forge.calls["update_check"], forge.calls["find_check"]) == (1, 1, 0)
    assert [r.conclusion for r in runs(forge)] == [Conclusion.SUCCESS]


def test_a_job_that_died_after_writing_is_retried_without_a_second_run():
    forge, store = FakeForge(), DictStore()
    real_set = store.set_json

    def set_json(key, value, **kwargs):  # the record after the write is lost, as when the worker dies right there
        if not value.get("pending"):
            raise TransientError("store down")
        real_set(key, value, **kwargs)

    store.set_json = set_json
    try:
        publish_check(forge, REPO, result(), store=store)
    except TransientError:
        pass
    store.set_json = real_set
    assert publish_check(forge, REPO, result(), store=store) is False  # the retry asks GitHub, finds its run
    assert len(runs(forge)) == 1 and forge.calls["find_check"] == 1
    assert "pending" not in store.get_json(check_key(REPO, head_sha=HEAD, name=APPROVALS))
    assert publish_check(forge, REPO, result(), store=store) is False and forge.calls["find_check"] == 1


def test_without_a_store_github_is_asked_every_time():
    forge = FakeForge()
    assert publish_check(forge, REPO, result()) is True
    assert publish_check(forge, REPO, result()) is False
    assert (forge.calls["find_check"], forge.calls["create_check"]) == (2, 1)


def test_a_record_lapses_after_30_days_and_costs_one_fresh_run_not_a_lookup():
    now = [1_700_000_000.0]
    forge, store = FakeForge(), DictStore(clock=lambda: now[0])
    publish_check(forge, REPO, result(), store=store)
    now[0] += CHECK_RECORD_TTL - 1
    assert publish_check(forge, REPO, result(), store=store) is False
    now[0] += 1
    assert publish_check(forge, REPO, result(), store=store) is True  # the record is gone: write as if new
    assert (forge.calls["create_check"], forge.calls["find_check"]) == (2, 0)
    assert publish_check(forge, REPO, result(), store=store) is False  # remembered again for 30 days


def test_force_creates_a_fresh_run_for_an_unchanged_result_and_remembers_it():
    forge, store = FakeForge(), DictStore()
    publish_check(forge, REPO, result(), store=store)
    assert publish_check(forge, REPO, result(), store=store, force=True) is True
    assert dict(forge.calls) == {"create_check": 2}
    newest = max(forge.repos[REPO].checks)
    assert store.get_json(check_key(REPO, head_sha=HEAD, name=APPROVALS))["id"] == newest
    assert publish_check(forge, REPO, result(), store=store) is False  # later no-ops still write nothing
    publish_check(forge, REPO, result("all approved", Conclusion.SUCCESS), store=store)
    assert forge.calls["update_check"] == 1 and forge.repos[REPO].checks[newest][1].conclusion is Conclusion.SUCCESS


def test_force_without_a_store_creates_without_asking():
    forge = FakeForge()
    publish_check(forge, REPO, result())
    assert publish_check(forge, REPO, result(), force=True) is True
    assert (forge.calls["create_check"], forge.calls["find_check"]) == (2, 1)
