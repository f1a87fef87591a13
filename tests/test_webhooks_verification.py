"""GitHub's documented status and deployment_status payloads parse to the commit they report on, and a signed
delivery of each is accepted and re-evaluates the promotions waiting on that commit (and costs nothing else)."""
from __future__ import annotations

import json
import pathlib

from bot.handlers.promotion import router, waiting_key
from bot.webhooks import github as github_webhooks

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "github"


def _parse(event: str, fixture: str):
    payload = json.loads((FIXTURES / fixture).read_bytes())
    return github_webhooks.parse(event=event, delivery_id="d", payload=payload), payload


def test_a_status_names_its_commit():
    event, payload = _parse("status", "status/payload.with-installation.json")
    assert (event.name, event.repo, event.head_sha, event.installation_id) == (
        "status", "Codertocat/Hello-World", payload["sha"], 1)
    assert router.handlers_for(event)  # routed: the intake queues it


def test_a_deployment_status_names_its_deployments_commit():
    event, payload = _parse("deployment_status", "deployment_status/created.with-installation.json")
    assert event.head_sha == payload["deployment"]["sha"] == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert router.handlers_for(event)


def test_a_status_on_a_commit_no_promotion_waits_for_reads_nothing():
    from bot.handlers import Context
    from tests.fakeforge import DictStore, FakeForge
    import datetime as dt

    event, _payload = _parse("status", "status/payload.with-installation.json")
    forge, store = FakeForge(), DictStore()
    store.set_json(waiting_key("github", event.repo), {"0" * 40: [2]})
    for handler in router.handlers_for(event):
        handler(event, Context(forge=forge, now=dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc), store=store))
    assert sum(forge.calls.values()) == 0


def test_a_gitlab_pipeline_hook_names_its_commit_and_re_evaluates_the_waiting_promotions():
    import datetime as dt

    from bot.handlers import Context
    from bot.model import PullRequest
    from bot.webhooks import gitlab as gitlab_webhooks
    from tests.fakeforge import DictStore, FakeForge

    # the shape documented at https://docs.gitlab.com/ee/user/project/integrations/webhook_events.html#pipeline-events
    payload = {"object_kind": "pipeline", "object_attributes": {"id": 31, "iid": 3, "ref": "main", "tag": False,
                                                                "sha": "5" * 40, "status": "success"},
               "project": {"id": 1, "path_with_namespace": "acme/release", "default_branch": "main"},
               "user": {"username": "alice"}}
    event = gitlab_webhooks.parse(event="Pipeline Hook", delivery_id="p", payload=payload)
    assert (event.forge, event.repo, event.head_sha) == ("gitlab", "acme/release", "5" * 40)
    handlers = router.handlers_for(event)
    assert handlers  # the GitLab intake queues it
    forge, store = FakeForge("gitlab"), DictStore()
    store.set_json(waiting_key("gitlab", "acme/release"), {"5" * 40: [12]})
    forge.add_pull(PullRequest("acme/release", 12, "Promote", "alice", "h" * 40, "promote", "main", "b" * 40, "closed"))
    for handler in handlers:
        handler(event, Context(forge=forge, now=dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc), store=store))
    assert forge.calls["get_pull"] == 1  # the waiting merge request was looked at (closed since: nothing to judge)
