"""GitHub deliveries, sans I/O: check X-Hub-Signature-256 and turn headers + JSON into one Event."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
from typing import Any, Mapping

from bot.model import PullRequest
from bot.forge.github_json import pull_request as parse_pull
from bot.webhooks.event import Event

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB and drops bigger ones
# https://docs.github.com/en/webhooks/webhook-events-and-payloads#payload-cap


class MalformedDelivery(ValueError):
    """The body is not a JSON object, or a required header is missing: answer 400."""


class UnsupportedMediaType(MalformedDelivery):
    """A Content-Type GitHub never sends for a webhook: answer 415."""


JSON_TYPE, FORM_TYPE = "application/json", "application/x-www-form-urlencoded"


def json_body(body: bytes, content_type: str | None) -> bytes:
    """The JSON payload of a delivery, by its Content-Type: a webhook's "Content type" is application/json, or
    application/x-www-form-urlencoded with the JSON in the `payload` field
    (https://docs.github.com/en/webhooks/using-webhooks/creating-webhooks#content-type). Anything else, a missing
    type included, is refused (415) rather than guessed at. The signature covers the raw body as sent, so this runs
    after verify()."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == JSON_TYPE:
        return body
    if media == FORM_TYPE:
        try:
            fields = urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True,
                                           max_num_fields=16)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedDelivery(f"form-encoded body is malformed: {exc}") from None
        payload = fields.get("payload")
        if not payload or len(payload) != 1:
            raise MalformedDelivery("form-encoded body must carry the JSON in exactly one `payload` field")
        return payload[0].encode()
    shown = f"got {content_type!r}" if content_type else "got none"
    raise UnsupportedMediaType(f"Content-Type must be {JSON_TYPE} or {FORM_TYPE} (the webhook's content type), {shown}")


def verify(body: bytes, *, signature: str | None, secret: str) -> bool:
    """HMAC-SHA256 of the raw body with the webhook secret, compared in constant time.

    https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    """
    if not signature or not signature.startswith("sha256=") or len(signature) != 71:
        return False
    key = secret.reveal() if hasattr(secret, "reveal") else secret
    try:
        given = bytes.fromhex(signature[len("sha256="):])
    except ValueError:
        return False
    return hmac.compare_digest(hmac.digest(key.encode(), body, "sha256"), given)


