"""GitHub App auth: a JWT GitHub accepts, installation tokens cached and refreshed early, GHES base URLs,
keys read from the environment or a file, and no secret in any repr or log line."""
import datetime as dt
import json
import logging
import re
import time

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot import logs
from bot.forge.auth import GitHubApp
from bot.settings import Secret, Settings, SettingsError


@pytest.fixture(scope="module")
def key_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def token_response(token: str, expires_in: dt.timedelta) -> dict:
    expires = (dt.datetime.now(dt.timezone.utc) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"token": token, "expires_at": expires, "permissions": {"checks": "write"}, "repository_selection": "all"}


def api(base: str, path: str) -> re.Pattern:
    """PyGithub spells every URL with an explicit :443; match with or without it."""
    host, _, prefix = base.removeprefix("https://").partition("/")
    return re.compile(rf"https://{re.escape(host)}(:443)?{re.escape('/' + prefix if prefix else '')}{re.escape(path)}$")


def token_url(base: str, installation: int) -> re.Pattern:
    return api(base, f"/app/installations/{installation}/access_tokens")


REPO = {"id": 1, "name": "app", "full_name": "acme/app", "owner": {"login": "acme"}, "default_branch": "main"}


def test_jwt_is_rs256_issued_60s_ago_and_expires_within_10_minutes(key_pair):
    pem, public = key_pair
    before = int(time.time())
    token = GitHubApp(app_id=4242, private_key=pem).jwt()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_iat": False})
    assert claims["iss"] == "4242"
    assert before - 61 <= claims["iat"] <= before - 59
    assert claims["exp"] - int(time.time()) <= 600
    assert claims["exp"] - claims["iat"] <= 600


def test_jwt_signed_by_another_key_does_not_verify(key_pair):
    _, public = key_pair
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(GitHubApp(app_id=1, private_key=other).jwt(), public, algorithms=["RS256"])


@responses.activate
def test_installation_token_is_fetched_once_and_reused_across_jobs(key_pair):
    pem, public = key_pair
    tokens = responses.post(token_url("https://api.github.com", 42),
                            json=token_response("ghs_" + "a" * 36, dt.timedelta(hours=1)), status=201)
    repos = responses.get(api("https://api.github.com", "/repos/acme/app"), json=REPO)
    app = GitHubApp(app_id=4242, private_key=Secret(pem))

    assert app.client(42) is app.client(42)  # one client per installation, kept
    app.client(42).get_repo("acme/app")
    app.client(42).get_repo("acme/app")

    assert tokens.call_count == 1
    assert repos.call_count == 2
    bearer = tokens.calls[0].request.headers["Authorization"]
    assert bearer.startswith("Bearer ")
    assert jwt.decode(bearer.removeprefix("Bearer "), public, algorithms=["RS256"])["iss"] == "4242"
    assert all(c.request.headers["Authorization"] == "token ghs_" + "a" * 36 for c in repos.calls)


@responses.activate
def test_token_is_refreshed_when_it_is_within_minutes_of_expiry(key_pair):
    pem, _ = key_pair
    responses.post(token_url("https://api.github.com", 42),
                   json=token_response("ghs_" + "1" * 36, dt.timedelta(minutes=4)), status=201)
    responses.post(token_url("https://api.github.com", 42),
                   json=token_response("ghs_" + "2" * 36, dt.timedelta(hours=1)), status=201)
    repos = responses.get(api("https://api.github.com", "/repos/acme/app"), json=REPO)
    client = GitHubApp(app_id=1, private_key=pem).client(42)
    for _ in range(3):
        client.get_repo("acme/app")
    used = [c.request.headers["Authorization"] for c in repos.calls]
    # 4 minutes left is inside the 5-minute margin: the first token is used once, then replaced for good.
    assert used == ["token ghs_" + "1" * 36] + ["token ghs_" + "2" * 36] * 2


