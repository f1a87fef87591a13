"""The one reader of the environment: Settings are built once at start-up and passed in; secrets never print."""
from __future__ import annotations

import hashlib
import hmac
import os
import pathlib
from dataclasses import dataclass, field
from typing import Mapping

DEFAULT_QUEUE_URL = "sqlite:///var/queue.db"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
# Where /setup (bot.pages_setup) writes the App it registered, read at start-up for what the environment leaves unset.
DEFAULT_CREDENTIALS_FILE = "var/github-app.env"
CREDENTIAL_KEYS = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Derivation label: the details-link key never equals a secret used elsewhere (a leaked link key must not sign
# webhooks), and changing it (v2) would rotate every link at once.
DETAILS_LINK_LABEL = b"release-coordinator details links v1"


class Secret(str):
    """A str whose repr and str-formatting in logs never show the value (use .reveal() where it is needed)."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def reveal(self) -> str:
        return str.__str__(self)


class SettingsError(ValueError):
    """The environment names something that cannot work (e.g. a key file that does not exist)."""


@dataclass(frozen=True)
class Settings:
    github_app_id: int | None = None
    github_private_key: Secret | None = field(default=None, repr=False)
    github_webhook_secret: Secret | None = field(default=None, repr=False)
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_app_credentials_file: str = DEFAULT_CREDENTIALS_FILE  # GITHUB_APP_CREDENTIALS_FILE
    gitlab_url: str | None = None
    gitlab_token: Secret | None = field(default=None, repr=False)
    gitlab_webhook_secret: Secret | None = field(default=None, repr=False)
    gitlab_config_project: str | None = None
    queue_url: str = DEFAULT_QUEUE_URL
    public_url: str = ""
    port: int = 3000
    web_concurrency: int | None = None  # WEB_CONCURRENCY: web processes (serve, web); None: bot.serving's default
    log_level: str = "INFO"
    log_format: str = "json"  # LOG_FORMAT: json (one object per line) or text (for a terminal)
    details_link_secret: Secret | None = field(default=None, repr=False)  # DETAILS_LINK_SECRET
    # Variables a repository's `notify:` config may name (url_env, secret_env): the environment minus the app's
    # own settings, so a config file can never send a GitHub key or the queue URL anywhere (bot.notify).
    announce_env: Mapping[str, Secret] = field(default_factory=dict, repr=False)

    def announce_variable(self, name: str) -> Secret | None:
        """The value of a `notify:` target's url_env / secret_env; None when unset or one of the app's own."""
        return None if _own_variable(name) else self.announce_env.get(name)

    @property
    def details_link_key(self) -> Secret | None:
        """The key that signs details-page links (bot.links): from DETAILS_LINK_SECRET, else from
        GITHUB_WEBHOOK_SECRET, else GITLAB_WEBHOOK_SECRET; None when none is set (then no details page opens). Changing the secret it
        comes from invalidates every link already posted, until each check run is written again."""
        base = self.details_link_secret or self.github_webhook_secret or self.gitlab_webhook_secret
        if base is None:
            return None
        return Secret(hmac.new(base.encode(), DETAILS_LINK_LABEL, hashlib.sha256).hexdigest())

    @property
    def github_app_configured(self) -> bool:
        return self.github_app_id is not None and self.github_private_key is not None

    def missing_github(self) -> tuple[str, ...]:
        """Names of the GitHub variables still unset, for the landing page and the 503 message."""
        missing = []
        if self.github_app_id is None:
            missing.append("GITHUB_APP_ID")
        if self.github_private_key is None:
            missing.append("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH")
        if self.github_webhook_secret is None:
            missing.append("GITHUB_WEBHOOK_SECRET")
        return tuple(missing)

    def missing_gitlab_api(self) -> tuple[str, ...]:
        """What the worker still needs to act on GitLab (the API): GITLAB_URL and GITLAB_TOKEN."""
        return tuple(name for name, value in (("GITLAB_URL", self.gitlab_url), ("GITLAB_TOKEN", self.gitlab_token))
                     if value is None)

    def missing_gitlab(self) -> tuple[str, ...]:
        """Names of the GitLab variables still unset (SPEC §8/§9), for the landing page and the 503 message.
        GITLAB_CONFIG_PROJECT is optional: without it there are no org-wide defaults."""
        missing = list(self.missing_gitlab_api())
        if self.gitlab_webhook_secret is None:
            missing.append("GITLAB_WEBHOOK_SECRET")
        return tuple(missing)

    @property
    def gitlab_configured(self) -> bool:
        return not self.missing_gitlab()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        credentials_file = env.get("GITHUB_APP_CREDENTIALS_FILE", "").strip() or DEFAULT_CREDENTIALS_FILE
        env = _with_credentials_file(env, credentials_file)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def secret(name: str) -> Secret | None:
            value = get(name)
            return Secret(value) if value else None

        app_id = get("GITHUB_APP_ID")
        if app_id is not None and not app_id.isdigit():
            raise SettingsError(f"GITHUB_APP_ID must be the App's numeric id, got {app_id!r}")
        port = get("PORT") or "3000"
        if not port.isdigit():
            raise SettingsError(f"PORT must be a number, got {port!r}")
        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            # logging would quietly fall back to INFO (or fail on a name such as BASIC_FORMAT): say so at start-up
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {get('LOG_LEVEL')!r}")
        concurrency = get("WEB_CONCURRENCY")
        if concurrency is not None and not (concurrency.isdigit() and int(concurrency) > 0):
            raise SettingsError(f"WEB_CONCURRENCY must be a number of processes (1 or more), got {concurrency!r}")
        log_format = (get("LOG_FORMAT") or "json").lower()
        if log_format not in ("json", "text"):
            raise SettingsError(f"LOG_FORMAT must be json or text, got {get('LOG_FORMAT')!r}")
        return cls(
            github_app_id=int(app_id) if app_id else None,
            github_private_key=_private_key(get("GITHUB_PRIVATE_KEY"), get("GITHUB_PRIVATE_KEY_PATH")),
            github_webhook_secret=secret("GITHUB_WEBHOOK_SECRET"),
            github_api_url=(get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/"),
            github_app_credentials_file=credentials_file,
            gitlab_url=_gitlab_url(get("GITLAB_URL")),
            gitlab_token=secret("GITLAB_TOKEN"),
            gitlab_webhook_secret=secret("GITLAB_WEBHOOK_SECRET"),
            gitlab_config_project=get("GITLAB_CONFIG_PROJECT"),
            queue_url=get("QUEUE_URL") or DEFAULT_QUEUE_URL,
            public_url=(get("PUBLIC_URL") or "").rstrip("/"),
            port=int(port),
            web_concurrency=int(concurrency) if concurrency else None,
            log_level=log_level,
            log_format=log_format,
            details_link_secret=secret("DETAILS_LINK_SECRET"),
            announce_env={name: Secret(value.strip()) for name, value in env.items()
                          if value.strip() and not _own_variable(name)},
        )


# The app's own configuration (SPEC §9 env), never readable through a repository's `notify:` target.
_OWN_PREFIXES = ("GITHUB_", "GITLAB_")
_OWN_NAMES = frozenset({"QUEUE_URL", "PUBLIC_URL", "PORT", "WEB_CONCURRENCY", "LOG_LEVEL", "LOG_FORMAT",
                        "DETAILS_LINK_SECRET"})


def _own_variable(name: str) -> bool:
    return name.startswith(_OWN_PREFIXES) or name in _OWN_NAMES


def read_credentials_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines (the file /setup writes; also a `docker --env-file`): {} when there is no such file."""
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"GITHUB_APP_CREDENTIALS_FILE={path}: cannot read it ({exc.strerror})") from None
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip()
    return values


