"""SPEC §9 environment: each variable honoured by the one reader, bad values refused at start-up."""
import pathlib
import subprocess
import sys

import pytest

from bot.settings import Settings, SettingsError


def test_port_public_url_and_log_level_are_read():
    settings = Settings.from_env({"PORT": "8080", "PUBLIC_URL": "https://rc.example/", "LOG_LEVEL": "debug",
                                  "QUEUE_URL": "redis://127.0.0.1:6379/3"})
    assert (settings.port, settings.public_url, settings.log_level, settings.queue_url) == (
        8080, "https://rc.example", "DEBUG", "redis://127.0.0.1:6379/3")
    assert Settings.from_env({}).log_level == "INFO"


@pytest.mark.parametrize("value", ["verbose", "10", "basic_format"])
def test_unknown_log_level_is_refused_not_silently_info(value):
    with pytest.raises(SettingsError, match=f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got '{value}'"):
        Settings.from_env({"LOG_LEVEL": value})


def test_serve_with_a_bad_log_level_exits_2_and_says_why(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], capture_output=True, text=True, timeout=30,
                          cwd=tmp_path, env={"LOG_LEVEL": "verbose", "PATH": "/usr/bin:/bin",
                                             "PYTHONPATH": str(pathlib.Path(__file__).parents[1])})
    assert done.returncode == 2
    assert "LOG_LEVEL must be one of" in done.stderr


# --- GitLab readiness (GL-core)

def test_missing_gitlab_names_each_unset_variable_and_the_config_project_is_optional():
    assert Settings().missing_gitlab() == ("GITLAB_URL", "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET")
    ready = Settings.from_env({"GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": "glpat-x",
                               "GITLAB_WEBHOOK_SECRET": "s"})
    assert ready.missing_gitlab() == () and ready.gitlab_configured and ready.gitlab_config_project is None
    assert Settings.from_env({"GITLAB_WEBHOOK_SECRET": "s"}).missing_gitlab_api() == ("GITLAB_URL", "GITLAB_TOKEN")


@pytest.mark.parametrize("given, root", [
    ("https://gitlab.com", "https://gitlab.com"),
    ("https://example.com/gitlab/", "https://example.com/gitlab"),  # a self-managed path prefix is kept
    ("https://example.com/gitlab/api/v4", "https://example.com/gitlab"),  # an API URL pasted instead
])
def test_gitlab_url_is_the_instance_root(given, root):
    assert Settings.from_env({"GITLAB_URL": given}).gitlab_url == root


def test_a_gitlab_url_without_a_scheme_is_refused_at_start_up():
    with pytest.raises(SettingsError, match="GITLAB_URL"):
        Settings.from_env({"GITLAB_URL": "gitlab.example.com"})


def test_a_gitlab_only_deployment_still_signs_details_links():
    key = Settings.from_env({"GITLAB_WEBHOOK_SECRET": "gl-secret"}).details_link_key
    assert key is not None and "gl-secret" not in key.reveal()
