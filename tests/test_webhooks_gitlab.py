"""GitLab intake: X-Gitlab-Token, delivery ids, parsing GitLab's documented payloads into Events, and the
`POST /webhooks/gitlab` answers (401/503/400/413/202) with what reaches the real SQLite queue."""
import copy
import json
import pathlib

import pytest

from bot.handlers import all_handlers
from bot.queue import Queue
from bot.settings import Secret, Settings
from bot.web import create_app
from bot.webhooks import gitlab
from bot.webhooks.github import MAX_BODY_BYTES
from bot.webhooks.gitlab import delivery_id, parse, verify
from tests.fakeforge import DictStore

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
TOKEN = "gl-hook-secret"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def with_action(action: str, **attributes) -> dict:
    """GitLab's approval hooks are merge request hooks with another object_attributes.action (no public sample)."""
    payload = copy.deepcopy(fixture("merge_request/update.json"))
    payload["object_attributes"].update(action=action, **attributes)
    return payload


def note(text: str, **attributes) -> dict:
    payload = copy.deepcopy(fixture("note/merge_request.json"))
    payload["object_attributes"].update(note=text, **attributes)
    return payload


# --- X-Gitlab-Token

def test_the_configured_token_verifies():
    assert verify(token="s3cr3t-token", secret=Secret("s3cr3t-token"))


@pytest.mark.parametrize("token", [None, "", "s3cr3t-toke", "s3cr3t-token ", "S3CR3T-TOKEN", "s3cr3t-tokén"])
def test_anything_else_is_refused(token):
    assert not verify(token=token, secret="s3cr3t-token")


# --- delivery ids: stable across GitLab's retries, distinct across hooks of one request chain

def test_idempotency_key_is_the_delivery_id():
    headers = {"Idempotency-Key": "908a6d9e-45fd-46c8-97e6-c4f350f219dd", "X-Gitlab-Event-UUID": "u-1"}
    assert delivery_id(headers, b"{}", event="Push Hook") == "908a6d9e-45fd-46c8-97e6-c4f350f219dd"


def test_without_idempotency_key_the_event_uuid_with_the_body_decides():
    headers = {"X-Gitlab-Event-UUID": "3a4b5c"}
    mr, push = b'{"object_kind": "merge_request"}', b'{"object_kind": "push"}'
    first = delivery_id(headers, mr, event="Merge Request Hook")
    assert first == delivery_id(headers, mr, event="Merge Request Hook")  # a retry: same bytes, same id
    assert first.startswith("3a4b5c:")
    assert first != delivery_id(headers, push, event="Push Hook")  # one merge fires both with one UUID


# --- parsing GitLab's documented payloads

@pytest.mark.parametrize("action, kind", [
    ("open", "pull.changed"), ("reopen", "pull.changed"), ("update", "pull.changed"),
    ("approval", "pull.reviewed"), ("approved", "pull.reviewed"), ("unapproval", "pull.reviewed"),
    ("unapproved", "pull.reviewed"), ("merge", "pull.merged"), ("close", "pull.closed"),
])
def test_merge_request_actions_map_onto_neutral_kinds(action, kind):
    event = parse(event="Merge Request Hook", delivery_id="d", payload=with_action(action))
    assert (event.forge, event.kind, event.action) == ("gitlab", kind, action)
    assert (event.repo, event.pull_number, event.base_ref) == ("test/woodpecker", 2, "master")
    assert event.head_sha == "0ab96a10266b95b4b533dcfd98738015fbe70889"
    assert event.account is None and event.installation_id is None
    assert event.pull is None  # no diff base sha in the hook: handlers read the merge request


def test_open_fixture():
    event = parse(event="Merge Request Hook", delivery_id="d", payload=fixture("merge_request/open.json"))
    assert (event.kind, event.repo, event.pull_number, event.sender) == ("pull.changed", "gitlabhq/gitlab-test", 1, "user1")
    assert event.head_sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


@pytest.mark.parametrize("oldrev", [None, "6ef047571374c96a2bf13c361efd1fb008b0063e"])
def test_update_with_or_without_new_commits_is_re_evaluated(oldrev):
    # with oldrev: new commits; without: title, labels or target branch edited. Both can change the result.
    payload = with_action("update")
    payload["object_attributes"].pop("oldrev", None)
    if oldrev:
        payload["object_attributes"]["oldrev"] = oldrev
    assert parse(event="Merge Request Hook", delivery_id="d", payload=payload).kind == "pull.changed"


