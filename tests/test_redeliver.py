"""Redelivery of failed GitHub deliveries (bot.redeliver): the decision as a table, the HTTP conversation with
GitHub over `responses` (JWT, cursor pagination, look-back window, 422/5xx/429), idempotence, the queue job and
/metrics. Nothing leaves the machine."""
from __future__ import annotations

import datetime as dt
import json
import time

import jwt as pyjwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot import metrics, redeliver
from bot.forge.errors import RateLimited, TransientError
from bot.journal import Delivery
from bot.queue import Queue
from bot.redeliver import Attempt, Redeliverer, decide
from bot.settings import Secret, Settings
from bot.store import open_store

API = "https://api.github.com"
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc).timestamp()
LIST = f"{API}/app/hook/deliveries"
query = responses.matchers.query_param_matcher


def iso(seconds_ago: float) -> str:
    return dt.datetime.fromtimestamp(NOW - seconds_ago, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(id: int, guid: str, *, ago: float, code: int, status: str | None = None, event: str = "pull_request"):
    status = status if status is not None else ("OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
                                                if code else "timed out")
    return {"id": id, "guid": guid, "delivered_at": iso(ago), "redelivery": False, "duration": 0.3,
            "status": status, "status_code": code, "event": event, "action": "opened", "installation_id": 7,
            "repository_id": 9}


def attempt(id: int, guid: str, *, ago: float, code: int, status: str | None = None) -> Attempt:
    return Attempt.from_json(row(id, guid, ago=ago, code=code, status=status))


DECISIONS = {
    "a 503 never accepted is redelivered": ([attempt(1, "g", ago=60, code=503)], set(), set(), "redeliver"),
    "no answer at all (timeout) is redelivered": ([attempt(1, "g", ago=60, code=0)], set(), set(), "redeliver"),
    "a 401 (wrong secret then) is redelivered": ([attempt(1, "g", ago=60, code=401)], set(), set(), "redeliver"),
    "our 202 is a success": ([attempt(1, "g", ago=60, code=202, status="OK")], set(), set(), "succeeded"),
    "a later successful redelivery settles it": (
        [attempt(2, "g", ago=30, code=202), attempt(1, "g", ago=60, code=500)], set(), set(), "succeeded"),
    "GitHub timed out but the journal has it": ([attempt(1, "g", ago=60, code=0)], {"g"}, set(), "accepted"),
    "asked for already": ([attempt(1, "g", ago=60, code=502)], set(), {"g"}, "asked"),
}


@pytest.mark.parametrize("attempts, accepted, asked, reason", DECISIONS.values(), ids=DECISIONS.keys())
def test_decide(attempts, accepted, asked, reason) -> None:
    [decision] = decide(attempts, accepted=accepted.__contains__, asked=asked.__contains__)
    assert decision.reason == reason and decision.guid == "g"


def test_decide_redelivers_the_newest_failed_attempt_oldest_guid_first() -> None:
    decisions = decide([attempt(5, "b", ago=10, code=500), attempt(4, "a", ago=20, code=500),
                        attempt(3, "a", ago=40, code=0)], accepted=lambda g: False, asked=lambda g: False)
    assert [(d.guid, d.id, d.reason) for d in decisions] == [("a", 4, "redeliver"), ("b", 5, "redeliver")]


@pytest.fixture
def queue(tmp_path):
    return Queue(f"sqlite:///{tmp_path}/queue.db")


@pytest.fixture
def store(tmp_path, queue):
    return open_store(f"sqlite:///{tmp_path}/queue.db")


def make(queue, store, **kwargs) -> Redeliverer:
    return Redeliverer(api_url=API, jwt=lambda: "app-jwt", journal=queue.journal, store=store,
                       count=queue.journal.incr, clock=lambda: NOW, **kwargs)


def accept(queue, guid: str) -> None:
    assert queue.submit(Delivery(guid, "github", "pull_request", "opened", "acme/app", b"{}", NOW))


def counters(queue) -> dict:
    queue.journal.flush_counters() if hasattr(queue.journal, "flush_counters") else None
    return {(name, json.loads(labels)["outcome"]): value for (name, labels), value in queue.journal.counters().items()
            if name.startswith("redeliver")}


@responses.activate
def test_scan_follows_the_cursor_and_redelivers_only_what_the_journal_never_accepted(queue, store) -> None:
    accept(queue, "accepted-but-github-timed-out")
    page_2 = f"{LIST}?per_page=100&cursor=v1_2"
    responses.get(LIST, match=[query({"per_page": "100"})],
                  json=[row(105, "ok", ago=60, code=202), row(104, "lost-503", ago=120, code=503),
                        row(103, "accepted-but-github-timed-out", ago=200, code=0)],
                  headers={"Link": f'<{page_2}>; rel="next"'})
    responses.get(page_2, json=[row(102, "lost-timeout", ago=3600, code=0),
                                row(101, "too-old", ago=redeliver.WINDOW_SECONDS + 60, code=500)],
                  headers={"Link": f'<{LIST}?per_page=100&cursor=v1_3>; rel="next"'})  # never followed: window ends
    posts = [responses.post(f"{LIST}/{id}/attempts", status=202, json={}) for id in (104, 102)]
    scan = make(queue, store).scan(full=True)
    assert scan.pages == 2 and scan.complete
    assert sorted(scan.requested) == ["lost-503", "lost-timeout"]
    assert scan.skipped == {"succeeded": 1, "accepted": 1}
    assert [p.call_count for p in posts] == [1, 1]
    for call in responses.calls:
        assert call.request.headers["Authorization"] == "Bearer app-jwt"
        assert call.request.headers["Accept"] == "application/vnd.github+json"
    assert len(responses.calls) == 4  # two pages, two redeliveries; the third page is older than the window
    assert counters(queue)[("redeliveries_total", "requested")] == 2
    assert counters(queue)[("redelivery_scans_total", "complete")] == 1


@responses.activate
def test_a_second_scan_asks_nothing_twice(queue, store) -> None:
    responses.get(LIST, json=[row(104, "lost", ago=120, code=503)])
    post = responses.post(f"{LIST}/104/attempts", status=202)
    assert make(queue, store).scan(full=True).requested == ["lost"]
    again = make(queue, store).scan(full=True)
    assert again.requested == [] and again.skipped == {"asked": 1}
    assert post.call_count == 1


@responses.activate
def test_a_periodic_scan_reads_back_only_to_the_previous_scan(queue, store) -> None:
    responses.get(LIST, match=[query({"per_page": "100"})], json=[row(3, "new", ago=30, code=500)],
                  headers={"Link": f'<{LIST}?cursor=x>; rel="next"'})
    older_page = responses.get(LIST, match=[query({"cursor": "x"})], json=[row(2, "old", ago=4000, code=500)])
    responses.post(f"{LIST}/3/attempts", status=202)
    responses.post(f"{LIST}/2/attempts", status=202)
    store.set_json(redeliver.CURSOR_KEY, NOW - 60)  # the previous scan ended a minute ago
    scan = make(queue, store).scan(full=False)
    assert scan.requested == ["new"] and older_page.call_count == 1  # the page is read, its old rows are not used
    assert store.get_json(redeliver.CURSOR_KEY) == NOW
    full = make(queue, store).scan(full=True)  # at start: the whole window, whatever the cursor says
    assert full.requested == ["old"]


@responses.activate
def test_github_refusing_a_redelivery_is_remembered_and_counted(queue, store) -> None:
    responses.get(LIST, json=[row(104, "gone", ago=120, code=503)])
    post = responses.post(f"{LIST}/104/attempts", status=422, json={"message": "Validation Failed"})
    scan = make(queue, store).scan(full=True)
    assert list(scan.refused) == ["gone"] and "422" in scan.refused["gone"]
    assert make(queue, store).scan(full=True).skipped == {"asked": 1}
    assert post.call_count == 1
    assert counters(queue)[("redeliveries_total", "refused")] == 1


@responses.activate
def test_a_server_error_stops_the_scan_for_a_retry_and_remembers_nothing(queue, store) -> None:
    responses.get(LIST, json=[row(104, "lost", ago=120, code=503)])
    responses.post(f"{LIST}/104/attempts", status=502, json={"message": "Bad Gateway"})
    with pytest.raises(TransientError):
        make(queue, store).scan(full=True)
    assert store.get_json(redeliver.ASKED_KEY.format(guid="lost")) is None
    assert store.get_json(redeliver.CURSOR_KEY) is None


@responses.activate
def test_a_rate_limit_carries_retry_after(queue, store) -> None:
    responses.get(LIST, status=429, headers={"Retry-After": "120"}, json={"message": "rate limit"})
    with pytest.raises(RateLimited) as caught:
        make(queue, store).scan(full=True)
    assert caught.value.retry_after == 120


@responses.activate
def test_a_scan_is_bounded_in_pages(queue, store, monkeypatch) -> None:
    monkeypatch.setattr(redeliver, "MAX_PAGES", 2)
    for page in range(3):
        responses.get(LIST, match=[query({"per_page": "100"} if page == 0 else {"cursor": str(page)})],
                      json=[row(page, f"ok-{page}", ago=10 + page, code=202)],
                      headers={"Link": f'<{LIST}?cursor={page + 1}>; rel="next"'})
    scan = make(queue, store).scan(full=True)
    assert scan.pages == 2 and not scan.complete
    assert store.get_json(redeliver.CURSOR_KEY) is None  # an incomplete scan does not move the cursor


PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
).decode()


