"""The release history page in headless Chromium, with UX's browser helpers (tests/test_browser_pages.py): the
real app on a loopback port, a real SQLite store seeded by the real release-recording code (tests/history_seed.py).
The timeline renders as an SVG with its marks, its links land on the releases, the feed link answers Atom."""
from __future__ import annotations

import shutil
import tempfile
import threading
import urllib.request

import pytest

from tests.history_seed import RELEASE, seed, settings

try:  # UX's helpers: they skip the module themselves when chromium / chromium-driver / selenium are missing
    from tests.test_browser_pages import browser, same_origin_links_answer_200, visit  # noqa: F401 (fixture)
except ModuleNotFoundError as exc:
    if exc.name != "tests.test_browser_pages":
        raise
    pytest.skip("UX's browser helpers (tests/test_browser_pages.py) are not in this checkout", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402  (installed: the helpers above skipped otherwise)


@pytest.fixture(scope="module")
def history_server():
    from werkzeug.serving import make_server

    from bot.pages_history import history_url
    from bot.queue import Queue
    from bot.store import open_store
    from bot.web import create_app

    holder = {}
    httpd = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{httpd.server_port}"
    directory = tempfile.mkdtemp(prefix="rc-history-")
    app_settings = settings(f"sqlite:///{directory}/rc.db", public_url=base)
    store = open_store(app_settings.queue_url)
    seed(store)
    holder["app"] = create_app(app_settings, queue=Queue(app_settings.queue_url), store=store)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base, history_url(base, key=app_settings.details_link_key, forge="github", repo=RELEASE)
    httpd.shutdown()
    thread.join(5)
    shutil.rmtree(directory, ignore_errors=True)


def test_history_page_shows_the_timeline_and_the_releases(history_server, browser):  # noqa: F811
    base, url = history_server
    text = visit(browser, url, "release-history.png")
    assert f"Releases of {RELEASE}" in text and "4 coordinated releases" in text
    svg = browser.find_element(By.CSS_SELECTOR, "figure.timeline svg")
    box = svg.rect
    assert box["width"] > 400 and box["height"] > 100  # drawn, scaled into the page column
    assert len(svg.find_elements(By.CSS_SELECTOR, "circle.release")) == 3
    assert len(svg.find_elements(By.CSS_SELECTOR, "path.rollback")) == 1
    assert len(svg.find_elements(By.CSS_SELECTOR, "path.promotion")) == 1
    # the marks are laid out left to right in time, staging above production
    staging_first, production = (svg.find_elements(By.CSS_SELECTOR, "circle.release")[i].rect for i in (0, 1))
    assert staging_first["x"] < production["x"] and staging_first["y"] < production["y"]
    # a mark links to its release's row, which is on the page
    mark = svg.find_elements(By.CSS_SELECTOR, "a")[1]
    href = browser.execute_script("return arguments[0].getAttribute('href')", mark)
    anchor = href.split("#", 1)[1]
    assert browser.find_element(By.ID, anchor).tag_name == "tr"
    assert "rollback to release-1.5.2-2.1.0" in text
    checked = same_origin_links_answer_200(browser, base)
    assert any("/feed.atom?sig=" in u for u in checked)  # the feed link answers
    feed = browser.find_element(By.CSS_SELECTOR, "a[type='application/atom+xml']").get_attribute("href")
    with urllib.request.urlopen(feed, timeout=10) as response:  # noqa: S310 (loopback only)
        assert response.headers["Content-Type"].startswith("application/atom+xml")
        assert b"<feed xmlns=\"http://www.w3.org/2005/Atom\">" in response.read()
