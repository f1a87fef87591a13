"""The pages in headless Chromium (Debian's chromium + chromium-driver, through selenium): the real Flask app on a
loopback port, a real SQLite store seeded by the real handlers (tests/pages_seed.py). Each page renders, its key
facts are visible, its same-origin links answer 200, the browser logs no console error. Every page is captured;
the captures are written only when asked, to RC_SCREENSHOTS_DIR (the README's: `RC_SCREENSHOTS_DIR=docs/screenshots
.venv/bin/pytest tests/test_browser_pages.py`), because the pages show this run's port and temporary paths: a test
run must not change committed files.

.ci/run installs chromium and chromium-driver; elsewhere the module skips and says what to install."""
from __future__ import annotations

import base64
import contextlib
import os
import pathlib
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from bot import pages_status
from tests.pages_seed import GITLAB_RELEASE, RELEASE, seed, seed_gitlab, settings

SCREENSHOTS = pathlib.Path(os.environ["RC_SCREENSHOTS_DIR"]) if os.environ.get("RC_SCREENSHOTS_DIR") else None
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra: pip install -e '.[test]'")
if not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: .ci/run installs chromium and chromium-driver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless Chromium tests need Debian's chromium and chromium-driver "
                "(apt-get install -y chromium chromium-driver; .ci/run does it)", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def server():
    """The real app (create_app) on 127.0.0.1:<free port>, PUBLIC_URL pointing at it, seeded through the Worker."""
    from werkzeug.serving import make_server

    from bot.store import open_store
    from bot.web import create_app

    holder = {}
    httpd = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{httpd.server_port}"
    directory = tempfile.mkdtemp(prefix="rc-browser-")
    queue_url = f"sqlite:///{directory}/rc.db"
    app_settings = settings(queue_url)
    app_settings = type(app_settings)(**{**app_settings.__dict__, "public_url": base})
    store = open_store(queue_url)
    seeded = seed(store, settings_=app_settings)
    seeded["gitlab"] = seed_gitlab(store, settings_=app_settings)
    holder["app"] = create_app(app_settings, store=store)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base, seeded
    httpd.shutdown()
    thread.join(5)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="rc-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1100,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def visit(driver, url: str, screenshot: str) -> str:
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == [], errors  # no console errors, no failed subresource (the stylesheet, the icon)
    # the stylesheet applied: the page is narrow and readable, not browser-default full width
    width = driver.execute_script("return document.querySelector('main').getBoundingClientRect().width")
    assert width <= 52 * 16 + 1, width
    text = driver.find_element(By.TAG_NAME, "body").text
    # the whole page, not the viewport: Chromium's DevTools screenshot beyond the viewport
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1100, "height": min(height, 6000), "scale": 1}})
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, len(png)  # a real capture, not a blank
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / screenshot).write_bytes(png)
    return text


def same_origin_links_answer_200(driver, base: str) -> list[str]:
    hrefs = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a[href]")]
    hrefs += [link.get_attribute("href") for link in driver.find_elements(By.CSS_SELECTOR, "link[rel=stylesheet]")]
    checked = []
    for href in sorted(set(hrefs)):
        if not href.startswith(base):
            continue
        url = href.split("#", 1)[0]
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback only)
            assert response.status == 200, url
        checked.append(url)
    anchors = [h.split("#", 1)[1] for h in hrefs if "#" in h and h.split("#", 1)[0] == driver.current_url.split("#")[0]]
    for anchor in anchors:  # in-page links land on an element
        assert driver.find_elements(By.ID, anchor), anchor
    return checked


def section_state(driver, anchor: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"section#{anchor} h2 .badge").text


