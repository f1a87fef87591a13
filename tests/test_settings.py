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
