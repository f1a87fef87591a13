"""GitHub's own example payloads parse into the Event fields handlers read; signatures are checked exactly."""
import copy
import json
import pathlib

import pytest

from bot.settings import Secret
from bot.webhooks import github as gh

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "github"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_bytes())


def parse(event: str, payload: dict):
    return gh.parse(event=event, delivery_id="d-1", payload=payload)


# --- signatures: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries


def test_github_documented_signature_example_verifies():
    # The worked example on GitHub's "Validating webhook deliveries" page.
    body = b"Hello, World!"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert gh.verify(body, signature=signature, secret="It's a Secret to Everybody")
    assert gh.sign(body, secret="It's a Secret to Everybody") == signature


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", "sha256=" + "0" * 64,
     "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "sha256=é"],
)
def test_missing_or_wrong_signature_is_refused(signature):
    assert not gh.verify(b"Hello, World!", signature=signature, secret="It's a Secret to Everybody")


def test_one_changed_byte_breaks_the_signature():
    body = (FIXTURES / "pull_request" / "opened.json").read_bytes()
    signature = gh.sign(body, secret="s3cret")
    assert gh.verify(body, signature=signature, secret=Secret("s3cret"))
    assert not gh.verify(body.replace(b'"opened"', b'"closed"'), signature=signature, secret="s3cret")


def test_malformed_bodies_are_rejected_with_a_reason():
    with pytest.raises(gh.MalformedDelivery, match="not valid JSON"):
        gh.load_payload(b"{not json")
    with pytest.raises(gh.MalformedDelivery, match="not valid JSON"):
        gh.load_payload(b"\xff\xfe")
    with pytest.raises(gh.MalformedDelivery, match="JSON object"):
        gh.load_payload(b"[1, 2]")


# --- parsing real payloads


def test_pull_request_opened():
    event = parse("pull_request", load("pull_request/opened.json"))
    assert (event.forge, event.name, event.action, event.delivery_id) == ("github", "pull_request", "opened", "d-1")
    assert event.installation_id == 1
    assert event.repo == "Codertocat/Hello-World"
    assert event.default_branch == "master"
    assert (event.sender, event.sender_is_bot) == ("Codertocat", False)
    assert event.pull_number == 2
    assert event.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert event.base_ref == "master"
    assert (event.merged, event.merge_commit_sha) == (False, None)
    assert event.base_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"


