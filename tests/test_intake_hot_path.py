"""The cheaper pieces of the webhook path keep their meaning: redaction's one-scan fast path still catches every
shape, the cached timestamp is the one strftime gives, and in-memory counters are keyed by their labels, not by
the order a caller wrote them in."""
from __future__ import annotations

import calendar
import json
import logging
import time

import pytest

from bot import logs
from bot.journal.sqlite import SqliteJournal

SHAPES = [
    ("a PEM key", "key -----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY----- done", "MIIEabc"),
    ("an installation token", "token ghs_" + "a" * 36, "ghs_" + "a" * 36),
    ("a fine-grained PAT", "pat github_pat_" + "b" * 40, "github_pat_" + "b" * 40),
    ("a GitLab token", "glpat-" + "c" * 20, "glpat-" + "c" * 20),
    ("a JWT", "jwt eyJhbGciOi.eyJpc3MiOjE.c2ln", "eyJhbGciOi.eyJpc3MiOjE.c2ln"),
    ("a webhook signature", "sig sha256=" + "d" * 64, "d" * 64),
    ("a bearer header in capitals", "Authorization: BEARER abcdefgh12345", "abcdefgh12345"),
    ("a token header in mixed case", "Authorization: Token abcdefgh12345", "abcdefgh12345"),
    ("a registered secret", "the secret is a-registered-hot-path-secret!", "a-registered-hot-path-secret"),
]


@pytest.mark.parametrize("text, leaked", [(text, leaked) for _, text, leaked in SHAPES],
                         ids=[name for name, _, _ in SHAPES])
def test_every_secret_shape_is_redacted(text, leaked):
    logs.register_secrets(["a-registered-hot-path-secret"])
    redacted = logs.redact(text)
    assert leaked not in redacted
    assert "[REDACTED]" in redacted


def test_a_clean_delivery_line_is_left_as_it_is():
    line = json.dumps({"msg": "delivery", "outcome": "queued", "repo": "acme/infra", "delivery_id": "72d3162e"})
    assert logs.redact(line) == line


@pytest.mark.parametrize("created", [0.0, 1764756000.0005, 1764756000.9999, 1764756001.25, 1764756059.5])
def test_the_cached_timestamp_is_the_strftime_one(created):
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int((created % 1) * 1000):03d}Z"
    assert logs._timestamp(created) == expected
    # and the second after it, which must not reuse the cached second
    assert logs._timestamp(created + 1).startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created + 1)))


def test_a_json_line_carries_its_fields_and_a_parseable_timestamp():
    record = logging.LogRecord("bot.web", logging.INFO, __file__, 1, "delivery", (), None)
    record.fields = {"outcome": "queued", "number": 7, "when": object()}  # default=str for the odd value
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["msg"] == "delivery" and line["outcome"] == "queued" and line["number"] == 7
    assert line["when"].startswith("<object object")
    seconds = calendar.timegm(time.strptime(line["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert seconds == int(record.created) and line["ts"].endswith("Z")


def test_counters_with_the_same_labels_in_another_order_add_up(tmp_path):
    journal = SqliteJournal(str(tmp_path / "q.db"))
    journal.incr("deliveries_total", {"event": "push", "outcome": "queued", "forge": "github"})
    journal.incr("deliveries_total", {"forge": "github", "outcome": "queued", "event": "push"}, by=2)
    journal.incr("deliveries_total", {"event": "push", "outcome": "duplicate", "forge": "github"})
    counters = journal.counters()
    assert counters == {
        ("deliveries_total", '{"event":"push","forge":"github","outcome":"queued"}'): 3,
        ("deliveries_total", '{"event":"push","forge":"github","outcome":"duplicate"}'): 1,
    }
    journal.incr("deliveries_total", {"event": "push", "outcome": "queued", "forge": "github"})
    assert journal.counters()[("deliveries_total", '{"event":"push","forge":"github","outcome":"queued"}')] == 4
