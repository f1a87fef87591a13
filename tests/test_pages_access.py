"""/access pages: the index shows counts only; a report opens from its signed link alone, escaped, private."""
from bot.core.access import Fix, Finding, RepoAudit, Report, Severity, to_json
from bot.handlers.access import INDEX_KEY, access_url, report_key
from bot.queue import Queue
from bot.settings import Secret, Settings
from bot.web import create_app
from tests.fakeforge import DictStore

REPO = "acme/release"


def app_with_report(tmp_path):
    settings = Settings(github_webhook_secret=Secret("s"), queue_url=f"sqlite:///{tmp_path}/q.db", public_url="https://rc.example")
    store = DictStore()
    finding = Finding("acme/infra", "writer-team", Severity.DRIFT, "only @acme/infra may write",
                      "<script>alert(1)</script> has write", Fix("Settings > Collaborators", "PUT /orgs/acme/teams/x/repos/acme/infra"))
    store.set_json(report_key("github", REPO), to_json(Report(REPO, (RepoAudit("acme/infra", (finding,)),)), audited_at="2026-12-03T10:00:00+00:00"))
    store.set_json(INDEX_KEY, {f"github:{REPO}": {"status": "drift", "repos": {"acme/infra": {"drift": 1}}}})
    return create_app(settings, queue=Queue(settings.queue_url), store=store), settings


def test_index_counts_without_naming_repositories(tmp_path):
    app, _ = app_with_report(tmp_path)
    page = app.test_client().get("/access")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "1 release repository audited" in text and "1 with drift" in text
    assert "acme/" not in text


def test_report_opens_from_the_signed_link_only_and_escapes(tmp_path):
    app, settings = app_with_report(tmp_path)
    url = access_url(settings.public_url, key=settings.details_link_key, forge="github", repo=REPO)
    page = app.test_client().get(url.removeprefix("https://rc.example"))
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Drift found" in text and "PUT /orgs/acme/teams/x/repos/acme/infra" in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert page.headers["Cache-Control"] == "private, no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    for bad in (f"/access/github/{REPO}", f"/access/github/{REPO}?sig=0123", f"/access/gitlab/{REPO}?" + url.split("?")[1]):
        assert app.test_client().get(bad).status_code == 404
