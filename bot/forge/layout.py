"""Per-forge facts that are values, not API calls: where the rules live (RepoLayout) and web URLs (WebLinks).

Every adapter exposes `kind`, `layout` and `links` (INTERFACES.md §2); handlers and renderers use them
instead of asking "is this GitHub?".
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bot.model import RepoLayout

GITHUB_CONFIG_PATH = ".github/release-coordinator.yml"
GITLAB_CONFIG_PATH = ".gitlab/release-coordinator.yml"


def github_layout() -> RepoLayout:
    # https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners#codeowners-file-location
    return RepoLayout(
        config_path=GITHUB_CONFIG_PATH,
        codeowners_paths=(".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"),
        codeowners_dialect="github",
        org_config_per_owner=".github",  # probot's convention: org-wide settings live in the org's .github repo
    )


def gitlab_layout(config_project: str | None = None) -> RepoLayout:
    # https://docs.gitlab.com/ee/user/project/codeowners/#codeowners-file: "root, docs/, .gitlab/" in this order
    return RepoLayout(
        config_path=GITLAB_CONFIG_PATH,
        codeowners_paths=("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"),
        codeowners_dialect="gitlab",
        org_config_project=config_project.strip("/") if config_project else None,  # GITLAB_CONFIG_PROJECT
    )


@dataclass(frozen=True)
class WebLinks:
    """Web (not API) URLs on one forge. `web_url` is the forge's root page: https://github.com, a GitHub
    Enterprise Server host, https://gitlab.com or a self-managed GitLab (a path prefix is kept:
    https://example.com/gitlab)."""

    kind: str  # "github" | "gitlab"
    web_url: str

    @property
    def _sep(self) -> str:
        return "/-" if self.kind == "gitlab" else ""  # GitLab puts its routes under /-/ after the project path

    def repo(self, repo: str) -> str:
        return f"{self.web_url}/{repo}"

    def pull_ref(self, number: int) -> str:
        """How people write a pull request in text: `#12` on GitHub, `!12` (a merge request) on GitLab."""
        return f"!{number}" if self.kind == "gitlab" else f"#{number}"

    def pull(self, repo: str, number: int) -> str:
        route = "merge_requests" if self.kind == "gitlab" else "pull"
        return f"{self.repo(repo)}{self._sep}/{route}/{number}"

    def commit(self, repo: str, sha: str) -> str:
        return f"{self.repo(repo)}{self._sep}/commit/{sha}"

    def compare(self, repo: str, base: str, head: str) -> str:
        return f"{self.repo(repo)}{self._sep}/compare/{quote(base, safe='')}...{quote(head, safe='')}"

    def tag(self, repo: str, name: str) -> str:
        route = "tags" if self.kind == "gitlab" else "releases/tag"
        return f"{self.repo(repo)}{self._sep}/{route}/{quote(name, safe='')}"

    def release(self, repo: str, tag: str) -> str:
        route = "releases" if self.kind == "gitlab" else "releases/tag"
        return f"{self.repo(repo)}{self._sep}/{route}/{quote(tag, safe='')}"

    def file(self, repo: str, ref: str, path: str, line: int | None = None) -> str:
        anchor = f"#L{line}" if line else ""
        return f"{self.repo(repo)}{self._sep}/blob/{quote(ref, safe='')}/{quote(path.lstrip('/'), safe='/')}{anchor}"


def github_links(api_url: str = "https://api.github.com") -> WebLinks:
    """github.com for the public API; a GitHub Enterprise Server's API lives at https://HOST/api/v3."""
    api_url = api_url.rstrip("/")
    if urlsplit(api_url).netloc == "api.github.com":
        return WebLinks("github", "https://github.com")
    return WebLinks("github", api_url.removesuffix("/api/v3").removesuffix("/api"))


def gitlab_links(gitlab_url: str = "https://gitlab.com") -> WebLinks:
    return WebLinks("gitlab", gitlab_url.rstrip("/").removesuffix("/api/v4"))
