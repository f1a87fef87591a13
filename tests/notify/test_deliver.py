"""Announcements delivered from the queue to a real HTTP receiver on 127.0.0.1: signatures, retries on 5xx with
Retry-After honoured, giving up into a dead letter, a dead receiver never touching another one."""
import datetime
import json
import re
import time

import pytest

from bot import metrics
from bot.core.announcements import AnnouncementEvent, Target, TargetKind
from bot.journal import State
from bot.notify import deliver
from bot.notify.render import SIGNATURE_HEADER, Announcement, verify
from bot.queue import Queue, RetryPolicy
from bot.settings import Settings

ANNOUNCEMENT = Announcement(
    event=AnnouncementEvent.RELEASED, forge="github", repository="acme/releases", environment="production",
    release_id="release-1.5.3-2.1.0", tag="release-1.5.3-2.1.0", components={"payments-app": "1.5.3"},
    previous={"payments-app": "1.5.2"}, url="https://github.com/acme/releases/releases/tag/release-1.5.3-2.1.0",
)
WEBHOOK = Target(TargetKind.WEBHOOK, url_env="RELEASE_HOOK_URL", secret_env="RELEASE_HOOK_SECRET",
                 on=frozenset(AnnouncementEvent))
SLACK = Target(TargetKind.SLACK, url_env="SLACK_WEBHOOK_URL")
TEAMS = Target(TargetKind.TEAMS, url_env="TEAMS_WEBHOOK_URL")


def queue_with(tmp_path, env, *, attempts=3) -> Queue:
    queue = Queue(f"sqlite:///{tmp_path}/queue.db", namespace="notify-test",
                  retry=RetryPolicy(attempts=attempts, base_seconds=0.01))
    deliver.install(queue, Settings.from_env(env))
    return queue


def run_next(queue: Queue) -> None:
    task = queue.huey.dequeue()
    queue.huey.execute(task, timestamp=task.eta)  # as the consumer does once a scheduled retry is due


def test_webhook_is_signed_with_the_secret_from_the_environment(tmp_path, receiver):
    queue = queue_with(tmp_path, {"RELEASE_HOOK_URL": receiver.url, "RELEASE_HOOK_SECRET": "hook-secret"})
    assert deliver.announce(queue, (WEBHOOK,), ANNOUNCEMENT) == 1
    run_next(queue)
    (got,) = receiver.received
    assert verify(got.body, header=got.headers[SIGNATURE_HEADER.lower()], secret="hook-secret")
    assert got.headers["content-type"].startswith("application/json")
    body = got.json()
    assert (body["event"], body["release_id"], body["components"]) == ("released", "release-1.5.3-2.1.0",
                                                                       {"payments-app": "1.5.3"})


def test_a_job_carries_variable_names_never_the_url_or_secret():
    class Recorder:
        payloads = []

        def submit_job(self, kind, job_id, payload):
            self.payloads.append((kind, job_id, json.dumps(payload)))
            return True

    jobs = Recorder()
    deliver.announce(jobs, (WEBHOOK,), ANNOUNCEMENT)
    ((kind, job_id, text),) = jobs.payloads
    assert kind == "announce" and job_id.startswith("released:release-1.5.3-2.1.0:")
    assert json.loads(text)["target"] == {"kind": "webhook", "url_env": "RELEASE_HOOK_URL",
                                          "secret_env": "RELEASE_HOOK_SECRET"}


def test_slack_and_teams_receive_their_shapes(tmp_path, receiver):
    queue = queue_with(tmp_path, {"SLACK_WEBHOOK_URL": receiver.url + "/slack", "TEAMS_WEBHOOK_URL": receiver.url + "/teams"})
    assert deliver.announce(queue, (SLACK, TEAMS), ANNOUNCEMENT) == 2
    run_next(queue)
    run_next(queue)
    by_path = {r.path: r.json() for r in receiver.received}
    assert by_path["/hook/slack"]["blocks"][0]["type"] == "header"
    assert by_path["/hook/teams"]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert all(SIGNATURE_HEADER.lower() not in r.headers for r in receiver.received)


def test_a_500_is_retried_after_retry_after_then_delivered_once(tmp_path, receiver):
    receiver.script = [(500, {"Retry-After": "30"})]
    queue = queue_with(tmp_path, {"SLACK_WEBHOOK_URL": receiver.url})
    deliver.announce(queue, (SLACK,), ANNOUNCEMENT)
    run_next(queue)
    (job_id,) = [d for d in _ids(queue)]
    assert queue.journal.state(job_id) is State.QUEUED
    scheduled = queue.huey.dequeue()
    wait = (scheduled.eta - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).total_seconds()
    assert 25 < wait <= 30  # Retry-After honoured over the 0.01 s backoff
    queue.huey.execute(scheduled, timestamp=scheduled.eta)
    assert queue.journal.state(job_id) is State.DONE
    assert len(receiver.received) == 2 and receiver.received[0].body == receiver.received[1].body
    counters = queue.journal.counters()
    assert counters[("announcements_total", '{"kind":"slack","outcome":"retry"}')] == 1
    assert counters[("announcements_total", '{"kind":"slack","outcome":"sent"}')] == 1


