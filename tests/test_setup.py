"""/setup: the GitHub App manifest flow from app.yml, guarded by state, writing a 0600 credentials file that
Settings reads; closed (404) once an App is configured. GitHub is the `responses` mock: nothing leaves."""
from __future__ import annotations

import html
import json
import os
import pathlib
import re
import stat

import pytest
import responses
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot import pages_setup
from bot.queue import Queue
from bot.routing import Router
from bot.settings import Secret, Settings
from bot.web import create_app

ROOT = pathlib.Path(__file__).resolve().parents[1]
PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
).decode()
CONVERSION = {"id": 424242, "slug": "release-coordinator-acme", "name": "release-coordinator-acme",
              "html_url": "https://github.com/apps/release-coordinator-acme", "client_id": "Iv1.abc",
              "client_secret": "client-secret-not-kept", "webhook_secret": "whsec-123", "pem": PEM,
              "owner": {"login": "acme"}}


def make_client(tmp_path, **overrides):
    values = {"queue_url": f"sqlite:///{tmp_path}/queue.db", "public_url": "https://rc.example.com",
              "github_app_credentials_file": str(tmp_path / "var" / "github-app.env"), **overrides}
    settings = Settings(**values)
    return create_app(settings, queue=Queue(settings.queue_url), router=Router()).test_client(), settings


@pytest.fixture
def client(tmp_path):
    return make_client(tmp_path)[0]


def start(client, **form) -> tuple[str, dict, str]:
    """POST /setup: (where the browser is sent, the manifest it posts, the state cookie)."""
    response = client.post("/setup", data={"owner": "personal", **form})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    action = html.unescape(re.search(r'<form id="manifest" method="post" action="([^"]+)"', page).group(1))
    document = json.loads(html.unescape(re.search(r'name="manifest" value="([^"]+)"', page).group(1)))
    cookie = client.get_cookie(pages_setup.STATE_COOKIE, path="/setup")
    return action, document, cookie.value


def state_of(url: str) -> str:
    return re.search(r"[?&]state=([^&]+)", url).group(1)


def test_setup_page_offers_personal_and_organization_registration(client) -> None:
    page = client.get("/setup").get_data(as_text=True)
    assert "Register the GitHub App" in page and 'value="personal"' in page and 'value="org"' in page
    assert 'href="/setup"' in client.get("/").get_data(as_text=True)  # the landing page points here


def test_personal_registration_posts_app_yml_as_the_manifest(client) -> None:
    action, document, cookie = start(client, name="release-coordinator-acme")
    assert action == f"https://github.com/settings/apps/new?state={cookie}"
    app_yml = yaml.safe_load((ROOT / "app.yml").read_text())
    assert document["name"] == "release-coordinator-acme"
    assert document["hook_attributes"] == {"url": "https://rc.example.com/webhooks/github", "active": True}
    assert document["redirect_url"] == "https://rc.example.com/setup/callback"
    assert document["setup_url"] == "https://rc.example.com/"
    assert document["default_permissions"] == app_yml["default_permissions"]
    assert document["default_events"] == app_yml["default_events"]
    assert document["public"] is False and document["url"] == app_yml["url"]
    assert set(document) <= set(pages_setup.MANIFEST_KEYS) | {"redirect_url", "setup_url"}


def test_organization_registration_goes_to_the_orgs_page(client) -> None:
    action, _, cookie = start(client, owner="org", org="acme-inc")
    assert action == f"https://github.com/organizations/acme-inc/settings/apps/new?state={cookie}"
    assert client.post("/setup", data={"owner": "org", "org": "no/such org"}).status_code == 400


GHES = {
    "github.com": ("https://api.github.com", "https://github.com"),
    "GitHub Enterprise Server": ("https://ghe.acme.internal/api/v3", "https://ghe.acme.internal"),
    "GHES on a port over http": ("http://ghe.local:8080/api/v3", "http://ghe.local:8080"),
    "GHE.com data residency": ("https://api.acme.ghe.com", "https://acme.ghe.com"),
}


@pytest.mark.parametrize("api_url, web", GHES.values(), ids=GHES.keys())
def test_web_url_for_each_api_url(api_url, web) -> None:
    assert pages_setup.web_url(api_url) == web
    assert pages_setup.new_app_url(api_url, org="acme", state="s") == f"{web}/organizations/acme/settings/apps/new?state=s"


