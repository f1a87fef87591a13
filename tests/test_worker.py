"""The worker turns a stored delivery into handler calls and sorts their failures for the queue."""
import datetime as dt
import json
import sys
import threading
import types

import github
import responses
from github import Auth

from bot.core.checks import APPROVALS
from bot.forge.base import ChangedFile, Permission, PullRequest, Review, ReviewState
from bot.forge.errors import Conflict, PermissionDenied, RateLimited
from bot.forge.github import GitHubForge
from bot.handlers.approvals import router as approvals_router
from bot.journal import Claim, Delivery
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.webhooks.event import Event
from bot.worker import Worker, handler_name
from tests.fakeforge import DictStore, FakeForge
from tests.forge.fakegithub import FakeGitHub, fake_sha, file_json

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)
PAYLOAD = {"action": "opened", "number": 5, "pull_request": {"number": 5, "head": {"sha": "f" * 40}, "base": {"ref": "main"}},
           "repository": {"full_name": "acme/release", "default_branch": "main"}, "installation": {"id": 77},
           "sender": {"login": "dev", "type": "User"}}


def claim(payload=PAYLOAD, pending=None, delivery_id="w-1"):
    body = json.dumps(payload).encode()
    return Claim(Delivery(delivery_id, "github", "pull_request", payload.get("action"), "acme/release", body), 0, pending, {})


class Forge:
    """Stands in for GitHubForge; the worker only passes it to handlers."""

    def __init__(self, installation_id):
        self.installation_id = installation_id


def make_worker(*handlers, settings=Settings(public_url="https://rc.example.com")):
    router = Router()
    for handler in handlers:
        router.register("pull_request", "opened")(handler)
    built = []

    def forge_for(installation_id):
        built.append(installation_id)
        return Forge(installation_id)

    return Worker(settings, store={}, router=router, forge_for=forge_for, clock=lambda: NOW), built


def test_handlers_get_the_event_and_a_context_for_its_installation():
    seen = []
    worker, _ = make_worker(lambda event, ctx: seen.append((event, ctx)))
    outcome = worker(claim())
    ((event, ctx),) = seen
    assert (event.pull_number, event.head_sha, event.installation_id) == (5, "f" * 40, 77)
    assert ctx.forge.installation_id == 77 and ctx.now == NOW and ctx.store == {}
    assert ctx.details_url("acme/release", 5) == "https://rc.example.com/pulls/github/acme/release/5"  # INTERFACES §4
    assert len(outcome.done) == 1 and not outcome.failed and not outcome.transient


def test_one_forge_per_installation_across_jobs():
    worker, built = make_worker(lambda event, ctx: None)
    worker(claim(delivery_id="a"))
    worker(claim(delivery_id="b"))
    other = dict(PAYLOAD, installation={"id": 78})
    worker(claim(other, delivery_id="c"))
    assert built == [77, 78]


def test_failures_are_sorted_into_retry_and_give_up():
    def limited(event, ctx):
        raise RateLimited("secondary rate limit", retry_after=61)

    def denied(event, ctx):
        raise PermissionDenied("Resource not accessible by integration (checks: write)")

    def bug(event, ctx):
        return {}["missing"]

    def fine(event, ctx):
        pass

    worker, _ = make_worker(limited, denied, bug, fine)
    outcome = worker(claim())
    assert outcome.done == (handler_name(fine),)
    assert outcome.transient[handler_name(limited)].retry_after == 61
    assert outcome.failed[handler_name(denied)] == "PermissionDenied: Resource not accessible by integration (checks: write)"
    assert outcome.failed[handler_name(bug)] == "KeyError: 'missing'"


def test_a_retry_runs_only_the_handlers_still_owed():
    calls = []

    def first(event, ctx):
        calls.append("first")

    def second(event, ctx):
        calls.append("second")

    worker, _ = make_worker(first, second)
    worker(claim(pending=(handler_name(second),)))
    assert calls == ["second"]
    worker(claim(pending=("*",)))
    assert calls == ["second", "first", "second"]


def test_a_delivery_without_installation_cannot_run_and_says_why():
    worker, built = make_worker(lambda event, ctx: None)
    payload = {k: v for k, v in PAYLOAD.items() if k != "installation"}
    outcome = worker(claim(payload))
    (message,) = outcome.failed.values()
    assert "no installation id" in message and built == []


