"""/setup: register the GitHub App from app.yml through GitHub's manifest flow, while no App is configured.

https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest
1. the admin's browser POSTs the manifest (JSON in a `manifest` form field) to GitHub's "new App" page, with a
   `state` we chose; 2. GitHub redirects back to `redirect_url?code=...&state=...`; 3. we exchange the code
   (`POST /app-manifests/{code}/conversions`, no authentication, within one hour) for the App's id, private key and
   webhook secret, and write them to a file only the service user can read. The running processes keep their
   settings: the admin restarts them (or copies the file's values into the secret store).
"""
from __future__ import annotations

import hmac
import html
import json
import os
import pathlib
import re
import secrets
import tempfile
import time
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import yaml
from flask import Blueprint, Response, abort, current_app, request

from bot.settings import Settings, read_credentials_file

blueprint = Blueprint("setup", __name__)

STATE_COOKIE = "rc_setup_state"
STATE_TTL_SECONDS = 3600  # GitHub: all three steps must complete within one hour
EXCHANGE_TIMEOUT_SECONDS = 15
# GitHub App names: at most 34 characters (GitHub refuses longer ones on the form it shows).
MAX_APP_NAME = 34
_ORG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
# Only these keys of app.yml are manifest parameters; the URLs are this server's, filled in per request.
MANIFEST_KEYS = ("name", "url", "description", "public", "hook_attributes", "default_events", "default_permissions",
                 "request_oauth_on_install", "setup_on_update", "callback_urls")


class SetupError(Exception):
    """Something the admin must see on the page (with the HTTP status to answer)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def web_url(api_url: str) -> str:
    """GitHub's web host for an API URL: https://api.github.com -> https://github.com; GitHub Enterprise Server
    https://HOST/api/v3 -> https://HOST; GHE.com https://api.SUB.ghe.com -> https://SUB.ghe.com."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.startswith("api."):
        host = host[len("api."):]
    return f"{parts.scheme}://{host}"


def new_app_url(api_url: str, *, org: str | None, state: str) -> str:
    """Where the manifest is posted: the personal account's or an organization's "new GitHub App" page."""
    base = web_url(api_url)
    owner = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{base}{owner}/settings/apps/new?state={quote(state, safe='')}"


def manifest(app_yml: str | bytes, *, base_url: str, name: str | None = None) -> dict[str, Any]:
    """app.yml as GitHub's manifest JSON, its URLs pointing at this server (base_url, no trailing slash)."""
    source = yaml.safe_load(app_yml) or {}
    result = {key: source[key] for key in MANIFEST_KEYS if key in source}
    if name:
        result["name"] = name
    result["hook_attributes"] = {**(source.get("hook_attributes") or {}), "url": f"{base_url}/webhooks/github"}
    result["redirect_url"] = f"{base_url}/setup/callback"  # step 2 comes back here with ?code=&state=
    result["setup_url"] = f"{base_url}/"  # after an installation: the landing page says what is configured
    return result


