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


def signed(repo="acme/pay", number=7, *, key=KEY, forge="github"):
    """The page's path as our check runs link it."""
    return f"/pulls/{forge}/{repo}/{number}?sig={links.signature(key=key, forge=forge, repo=repo, number=number)}"


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
    "?sig=" + links.signature(key=KEY, forge="gitlab", repo="acme/pay", number=7),  # the same path on GitLab
    "?sig=" + links.legacy_signature(key=KEY, repo="acme/pay", number=7),  # a legacy sig on the current address
    "?sig=" + links.signature(key=Settings(details_link_secret=Secret("old")).details_link_key, repo="acme/pay",
                              number=7),  # signed with a rotated-out key
])
def test_without_its_own_sig_a_saved_page_answers_exactly_as_a_pull_request_never_evaluated(client, store, query):
    never = client.get(signed("acme/pay", 7))
    save(store, ["infra/main.tf"], [("ivan", ReviewState.APPROVED, HEAD)], title="Secret acquisition of Initech")
    response = client.get("/pulls/github/acme/pay/7" + query)
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
    assert '<section class="check" id="approvals"' in html and "Waiting</span></h2>" in html
    assert '<a href="#approvals-group-1">@acme/app</a>' in html and "<td>@anna</td>" in html
    assert "Required by CODEOWNERS line 3 /infra/ for infra/main.tf" in html
    assert f"Stale: @ivan approved {OLD[:7]}; later commits changed infra/main.tf" in html
    assert "Can approve: @irene, @ivan" in html
    assert "1 changed path with no owner" in html and "<code>README.md</code>" in html
    assert 'href="https://github.com/acme/pay/pull/7"' in html
    assert '<link rel="stylesheet" href="/assets/rc.css">' in html


def test_passing_pull_request(client, store):
    save(store, ["app/api.py"], [("anna", ReviewState.APPROVED, HEAD)])
    html = client.get(signed()).get_data(as_text=True)
    assert "Every check of release-coordinator passes." in html and "0 failing, 0 waiting, 1 passing" in html


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
    assert response.status_code == 200 and "Every check of release-coordinator passes." in response.get_data(as_text=True)
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
    assert check.details_url == "https://rc.example" + signed() + "#approvals"
    response = client.get(signed())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "not evaluated yet" not in html and "Something must change before this can merge." in html
    assert "Configuration error" in html and "<code>.github/release-coordinator.yml</code> line 2" in html
    assert "every-team" in html


# --- every check of ours, from the per-pull-request results record (INTERFACES.md §3)

def record(forge="github", repo="acme/pay", number=7, checks=(), head=HEAD, html_url="https://github.com/acme/pay/pull/7"):
    from bot.core.checks import result_to_json

    return {"forge": forge, "repo": repo, "number": number, "title": "Release 1.5.4", "html_url": html_url,
            "head_sha": head, "checks": {c.name: {**result_to_json(c), "head_sha": c.head_sha,
                                                   "evaluated_at": "2026-12-01T10:00:00+00:00"} for c in checks}}


def result(name, conclusion, title, *, head=HEAD, summary="", annotations=()):
    from bot.core.checks import CheckResult

    return CheckResult(name, head, conclusion, title, summary, annotations=tuple(annotations),
                       details_url="https://rc.example/pulls/github/acme/pay/7?sig=x")


def test_every_check_gets_its_section_with_verdict_annotations_commit_and_time(client, store):
    from bot.core.checks import Annotation, Conclusion, Level
    from bot.handlers.publish import results_key

    store.set_json(results_key("github", "acme/pay", 7), record(checks=[
        result("release-coordinator/window", Conclusion.PENDING, "Outside the release windows; next opens Wed"),
        result("release-coordinator/zeta", Conclusion.NEUTRAL, "a check this page has no words for"),
        result("release-coordinator/manifest", Conclusion.FAILURE, "1 problem in release.yml",
               summary="| component | to |\n| --- | --- |\n| payments-app | 1.5.4 |",
               annotations=[Annotation("release.yml", 2, 2, Level.FAILURE, "no tag `v1.5.4` in acme/payments-app")]),
        result("release-coordinator/semver", Conclusion.SUCCESS, "VERSION 1.5.4 is a patch bump", head=OLD),
    ]))
    html = client.get(signed()).get_data(as_text=True)
    order = [html.index(f'<section class="check" id="{a}"') for a in ("manifest", "semver", "window", "zeta")]
    assert order == sorted(order)  # the reviewer's reading order, then unknown checks by name
    assert "1 failing, 1 waiting, 1 passing, 1 neutral" in html
    assert (f'<a href="https://github.com/acme/pay/blob/{HEAD}/release.yml#L2"><code>release.yml#L2</code></a>: '
            "no tag <code>v1.5.4</code> in acme/payments-app") in html
    assert "<td>payments-app</td>" in html  # the summary's Markdown table, rendered
    assert f'<a href="https://github.com/acme/pay/commit/{HEAD}"><code>{HEAD[:12]}</code></a>' in html
    assert "this result since 2026-12-01 10:00 UTC." in html and "Evaluated at commit" in html
    assert "an earlier commit than the head" in html.split('id="semver"')[1].split("</section>")[0]