def test_without_app_credentials_the_delivery_waits_as_a_dead_letter():
    router = Router()
    router.register("pull_request", "opened")(lambda event, ctx: None)
    worker = Worker(Settings(), store={}, router=router)
    (message,) = worker(claim()).failed.values()
    assert message == "NotConfigured: GitHub App is not configured: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY"


def test_unrouted_events_do_nothing():
    worker, built = make_worker(lambda event, ctx: None)
    outcome = worker(claim(dict(PAYLOAD, action="assigned")))
    assert outcome.done == () and built == []


def test_a_conflict_is_not_retried_by_the_queue_but_kept():
    def racing(event, ctx):
        raise Conflict("409 reference update failed")

    worker, _ = make_worker(racing)
    assert worker(claim()).failed == {handler_name(racing): "Conflict: 409 reference update failed"}


def test_periodic_calls_the_window_engine_with_contexts_per_installation(monkeypatch):
    calls = []

    def periodic(contexts, store, now):
        calls.append((contexts(5), store, now))

    monkeypatch.setitem(sys.modules, "bot.handlers.window", types.SimpleNamespace(periodic=periodic))
    audits = []  # the daily access audit rides on the same five-minute tick
    monkeypatch.setitem(sys.modules, "bot.handlers.access",
                        types.SimpleNamespace(periodic=lambda contexts, store, now: audits.append((store, now))))
    settings = Settings(github_app_id=1, github_private_key=Secret("unused by the stand-in forge"))
    worker, built = make_worker(settings=settings)
    worker.periodic()
    ((ctx, store, now),) = calls
    assert ctx.forge.installation_id == 5 and store == {} and now == NOW
    assert audits == [({}, NOW)]


def test_periodic_does_nothing_without_app_credentials(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "bot.handlers.window",
                        types.SimpleNamespace(periodic=lambda *a: calls.append(a)))
    worker, _ = make_worker()
    worker.periodic()
    assert calls == []


def test_the_default_forge_is_github_forge_over_the_app_client():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bot.forge.github import GitHubForge

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    worker = Worker(Settings(github_app_id=3, github_private_key=Secret(pem),
                             github_api_url="https://ghe.example.com/api/v3"), store={}, router=Router())
    forge = worker.forge(9)
    assert isinstance(forge, GitHubForge)
    assert worker.forge(9) is forge  # no network until a handler calls it


def test_rerun_re_evaluates_from_scratch_not_from_the_60_second_cache():
    """A reviewer added to the owning team, then "Re-run" on the approvals check: the re-run must see it at once."""
    repo = "acme/payments-app"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fg = FakeGitHub(our_app_id=4242).register(rsps)
        base = fg.add_commit(repo, {".github/release-coordinator.yml": "approvals: {}\n",
                                    ".github/CODEOWNERS": "*  @acme/app\n"}, branch="main")
        fg.add_team("@acme/app", ["anna"], repos={repo: "write"})
        head = fake_sha("head")
        fg.add_pull(repo, 7, author="paul", head_sha=head, base_sha=base, files=[file_json("src/a.py")])
        fg.add_review(repo, 7, user="newbie", state="APPROVED", commit_id=head)
        now = [1_800_000_000.0]

        def forge_for(installation_id):  # as Worker.github_forge: a GitHubForge over the installation's client
            client = github.Github(auth=Auth.Token("t"), seconds_between_requests=None, seconds_between_writes=None)
            return GitHubForge(client, app_id=4242, clock=lambda: now[0])

        worker = Worker(Settings(), store=DictStore(), router=Router(approvals_router), forge_for=forge_for,
                        clock=lambda: NOW)

        def conclusion():
            return max(fg.repo(repo).check_runs.values(), key=lambda run: run["id"])["conclusion"]

        opened = Event(forge="github", name="pull_request", action="synchronize", delivery_id="w-a",
                       installation_id=77, repo=repo, pull_number=7, head_sha=head)
        assert worker.run_event(opened).failed == {}
        assert conclusion() is None  # in progress (pending): newbie is not in @acme/app yet, anna could approve
        fg.add_team("@acme/app", ["anna", "newbie"], repos={repo: "write"})
        now[0] += 5  # well inside the 60 s that team members are kept
        rerun = Event(forge="github", name="check_run", action="rerequested", delivery_id="w-b", installation_id=77,
                      repo=repo, pull_numbers=(7,), pull_number=7, head_sha=head, check_name=APPROVALS)
        assert worker.run_event(rerun).failed == {}
        assert conclusion() == "success"