def exchange_code(code: str, *, api_url: str, session: requests.Session | None = None) -> dict[str, Any]:
    """Step 3: the App's configuration (id, slug, pem, webhook_secret, html_url, ...) for the one-time code.

    https://docs.github.com/en/rest/apps/apps#create-a-github-app-from-a-manifest (201; 404/422 once the code is
    used or an hour old)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", code):
        raise SetupError(400, "GitHub's code in the callback is malformed; start again from /setup.")
    http = session or requests.Session()
    try:
        response = http.post(f"{api_url}/app-manifests/{code}/conversions",
                             headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
                             timeout=EXCHANGE_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise SetupError(502, f"could not reach GitHub at {api_url} ({type(exc).__name__}); reload this page to "
                              "try the same code again within the hour") from None
    if response.status_code in (404, 422):
        raise SetupError(400, "GitHub no longer accepts this code (it works once, for one hour). The App may have "
                              "been registered anyway: look under Settings -> Developer settings -> GitHub Apps, "
                              "delete it or set its credentials by hand, or start again from /setup.")
    if response.status_code != 201:
        raise SetupError(502, f"GitHub answered {response.status_code} to the code exchange; reload to try again")
    try:
        config = response.json()
        missing = [key for key in ("id", "pem", "webhook_secret") if not config.get(key)]
    except (ValueError, AttributeError):
        missing = ["a JSON body"]
    if missing:
        raise SetupError(502, f"GitHub's answer lacks {', '.join(missing)}; nothing was written")
    return config


def write_credentials(path: str, config: dict[str, Any]) -> None:
    """KEY=VALUE lines Settings reads (and `docker --env-file` takes), mode 0600 from creation, replaced
    atomically, so no reader ever sees half a file and no other user ever sees the key."""
    lines = [
        f"# GitHub App {config.get('slug') or config['id']} registered by release-coordinator /setup on "
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}. Keep this file secret.",
        f"GITHUB_APP_ID={int(config['id'])}",
        f"GITHUB_WEBHOOK_SECRET={_one_line(config['webhook_secret'])}",
        "GITHUB_PRIVATE_KEY=" + config["pem"].strip().replace("\r", "").replace("\n", "\\n"),
    ]
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(prefix=".github-app.", dir=target.parent)  # created 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, target)  # atomic, and unlike a rename it never replaces a file already there
        except FileExistsError:
            raise SetupError(409, f"{path} exists already (another /setup finished first); nothing was changed") \
                from None
    finally:
        pathlib.Path(temporary).unlink(missing_ok=True)


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise SetupError(502, "GitHub's webhook secret spans lines; nothing was written")
    return value


def configured(settings: Settings) -> bool:
    """/setup is closed once an App is configured: in the environment, or in the file an earlier /setup wrote
    (before the restart that makes the processes read it)."""
    if settings.github_app_id is not None or settings.github_private_key is not None:
        return True
    return bool(read_credentials_file(settings.github_app_credentials_file).get("GITHUB_APP_ID"))


# --- routes ---------------------------------------------------------------------------------------------------------

@blueprint.get("/setup")
def setup_page() -> Response:
    settings = _settings_or_404()
    base = _base_url(settings)
    warning = "" if settings.public_url else (
        f"<p><strong>PUBLIC_URL is not set</strong>: the App will send webhooks to <code>{html.escape(base)}"
        "</code>, the address this page was opened with. GitHub must be able to reach it; set PUBLIC_URL and "
        "reload if it cannot.</p>")
    ghes = "" if settings.github_api_url == "https://api.github.com" else (
        f"<p>GitHub server: <code>{html.escape(web_url(settings.github_api_url))}</code> "
        f"(from <code>GITHUB_API_URL</code>).</p>")
    body = f"""<h1>Register the GitHub App</h1>
<p>No GitHub App is configured yet. This registers one from <code>app.yml</code> (its events and least
permissions) through GitHub's <a href="https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest">manifest
flow</a>: GitHub shows the App, you confirm it, and this server stores its id, private key and webhook secret in
<code>{html.escape(settings.github_app_credentials_file)}</code> (readable by the service user only).</p>
{ghes}{warning}
<form method="post" action="/setup">
<fieldset><legend>Owner of the App</legend>
<p><label><input type="radio" name="owner" value="personal" checked> my personal account</label></p>
<p><label><input type="radio" name="owner" value="org"> the organization
<input name="org" placeholder="acme" pattern="[A-Za-z0-9][A-Za-z0-9-]*" maxlength="39"></label></p>
</fieldset>
<p><label>App name (unique on GitHub) <input name="name" maxlength="{MAX_APP_NAME}"
placeholder="release-coordinator-acme"></label></p>
<p><button type="submit">Register the GitHub App</button></p>
</form>"""
    return _page("Register the GitHub App", body, 200)


@blueprint.post("/setup")
def setup_start() -> Response:
    settings = _settings_or_404()
    org = (request.form.get("org") or "").strip() if request.form.get("owner") == "org" else ""
    if request.form.get("owner") == "org" and not _ORG.match(org):
        return _page("Register the GitHub App", "<p>Name the organization (letters, digits and dashes), then "
                     "<a href=\"/setup\">try again</a>.</p>", 400)
    name = (request.form.get("name") or "").strip()[:MAX_APP_NAME] or None
    state = secrets.token_urlsafe(32)
    store = current_app.config.get("STORE")
    if store is not None:
        store.set_json(_state_key(state), {"org": org or None, "at": time.time()}, ttl=STATE_TTL_SECONDS)
    document = manifest(_app_yml(), base_url=_base_url(settings), name=name)
    target = new_app_url(settings.github_api_url, org=org or None, state=state)
    # The browser must POST the manifest to GitHub itself (GitHub shows the App to the signed-in admin): an
    # auto-submitting form, with a button for browsers that run no script.
    body = f"""<h1>Register the GitHub App</h1>