def test_a_summary_cannot_inject_html(client, store):
    from bot.core.checks import Conclusion
    from bot.handlers.publish import results_key

    store.set_json(results_key("github", "acme/pay", 7), record(checks=[result(
        "release-coordinator/manifest", Conclusion.FAILURE, "<b>t</b>",
        summary="<script>alert(1)</script> [x](javascript:alert(1)) <sub>policy</sub>")]))
    html = client.get(signed()).get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "<b>t</b>" not in html
    assert 'href="javascript:' not in html and "policy" in html and "<sub>" not in html


def test_gitlab_merge_request_page_links_gitlab_routes(client, store):
    from bot.core.checks import Annotation, Conclusion, Level
    from bot.handlers.publish import results_key

    repo = "platform/sub/release"
    url = f"https://gitlab.example/{repo}/-/merge_requests/3"
    store.set_json(results_key("gitlab", repo, 3), record("gitlab", repo, 3, html_url=url, checks=[result(
        "release-coordinator/manifest", Conclusion.FAILURE, "1 problem",
        annotations=[Annotation("release.yml", 4, 4, Level.FAILURE, "bad")])]))
    html = client.get(signed(repo, 3, forge="gitlab")).get_data(as_text=True)
    assert f"{repo}!3: Release 1.5.4" in html and "Open the merge request on GitLab" in html
    assert f'href="https://gitlab.example/{repo}/-/blob/{HEAD}/release.yml#L4"' in html
    assert client.get(signed(repo, 3, forge="github")).status_code == 404  # the same path on GitHub: never evaluated


def test_a_link_posted_before_forges_were_named_redirects_to_the_current_address(client, store):
    save(store, ["app/api.py"], [("anna", ReviewState.APPROVED, HEAD)])
    old = f"/pulls/acme/pay/7?sig={links.legacy_signature(key=KEY, repo='acme/pay', number=7)}"
    response = client.get(old)
    assert response.status_code == 302 and response.headers["Location"] == signed()
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get(response.headers["Location"]).status_code == 200
    assert client.get("/pulls/acme/pay/7?sig=" + "0" * 32).status_code == 404


def test_the_stylesheet_is_served_and_its_colours_meet_wcag_aa(client):
    import re

    response = client.get("/assets/rc.css")
    assert response.status_code == 200 and response.content_type.startswith("text/css")
    css = response.get_data(as_text=True)
    colours = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6})", css))

    def luminance(hex_colour):
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    def contrast(a, b):
        hi, lo = sorted((luminance(colours[a]), luminance(colours[b])), reverse=True)
        return (hi + 0.05) / (lo + 0.05)

    # https://www.w3.org/TR/WCAG21/#contrast-minimum: 4.5:1 for normal text
    for text, background in [("text", "bg"), ("muted", "bg"), ("muted", "panel"), ("link", "bg"), ("ok", "ok-bg"),
                             ("wait", "wait-bg"), ("fail", "fail-bg"), ("info", "info-bg"), ("ok", "bg"),
                             ("wait", "bg"), ("fail", "bg"), ("text", "wait-bg"), ("muted", "wait-bg")]:
        assert contrast(text, background) >= 4.5, (text, background, contrast(text, background))


def test_the_wheel_ships_every_template_and_stylesheet():
    """pyproject's package-data must cover bot/templates and bot/static, or an installed app has no pages."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bot"]
    shipped = [p for p in (root / "bot").rglob("*") if p.is_file() and p.parent.name in ("templates", "static")]
    assert shipped
    for path in shipped:
        relative = str(path.relative_to(root / "bot"))
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
