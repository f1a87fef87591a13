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


def test_force_writes_the_fresh_run_in_place_of_the_one_the_store_names():
    forge, store = FakeForge(), DictStore()
    publish_check(forge, REPO, result(conclusion=Conclusion.PENDING), store=store)
    [old] = forge.repos[REPO].checks
    publish_check(forge, REPO, result(conclusion=Conclusion.PENDING), store=store, force=True)
    newest = max(forge.repos[REPO].checks)
    assert forge.repos[REPO].replaced == {old: newest}  # the forge concludes the old run (Forge.replace_check)
    assert forge.calls["find_check"] == 0


def test_force_after_a_job_died_mid_write_asks_the_forge_which_run_to_replace():
    forge, store = FakeForge(), DictStore()
    publish_check(forge, REPO, result(), store=store)
    [old] = forge.repos[REPO].checks
    key = check_key(REPO, head_sha=HEAD, name=APPROVALS)
    store.set_json(key, {"id": None, "digest": None, "pending": True})  # died between the write and its record
    publish_check(forge, REPO, result(), store=store, force=True)
    assert forge.calls["find_check"] == 1 and forge.repos[REPO].replaced == {old: max(forge.repos[REPO].checks)}
    assert "pending" not in store.get_json(key)


def test_force_without_a_store_creates_without_asking():
    forge = FakeForge()
    publish_check(forge, REPO, result())
    assert publish_check(forge, REPO, result(), force=True) is True
    assert (forge.calls["create_check"], forge.calls["find_check"]) == (2, 1)


# --- publish_check(ctx, pull, result): the results record and GitLab's one summary note

import datetime as dt  # noqa: E402

from bot.core.checks import MANIFEST, Annotation, Level  # noqa: E402
from bot.handlers import Context  # noqa: E402
from bot.handlers.publish import flush_notes, results_key  # noqa: E402
from bot.model import PullRequest  # noqa: E402

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.timezone.utc)
PULL = PullRequest(repo=REPO, number=4, title="Bump", author="dave", head_sha=HEAD, head_ref="x", base_ref="main",
                   base_sha="b" * 40, state="open", html_url="https://forge.example/acme/app/4")


def ctx_for(forge, store):
    return Context(forge=forge, now=NOW, store=store)


def test_every_published_check_lands_in_the_pull_requests_results_record():
    forge, store = FakeForge(), DictStore()
    ctx = ctx_for(forge, store)
    publish_check(ctx, PULL, result())
    publish_check(ctx, PULL, CheckResult(MANIFEST, HEAD, Conclusion.SUCCESS, "Manifest unchanged", "nothing"))
    record = store.get_json(results_key("github", REPO, 4))
    assert {k: record[k] for k in ("forge", "repo", "number", "title", "html_url", "head_sha")} == {
        "forge": "github", "repo": REPO, "number": 4, "title": "Bump", "html_url": PULL.html_url, "head_sha": HEAD}
    assert record["checks"][APPROVALS]["conclusion"] == "failure"
    assert record["checks"][APPROVALS]["evaluated_at"] == NOW.isoformat()
    assert record["checks"][MANIFEST]["title"] == "Manifest unchanged"
    assert forge.calls["ensure_note"] == 0  # GitHub: the check run carries its summary


def test_gitlab_writes_one_note_per_delivery_and_edits_it_only_when_the_summary_changes():
    forge, store = FakeForge("gitlab"), DictStore()
    ctx = ctx_for(forge, store)
    publish_check(ctx, PULL, result())
    publish_check(ctx, PULL, CheckResult(MANIFEST, HEAD, Conclusion.FAILURE, "1 problem in release.yml", "see below",
                                         annotations=(Annotation("release.yml", 3, 3, Level.FAILURE, "not semver"),)))
    assert flush_notes(ctx) == 1 and forge.calls["ensure_note"] == 1
    (note,) = forge.notes(REPO, 4, topic="summary")
    assert "missing @acme/infra" in note
    assert f"[release.yml#L3](https://gitlab.com/{REPO}/-/blob/{HEAD}/release.yml#L3)" in note  # file#line link
    again = ctx_for(forge, store)  # the next delivery, same results
    publish_check(again, PULL, result())
    assert flush_notes(again) == 0 and forge.calls["ensure_note"] == 1  # nothing changed: no request at all
    changed = ctx_for(forge, store)
    publish_check(changed, PULL, result("missing @acme/infra (ivan can approve)"))
    assert flush_notes(changed) == 1
    assert len(forge.notes(REPO, 4, topic="summary")) == 1 and forge.calls["note_edits"] == 1


def test_gitlab_pending_with_a_new_reason_goes_to_the_note_not_to_a_refused_status():
    forge, store = FakeForge("gitlab"), DictStore()
    waiting = CheckResult(APPROVALS, HEAD, Conclusion.PENDING, "Waiting for @acme/infra", "0 of 1")
    ctx = ctx_for(forge, store)
    assert publish_check(ctx, PULL, waiting) is True
    flush_notes(ctx)
    later = ctx_for(forge, store)
    # GitLab answers pending -> pending with 400 (FakeForge("gitlab") raises too): no status write is attempted
    assert publish_check(later, PULL, CheckResult(APPROVALS, HEAD, Conclusion.PENDING, "Waiting for 2 teams", "0 of 2")) is False
    assert flush_notes(later) == 1 and "0 of 2" in forge.notes(REPO, 4, topic="summary")[0]
    done = ctx_for(forge, store)
    assert publish_check(done, PULL, CheckResult(APPROVALS, HEAD, Conclusion.SUCCESS, "Approved", "2 of 2")) is True
    assert forge.statuses_on(REPO, HEAD)[APPROVALS].state == "success"


def test_the_older_call_form_still_writes_without_a_record():
    forge, store = FakeForge(), DictStore()
    assert publish_check(forge, REPO, result(), store=store) is True
    assert store.get_json(results_key("github", REPO, 4)) is None
