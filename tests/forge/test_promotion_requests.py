"""What one promotion check costs on GitHub, counted on the wire (GitHubForge over FakeGitHub + responses).
The README's figure: `pytest tests/forge/test_promotion_requests.py -q -s` prints it."""
from __future__ import annotations

import datetime as dt

from bot.core.promotion import PROMOTION
from bot.handlers import Context
from bot.handlers.promotion import evaluate_pull
from bot.model import PullRequest
from tests.fakeforge import DictStore
from tests.forge.test_github import make_forge, rsps  # noqa: F401  (the responses fixture)
from tests.forge.fakegithub import FakeGitHub

RELEASE = "acme/release"
CONFIG = """\
release:
  tag: "release-{application_version}-{infrastructure_version}"
components:
  payments-app:   {repo: acme/payments-app,   kind: application}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure}
environments:
  - {name: staging, manifest: environments/staging/release.yml}
  - {name: production, manifest: environments/production/release.yml, verification: [e2e-staging], soak: 2h}
"""
NEW = "release:\n  application_version: 1.5.3\n  infrastructure_version: 2.1.0\n"
STAGING_TAG = ("Deploy\n\nRelease-Id: staging/release-1.5.3-2.1.0\nComponent-Version: payments-app=1.5.3\n"
               "Component-Version: platform-infra=2.1.0\nEnvironment: staging\n")


def test_requests_per_promotion_check(rsps):
    staged = "5" * 40
    fg = FakeGitHub().register(rsps)
    fg.repo(RELEASE).statuses[staged].append({"context": "e2e-staging", "state": "success",
                                              "updated_at": "2026-11-20T11:00:00Z"})
    base = fg.add_commit(RELEASE, {".github/release-coordinator.yml": CONFIG, "environments/staging/release.yml": NEW,
                                   "environments/production/release.yml": NEW.replace("1.5.3", "1.5.2")}, branch="main")
    fg.repo(RELEASE).commits[staged] = dict(fg.repo(RELEASE).commits[base])
    fg.add_tag(RELEASE, "staging/release-1.5.3-2.1.0", sha=staged, message=STAGING_TAG)  # tagged 2026-11-20T10:00Z
    head = fg.add_commit(RELEASE, {"environments/production/release.yml": NEW}, parent=base)
    fg.add_pull(RELEASE, 2, head_sha=head, base_sha=base, files=[{"filename": "environments/production/release.yml",
                                                                 "status": "modified"}])
    forge = make_forge()
    pull = PullRequest(RELEASE, 2, "Promote", "alice", head, "promote", "main", base, "open")
    ctx = Context(forge=forge, now=dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc), store=DictStore())
    first = evaluate_pull(ctx, pull, account=42)
    assert first.name == PROMOTION and first.title == "Verified in staging: staging/release-1.5.3-2.1.0"
    first_count = len(rsps.calls)
    again = evaluate_pull(ctx, pull, account=42)
    assert again == first
    second_count = len(rsps.calls) - first_count
    print(f"\nrequests per promotion check: first {first_count}, re-evaluation {second_count} "
          f"({[c.request.method + ' ' + c.request.url.split('?')[0].split('.com')[-1] for c in rsps.calls[first_count:]]})")
    # config + the PR's files + the manifest + tags (GraphQL) + tag date + status + check runs, then only what can change
    assert first_count == 7
    # the tag listing (GraphQL) and the two verification reads, revalidated with their ETags
    assert second_count == 3
    assert [c.request.headers.get("If-None-Match") is not None for c in rsps.calls[first_count + 1:]] == [True, True]