def test_two_deliveries_for_one_pull_request_never_publish_out_of_order():
    """Review 1 is being evaluated (it read no approval yet) when anna approves and review 2 arrives: the check
    must end green, not be overwritten by the slower evaluation of the older state."""
    repo, head, base = "acme/app", "h" * 40, "b" * 40
    forge = FakeForge()
    forge.add_file(repo, ".github/release-coordinator.yml", "approvals: {}\n", ref=base)
    forge.add_file(repo, ".github/CODEOWNERS", "* @acme/a\n", ref=base)
    pull = PullRequest(repo, 1, "t", "paul", head, "f", "main", base, "open")
    forge.add_pull(pull, [ChangedFile("x.py", "modified")])
    forge.teams["@acme/a"] = frozenset({"anna"})
    forge.repos[repo].permissions["anna"] = Permission.WRITE
    first_read, release = threading.Event(), threading.Event()
    list_reviews = forge.list_reviews

    def stalls_on_first_read(repo_, number):
        reviews = list_reviews(repo_, number)
        if not first_read.is_set():
            first_read.set()
            release.wait(timeout=5)  # the first evaluation holds the old answer while the world moves on
        return reviews

    forge.list_reviews = stalls_on_first_read
    worker = Worker(Settings(), store=DictStore(), router=Router(approvals_router), forge_for=lambda i: forge,
                    clock=lambda: NOW)

    def review_event(delivery_id):
        return Event(forge="github", name="pull_request_review", action="submitted", delivery_id=delivery_id,
                     installation_id=1, repo=repo, pull_number=1, head_sha=head, pull=pull)

    older = threading.Thread(target=worker.run_event, args=(review_event("r-1"),))
    older.start()
    assert first_read.wait(timeout=5)
    forge.add_review(repo, 1, Review(1, "anna", ReviewState.APPROVED, head, dt.datetime(2026, 11, 29)))
    newer = threading.Thread(target=worker.run_event, args=(review_event("r-2"),))
    newer.start()
    newer.join(timeout=0.3)  # unserialized, the newer evaluation would finish here, before the older one
    release.set()
    older.join(timeout=5)
    newer.join(timeout=5)
    assert forge.checks_on(repo, head)[APPROVALS].conclusion.value == "success"


# --- GitLab: one token (account None), the same handlers through neutral kinds

GITLAB_MR = {"object_kind": "merge_request", "user": {"username": "dave"},
             "project": {"path_with_namespace": "group/sub/releases", "default_branch": "main"},
             "object_attributes": {"iid": 3, "action": "update", "target_branch": "main", "state": "opened",
                                   "last_commit": {"id": "a" * 40}, "oldrev": "b" * 40}}
GITLAB_NOTE = {"object_kind": "note", "user": {"username": "dave"},
               "project": {"path_with_namespace": "group/sub/releases", "default_branch": "main"},
               "object_attributes": {"note": "/recheck", "noteable_type": "MergeRequest", "system": False},
               "merge_request": {"iid": 3, "target_branch": "main", "last_commit": {"id": "a" * 40}}}


def gitlab_claim(payload, event="Merge Request Hook", delivery_id="g-1"):
    body = json.dumps(payload).encode()
    return Claim(Delivery(delivery_id, "gitlab", event, None, "group/sub/releases", body), 0, None, {})


def gitlab_worker(router, made):
    def gitlab_forge(account):
        made.append(FakeForge("gitlab"))
        assert account is None
        return made[-1]

    return Worker(Settings(), store=DictStore(), router=router, gitlab_forge_for=gitlab_forge, clock=lambda: NOW)


