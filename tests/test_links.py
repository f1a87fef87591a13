"""Details-page links: signed per pull request with a key only the server holds, from the one settings reader."""
import datetime as dt

import pytest

from bot import links
from bot.handlers import Context
from bot.settings import Secret, Settings
from tests.fakeforge import FakeForge

KEY = Settings(github_webhook_secret=Secret("webhook-secret")).details_link_key


def test_the_signature_is_32_hex_characters_of_hmac_sha256_over_forge_repo_and_number():
    import hashlib
    import hmac

    sig = links.signature(key=KEY, forge="github", repo="acme/app", number=42)
    assert sig == hmac.new(KEY.reveal().encode(), b"github:acme/app!42", hashlib.sha256).hexdigest()[:32]
    assert len(sig) == 32 and int(sig, 16) >= 0
    assert links.signature(key=KEY, forge="gitlab", repo="acme/app", number=42) != sig  # same path, other forge


@pytest.mark.parametrize("forge, repo, number", [
    ("github", "acme/app", 43), ("github", "acme/other", 42), ("gitlab", "acme/app", 42),
    ("gitlab", "acme/app/42", 42),  # a GitLab subgroup path: "!" separates the number, nothing shifts
])
def test_a_sig_opens_exactly_its_own_pull_request(forge, repo, number):
    sig = links.signature(key=KEY, forge="github", repo="acme/app", number=42)
    assert links.valid(sig, key=KEY, forge="github", repo="acme/app", number=42)
    assert not links.valid(sig, key=KEY, forge=forge, repo=repo, number=number)


@pytest.mark.parametrize("sig", [None, "", "SIG_UPPER", "SIG_SHORT", "LEGACY"])
def test_no_malformed_or_legacy_sig_opens_the_current_form(sig):
    good = links.signature(key=KEY, forge="github", repo="acme/app", number=42)
    sig = {"SIG_UPPER": good.upper(), "SIG_SHORT": good[:-1],
           "LEGACY": links.legacy_signature(key=KEY, repo="acme/app", number=42)}.get(sig, sig)
    assert not links.valid(sig, key=KEY, forge="github", repo="acme/app", number=42)
    assert not links.valid(good, key=None, forge="github", repo="acme/app", number=42)  # no key: nothing opens


def test_links_posted_before_forges_were_named_still_verify_as_legacy():
    import hashlib
    import hmac

    old = hmac.new(KEY.reveal().encode(), b"acme/app#42", hashlib.sha256).hexdigest()[:32]
    assert links.legacy_valid(old, key=KEY, repo="acme/app", number=42)
    assert not links.legacy_valid(old, key=KEY, repo="acme/app", number=43)
    assert not links.legacy_valid(None, key=KEY, repo="acme/app", number=42)


def test_context_details_url_names_the_forge_carries_the_sig_and_needs_a_public_url():
    ctx = Context(forge=FakeForge(), now=dt.datetime(2026, 1, 1), public_url="https://rc.example/", details_link_key=KEY)
    url = ctx.details_url("acme/app", 42)
    sig = links.signature(key=KEY, forge="github", repo="acme/app", number=42)
    assert url == f"https://rc.example/pulls/github/acme/app/42?sig={sig}"
    assert ctx.details_url("acme/app", 42, check="release-coordinator/manifest") == url + "#manifest"
    assert Context(forge=FakeForge(), now=dt.datetime(2026, 1, 1), details_link_key=KEY).details_url("acme/app", 42) is None
    assert KEY.reveal() not in repr(ctx)


def test_every_check_result_links_its_own_section_of_the_page():
    from bot.core.checks import CheckResult, Conclusion, section_anchor

    page = "https://rc.example/pulls/github/acme/app/42?sig=abc"
    result = CheckResult("release-coordinator/window", "h" * 40, Conclusion.PENDING, "t", "s", details_url=page)
    assert result.details_url == page + "#window"
    assert CheckResult("release-coordinator/window", "h", Conclusion.PENDING, "t", "s",
                       details_url=page + "#approvals").details_url == page + "#approvals"  # an explicit anchor stays
    assert section_anchor("release-coordinator/access") == "access" and section_anchor("weird name!") == "weird-name-"


def test_the_key_comes_from_details_link_secret_else_from_the_webhook_secret():
    explicit = Settings.from_env({"DETAILS_LINK_SECRET": "links-only", "GITHUB_WEBHOOK_SECRET": "webhook-secret"})
    derived = Settings.from_env({"GITHUB_WEBHOOK_SECRET": "webhook-secret"})
    assert derived.details_link_key.reveal() == KEY.reveal()
    assert explicit.details_link_key.reveal() != derived.details_link_key.reveal()
    # derived with a label, so the link key is never the webhook secret itself (a leaked link key signs no webhook)
    assert derived.details_link_key.reveal() != "webhook-secret"
    assert len(derived.details_link_key.reveal()) == 64
    assert Settings.from_env({}).details_link_key is None


def test_rotating_the_secret_invalidates_every_link_already_posted():
    old = Settings.from_env({"DETAILS_LINK_SECRET": "first"}).details_link_key
    new = Settings.from_env({"DETAILS_LINK_SECRET": "second"}).details_link_key
    sig = links.signature(key=old, forge="github", repo="acme/app", number=42)
    assert links.valid(sig, key=old, forge="github", repo="acme/app", number=42)
    assert not links.valid(sig, key=new, forge="github", repo="acme/app", number=42)


def test_settings_never_print_the_secret_or_the_key():
    settings = Settings.from_env({"DETAILS_LINK_SECRET": "links-only-secret"})
    for text in (repr(settings), str(settings), f"{settings.details_link_key}", repr(settings.details_link_key)):
        assert "links-only-secret" not in text and settings.details_link_key.reveal() not in text
