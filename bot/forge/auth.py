"""GitHub App authentication on PyGithub's own AppAuth: one client per installation, tokens refreshed early."""
from __future__ import annotations

import datetime as dt
import threading

import github
from github.Auth import AppAuth, AppInstallationAuth

# GitHub rejects a JWT whose exp is more than 10 minutes ahead; iat 60 s in the past absorbs clock drift.
# https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
JWT_ISSUED_AT = -60
JWT_EXPIRY = 9 * 60
# Installation tokens live one hour; take a new one five minutes early so no job starts on a dying token.
# https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation
TOKEN_REFRESH_MARGIN = dt.timedelta(minutes=5)


class _InstallationAuth(AppInstallationAuth):
    """PyGithub refreshes 20 s before expires_at; we want TOKEN_REFRESH_MARGIN."""

    @property
    def _is_expired(self) -> bool:
        authorization = self._AppInstallationAuth__installation_authorization  # type: ignore[attr-defined]
        return authorization.expires_at - TOKEN_REFRESH_MARGIN < dt.datetime.now(dt.timezone.utc)


class GitHubApp:
    def __init__(self, *, app_id: int, private_key: str, api_url: str = "https://api.github.com", timeout: int = 15):
        key = private_key.reveal() if hasattr(private_key, "reveal") else private_key
        self.app_id = app_id
        self.api_url = api_url.rstrip("/")
        self._timeout = timeout
        self._auth = AppAuth(app_id, key, jwt_expiry=JWT_EXPIRY, jwt_issued_at=JWT_ISSUED_AT)
        self._clients: dict[int, github.Github] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GitHubApp(app_id={self.app_id}, api_url={self.api_url!r})"

    def jwt(self) -> str:
        """The App's own JWT (RS256), for /app endpoints."""
        return self._auth.create_jwt()

    def client(self, installation_id: int) -> github.Github:
        """The installation's client, kept across jobs so its token is reused until it nears expiry."""
        with self._lock:
            client = self._clients.get(installation_id)
            if client is None:
                auth = _InstallationAuth(self._auth, installation_id)
                # retry=None: the queue retries with backoff instead of a worker thread sleeping in urllib3.
                client = github.Github(
                    auth=auth, base_url=self.api_url, timeout=self._timeout, retry=None, per_page=100
                )
                self._clients[installation_id] = client
            return client

    def integration(self) -> github.GithubIntegration:
        return github.GithubIntegration(auth=self._auth, base_url=self.api_url, timeout=self._timeout, retry=None)