def test_merge_lands_on_the_merge_commit_and_on_the_squash_commit_only_when_fast_forwarded():
    # squashed by a "Merge commit" method: the squash commit is merged with a merge commit, where the target
    # branch is (and its pipeline runs); a fast-forward method's squash has no merge commit
    merged = parse(event="Merge Request Hook", delivery_id="d",
                   payload=with_action("merge", state="merged", merge_commit_sha="m" * 40, squash_commit_sha="s" * 40))
    assert merged.merged and merged.merge_commit_sha == "m" * 40
    fast_forward = parse(event="Merge Request Hook", delivery_id="d",
                         payload=with_action("merge", state="merged", merge_commit_sha=None, squash_commit_sha="s" * 40))
    assert fast_forward.merge_commit_sha == "s" * 40
    plain = parse(event="Merge Request Hook", delivery_id="d",
                  payload=with_action("merge", state="merged", merge_commit_sha="m" * 40))
    assert plain.merge_commit_sha == "m" * 40
    closed = parse(event="Merge Request Hook", delivery_id="d", payload=with_action("close", state="closed"))
    assert (closed.kind, closed.merged, closed.merge_commit_sha) == ("pull.closed", False, None)


def test_note_on_a_merge_request_is_a_comment_with_its_text():
    event = parse(event="Note Hook", delivery_id="d", payload=note("/rollback release-1.5.2-2.0.9"))
    assert (event.kind, event.pull_number, event.issue_number) == ("comment", 1, 1)
    assert (event.comment_body, event.comment_author, event.repo) == ("/rollback release-1.5.2-2.0.9", "root", "gitlab-org/gitlab-test")
    assert event.base_ref == "markdown" and event.head_sha == "562e173be03b8ff2efb05345d12df18815438a4b"
    assert event.comment_id == 1244  # the note's id: the same on every delivery of this note


@pytest.mark.parametrize("text", ["/recheck", "  /recheck\nplease", "/recheck now"])
def test_recheck_note_is_a_re_evaluation_from_scratch(text):
    assert parse(event="Note Hook", delivery_id="d", payload=note(text)).kind == "pull.recheck"


@pytest.mark.parametrize("change", [
    {"system": True},  # "approved this merge request" and friends
    {"action": "update"},  # a note edited, e.g. our own summary note
    {"noteable_type": "Issue"},
    {"noteable_type": "Commit"},
])
def test_other_notes_route_nowhere(change):
    assert parse(event="Note Hook", delivery_id="d", payload=note("/recheck", **change)).kind is None


def test_push_to_a_branch_lists_the_paths_its_commits_touched():
    event = parse(event="Push Hook", delivery_id="d", payload=fixture("push/payload.json"))
    assert (event.kind, event.base_ref, event.head_sha) == ("push", "master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    assert "CHANGELOG" in event.pushed_paths and "app/controller/application.rb" in event.pushed_paths
    assert event.paths_truncated  # total_commits_count 4, two commits listed: GitLab cut the list


def test_a_deleted_branch_and_a_tag_push_route_nowhere():
    deleted = fixture("push/payload.json") | {"after": "0" * 40}
    assert parse(event="Push Hook", delivery_id="d", payload=deleted).kind is None
    assert parse(event="Tag Push Hook", delivery_id="d", payload=fixture("tag_push/payload.json")).kind is None


def test_project_access_token_users_are_bots():
    payload = with_action("approved")
    payload["user"]["username"] = "project_42_bot_3f9a"
    assert parse(event="Merge Request Hook", delivery_id="d", payload=payload).sender_is_bot


# --- POST /webhooks/gitlab

@pytest.fixture
def queue(tmp_path):
    return Queue(f"sqlite:///{tmp_path}/queue.db")


def client_for(queue, **settings):
    settings = Settings(gitlab_webhook_secret=Secret(TOKEN), gitlab_url="https://gitlab.example.com",
                        gitlab_token=Secret("glpat-x"), queue_url=queue.url, **settings)
    return create_app(settings, queue=queue, router=all_handlers(), store=DictStore()).test_client()


def post(client, event: str, payload, *, token=TOKEN, key="k-1", uuid="u-1", raw: bytes | None = None):
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": uuid, "Content-Type": "application/json"}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/webhooks/gitlab", data=raw if raw is not None else json.dumps(payload).encode(), headers=headers)


def queued_ids(queue):
    return [task.args[0] for task in queue.huey.pending()]


@pytest.mark.parametrize("event, payload", [
    ("Merge Request Hook", fixture("merge_request/open.json")),
    ("Merge Request Hook", fixture("merge_request/update.json")),
    ("Merge Request Hook", with_action("approved")),
    ("Merge Request Hook", with_action("unapproval")),
    ("Merge Request Hook", with_action("merge", state="merged", merge_commit_sha="m" * 40)),
    ("Note Hook", note("/rollback")),
    ("Note Hook", note("/recheck")),
    ("Push Hook", fixture("push/payload.json")),
])
def test_handled_hooks_are_journaled_once_and_answered_202(queue, event, payload):
    client = client_for(queue)
    first = post(client, event, payload)
    assert (first.status_code, first.json["status"]) == (202, "queued")
    assert queued_ids(queue) == ["k-1"]
    stored = queue.journal.claim("k-1", owner="test", now=0.0 + 10**10)
    assert stored is not None and stored.delivery.forge == "gitlab" and stored.delivery.event == event
    assert stored.delivery.body == json.dumps(payload).encode()  # the raw body, for the worker and replay
    again = post(client, event, payload, uuid="u-2")  # GitLab's retry keeps the Idempotency-Key
    assert (again.status_code, again.json["status"]) == (202, "duplicate")
    assert queued_ids(queue) == ["k-1"]


