"""The details page: the saved evaluation as server-rendered, escaped HTML; 404 until one is saved."""
import datetime as dt

import pytest
from flask import Flask

from bot import links, pages
from bot.core.approvals import OwnerRule, PullFacts, Rules, evaluate, to_json
from bot.core.config import ApprovalsConfig
from bot.forge.base import ChangedFile, Permission, PullRequest, Review, ReviewState
from bot.handlers import Context
from bot.handlers.approvals import details_key, on_pull
from bot.settings import Secret, Settings
from bot.webhooks.event import Event
from tests.fakeforge import DictStore, FakeForge

HEAD, OLD = "h" * 40, "o" * 40
KEY = Settings(github_webhook_secret=Secret("pages-secret")).details_link_key
RULES = {"infra/": OwnerRule(("@acme/infra",), 3, "/infra/"), "app/": OwnerRule(("@acme/app",), 4, "/app/")}


@pytest.fixture
def store():
    return DictStore()


@pytest.fixture
def client(store):
    app = Flask("test")
    app.config["STORE"] = store
    app.config["DETAILS_LINK_KEY"] = KEY
    app.register_blueprint(pages.blueprint)
    return app.test_client()


def signed(repo="acme/pay", number=7, *, key=KEY):
    """The page's path as our check runs link it."""
    return f"/pulls/{repo}/{number}?sig={links.signature(key=key, repo=repo, number=number)}"


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
    response = client.get(signed())
    assert response.status_code == 404
    assert "acme/pay#7: not evaluated yet" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", [
    "",  # the bare URL anyone can guess
    "?sig=",
    "?sig=" + "0" * 32,
    "?sig=" + links.signature(key=KEY, repo="acme/pay", number=8),  # another pull request's link
    "?sig=" + links.signature(key=KEY, repo="acme/pay", number=7)[:-1],
    "?sig=" + links.signature(key=Settings(details_link_secret=Secret("old")).details_link_key, repo="acme/pay",
                              number=7),  # signed with a rotated-out key
])
def test_without_its_own_sig_a_saved_page_answers_exactly_as_a_pull_request_never_evaluated(client, store, query):
    never = client.get(signed("acme/pay", 7))
    save(store, ["infra/main.tf"], [("ivan", ReviewState.APPROVED, HEAD)], title="Secret acquisition of Initech")
    response = client.get("/pulls/acme/pay/7" + query)
    html = response.get_data(as_text=True)
    assert response.status_code == never.status_code == 404
    assert html == never.get_data(as_text=True)  # so a 404 does not even say whether the pull request exists
    for private in ("Initech", "infra/main.tf", "@acme/infra", "ivan", "irene", "CODEOWNERS"):
        assert private not in html
    assert client.get(signed()).status_code == 200  # while its own link opens it


def test_no_key_configured_opens_no_page(store):
    save(store, ["app/api.py"], [("anna", ReviewState.APPROVED, HEAD)])
    app = Flask("test")
    app.config.update(STORE=store, DETAILS_LINK_KEY=None)
    app.register_blueprint(pages.blueprint)
    assert app.test_client().get(signed()).status_code == 404


def test_the_link_is_kept_out_of_referers_and_shared_caches(client, store):
    save(store, ["app/api.py"], [("anna", ReviewState.APPROVED, HEAD)])
    response = client.get(signed())
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"] and "private" in response.headers["Cache-Control"]


def test_page_shows_matrix_paths_lines_and_stale_approvals(client, store):
    save(store, ["infra/main.tf", "app/api.py", "README.md"],
         [("ivan", ReviewState.APPROVED, OLD), ("anna", ReviewState.APPROVED, HEAD)],
         changed_since={OLD: frozenset({"infra/main.tf"})})
    response = client.get(signed())
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
    html = client.get(signed()).get_data(as_text=True)
    assert "Approvals: passing." in html


def test_user_text_is_escaped(client, store):
    save(store, ["infra/<script>alert(1)</script>.tf"], [], title="<img src=x onerror=alert(1)>")
    html = client.get(signed()).get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x" in html


def test_create_app_serves_the_page_from_its_store(tmp_path):
    from bot.routing import Router
    from bot.web import create_app

    store = DictStore()
    save(store, ["app/api.py"], [("anna", ReviewState.APPROVED, HEAD)])
    app = create_app(Settings(queue_url=f"sqlite:///{tmp_path}/q.db", details_link_secret=Secret("s")), store=store,
                     router=Router())
    response = app.test_client().get(signed(key=app.config["SETTINGS"].details_link_key))
    assert response.status_code == 200 and "Approvals: passing." in response.get_data(as_text=True)
    rotated = create_app(Settings(queue_url=f"sqlite:///{tmp_path}/q.db", details_link_secret=Secret("s2")),
                         store=store, router=Router())
    assert rotated.test_client().get(signed(key=app.config["SETTINGS"].details_link_key)).status_code == 404


def test_an_invalid_config_shows_its_errors_on_the_page_the_failing_check_links(client, store):
    # The failing approvals check links this page; it must not claim the pull request was never evaluated.
    forge = FakeForge()
    forge.add_file("acme/pay", ".github/release-coordinator.yml", "approvals:\n  mode: every-team\n", ref="b" * 40)
    pull = PullRequest("acme/pay", 7, "Bump infra", "paul", HEAD, "feature", "main", "b" * 40, "open",
                       html_url="https://github.com/acme/pay/pull/7")
    forge.add_pull(pull, [ChangedFile("infra/main.tf", "modified")])
    on_pull(Event(forge="github", name="pull_request", action="opened", delivery_id="d", repo="acme/pay", pull=pull),
            Context(forge=forge, now=dt.datetime(2026, 1, 1), public_url="https://rc.example", store=store,
                    details_link_key=KEY))
    check = forge.checks_on("acme/pay", HEAD)["release-coordinator/approvals"]
    assert check.details_url == "https://rc.example" + signed()
    response = client.get(signed())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "not evaluated yet" not in html and "Approvals: not yet." in html
    assert "<code>.github/release-coordinator.yml</code> line 2" in html and "every-team" in html
