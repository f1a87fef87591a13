"""The details page: the saved evaluation as server-rendered, escaped HTML; 404 until one is saved."""
import datetime as dt

import pytest
from flask import Flask

from bot import pages
from bot.core.approvals import OwnerRule, PullFacts, Rules, evaluate, to_json
from bot.core.config import ApprovalsConfig
from bot.forge.base import ChangedFile, Permission, PullRequest, Review, ReviewState
from bot.handlers import Context
from bot.handlers.approvals import details_key, on_pull
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

HEAD, OLD = "h" * 40, "o" * 40
RULES = {"infra/": OwnerRule(("@acme/infra",), 3, "/infra/"), "app/": OwnerRule(("@acme/app",), 4, "/app/")}


@pytest.fixture
def store():
    return DictStore()


@pytest.fixture
def client(store):
    app = Flask("test")
    app.config["STORE"] = store
    app.register_blueprint(pages.blueprint)
    return app.test_client()


def save(store, paths, reviews, *, changed_since=None, title="Bump infra"):
    files = tuple(ChangedFile(p, "modified") for p in paths)
    rules = Rules(ApprovalsConfig(), ".github/CODEOWNERS",
                  {p: next((r for k, r in RULES.items() if p.startswith(k)), None) for p in paths})
    facts = PullFacts(
        head_sha=HEAD, author="paul", files=files,
        reviews=tuple(Review(i, u, s, c, dt.datetime(2026, 1, 1)) for i, (u, s, c) in enumerate(reviews)),
        changed_since=changed_since or {},
        members={"@acme/infra": frozenset({"ivan", "irene"}), "@acme/app": frozenset({"anna"})},
        permissions={u: Permission.WRITE for u, _, _ in reviews},
    )
    store.set_json(details_key("acme/pay", 7), {"repo": "acme/pay", "number": 7, "title": title,
                                               "html_url": "https://github.com/acme/pay/pull/7",
                                               "evaluation": to_json(evaluate(facts, rules))})


def test_nothing_saved_is_a_404_page(client):
    response = client.get("/pulls/acme/pay/7")
    assert response.status_code == 404
    assert "acme/pay#7: not evaluated yet" in response.get_data(as_text=True)


def test_page_shows_matrix_paths_lines_and_stale_approvals(client, store):
    save(store, ["infra/main.tf", "app/api.py", "README.md"],
         [("ivan", ReviewState.APPROVED, OLD), ("anna", ReviewState.APPROVED, HEAD)],
         changed_since={OLD: frozenset({"infra/main.tf"})})
    response = client.get("/pulls/acme/pay/7")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.content_type.startswith("text/html")
    assert "<script" not in html  # readable without JavaScript
    assert "Approvals: not yet." in html
    assert "<td>@acme/infra</td>" in html and "<td>@anna</td>" in html
    assert "CODEOWNERS line 3 <code>/infra/</code>:\n<code>infra/main.tf</code>" in html
    assert f"Stale: @ivan approved {OLD[:7]}; later commits changed infra/main.tf" in html
    assert "Can approve: @irene, @ivan" in html
    assert "1 changed path with no owner" in html and "<code>README.md</code>" in html
    assert 'href="https://github.com/acme/pay/pull/7"' in html


def test_passing_pull_request(client, store):
    save(store, ["app/api.py"], [("anna", ReviewState.APPROVED, HEAD)])
    html = client.get("/pulls/acme/pay/7").get_data(as_text=True)
    assert "Approvals: passing." in html


def test_user_text_is_escaped(client, store):
    save(store, ["infra/<script>alert(1)</script>.tf"], [], title="<img src=x onerror=alert(1)>")
    html = client.get("/pulls/acme/pay/7").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x" in html


def test_create_app_serves_the_page_from_its_store(tmp_path):
    from bot.routing import Router
    from bot.settings import Settings
    from bot.web import create_app

    store = DictStore()
    save(store, ["app/api.py"], [("anna", ReviewState.APPROVED, HEAD)])
    app = create_app(Settings(queue_url=f"sqlite:///{tmp_path}/q.db"), store=store, router=Router())
    response = app.test_client().get("/pulls/acme/pay/7")
    assert response.status_code == 200 and "Approvals: passing." in response.get_data(as_text=True)


def test_an_invalid_config_shows_its_errors_on_the_page_the_failing_check_links(client, store):
    # The failing approvals check links this page; it must not claim the pull request was never evaluated.
    forge = FakeForge()
    forge.add_file("acme/pay", ".github/release-coordinator.yml", "approvals:\n  mode: every-team\n", ref="b" * 40)
    pull = PullRequest("acme/pay", 7, "Bump infra", "paul", HEAD, "feature", "main", "b" * 40, "open",
                       html_url="https://github.com/acme/pay/pull/7")
    forge.add_pull(pull, [ChangedFile("infra/main.tf", "modified")])
    on_pull(Event(forge="github", name="pull_request", action="opened", delivery_id="d", repo="acme/pay", pull=pull),
            Context(forge=forge, now=dt.datetime(2026, 1, 1), public_url="https://rc.example", store=store))
    check = forge.checks_on("acme/pay", HEAD)["release-coordinator/approvals"]
    assert check.details_url == "https://rc.example/pulls/acme/pay/7"
    response = client.get("/pulls/acme/pay/7")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "not evaluated yet" not in html and "Approvals: not yet." in html
    assert "<code>.github/release-coordinator.yml</code> line 2" in html and "every-team" in html