def test_waiting_release_pull_request(server, browser):
    base, seeded = server
    pull = seeded["waiting"]
    url = pull.details_url("release-coordinator/window")
    assert url.startswith(base) and url.endswith("#window")  # the window check's Details opens its section
    text = visit(browser, url, "pull-waiting.png")
    assert f"{RELEASE}#7: Release 1.5.3 / 2.1.0" in text
    assert "Waiting: nothing is wrong, more approvals or time will pass it." in text
    assert "0 failing, 2 waiting, 1 passing" in text
    assert section_state(browser, "approvals") == "◷ Waiting" and section_state(browser, "window") == "◷ Waiting"
    assert section_state(browser, "manifest") == "✓ Passing"
    assert "Required by CODEOWNERS line 1 for release.yml" in text  # the pattern said once, not twice
    assert "Can approve: @ravi, @rita" in text
    assert "next window opens Wed 2026-12-02 09:00 CET" in text
    assert browser.execute_script("return location.hash") == "#window"
    assert len(same_origin_links_answer_200(browser, base)) >= 2  # home and the stylesheet


def test_failing_release_pull_request(server, browser):
    base, seeded = server
    pull = seeded["failing"]
    text = visit(browser, pull.details_url("release-coordinator/manifest"), "pull-failing.png")
    assert "Something must change before this can merge." in text
    assert section_state(browser, "manifest") == "✗ Failing" and section_state(browser, "approvals") == "✗ Failing"
    assert "no tag `v1.5.4` in acme/payments-app".replace("`", "") in text.replace("`", "")
    # the annotation is a file#line link to the forge at the evaluated commit
    link = browser.find_element(By.CSS_SELECTOR, "section#manifest a[href*='/blob/']")
    assert link.get_attribute("href") == f"https://github.com/{RELEASE}/blob/{pull.head_sha}/release.yml#L2"
    assert link.text == "release.yml#L2"
    assert "What must change first:" in text and "changes requested by @rita" in text
    same_origin_links_answer_200(browser, base)


def test_passing_release_pull_request(server, browser):
    base, seeded = server
    pull = seeded["passing"]
    text = visit(browser, pull.details_url(), "pull-passing.png")
    assert "Every check of release-coordinator passes." in text and "0 failing, 0 waiting, 3 passing" in text
    for anchor in ("approvals", "manifest", "window"):
        assert section_state(browser, anchor) == "✓ Passing"
    assert "All 1 owning group approved" in text and "Inside a release window" in text
    evaluated = browser.find_element(By.CSS_SELECTOR, "section#approvals .meta").text
    assert "Evaluated at commit 999999999999; this result since 2026-12-01 10:00 UTC." in evaluated.replace("\n", " ")
    same_origin_links_answer_200(browser, base)


def test_a_gitlab_merge_request_page_speaks_gitlab(server, browser):
    base, seeded = server
    pull = seeded["gitlab"]
    url = pull.details_url("release-coordinator/manifest")
    assert f"/pulls/gitlab/{GITLAB_RELEASE}/4?sig=" in url and url.endswith("#manifest")
    text = visit(browser, url, "mr-gitlab-waiting.png")
    assert f"{GITLAB_RELEASE}!4: Release 1.5.3 / 2.1.0" in text and "Open the merge request on GitLab" in text
    assert section_state(browser, "approvals") == "◷ Waiting" and section_state(browser, "manifest") == "✓ Passing"
    assert "Required by CODEOWNERS line 2 for release.yml" in text  # the [Release] section heading is line 1
    commit = browser.find_element(By.CSS_SELECTOR, "section#manifest .meta a")
    assert commit.get_attribute("href") == f"https://gitlab.example/{GITLAB_RELEASE}/-/commit/{pull.head_sha}"
    same_origin_links_answer_200(browser, base)


def test_a_wrong_link_shows_the_not_evaluated_page_styled(server, browser):
    base, seeded = server
    url = seeded["passing"].details_url().split("?")[0] + "?sig=" + "0" * 32
    browser.get(url)
    assert "not evaluated yet" in browser.find_element(By.TAG_NAME, "h1").text
    # a 404 document is logged by Chromium as a failed resource; nothing else may be
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE" and "404" not in e["message"]]
    assert errors == []


