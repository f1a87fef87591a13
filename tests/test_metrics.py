"""/metrics is valid Prometheus text: HELP/TYPE once per family, escaped label values, gauges for the queue."""
import json

from bot.metrics import _HELP, render


def labels(**kw):
    return json.dumps(kw, sort_keys=True, separators=(",", ":"))


def test_counters_and_gauges_render_in_the_text_format():
    text = render({("deliveries_total", labels(event="pull_request", outcome="queued")): 3,
                   ("jobs_done_total", labels(event="pull_request")): 2},
                  depth={"queued": 4, "scheduled": 1}, dead_letters=2)
    lines = text.splitlines()
    assert 'release_coordinator_deliveries_total{event="pull_request",outcome="queued"} 3' in lines
    assert 'release_coordinator_jobs_done_total{event="pull_request"} 2' in lines
    assert 'release_coordinator_queue_depth{state="queued"} 4' in lines
    assert 'release_coordinator_queue_depth{state="scheduled"} 1' in lines
    assert "release_coordinator_dead_letters 2" in lines
    assert text.endswith("\n")
    types = [line for line in lines if line.startswith("# TYPE")]
    assert len(types) == len({t.split()[2] for t in types}) == len(_HELP) + 2  # each counter, queue_depth, dead_letters


def test_label_values_are_escaped():
    text = render({("deliveries_total", labels(event='a"b\\c\nd', outcome="x")): 1}, depth={}, dead_letters=0)
    assert 'event="a\\"b\\\\c\\nd"' in text


def test_every_sample_line_names_a_declared_family():
    text = render({("jobs_failed_total", labels(event="push")): 1}, depth={"queued": 0}, dead_letters=0)
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    for line in text.splitlines():
        if not line.startswith("#"):
            assert line.split("{")[0].split()[0] in declared