@responses.activate
def test_ghes_registration_posts_to_the_server_and_exchanges_on_its_api(tmp_path) -> None:
    client, settings = make_client(tmp_path, github_api_url="https://ghe.acme.internal/api/v3")
    action, _, state = start(client)
    assert action.startswith("https://ghe.acme.internal/settings/apps/new?state=")
    exchange = responses.post("https://ghe.acme.internal/api/v3/app-manifests/code-1/conversions", json=CONVERSION,
                              status=201)
    assert client.get(f"/setup/callback?code=code-1&state={state}").status_code == 201
    assert exchange.call_count == 1


@responses.activate
def test_callback_exchanges_the_code_and_writes_a_0600_file_settings_reads(tmp_path) -> None:
    client, settings = make_client(tmp_path)
    _, _, state = start(client)
    exchange = responses.post("https://api.github.com/app-manifests/abc123/conversions", json=CONVERSION, status=201)
    response = client.get(f"/setup/callback?code=abc123&state={state}")
    page = response.get_data(as_text=True)
    assert response.status_code == 201
    assert "Restart release-coordinator" in page and "release-coordinator-acme/installations/new" in page
    assert PEM.splitlines()[1] not in page and "whsec-123" not in page  # secrets never shown
    [call] = exchange.calls
    assert call.request.headers["Accept"] == "application/vnd.github+json"
    assert "Authorization" not in call.request.headers  # the conversion needs no credentials
    assert call.request.body in (None, b"", "")
    path = pathlib.Path(settings.github_app_credentials_file)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".github-app.")]  # no temporary left
    text = path.read_text()
    assert "client-secret-not-kept" not in text  # only what the app needs is kept
    loaded = Settings.from_env({"GITHUB_APP_CREDENTIALS_FILE": str(path)})
    assert loaded.github_app_id == 424242
    assert loaded.github_webhook_secret.reveal() == "whsec-123"
    assert loaded.github_private_key.reveal().strip() == PEM.strip()
    assert loaded.github_app_configured and not loaded.missing_github()


@responses.activate
def test_after_registering_setup_is_closed_before_and_after_the_restart(tmp_path) -> None:
    client, settings = make_client(tmp_path)
    _, _, state = start(client)
    responses.post("https://api.github.com/app-manifests/abc/conversions", json=CONVERSION, status=201)
    assert client.get(f"/setup/callback?code=abc&state={state}").status_code == 201
    assert client.get("/setup").status_code == 404  # the file is there: closed even before the restart
    assert client.get(f"/setup/callback?code=abc&state={state}").status_code == 404
    assert 'href="/setup"' not in client.get("/").get_data(as_text=True)
    restarted, _ = make_client(tmp_path, **_from_file(settings))
    assert restarted.get("/setup").status_code == 404


def _from_file(settings: Settings) -> dict:
    loaded = Settings.from_env({"GITHUB_APP_CREDENTIALS_FILE": settings.github_app_credentials_file})
    return {"github_app_id": loaded.github_app_id, "github_private_key": loaded.github_private_key,
            "github_webhook_secret": loaded.github_webhook_secret}


def test_setup_is_404_when_the_environment_configures_an_app(tmp_path) -> None:
    client, _ = make_client(tmp_path, github_app_id=1, github_private_key=Secret(PEM),
                            github_webhook_secret=Secret("s"))
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={"owner": "personal"}).status_code == 404
    assert client.get("/setup/callback?code=x&state=y").status_code == 404


STATE_MISMATCHES = {
    "no state at all": lambda state: "code=abc",
    "another state": lambda state: "code=abc&state=forged",
    "the state with a suffix": lambda state: f"code=abc&state={state}x",
}


@responses.activate
@pytest.mark.parametrize("query", STATE_MISMATCHES.values(), ids=STATE_MISMATCHES.keys())
def test_state_mismatch_writes_nothing_and_calls_nobody(tmp_path, query) -> None:
    client, settings = make_client(tmp_path)
    _, _, state = start(client)
    response = client.get("/setup/callback?" + query(state))
    assert response.status_code == 400 and "Nothing was written" in response.get_data(as_text=True)
    assert not pathlib.Path(settings.github_app_credentials_file).exists()
    assert len(responses.calls) == 0


@responses.activate
def test_a_state_issued_to_another_browser_is_refused(tmp_path) -> None:
    client, settings = make_client(tmp_path)
    _, _, state = start(client)  # the attacker's own browser starts the flow ...
    victim = client.application.test_client()  # ... and sends the admin the callback with their code
    assert victim.get(f"/setup/callback?code=abc&state={state}").status_code == 400
    assert len(responses.calls) == 0 and not pathlib.Path(settings.github_app_credentials_file).exists()


