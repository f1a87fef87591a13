"""Routing: each forge's (event, action) maps onto neutral kinds; handlers register on a kind (every forge) or on
a raw GitHub event (GitHub-only); each handler runs once per delivery."""
import pytest

from bot.routing import EVENT_KINDS, GITHUB_EVENT_KINDS, GITLAB_EVENT_KINDS, Router, kind_of
from bot.webhooks.event import KINDS, Event


@pytest.mark.parametrize("name, action, merged, kind", [
    ("pull_request", "opened", False, "pull.changed"),
    ("pull_request", "synchronize", False, "pull.changed"),
    ("pull_request", "closed", True, "pull.merged"),
    ("pull_request", "closed", False, "pull.closed"),
    ("pull_request_review", "dismissed", False, "pull.reviewed"),
    ("check_run", "rerequested", False, "pull.recheck"),
    ("check_suite", "requested", False, "pull.changed"),
    ("issue_comment", "created", False, "comment"),
    ("push", None, False, "push"),
    ("merge_group", "checks_requested", False, None),  # GitHub-only: handlers register on the raw event
    ("Merge Request Hook", "update", False, "pull.changed"),
    ("Merge Request Hook", "unapproved", False, "pull.reviewed"),
    ("Merge Request Hook", "merge", True, "pull.merged"),
    ("Push Hook", None, False, "push"),
    ("Tag Push Hook", None, False, None),
])
def test_forge_events_map_onto_neutral_kinds(name, action, merged, kind):
    assert kind_of(name, action, merged=merged) == kind


def test_every_mapped_kind_is_a_known_kind_and_the_forges_do_not_overlap():
    assert {k for kinds in EVENT_KINDS.values() for k in kinds} <= set(KINDS)
    assert not set(GITHUB_EVENT_KINDS) & set(GITLAB_EVENT_KINDS)


def test_a_github_event_without_an_explicit_kind_gets_one():
    event = Event(forge="github", name="pull_request", action="closed", delivery_id="d", merged=True, installation_id=3)
    assert (event.kind, event.account) == ("pull.merged", 3)


def test_a_kind_handler_and_a_raw_handler_both_run_once_each():
    router, ran = Router(), []

    @router.register("pull.changed")
    def neutral(event, ctx):
        ran.append("neutral")

    @router.register("pull_request", "opened")
    @router.register("pull.changed")
    def both(event, ctx):
        ran.append("both")

    github = Event(forge="github", name="pull_request", action="opened", delivery_id="d")
    gitlab = Event(forge="gitlab", name="Merge Request Hook", action="open", delivery_id="d", kind="pull.changed")
    assert router.handlers_for(github) == [both, neutral] or router.handlers_for(github) == [neutral, both]
    assert len(router.handlers_for(github)) == 2 and len(router.handlers_for(gitlab)) == 2
    assert router.accepts("pull_request", "opened") and router.accepts("Merge Request Hook", "reopen")
    assert not router.accepts("pull_request", "closed")


def test_routes_list_each_forges_events_for_app_yml_and_the_landing_page():
    router = Router()
    router.register("pull.reviewed")(lambda e, c: None)
    router.register("merge_group", "checks_requested")(lambda e, c: None)
    assert set(router.routes()) == {("merge_group", "checks_requested"), ("pull_request_review", "submitted"),
                                    ("pull_request_review", "edited"), ("pull_request_review", "dismissed")}
    assert set(router.routes("gitlab")) == {("Merge Request Hook", a) for a in ("approval", "approved", "unapproval", "unapproved")}
