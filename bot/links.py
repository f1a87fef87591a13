"""Capability links to the details page: `PUBLIC_URL/pulls/OWNER/REPO/N?sig=…`, unguessable without our key."""
from __future__ import annotations

import hashlib
import hmac

# 128 bits: far beyond guessing over HTTP, short enough for a check run's details_url
SIG_HEX_CHARS = 32


def signature(*, key: str, repo: str, number: int) -> str:
    """HMAC-SHA256 of "owner/repo#number" under the details-link key, as 32 hex characters."""
    return hmac.new(key.encode(), f"{repo}#{number}".encode(), hashlib.sha256).hexdigest()[:SIG_HEX_CHARS]


def valid(sig: str | None, *, key: str | None, repo: str, number: int) -> bool:
    """Whether sig opens the page of repo#number; no key (nothing configured) opens nothing."""
    if not sig or key is None:
        return False
    return hmac.compare_digest(sig.encode(), signature(key=key, repo=repo, number=number).encode())


def details_url(public_url: str, *, key: str | None, repo: str, number: int) -> str | None:
    """The one place a details link is built. Without public_url there is nowhere to link; without a key the
    link carries no sig and the page answers 404 to it (a Context built with no key: see Context)."""
    if not public_url:
        return None
    url = f"{public_url.rstrip('/')}/pulls/{repo}/{number}"
    return f"{url}?sig={signature(key=key, repo=repo, number=number)}" if key is not None else url