@responses.activate
def test_a_refused_code_keeps_the_state_and_a_used_state_is_spent(tmp_path) -> None:
    client, settings = make_client(tmp_path)
    _, _, state = start(client)
    responses.post("https://api.github.com/app-manifests/old/conversions", status=422,
                   json={"message": "Validation Failed"})
    refused = client.get(f"/setup/callback?code=old&state={state}")
    assert refused.status_code == 400 and "works once, for one hour" in refused.get_data(as_text=True)
    assert not pathlib.Path(settings.github_app_credentials_file).exists()
    responses.post("https://api.github.com/app-manifests/new/conversions", json=CONVERSION, status=201)
    assert client.get(f"/setup/callback?code=new&state={state}").status_code == 201  # a reload may still finish
    pathlib.Path(settings.github_app_credentials_file).unlink()  # even with the file gone, the state is spent
    client.set_cookie(pages_setup.STATE_COOKIE, state, path="/setup")
    assert client.get(f"/setup/callback?code=new&state={state}").status_code == 400


@responses.activate
@pytest.mark.parametrize("status, shown", [(500, 502), (201, 502)], ids=["GitHub fails", "answer lacks the pem"])
def test_a_failed_exchange_says_so_and_writes_nothing(tmp_path, status, shown) -> None:
    client, settings = make_client(tmp_path)
    _, _, state = start(client)
    body = {k: v for k, v in CONVERSION.items() if k != "pem"} if status == 201 else {"message": "oops"}
    responses.post("https://api.github.com/app-manifests/abc/conversions", json=body, status=status)
    assert client.get(f"/setup/callback?code=abc&state={state}").status_code == shown
    assert not pathlib.Path(settings.github_app_credentials_file).exists()


def test_a_malformed_code_is_refused_before_any_request(tmp_path) -> None:
    client, settings = make_client(tmp_path)
    _, _, state = start(client)
    with responses.RequestsMock():  # any request would fail the test
        assert client.get(f"/setup/callback?code=..%2Fapp&state={state}").status_code == 400


def test_write_credentials_never_replaces_an_existing_file(tmp_path) -> None:
    path = tmp_path / "github-app.env"
    pages_setup.write_credentials(str(path), CONVERSION)
    before = path.read_bytes()
    with pytest.raises(pages_setup.SetupError) as caught:
        pages_setup.write_credentials(str(path), {**CONVERSION, "id": 1})
    assert caught.value.status == 409 and path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["github-app.env"]


def test_write_credentials_is_private_even_under_a_permissive_umask(tmp_path) -> None:
    old = os.umask(0)
    try:
        pages_setup.write_credentials(str(tmp_path / "new" / "github-app.env"), CONVERSION)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "github-app.env").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_environment_wins_over_the_file(tmp_path) -> None:
    path = tmp_path / "github-app.env"
    pages_setup.write_credentials(str(path), CONVERSION)
    settings = Settings.from_env({"GITHUB_APP_CREDENTIALS_FILE": str(path), "GITHUB_APP_ID": "7",
                                  "GITHUB_WEBHOOK_SECRET": "from-env"})
    assert settings.github_app_id == 7 and settings.github_webhook_secret.reveal() == "from-env"
    assert settings.github_private_key.reveal().strip() == PEM.strip()  # the one the env leaves unset
    key = tmp_path / "key.pem"
    key.write_text("ENV KEY")
    with_path = Settings.from_env({"GITHUB_APP_CREDENTIALS_FILE": str(path), "GITHUB_PRIVATE_KEY_PATH": str(key)})
    assert with_path.github_private_key.reveal() == "ENV KEY"


def test_without_public_url_the_manifest_uses_the_address_the_admin_opened(tmp_path) -> None:
    client, _ = make_client(tmp_path, public_url="")
    assert "PUBLIC_URL is not set" in client.get("/setup").get_data(as_text=True)
    _, document, _ = start(client)
    assert document["hook_attributes"]["url"] == "http://localhost/webhooks/github"
    assert document["redirect_url"] == "http://localhost/setup/callback"


def test_the_installed_package_carries_app_yml() -> None:
    from importlib import resources

    assert resources.files("bot").joinpath("app.yml").read_bytes() == (ROOT / "app.yml").read_bytes()
