"""Details-page links: signed per pull request with a key only the server holds, from the one settings reader."""
import datetime as dt

from bot import links
from bot.handlers import Context
from bot.settings import Secret, Settings
from tests.fakeforge import FakeForge

KEY = Settings(github_webhook_secret=Secret("webhook-secret")).details_link_key


def test_the_signature_is_32_hex_characters_of_hmac_sha256_over_repo_and_number():
    import hashlib
    import hmac

    sig = links.signature(key=KEY, repo="acme/app", number=42)
    assert sig == hmac.new(KEY.reveal().encode(), b"acme/app#42", hashlib.sha256).hexdigest()[:32]
    assert len(sig) == 32 and int(sig, 16) >= 0


def test_a_sig_opens_exactly_its_own_pull_request():
    sig = links.signature(key=KEY, repo="acme/app", number=42)
    assert links.valid(sig, key=KEY, repo="acme/app", number=42)
    assert not links.valid(sig, key=KEY, repo="acme/app", number=43)
    assert not links.valid(sig, key=KEY, repo="acme/other", number=42)
    assert not links.valid(sig.upper(), key=KEY, repo="acme/app", number=42)
    assert not links.valid(sig[:-1], key=KEY, repo="acme/app", number=42)
    assert not links.valid(None, key=KEY, repo="acme/app", number=42)
    assert not links.valid("", key=KEY, repo="acme/app", number=42)
    assert not links.valid(sig, key=None, repo="acme/app", number=42)  # no key configured: nothing opens


def test_context_details_url_carries_the_sig_and_needs_a_public_url():
    ctx = Context(forge=FakeForge(), now=dt.datetime(2026, 1, 1), public_url="https://rc.example/", details_link_key=KEY)
    url = ctx.details_url("acme/app", 42)
    assert url == f"https://rc.example/pulls/acme/app/42?sig={links.signature(key=KEY, repo='acme/app', number=42)}"
    assert Context(forge=FakeForge(), now=dt.datetime(2026, 1, 1), details_link_key=KEY).details_url("acme/app", 42) is None
    assert KEY.reveal() not in repr(ctx)


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
    sig = links.signature(key=old, repo="acme/app", number=42)
    assert links.valid(sig, key=old, repo="acme/app", number=42)
    assert not links.valid(sig, key=new, repo="acme/app", number=42)


def test_settings_never_print_the_secret_or_the_key():
    settings = Settings.from_env({"DETAILS_LINK_SECRET": "links-only-secret"})
    for text in (repr(settings), str(settings), f"{settings.details_link_key}", repr(settings.details_link_key)):
        assert "links-only-secret" not in text and settings.details_link_key.reveal() not in text
