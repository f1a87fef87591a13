"""The release history page and its Atom feed through the Flask test client: signed links only, the SVG
timeline (promotion arrows, rollback marks), links to tags, notes, changelog and pull requests; Atom 1.0
parsed with xml.etree and checked."""
import xml.etree.ElementTree as ET

import pytest

from bot.pages_history import history_signature, history_url
from bot.queue import Queue
from bot.web import create_app
from tests.history_seed import RELEASE, RELEASES, new_store, settings

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def client(tmp_path):
    app_settings = settings(f"sqlite:///{tmp_path}/q.db")
    app = create_app(app_settings, queue=Queue(app_settings.queue_url), store=new_store())
    return app.test_client(), app_settings


def _sig(app_settings):
    return history_signature(key=app_settings.details_link_key, forge="github", repo=RELEASE)


def test_the_page_opens_only_from_its_signed_link(client):
    http, app_settings = client
    unsigned = http.get(f"/releases/github/{RELEASE}")
    wrong = http.get(f"/releases/github/{RELEASE}?sig={'0' * 32}")
    assert unsigned.status_code == wrong.status_code == 404
    assert unsigned.data == wrong.data
    # signed but nothing released yet (the plan links the page from the first release pull request on)
    empty = http.get(f"/releases/github/acme/new?sig={history_signature(key=app_settings.details_link_key, forge='github', repo='acme/new')}")
    assert empty.status_code == 200 and "No release recorded yet." in empty.get_data(as_text=True)
    feed = ET.fromstring(http.get(f"/releases/github/acme/new/feed.atom?sig={history_signature(key=app_settings.details_link_key, forge='github', repo='acme/new')}").data)
    assert feed.findall(f"{ATOM}entry") == [] and feed.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00Z"
    assert http.get(f"/releases/github/{RELEASE}/feed.atom").status_code == 404
    url = history_url(app_settings.public_url, key=app_settings.details_link_key, forge="github", repo=RELEASE)
    assert url == f"https://rc.example/releases/github/{RELEASE}?sig={_sig(app_settings)}"


def test_the_page_draws_the_timeline_and_lists_each_release(client):
    http, app_settings = client
    response = http.get(f"/releases/github/{RELEASE}?sig={_sig(app_settings)}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    page = response.get_data(as_text=True)
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed
    assert svg.count('class="release"') == 3 and svg.count('class="rollback"') == 1
    assert svg.count('class="promotion"') == 1
    assert "staging/release-1.5.3-2.1.0 promoted to production as release-1.5.3-2.1.0" in svg
    # staging's lane is drawn above production's
    assert svg.index(">staging</text>") < svg.index(">production</text>")
    for _h, number, tag, *_ in RELEASES:
        assert f'href="https://github.com/{RELEASE}/releases/tag/{tag.replace("/", "%2F")}"' in page
        assert f'href="https://github.com/{RELEASE}/pull/{number}"' in page
    assert 'href="https://github.com/acme/payments-app/pull/140"' in page  # a shipped pull request
    assert "rollback</strong> to <code>release-1.5.2-2.1.0</code>" in page
    assert f'href="https://github.com/{RELEASE}/blob/main/CHANGELOG.md"' in page
    assert "payments-app 1.5.2 → 1.5.3" in page
    assert 'href="#release-staging-release-1.5.3-2.1.0"' in page and 'id="release-staging-release-1.5.3-2.1.0"' in page
    assert f'/releases/github/{RELEASE}/feed.atom?sig={_sig(app_settings)}' in page


def test_the_feed_is_valid_atom(client):
    http, app_settings = client
    response = http.get(f"/releases/github/{RELEASE}/feed.atom?sig={_sig(app_settings)}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert response.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == f"https://rc.example/releases/github/{RELEASE}"  # PUBLIC_URL, no sig
    assert feed.findtext(f"{ATOM}title") == f"Releases of {RELEASE}"
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "release-coordinator"
    assert feed.findtext(f"{ATOM}updated") == "2026-12-03T11:00:00Z"  # the newest release
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links["self"].endswith(f"/feed.atom?sig={_sig(app_settings)}")
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "Rollback: release-1.5.2-2.1.0-rollback-pr44 to production", "staging/release-1.6.0-2.1.0 to staging",
        "release-1.5.3-2.1.0 to production", "staging/release-1.5.3-2.1.0 to staging"]
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 4 and all(i.startswith("https://github.com/acme/release/releases/tag/") for i in ids)
    for entry in entries:  # RFC 4287 §4.1.2: id, title, updated; a link or content; author from the feed
        assert entry.findtext(f"{ATOM}updated").endswith("Z")
        assert entry.find(f"{ATOM}link").get("rel") == "alternate"
        summary = entry.find(f"{ATOM}summary")
        assert summary.get("type") == "html" and "<li>payments-app" in summary.text
    assert "Verified in staging/release-1.5.3-2.1.0." in entries[2].findtext(f"{ATOM}summary")