<form id="manifest" method="post" action="{html.escape(target)}">
<input type="hidden" name="manifest" value="{html.escape(json.dumps(document))}">
<p>Continue on GitHub to create the App{f" for <strong>{html.escape(org)}</strong>" if org else ""}:
<button type="submit">Continue to GitHub</button></p>
</form>
<script>document.getElementById("manifest").submit();</script>"""
    response = _page("Register the GitHub App", body, 200)
    response.set_cookie(STATE_COOKIE, state, max_age=STATE_TTL_SECONDS, path="/setup", httponly=True,
                        secure=request.is_secure, samesite="Lax")  # Lax: sent on GitHub's top-level redirect back
    return response


@blueprint.get("/setup/callback")
def setup_callback() -> Response:
    settings = _settings_or_404()
    state, code = request.args.get("state", ""), request.args.get("code", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    store = current_app.config.get("STORE")
    # The state must be the one this browser was given (cookie) and one this server issued and has not used:
    # otherwise anyone could send an admin here with the code of an App *they* registered.
    known = store.get_json(_state_key(state)) if store is not None and state else None
    spent = store is not None and (not known or known.get("used"))
    if not state or not cookie or not hmac.compare_digest(state, cookie) or spent:
        return _page("Setup link not valid", "<p>This callback does not carry the state this browser was given "
                     "(started elsewhere, used already, or over an hour old). Nothing was written. "
                     "<a href=\"/setup\">Start again</a>.</p>", 400)
    try:
        config = exchange_code(code, api_url=settings.github_api_url)
        write_credentials(settings.github_app_credentials_file, config)
    except SetupError as exc:
        return _page("Registration not finished", f"<p>{html.escape(exc.message)}</p>", exc.status)
    if store is not None:
        store.set_json(_state_key(state), {"used": True}, ttl=STATE_TTL_SECONDS)
    path = html.escape(settings.github_app_credentials_file)
    slug = html.escape(str(config.get("slug") or config["id"]))
    install = html.escape(f"{config.get('html_url') or web_url(settings.github_api_url) + '/apps/' + slug}"
                          "/installations/new")
    body = f"""<h1>GitHub App registered</h1>
<p>GitHub App <strong>{slug}</strong> (id {int(config["id"])}) is registered. Its id, private key and webhook
secret are in <code>{path}</code>, readable by the service user only.</p>
<ol>
<li><strong>Restart release-coordinator</strong> (every web and worker process) so it reads the file. On
several machines or in Kubernetes, copy the three values into your secret store instead
(<code>GITHUB_APP_ID</code>, <code>GITHUB_PRIVATE_KEY</code>, <code>GITHUB_WEBHOOK_SECRET</code>), or point
<code>GITHUB_APP_CREDENTIALS_FILE</code> at a copy, then delete this one.</li>
<li><a href="{install}">Install the App</a> on the repositories to manage.</li>
</ol>
<p>This page is now closed (<code>/setup</code> answers 404 while an App is configured).</p>"""
    response = _page("GitHub App registered", body, 201)
    response.delete_cookie(STATE_COOKIE, path="/setup")
    return response


def _settings_or_404() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    if configured(settings):
        abort(404)
    return settings


def _base_url(settings: Settings) -> str:
    return settings.public_url or request.host_url.rstrip("/")


def _state_key(state: str) -> str:
    return "setup:state:" + state


def _app_yml() -> bytes:
    return resources.files("bot").joinpath("app.yml").read_bytes()


def _page(title: str, body: str, status: int) -> Response:
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - release-coordinator</title></head>
<body>
{body}
</body></html>
"""
    # The page carries a state and, after the callback, where the key lives: never cached, never referred.
    return Response(text, status=status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