@responses.activate
def test_install_queues_a_start_scan_that_runs_as_a_job_with_the_apps_jwt(queue, store) -> None:
    settings = Settings(github_app_id=4242, github_private_key=Secret(PEM), github_webhook_secret=Secret("s"),
                        queue_url=queue.url)
    redeliver.install(queue, settings, store)
    assert redeliver.JOB_KIND in queue.jobs
    slot = int(time.time() // 300)
    job_id = f"{redeliver.JOB_KIND}:start-{slot}"
    if queue.journal.state(job_id) is None:  # the slot turned between install and this line
        job_id = f"{redeliver.JOB_KIND}:start-{slot - 1}"
    claim = queue.journal.claim(job_id, owner="test", now=time.time())
    assert json.loads(claim.delivery.body) == {"full": True}
    responses.get(LIST, json=[])
    outcome = queue.jobs[redeliver.JOB_KIND](claim)
    assert outcome.done == (redeliver.JOB_KIND,) and not outcome.failed and not outcome.transient
    token = responses.calls[0].request.headers["Authorization"].removeprefix("Bearer ")
    public = serialization.load_pem_private_key(PEM.encode(), None).public_key()
    assert pyjwt.decode(token, public, algorithms=["RS256"])["iss"] == "4242"


@responses.activate
def test_the_job_retries_on_a_transient_error(queue, store) -> None:
    settings = Settings(github_app_id=1, github_private_key=Secret(PEM), queue_url=queue.url)
    redeliver.install(queue, settings, store)
    [job_id] = [f"{redeliver.JOB_KIND}:start-{s}" for s in (int(time.time() // 300), int(time.time() // 300) - 1)
                if queue.journal.state(f"{redeliver.JOB_KIND}:start-{s}") is not None]
    responses.get(LIST, status=503, json={"message": "unavailable"})
    outcome = queue.jobs[redeliver.JOB_KIND](queue.journal.claim(job_id, owner="t", now=time.time()))
    assert list(outcome.transient) == [redeliver.JOB_KIND]


def test_install_does_nothing_without_an_app(queue, store) -> None:
    redeliver.install(queue, Settings(queue_url=queue.url), store)
    assert redeliver.JOB_KIND not in queue.jobs


def test_metrics_describe_the_redelivery_counters() -> None:
    text = metrics.render({("redeliveries_total", json.dumps({"outcome": "requested"})): 3,
                           ("redelivery_scans_total", json.dumps({"outcome": "complete"})): 1},
                          depth={"queued": 0, "scheduled": 0}, dead_letters=0)
    assert "# TYPE release_coordinator_redeliveries_total counter" in text
    assert 'release_coordinator_redeliveries_total{outcome="requested"} 3' in text
    assert 'release_coordinator_redelivery_scans_total{outcome="complete"} 1' in text