def test_a_gitlab_delivery_reaches_kind_handlers_with_the_gitlab_forge_and_no_account():
    router, seen, made = Router(), [], []

    @router.register("pull.changed")
    def on_changed(event, ctx):
        seen.append((event.forge, event.kind, event.account, event.repo, event.pull_number, ctx.forge.kind))

    worker = gitlab_worker(router, made)
    assert worker(gitlab_claim(GITLAB_MR)).done == (handler_name(on_changed),)
    assert worker(gitlab_claim(GITLAB_MR, delivery_id="g-2")).done == (handler_name(on_changed),)
    assert seen == [("gitlab", "pull.changed", None, "group/sub/releases", 3, "gitlab")] * 2
    assert len(made) == 1  # one adapter for the token, kept across jobs


def test_gitlab_recheck_gets_a_fresh_adapter_as_github_rerun_does():
    router, made = Router(), []

    @router.register("pull.recheck")
    def on_recheck(event, ctx):
        assert event.kind == "pull.recheck" and event.comment_body == "/recheck"

    worker = gitlab_worker(router, made)
    worker.forge(None, kind="gitlab")  # the kept one
    assert worker(gitlab_claim(GITLAB_NOTE, event="Note Hook")).done == (handler_name(on_recheck),)
    assert len(made) == 2  # a one-off adapter with nothing cached


def test_gitlab_without_url_or_token_fails_naming_what_to_set():
    router = Router()

    @router.register("pull.changed")
    def on_changed(event, ctx):
        raise AssertionError("not reached")

    outcome = Worker(Settings(), store=DictStore(), router=router)(gitlab_claim(GITLAB_MR))
    assert outcome.failed == {handler_name(on_changed): "NotConfigured: GitLab is not configured: set GITLAB_URL, GITLAB_TOKEN"}


def test_a_summary_note_that_fails_transiently_retries_the_delivery():
    from bot.core.checks import CheckResult, Conclusion
    from bot.handlers.publish import publish_check

    router, made = Router(), []
    pull = PullRequest(repo="group/sub/releases", number=3, title="t", author="dave", head_sha="a" * 40,
                       head_ref="x", base_ref="main", base_sha="b" * 40, state="open")

    @router.register("pull.changed")
    def on_changed(event, ctx):
        publish_check(ctx, pull, CheckResult(APPROVALS, pull.head_sha, Conclusion.SUCCESS, "ok", "all approved"))

    worker = gitlab_worker(router, made)
    worker.forge(None, kind="gitlab").fail_next["ensure_note"] = RateLimited("429", retry_after=7)
    outcome = worker(gitlab_claim(GITLAB_MR))
    assert outcome.done == () and outcome.transient[handler_name(on_changed)].retry_after == 7
    outcome = worker(gitlab_claim(GITLAB_MR))  # the retry: the status is written already, the note now
    assert outcome.done == (handler_name(on_changed),)
    forge = made[0]
    assert forge.calls["create_check"] == 1 and len(forge.notes("group/sub/releases", 3, topic="summary")) == 1


def test_periodic_sweeps_every_configured_forge(monkeypatch):
    calls = []
    window = types.SimpleNamespace(periodic=lambda contexts, store, now, *, forge="github": calls.append(
        (forge, contexts(None if forge == "gitlab" else 5).forge.kind)))
    monkeypatch.setitem(sys.modules, "bot.handlers.window", window)
    settings = Settings(github_app_id=1, github_private_key=Secret("k"), gitlab_url="https://gitlab.example.com",
                        gitlab_token=Secret("t"))
    worker = Worker(settings, store=DictStore(), router=Router(), forge_for=lambda i: FakeForge("github"),
                    gitlab_forge_for=lambda account: FakeForge("gitlab"), clock=lambda: NOW)
    worker.periodic()
    assert calls == [("github", "github"), ("gitlab", "gitlab")]


def test_one_worker_serves_github_and_gitlab_side_by_side():
    router, seen = Router(), []

    @router.register("pull.changed")
    def on_changed(event, ctx):
        seen.append((event.forge, event.account, ctx.forge.kind))

    worker = Worker(Settings(), store=DictStore(), router=router, forge_for=lambda i: FakeForge("github"),
                    gitlab_forge_for=lambda account: FakeForge("gitlab"), clock=lambda: NOW)
    assert worker(claim()).done and worker(gitlab_claim(GITLAB_MR)).done
    assert seen == [("github", 77, "github"), ("gitlab", None, "gitlab")]
    assert set(worker._forges) == {("github", 77), ("gitlab", None)}
