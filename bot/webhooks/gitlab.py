"""GitLab deliveries, sans I/O: check X-Gitlab-Token (no handlers are routed for GitLab yet)."""
from __future__ import annotations

import hmac

NOT_CONFIGURED = "GitLab is not configured: set GITLAB_WEBHOOK_SECRET"


def verify(*, token: str | None, secret: str) -> bool:
    """GitLab sends the configured secret verbatim in X-Gitlab-Token; compare it in constant time.

    https://docs.gitlab.com/ee/user/project/integrations/webhooks.html#validate-payloads-by-using-a-secret-token
    """
    if not token:
        return False
    key = secret.reveal() if hasattr(secret, "reveal") else secret
    return hmac.compare_digest(key.encode(), token.encode("utf-8", "replace"))