def _with_credentials_file(env: Mapping[str, str], path: str) -> Mapping[str, str]:
    # The environment wins: the file only fills the App's id, key and webhook secret where the env has none.
    found = {key: value for key, value in read_credentials_file(path).items() if key in CREDENTIAL_KEYS and value}
    if not found:
        return env
    if env.get("GITHUB_PRIVATE_KEY_PATH", "").strip():
        found.pop("GITHUB_PRIVATE_KEY", None)
    return {**found, **{key: value for key, value in env.items() if value.strip() or key not in found}}


def _private_key(inline: str | None, path: str | None) -> Secret | None:
    if inline:
        # Platforms such as Heroku keep one-line env values; accept "\n" escapes in a pasted PEM.
        return Secret(inline.replace("\\n", "\n"))
    if path:
        try:
            return Secret(pathlib.Path(path).read_text())
        except OSError as exc:
            raise SettingsError(f"GITHUB_PRIVATE_KEY_PATH={path}: cannot read the key ({exc.strerror})") from None
    return None


def _gitlab_url(value: str | None) -> str | None:
    """GITLAB_URL is the instance's root (https://gitlab.com, or https://example.com/gitlab with a path prefix);
    an API URL pasted instead (.../api/v4) is taken back to the root, which python-gitlab wants."""
    if value is None:
        return None
    url = value.rstrip("/").removesuffix("/api/v4")
    if not url.startswith(("https://", "http://")):
        raise SettingsError(f"GITLAB_URL must be the GitLab root URL (https://gitlab.example.com[/prefix]), got {value!r}")
    return url