def test_pull_request_events_carry_the_whole_pull_request():
    # The handlers read it instead of GET /pulls/{n}: the same parser as the REST adapter's.
    for name, fixture in (("pull_request", "pull_request/opened.json"), ("pull_request_review", "pull_request_review/submitted.json")):
        pull = parse(name, load(fixture)).pull
        assert (pull.repo, pull.number, pull.state, pull.author) == ("Codertocat/Hello-World", 2, "open", "Codertocat")
        assert (pull.head_sha, pull.base_sha) == ("ec26c3e57ca3a959ca5aad62de7213c562f8c821", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
        assert (pull.head_ref, pull.base_ref, pull.draft, pull.labels) == ("changes", "master", False, frozenset({"bug"}))
        assert pull.title == "Update the README with new information."


def test_a_pull_request_missing_a_field_is_left_for_the_api():
    payload = load("pull_request/opened.json")
    del payload["pull_request"]["head"]["sha"]
    event = parse("pull_request", payload)
    assert event.pull is None and event.pull_number == 2


def test_pull_request_labeled_names_the_label():
    assert parse("pull_request", load("pull_request/labeled.json")).label == "bug"


def test_merged_pull_request_carries_the_merge_commit():
    payload = load("pull_request/closed.json")
    assert parse("pull_request", payload).merged is False  # the example was closed without merging
    merged = copy.deepcopy(payload)
    merged["pull_request"]["merged"] = True
    event = parse("pull_request", merged)
    assert event.merged and event.merge_commit_sha == "c4295bd74fb0f4fda03689c3df3f2803b658fd85"


def test_review_submitted():
    event = parse("pull_request_review", load("pull_request_review/submitted.json"))
    assert (event.action, event.pull_number, event.base_ref) == ("submitted", 2, "master")
    assert event.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert event.label is None


def test_check_suite_requested():
    event = parse("check_suite", load("check_suite/requested.json"))
    assert (event.action, event.installation_id) == ("requested", 957387)
    assert event.head_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert event.pull_numbers == () and event.pull_number is None


def test_check_run_rerequested_lists_its_pull_requests():
    payload = load("check_run/rerequested.json")
    event = parse("check_run", payload)
    assert (event.repo, event.head_sha) == ("github/hello-world", "d6fde92930d4715a2b49857d24b940956b26d2d3")
    # The example has no pull requests; add two in GitHub's documented shape.
    with_pulls = copy.deepcopy(payload)
    with_pulls["check_run"]["pull_requests"] = [
        {"number": 7, "head": {"ref": "a", "sha": "1" * 40}, "base": {"ref": "main", "sha": "2" * 40}},
        {"number": 9, "head": {"ref": "b", "sha": "1" * 40}, "base": {"ref": "main", "sha": "2" * 40}},
    ]
    event = parse("check_run", with_pulls)
    assert event.pull_numbers == (7, 9)
    assert event.pull_number is None  # ambiguous with two
    assert event.base_ref == "main"
    assert event.check_name == payload["check_run"]["name"] and event.check_name
    assert event.pull is None  # only numbers: the handler fetches them


def test_merge_group_checks_requested():
    # Team-written from the documented merge_group fields (no upstream example payload exists).
    payload = {
        "action": "checks_requested",
        "merge_group": {
            "head_sha": "a" * 40,
            "head_ref": "refs/heads/gh-readonly-queue/main/pr-42-" + "b" * 40,
            "base_sha": "c" * 40,
            "base_ref": "refs/heads/main",
        },
        "repository": {"full_name": "acme/release", "default_branch": "main"},
        "installation": {"id": 5},
        "sender": {"login": "github-merge-queue[bot]", "type": "Bot"},
    }
    event = parse("merge_group", payload)
    assert (event.head_sha, event.base_ref, event.pull_numbers) == ("a" * 40, "main", (42,))
    assert event.base_sha == "c" * 40
    assert event.sender_is_bot


def test_comment_on_an_issue_is_not_a_pull_comment():
    event = parse("issue_comment", load("issue_comment/created.with-installation.json"))
    assert event.issue_number == 1
    assert event.pull_number is None
    assert event.comment_body == "You are totally right! I'll get this fixed right away."
    assert event.comment_author == "Codertocat"
    assert event.installation_id == 1
    assert event.comment_id == 492700400  # the same on every delivery of this comment


def test_comment_on_a_pull_request_names_the_pull():
    payload = load("issue_comment/created.json")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"}
    payload["comment"]["body"] = "/rollback release-1.5.2-2.0.9"
    event = parse("issue_comment", payload)
    assert (event.issue_number, event.pull_number) == (1, 1)
    assert event.comment_body == "/rollback release-1.5.2-2.0.9"
    assert event.installation_id is None  # the plain example is a repository webhook, not an App's


def test_push_to_a_tag_and_to_a_branch():
    payload = load("push/with-installation.json")
    event = parse("push", payload)
    assert event.action is None
    assert event.base_ref is None  # refs/tags/simple-tag is not a branch
    payload["ref"], payload["after"] = "refs/heads/main", "d" * 40
    event = parse("push", payload)
    assert (event.base_ref, event.head_sha) == ("main", "d" * 40)


@pytest.mark.parametrize("name", ["installation/created.json", "installation/deleted.json"])
def test_installation_events_have_no_repository(name):
    event = parse("installation", load(name))
    assert event.repo is None and event.installation_id in (957387, 2)


def test_ping_has_no_action():
    event = parse("ping", load("ping/payload.json"))
    assert event.action is None and event.repo == "Octocoders/Hello-World"


def test_every_copied_fixture_parses_without_error():
    for path in FIXTURES.rglob("*.json"):
        event = parse(path.parent.name, gh.load_payload(path.read_bytes()))
        assert event.name == path.parent.name


def test_wrong_types_in_a_payload_do_not_crash():
    event = parse("pull_request", {"action": 3, "pull_request": [], "repository": "x", "installation": {"id": "7"}})
    assert (event.action, event.pull_number, event.repo, event.installation_id) == (None, None, None, None)