@responses.activate
def test_installations_get_their_own_tokens(key_pair):
    pem, _ = key_pair
    for installation, token in ((1, "ghs_" + "x" * 36), (2, "ghs_" + "y" * 36)):
        responses.post(token_url("https://api.github.com", installation),
                       json=token_response(token, dt.timedelta(hours=1)), status=201)
    repos = responses.get(api("https://api.github.com", "/repos/acme/app"), json=REPO)
    app = GitHubApp(app_id=1, private_key=pem)
    app.client(1).get_repo("acme/app")
    app.client(2).get_repo("acme/app")
    assert [c.request.headers["Authorization"][-1] for c in repos.calls] == ["x", "y"]


@responses.activate
def test_github_enterprise_server_base_url_is_used_for_tokens_and_api(key_pair):
    pem, _ = key_pair
    base = "https://ghe.example.com/api/v3"
    tokens = responses.post(token_url(base, 7),
                            json=token_response("ghs_" + "e" * 36, dt.timedelta(hours=1)), status=201)
    repos = responses.get(api(base, "/repos/acme/app"), json=REPO)
    settings = Settings.from_env({"GITHUB_API_URL": base + "/", "GITHUB_APP_ID": "9", "GITHUB_PRIVATE_KEY": pem})
    app = GitHubApp(app_id=settings.github_app_id, private_key=settings.github_private_key,
                    api_url=settings.github_api_url)
    assert app.client(7).get_repo("acme/app").full_name == "acme/app"
    assert tokens.call_count == 1 and repos.call_count == 1  # responses would refuse any api.github.com call


def test_private_key_from_env_with_escaped_newlines_and_from_a_file(key_pair, tmp_path):
    pem, _ = key_pair
    one_line = pem.replace("\n", "\\n")
    assert Settings.from_env({"GITHUB_PRIVATE_KEY": one_line}).github_private_key.reveal() == pem
    path = tmp_path / "app.pem"
    path.write_text(pem)
    assert Settings.from_env({"GITHUB_PRIVATE_KEY_PATH": str(path)}).github_private_key.reveal() == pem
    with pytest.raises(SettingsError, match="cannot read the key"):
        Settings.from_env({"GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "missing.pem")})


def test_settings_defaults_and_bad_values():
    settings = Settings.from_env({})
    assert (settings.queue_url, settings.port, settings.github_api_url) == (
        "sqlite:///var/queue.db", 3000, "https://api.github.com")
    assert settings.missing_github() == ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH",
                                         "GITHUB_WEBHOOK_SECRET")
    with pytest.raises(SettingsError, match="GITHUB_APP_ID"):
        Settings.from_env({"GITHUB_APP_ID": "my-app"})


def test_no_secret_in_reprs_or_formatted_strings(key_pair):
    pem, _ = key_pair
    settings = Settings.from_env({"GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "hook-secret-123",
                                  "GITLAB_TOKEN": "glpat-abcdefghijklmnopqrstu", "GITHUB_APP_ID": "5"})
    app = GitHubApp(app_id=5, private_key=settings.github_private_key)
    text = " ".join([repr(settings), str(settings), repr(app), f"{settings.github_webhook_secret}",
                     str(settings.github_private_key), repr(settings.gitlab_token)])
    for secret in ("hook-secret-123", "PRIVATE KEY", "glpat-"):
        assert secret not in text


def test_log_lines_redact_tokens_keys_and_signatures(key_pair):
    pem, _ = key_pair
    logs.register_secrets([Secret("a-registered-webhook-secret")])
    token, signature, jwt_ = "ghs_" + "z" * 36, "sha256=" + "f" * 64, GitHubApp(app_id=1, private_key=pem).jwt()
    record = logging.LogRecord("bot", logging.ERROR, __file__, 1, "boom %s", (f"token {token}",), None)
    record.fields = {"key": pem, "sig": signature, "note": "a-registered-webhook-secret", "jwt": jwt_}
    line = logs.JsonFormatter().format(record)
    for secret in (token, signature, "a-registered-webhook-secret", jwt_, pem.splitlines()[1], "PRIVATE KEY"):
        assert secret not in line
    assert json.loads(line)["sig"] == "[REDACTED]"
