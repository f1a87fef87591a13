"""Capability links to the details page: `PUBLIC_URL/pulls/FORGE/REPO/N?sig=…#CHECK`, unguessable without our key.

The signature covers "forge:repo!number" (INTERFACES.md §4), so a link for a GitHub pull request opens nothing on
a GitLab project of the same path. Links posted before forges were named (`/pulls/OWNER/REPO/N`, signed over
"owner/repo#n") keep opening: bot.pages checks them with legacy_valid and redirects to the current form.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from bot.core.checks import section_anchor

# 128 bits: far beyond guessing over HTTP, short enough for a check run's details_url
SIG_HEX_CHARS = 32
FORGES = ("github", "gitlab")


def subject(*, forge: str, repo: str, number: int) -> str:
    """What a link signs: the forge, the repository path and the pull (merge) request number."""
    return f"{forge}:{repo}!{number}"


def signature(*, key: Any, repo: str, number: int, forge: str = "github") -> str:
    """HMAC-SHA256 of "forge:repo!number" under the details-link key, as 32 hex characters."""
    return _hmac(key, subject(forge=forge, repo=repo, number=number))


def valid(sig: str | None, *, key: Any, repo: str, number: int, forge: str = "github") -> bool:
    """Whether sig opens the page of forge:repo!number; no key (nothing configured) opens nothing."""
    if not sig or key is None:
        return False
    return hmac.compare_digest(sig.encode(), signature(key=key, forge=forge, repo=repo, number=number).encode())


def legacy_signature(*, key: Any, repo: str, number: int) -> str:
    """The signature of links posted before forges were named: HMAC over "owner/repo#number" (GitHub only)."""
    return _hmac(key, f"{repo}#{number}")


def legacy_valid(sig: str | None, *, key: Any, repo: str, number: int) -> bool:
    if not sig or key is None:
        return False
    return hmac.compare_digest(sig.encode(), legacy_signature(key=key, repo=repo, number=number).encode())


def page_path(*, forge: str, repo: str, number: int) -> str:
    return f"/pulls/{forge}/{repo}/{number}"


def details_url(public_url: str, *, key: Any, repo: str, number: int, forge: str = "github",
                check: str | None = None) -> str | None:
    """The one place a details link is built. Without public_url there is nowhere to link; without a key the
    link carries no sig and the page answers 404 to it (a Context built with no key: see Context). check (a
    check run name) adds the anchor of that check's section; CheckResult adds it too when a handler did not."""
    if not public_url:
        return None
    url = public_url.rstrip("/") + page_path(forge=forge, repo=repo, number=number)
    if key is not None:
        url += f"?sig={signature(key=key, forge=forge, repo=repo, number=number)}"
    return url + (f"#{section_anchor(check)}" if check else "")


def _hmac(key: Any, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()[:SIG_HEX_CHARS]
