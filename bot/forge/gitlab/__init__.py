"""GitLab adapter: GitLabForge over python-gitlab (REST v4 + GraphQL), JSON parsing in parse.py, HTTP and
the one status->error mapping in http.py."""
from bot.forge.gitlab.forge import GitLabForge, client

__all__ = ["GitLabForge", "client"]