def test_without_idempotency_key_a_retry_of_the_same_event_is_a_duplicate(queue):
    client = client_for(queue)
    payload = with_action("approved")
    assert post(client, "Merge Request Hook", payload, key=None).json["status"] == "queued"
    assert post(client, "Merge Request Hook", payload, key=None).json["status"] == "duplicate"
    assert len(queued_ids(queue)) == 1


@pytest.mark.parametrize("event, payload", [
    ("Tag Push Hook", fixture("tag_push/payload.json")),
    ("Job Hook", {"object_kind": "build"}),  # (a Pipeline Hook is the promotion gate's: bot/handlers/promotion.py)
    ("Note Hook", note("looks good", noteable_type="Issue")),
    ("Merge Request Hook", with_action("unknown-new-action")),
])
def test_hooks_nobody_handles_are_202_ignored_with_nothing_queued(queue, event, payload):
    response = post(client_for(queue), event, payload)
    assert (response.status_code, response.json["status"]) == (202, "ignored")
    assert queued_ids(queue) == []


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_a_missing_or_wrong_token_is_401_and_queues_nothing(queue, token):
    response = post(client_for(queue), "Merge Request Hook", with_action("open"), token=token)
    assert response.status_code == 401 and queued_ids(queue) == []


def test_unconfigured_gitlab_is_503_naming_what_to_set(queue):
    settings = Settings(queue_url=queue.url)
    client = create_app(settings, queue=queue, router=all_handlers(), store=DictStore()).test_client()
    response = post(client, "Merge Request Hook", with_action("open"))
    assert response.status_code == 503
    assert response.json["message"] == "GitLab is not configured: set GITLAB_URL, GITLAB_TOKEN, GITLAB_WEBHOOK_SECRET"
    assert queued_ids(queue) == []


def test_token_set_but_api_access_missing_refuses_handled_hooks_with_503(queue):
    # As on GitHub: a hook the worker could not act on is refused (GitLab shows the 503 and retries), not kept
    # to end as a dead letter.
    settings = Settings(gitlab_webhook_secret=Secret(TOKEN), queue_url=queue.url)
    client = create_app(settings, queue=queue, router=all_handlers(), store=DictStore()).test_client()
    response = post(client, "Merge Request Hook", with_action("open"))
    assert (response.status_code, response.json) == (503, {
        "status": "app_not_configured", "message": "GitLab API access is missing: set GITLAB_URL, GITLAB_TOKEN"})
    assert queued_ids(queue) == [] and queue.journal.state("k-1") is None
    ignored = post(client, "Tag Push Hook", fixture("tag_push/payload.json"), key="k-2")
    assert (ignored.status_code, ignored.json["status"]) == (202, "ignored")  # nothing to run: no 503


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_is_400(queue, raw):
    response = post(client_for(queue), "Merge Request Hook", None, raw=raw)
    assert response.status_code == 400 and queued_ids(queue) == []


def test_a_missing_event_header_is_400(queue):
    response = client_for(queue).post("/webhooks/gitlab", data=b"{}", headers={"X-Gitlab-Token": TOKEN})
    assert response.status_code == 400


def test_an_oversized_body_is_413(queue):
    response = post(client_for(queue), "Merge Request Hook", None, raw=b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413 and queued_ids(queue) == []


def test_the_not_configured_message_names_every_variable():
    assert "GITLAB_WEBHOOK_SECRET" in gitlab.NOT_CONFIGURED and "GITLAB_TOKEN" in gitlab.NOT_CONFIGURED


def test_metrics_count_gitlab_deliveries_under_the_gitlab_forge(queue):
    client = client_for(queue)
    post(client, "Merge Request Hook", with_action("approved"))
    post(client, "Merge Request Hook", with_action("approved"), uuid="u-2")  # GitLab's retry
    post(client, "Merge Request Hook", with_action("approved"), token="wrong")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'release_coordinator_deliveries_total{event="Merge Request Hook",forge="gitlab",outcome="queued"} 1' in text
    assert 'release_coordinator_deliveries_total{event="Merge Request Hook",forge="gitlab",outcome="duplicate"} 1' in text
    assert 'release_coordinator_deliveries_total{event="-",forge="gitlab",outcome="bad_token"} 1' in text
