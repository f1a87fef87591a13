"""The operator's commands: dead-letters lists and re-queues; replay runs a saved payload through the handlers."""
import json
import pathlib
import time

import pytest

from bot import logs
from bot.cli import main
from bot.journal import Delivery, State
from bot.queue import Outcome, Queue

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "github"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setattr(logs, "configure", lambda *a, **k: None)  # keep pytest's log capture in place
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH", "GITHUB_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path}/queue.db"
    monkeypatch.setenv("QUEUE_URL", url)
    return url


def make_dead_letter(url: str, delivery_id: str) -> Queue:
    queue = Queue(url, runner=lambda claim: Outcome(failed={"bot.handlers.release.on_merged": "Conflict: tag exists elsewhere"}))
    body = (FIXTURES / "pull_request" / "closed.json").read_bytes()
    queue.submit(Delivery(delivery_id, "github", "pull_request", "closed", "Codertocat/Hello-World", body, time.time()))
    queue.huey.execute(queue.huey.dequeue())
    return queue


def test_dead_letters_lists_id_event_and_error(env, capsys):
    make_dead_letter(env, "dl-1")
    assert main(["dead-letters"]) == 0
    out = capsys.readouterr().out
    assert "dl-1  pull_request.closed  Codertocat/Hello-World  attempts=1" in out
    assert "bot.handlers.release.on_merged: Conflict: tag exists elsewhere" in out
    assert main(["dead_letters", "--json"]) == 0
    (letter,) = json.loads(capsys.readouterr().out)
    assert (letter["delivery_id"], letter["event"], letter["action"]) == ("dl-1", "pull_request", "closed")


def test_dead_letters_requeue(env, capsys):
    queue = make_dead_letter(env, "dl-2")
    assert main(["dead-letters", "--requeue", "dl-2"]) == 0
    assert "queued again" in capsys.readouterr().out
    assert queue.journal.state("dl-2") is State.QUEUED and queue.depth()["queued"] == 1
    assert main(["dead-letters", "--requeue", "dl-2"]) == 1
    assert "no dead letter" in capsys.readouterr().out


def test_no_dead_letters(env, capsys):
    assert main(["dead-letters"]) == 0
    assert capsys.readouterr().out == "no dead letters\n"


def test_replay_dry_run_prints_the_event_and_its_handlers(env, capsys):
    path = FIXTURES / "pull_request" / "opened.json"
    assert main(["replay", str(path), "--event", "pull_request", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  pull_number: 2" in out and "  repo: Codertocat/Hello-World" in out
    assert "bot.handlers.approvals." in out  # SPEC §4: approvals re-evaluate on opened


def test_replay_dry_run_writes_nothing(env, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUEUE_URL")  # the default, var/queue.db under the current directory
    assert main(["replay", str(FIXTURES / "pull_request" / "opened.json"), "--event", "pull_request", "--dry-run"]) == 0
    assert "bot.handlers.approvals." in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no var/queue.db


def test_replay_of_an_ignored_event_says_so(env, capsys):
    assert main(["replay", str(FIXTURES / "ping" / "payload.json"), "--event", "ping"]) == 0
    assert "handlers: none (the app ignores this event)" in capsys.readouterr().out


def test_replay_without_app_credentials_reports_each_handler_failed(env, capsys):
    assert main(["replay", str(FIXTURES / "pull_request" / "opened.json"), "--event", "pull_request"]) == 1
    out = capsys.readouterr().out
    assert "failed bot.handlers.approvals." in out and "GitHub App is not configured" in out


def test_replay_of_a_broken_file_is_a_usage_error(env, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["replay", str(bad), "--event", "push"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_replay_of_a_gitlab_hook_parses_it_as_gitlab_and_names_what_is_missing(env, monkeypatch, capsys):
    for name in ("GITLAB_URL", "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    path = FIXTURES.parent / "gitlab" / "merge_request" / "open.json"
    assert main(["replay", str(path), "--event", "Merge Request Hook"]) == 1
    out = capsys.readouterr().out
    assert "  forge: gitlab" in out and "  kind: pull.changed" in out and "  repo: gitlabhq/gitlab-test" in out
    assert "failed bot.handlers.approvals." in out and "set GITLAB_URL, GITLAB_TOKEN" in out


def test_replay_with_an_installation_id_acts_for_that_account(env, capsys):
    path = FIXTURES / "pull_request" / "opened.json"
    assert main(["replay", str(path), "--event", "pull_request", "--installation", "9", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  installation_id: 9" in out and "  account: 9" in out
