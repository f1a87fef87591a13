"""Announcement bodies over plain data: the webhook schema of SPEC §3, Slack Block Kit, the Teams envelope."""
import json

import pytest

from bot.core.announcements import AnnouncementEvent, TargetKind
from bot.notify.render import Announcement, body_for, from_json, signature, to_json, verify

RELEASED = Announcement(
    event=AnnouncementEvent.RELEASED, forge="github", repository="acme/releases", environment="production",
    release_id="release-1.5.3-2.1.0", tag="release-1.5.3-2.1.0",
    components={"payments-app": "1.5.3", "platform-infra": "2.1.0"},
    previous={"payments-app": "1.5.2", "platform-infra": "2.1.0"},
    url="https://github.com/acme/releases/releases/tag/release-1.5.3-2.1.0",
    pull_request={"number": 7, "url": "https://github.com/acme/releases/pull/7", "title": "Release 1.5.3"},
)


def test_webhook_body_has_exactly_the_documented_keys():
    body = json.loads(body_for(TargetKind.WEBHOOK, RELEASED))
    assert set(body) == {"event", "environment", "release_id", "tag", "components", "previous", "url",
                         "pull_request", "repository", "summary"}
    assert body["event"] == "released" and body["environment"] == "production"
    assert body["components"] == {"payments-app": "1.5.3", "platform-infra": "2.1.0"}
    assert body["previous"] == {"payments-app": "1.5.2", "platform-infra": "2.1.0"}
    assert body["pull_request"]["number"] == 7
    assert body["summary"] == "Released release-1.5.3-2.1.0 to production"


def test_signature_is_hmac_sha256_of_the_exact_bytes():
    body = body_for(TargetKind.WEBHOOK, RELEASED)
    header = signature(body, secret="s3cret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify(body, header=header, secret="s3cret")
    assert not verify(body + b" ", header=header, secret="s3cret")
    assert not verify(body, header=header, secret="other")
    assert not verify(body, header=None, secret="s3cret")


def test_slack_body_is_block_kit_with_a_fallback_text():
    body = json.loads(body_for(TargetKind.SLACK, RELEASED))
    assert body["text"] == "Released release-1.5.3-2.1.0 to production"
    kinds = [block["type"] for block in body["blocks"]]
    assert kinds == ["header", "section", "context"]
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": "Released release-1.5.3-2.1.0 to production",
                                         "emoji": False}
    fields = [f["text"] for f in body["blocks"][1]["fields"]]
    assert fields == ["*payments-app*\n1.5.2 → 1.5.3", "*platform-infra*\n2.1.0"]
    assert "<https://github.com/acme/releases/releases/tag/release-1.5.3-2.1.0|release-1.5.3-2.1.0>" in \
        body["blocks"][2]["elements"][0]["text"]


def test_slack_escapes_control_characters_and_splits_fields_by_ten():
    many = Announcement(**{**RELEASED.__dict__, "components": {f"c<{i}>": "1.0.0" for i in range(12)},
                           "previous": {}, "reason": "a & b"})
    body = json.loads(body_for(TargetKind.SLACK, many))
    sections = [b for b in body["blocks"] if b["type"] == "section" and "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 2]
    assert "*c&lt;0&gt;*" in sections[0]["fields"][0]["text"]
    assert any(b.get("text", {}).get("text") == "a &amp; b" for b in body["blocks"])


def test_teams_body_is_an_adaptive_card_in_the_message_envelope():
    body = json.loads(body_for(TargetKind.TEAMS, RELEASED))
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Released release-1.5.3-2.1.0 to production"
    assert card["body"][1]["facts"] == [{"title": "payments-app", "value": "1.5.2 → 1.5.3"},
                                        {"title": "platform-infra", "value": "2.1.0"}]
    assert [a["url"] for a in card["actions"]] == [RELEASED.url, RELEASED.pull_request["url"]]


@pytest.mark.parametrize("event, environment, reason, title", [
    (AnnouncementEvent.PLAN_READY, "production", "", "Release plan ready: release-1.5.3-2.1.0 to production"),
    (AnnouncementEvent.ROLLED_BACK, "staging", "restores release-1.5.2-2.1.0", "Rolled back staging: release-1.5.3-2.1.0"),
    (AnnouncementEvent.PROMOTION_BLOCKED, "production", "e2e-staging failed",
     "Promotion of release-1.5.3-2.1.0 to production blocked"),
])
def test_titles_per_event(event, environment, reason, title):
    announcement = Announcement(**{**RELEASED.__dict__, "event": event, "environment": environment, "reason": reason})
    assert announcement.title == title
    assert json.loads(body_for(TargetKind.WEBHOOK, announcement))["event"] == event.value
    if reason:
        assert announcement.summary.endswith(f": {reason}")


def test_json_round_trip_for_the_queue():
    assert from_json(json.loads(json.dumps(to_json(RELEASED)))) == RELEASED
