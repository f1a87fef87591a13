"""X-Gitlab-Token is GitLab's shared secret, sent verbatim: equal or not, compared in constant time."""
import pytest

from bot.settings import Secret
from bot.webhooks.gitlab import verify


def test_the_configured_token_verifies():
    assert verify(token="s3cr3t-token", secret=Secret("s3cr3t-token"))


@pytest.mark.parametrize("token", [None, "", "s3cr3t-toke", "s3cr3t-token ", "S3CR3T-TOKEN", "s3cr3t-tokén"])
def test_anything_else_is_refused(token):
    assert not verify(token=token, secret="s3cr3t-token")