def test_a_dead_receiver_is_given_up_into_a_dead_letter_and_counted(tmp_path, receiver):
    receiver.script = [(503, {})] * 5
    queue = queue_with(tmp_path, {"SLACK_WEBHOOK_URL": receiver.url}, attempts=3)
    deliver.announce(queue, (SLACK,), ANNOUNCEMENT)
    for _ in range(3):
        time.sleep(0.03)
        run_next(queue)
    (letter,) = queue.journal.dead_letters()
    assert letter.event == deliver.JOB_KIND and letter.attempts == 3
    assert "slack receiver answered 503 (gave up after 3 attempts)" in letter.error
    assert len(receiver.received) == 3
    text = metrics.render(queue.journal.counters(), depth=queue.depth(), dead_letters=1)
    assert re.search(r'^release_coordinator_jobs_failed_total\{event="announce"[^}]*\} 1$', text, re.MULTILINE)
    assert 'release_coordinator_announcements_total{kind="slack",outcome="retry"} 3' in text


def test_an_unreachable_receiver_is_retried_not_lost(tmp_path):
    queue = queue_with(tmp_path, {"SLACK_WEBHOOK_URL": "http://127.0.0.1:9/closed"}, attempts=2)
    deliver.announce(queue, (SLACK,), ANNOUNCEMENT)
    run_next(queue)
    (job_id,) = _ids(queue)
    assert queue.journal.state(job_id) is State.QUEUED


@pytest.mark.parametrize("env, error", [
    ({}, "SLACK_WEBHOOK_URL is not set in the app's environment"),
    ({"SLACK_WEBHOOK_URL": "ftp://example.com"}, "SLACK_WEBHOOK_URL does not hold an http(s) URL"),
])
def test_a_missing_or_bad_variable_is_a_dead_letter_at_once(tmp_path, env, error):
    queue = queue_with(tmp_path, env)
    deliver.announce(queue, (SLACK,), ANNOUNCEMENT)
    run_next(queue)
    (letter,) = queue.journal.dead_letters()
    assert error in letter.error and letter.attempts == 1


def test_a_config_cannot_read_the_apps_own_secrets(tmp_path, receiver):
    sneaky = Target(TargetKind.WEBHOOK, url_env="RELEASE_HOOK_URL", secret_env="GITHUB_WEBHOOK_SECRET")
    queue = queue_with(tmp_path, {"RELEASE_HOOK_URL": receiver.url, "GITHUB_WEBHOOK_SECRET": "app-secret"})
    deliver.announce(queue, (sneaky,), ANNOUNCEMENT)
    run_next(queue)
    (letter,) = queue.journal.dead_letters()
    assert "GITHUB_WEBHOOK_SECRET is not set" in letter.error and receiver.received == []


def test_a_4xx_is_not_retried(tmp_path, receiver):
    receiver.script = [(404, {})]
    queue = queue_with(tmp_path, {"SLACK_WEBHOOK_URL": receiver.url})
    deliver.announce(queue, (SLACK,), ANNOUNCEMENT)
    run_next(queue)
    (letter,) = queue.journal.dead_letters()
    assert "answered 404" in letter.error and len(receiver.received) == 1


def test_announcing_again_submits_nothing_and_targets_filter_events_and_environments(tmp_path, receiver):
    queue = queue_with(tmp_path, {"SLACK_WEBHOOK_URL": receiver.url})
    staging_only = Target(TargetKind.SLACK, url_env="SLACK_WEBHOOK_URL", environments=frozenset({"staging"}))
    plan_only = Target(TargetKind.SLACK, url_env="SLACK_WEBHOOK_URL", on=frozenset({AnnouncementEvent.PLAN_READY}))
    assert deliver.announce(queue, (SLACK, staging_only, plan_only), ANNOUNCEMENT) == 1
    assert deliver.announce(queue, (SLACK, staging_only, plan_only), ANNOUNCEMENT) == 0  # a replay
    assert deliver.announce(None, (SLACK,), ANNOUNCEMENT) == 0  # no queue (CLI): nothing


def test_retry_after_as_an_http_date():
    now = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.timezone.utc).timestamp()
    assert deliver.retry_after_seconds("Thu, 03 Dec 2026 10:01:00 GMT", now=now) == 60
    assert deliver.retry_after_seconds("120", now=now) == 120
    assert deliver.retry_after_seconds("soon", now=now) is None


def _ids(queue):
    conn = queue.journal._db.get()
    return [row[0] for row in conn.execute("select id from rc_deliveries where forge = 'job'")]


def test_metrics_endpoint_shows_announcements_and_their_dead_letters(tmp_path, receiver):
    from bot.web import create_app

    receiver.script = [(500, {})] * 3
    env = {"SLACK_WEBHOOK_URL": receiver.url, "GITHUB_WEBHOOK_SECRET": "s"}
    queue = queue_with(tmp_path, env, attempts=2)
    deliver.announce(queue, (SLACK,), ANNOUNCEMENT)
    for _ in range(2):
        time.sleep(0.03)
        run_next(queue)
    text = create_app(Settings.from_env(env), queue=queue).test_client().get("/metrics").get_data(as_text=True)
    assert 'release_coordinator_announcements_total{kind="slack",outcome="retry"} 2' in text
    assert re.search(r'^release_coordinator_jobs_failed_total\{event="announce"[^}]*\} 1$', text, re.MULTILINE)
    assert "release_coordinator_dead_letters 1" in text