def sign(body: bytes, *, secret: str) -> str:
    """The header value GitHub would send; for tests, the benchmark and `replay`."""
    key = secret.reveal() if hasattr(secret, "reveal") else secret
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def load_payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDelivery(f"body is not valid JSON: {exc}") from None
    except RecursionError as exc:  # json nests by recursion: a body nested ~1,000 deep or more ends here
        raise MalformedDelivery(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedDelivery("body must be a JSON object")
    return payload


def number_of(payload: Mapping[str, Any]) -> int | None:
    """The pull request (or issue) a delivery is about, for its log line; None when it names none."""
    for value in (payload.get("number"), _obj(payload, "pull_request").get("number"), _obj(payload, "issue").get("number")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def peek(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(action, repository full_name): what intake needs to route and log, without building the Event."""
    action = payload.get("action")
    return (action if isinstance(action, str) else None), _str(_obj(payload, "repository").get("full_name"))


def parse(*, event: str, delivery_id: str, payload: Mapping[str, Any]) -> Event:
    """Build the Event from X-GitHub-Event, X-GitHub-Delivery and the decoded payload.

    Payload shapes: https://docs.github.com/en/webhooks/webhook-events-and-payloads
    """
    repository = _obj(payload, "repository")
    sender = _obj(payload, "sender")
    fields: dict[str, Any] = {
        "installation_id": _int(_obj(payload, "installation").get("id")),
        "repo": _str(repository.get("full_name")),
        "default_branch": _str(repository.get("default_branch")),
        "sender": _str(sender.get("login")),
        "sender_is_bot": sender.get("type") == "Bot",
    }
    fields.update(_SPECIFIC.get(event, _nothing)(payload))
    action = payload.get("action")
    return Event(
        forge="github",
        name=event,
        action=action if isinstance(action, str) else None,
        delivery_id=delivery_id,
        payload=payload,
        account=fields["installation_id"],
        **fields,
    )


def _pull_request(payload: Mapping[str, Any]) -> dict[str, Any]:
    pull = _obj(payload, "pull_request")
    return {
        "pull_number": _int(pull.get("number")) or _int(payload.get("number")),
        "head_sha": _str(_obj(pull, "head").get("sha")),
        "base_ref": _str(_obj(pull, "base").get("ref")),
        "base_sha": _str(_obj(pull, "base").get("sha")),
        "pull": _pull_of(payload),
        "merged": pull.get("merged") is True,
        "merge_commit_sha": _str(pull.get("merge_commit_sha")) if pull.get("merged") is True else None,
        "label": _str(_obj(payload, "label").get("name")),
    }


def _review(payload: Mapping[str, Any]) -> dict[str, Any]:
    fields = _pull_request(payload)
    fields.pop("label")
    return fields


def _pull_of(payload: Mapping[str, Any]) -> PullRequest | None:
    """The payload's pull request, in the base repository's name; None when the payload lacks a field."""
    repo = _str(_obj(payload, "repository").get("full_name"))
    pull = payload.get("pull_request")
    if repo is None or not isinstance(pull, dict):
        return None
    try:
        return parse_pull(repo, pull)
    except (KeyError, TypeError, AttributeError):
        return None  # a truncated or hand-made payload: the handler asks the API instead


def _check_run(payload: Mapping[str, Any]) -> dict[str, Any]:
    check = _obj(payload, "check_run")
    return {**_check(check), "check_name": _str(check.get("name"))}


def _check_suite(payload: Mapping[str, Any]) -> dict[str, Any]:
    return _check(_obj(payload, "check_suite"))


def _check(check: Mapping[str, Any]) -> dict[str, Any]:
    # pull_requests lists only PRs whose head is in this repository (not forks):
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads#check_run
    pulls = [p for p in check.get("pull_requests") or () if isinstance(p, dict)]
    numbers = tuple(n for n in (_int(p.get("number")) for p in pulls) if n is not None)
    bases = {_str(_obj(p, "base").get("ref")) for p in pulls}
    return {
        "head_sha": _str(check.get("head_sha")),
        "pull_numbers": numbers,
        "pull_number": numbers[0] if len(numbers) == 1 else None,
        "base_ref": bases.pop() if len(bases) == 1 else None,
    }


# The merge queue's temporary branch is gh-readonly-queue/<base>/pr-<number>-<sha>; it names the last
# pull request of the group. https://docs.github.com/en/webhooks/webhook-events-and-payloads#merge_group
_QUEUE_REF = re.compile(r"(?:refs/heads/)?gh-readonly-queue/.+/pr-(\d+)-[0-9a-f]+$")


def _merge_group(payload: Mapping[str, Any]) -> dict[str, Any]:
    group = _obj(payload, "merge_group")
    match = _QUEUE_REF.match(_str(group.get("head_ref")) or "")
    return {
        "head_sha": _str(group.get("head_sha")),
        "base_ref": _branch(_str(group.get("base_ref"))),
        "base_sha": _str(group.get("base_sha")),
        "pull_numbers": (int(match.group(1)),) if match else (),
    }


def _issue_comment(payload: Mapping[str, Any]) -> dict[str, Any]:
    issue = _obj(payload, "issue")
    comment = _obj(payload, "comment")
    number = _int(issue.get("number"))
    return {
        "issue_number": number,
        # Pull requests are issues; the issue carries a pull_request object then.
        # https://docs.github.com/en/rest/issues/issues#list-repository-issues
        "pull_number": number if isinstance(issue.get("pull_request"), dict) else None,
        "comment_body": _str(comment.get("body")),
        "comment_author": _str(_obj(comment, "user").get("login")),
        "comment_id": _int(comment.get("id")),
    }


# https://docs.github.com/en/webhooks/webhook-events-and-payloads#push: "The array includes a maximum of 2048
# commits"; each lists the paths it added, removed and modified.
PUSH_COMMITS_LIMIT = 2048


def _push(payload: Mapping[str, Any]) -> dict[str, Any]:
    # For push, base_ref is the branch pushed to (None for tags) and head_sha the new tip ("after").
    commits = [c for c in payload.get("commits") or () if isinstance(c, dict)]
    paths = {p for c in commits for key in ("added", "modified", "removed") for p in c.get(key) or () if isinstance(p, str)}
    return {"head_sha": _str(payload.get("after")), "base_ref": _branch(_str(payload.get("ref"))),
            "pushed_paths": frozenset(paths), "paths_truncated": len(commits) >= PUSH_COMMITS_LIMIT}


def _nothing(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {}


_SPECIFIC = {
    "pull_request": _pull_request,
    "pull_request_review": _review,
    "check_run": _check_run,
    "check_suite": _check_suite,
    "merge_group": _merge_group,
    "issue_comment": _issue_comment,
    "push": _push,
    # the promotion gate's verification signals, by the commit they report on (ENV-release)
    "status": lambda payload: {"head_sha": _str(payload.get("sha"))},
    "deployment_status": lambda payload: {"head_sha": _str(_obj(payload, "deployment").get("sha"))},
}


def _branch(ref: str | None) -> str | None:
    if ref is None:
        return None
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/"):]
    return None if ref.startswith("refs/") else ref


def _obj(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