@pytest.fixture(scope="module")
def fake_github():
    """A GitHub API on loopback that answers GET /app and /app/installations only for a JWT our key signed."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from flask import Flask, jsonify, request
    from werkzeug.serving import make_server

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    api = Flask("fake-github")
    asked = []

    def authorized() -> bool:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, key.public_key(), algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == "4242"

    @api.get("/app")
    def app_info():
        asked.append(request.path)
        if not authorized():
            return jsonify(message="A JSON web token could not be decoded"), 401
        return jsonify(id=4242, slug="release-coordinator-acme", name="release-coordinator (acme)",
                       owner={"login": "acme"}, html_url="https://github.com/apps/release-coordinator-acme")

    @api.get("/app/installations")
    def installations():
        asked.append(request.path)
        if not authorized():
            return jsonify(message="A JSON web token could not be decoded"), 401
        return jsonify([{"id": 1, "account": {"login": "acme"}}, {"id": 2, "account": {"login": "acme-labs"}}])

    httpd = make_server("127.0.0.1", 0, api, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", pem, asked
    httpd.shutdown()
    thread.join(5)


@contextlib.contextmanager
def serving(make_settings):
    """create_app(make_settings(base)) on 127.0.0.1:<free port>, base being its own address (so PUBLIC_URL can be)."""
    from werkzeug.serving import make_server

    from bot.web import create_app

    holder = {}
    httpd = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    base = f"http://127.0.0.1:{httpd.server_port}"
    holder["app"] = create_app(make_settings(base))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        httpd.shutdown()
        thread.join(5)


def test_landing_page_is_a_status_page_verified_against_the_forge(browser, fake_github, tmp_path):
    from bot.settings import Secret, Settings

    api, pem, asked = fake_github
    with serving(lambda base: Settings(
            queue_url=f"sqlite:///{tmp_path}/status.db", public_url=base, github_app_id=4242,
            github_private_key=Secret(pem), github_webhook_secret=Secret("s"), github_api_url=api,
            gitlab_url="http://127.0.0.1:9", gitlab_token=Secret("t"), gitlab_webhook_secret=Secret("g"))) as base:
        text = visit(browser, base + "/", "landing.png")
        assert "release-coordinator-acme (id 4242), owned by acme: GET /app answered for our key" in text
        assert "2 installations: acme, acme-labs" in text
        # GitLab's address answers nothing: a red line with the reason, not a stack trace
        assert "GET /user: cannot reach http://127.0.0.1:9 (ConnectionError)" in text and "Traceback" not in text
        assert f"{base}: matches this request; details links are signed" in text
        assert "0 waiting, 0 scheduled for a retry" in text
        assert f"release-coordinator {pages_status.version()} on Python" in text
        states = {row.find_element(By.CSS_SELECTOR, "td").text: row.find_element(By.CSS_SELECTOR, ".badge").text
                  for row in browser.find_elements(By.CSS_SELECTOR, "table.status tbody tr")}
        assert states["GitHub App"] == "✓ OK" and states["Installations"] == "✓ OK"
        assert states["GitLab"] == "✗ Failing" and states["PUBLIC_URL"] == "✓ OK" and states["Dead letters"] == "✓ OK"
        assert "Something below is failing." in text
        assert len(same_origin_links_answer_200(browser, base)) >= 3  # /healthz, /metrics, the stylesheet
        asked_before = len(asked)
        browser.refresh()
        assert len(asked) == asked_before == 2  # /app and its installations, once: a reload is served from the cache


def test_landing_page_of_a_fresh_install_offers_to_register_the_app(browser, tmp_path):
    from bot.settings import Settings

    with serving(lambda base: Settings(queue_url=f"sqlite:///{tmp_path}/fresh.db",
                                       github_app_credentials_file=str(tmp_path / "none.env"))) as base:
        text = visit(browser, base + "/", "landing-unconfigured.png")
        assert "not configured: GITHUB_APP_ID, GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, GITHUB_WEBHOOK_SECRET unset" in text
        assert "unset: checks carry no Details link" in text
        assert browser.find_element(By.XPATH, "//td[.='PUBLIC_URL']/following-sibling::td[1]").text == "! Check"
        register = browser.find_elements(By.LINK_TEXT, "Register the GitHub App")
        assert register and all(a.get_attribute("href") == base + "/setup" for a in register)
        assert base + "/setup" in same_origin_links_answer_200(browser, base)  # OPS-deploy's manifest flow answers
