"""bot.core.release: ids, trailers, tag messages, changelog entries, rollback manifests, as tables of cases."""
import datetime as dt
import subprocess
from types import MappingProxyType

import pytest

from bot.core.config import Component, Config, Kind, ReleaseConfig
from bot.core import release as r

APP = Component("payments-app", "acme/payments-app", Kind.APPLICATION)
INFRA = Component("platform-infra", "acme/platform-infra", Kind.INFRASTRUCTURE)
CONFIG = Config(managed=True, release=ReleaseConfig(), components=MappingProxyType({c.name: c for c in (APP, INFRA)}))
VERSIONS = {"payments-app": "1.5.3", "platform-infra": "2.1.0"}


# ------------------------------------------------------------------ trailers

TAG_MESSAGE = """Deploy: Application v1.5.3 and Infrastructure v2.1.0

Pull request: https://github.com/acme/release/pull/42
Approved by:
  @acme/infra-team: alice at 0123456789ab

Release-Id: release-1.5.3-2.1.0
Component-Version: platform-infra=2.1.0
Component-Version: payments-app=1.5.3
Rollback-Of: release-1.5.2-2.0.9
"""


@pytest.mark.parametrize(
    "name, message, expected",
    [
        ("full", TAG_MESSAGE, ("release-1.5.3-2.1.0", {"payments-app": "1.5.3", "platform-infra": "2.1.0"}, "release-1.5.2-2.0.9")),
        ("no trailers: a hand-made tag", "v1.0.0\n\nsome release notes\n", (None, {}, None)),
        ("empty", "", (None, {}, None)),
        ("None (lightweight tag)", None, (None, {}, None)),
        ("only trailers, no subject", "Release-Id: x\n", (None, {}, None)),
        ("prose with a colon is not a trailer block", "t\n\nNote: this\nis prose\n", (None, {}, None)),
        ("keys are case-insensitive, CRLF tolerated", "t\r\n\r\nrelease-id: r1\r\ncomponent-version: a=1.0.0-rc.1+b.2\r\n",
         ("r1", {"a": "1.0.0-rc.1+b.2"}, None)),
        ("signed tag: the signature is not the last paragraph",
         "t\n\nRelease-Id: r2\nComponent-Version: a=1.0.0\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n",
         ("r2", {"a": "1.0.0"}, None)),
        ("component names with = and dashes", "t\n\nRelease-Id: r3\nComponent-Version: we=ird-name=2.0.0\n", ("r3", {"we=ird-name": "2.0.0"}, None)),
    ],
)
def test_parse_release_trailers(name, message, expected):
    release_id, versions, rollback_of = r.parse_release_trailers(message)
    assert (release_id, dict(versions), rollback_of) == expected


def test_trailers_are_what_git_itself_reads(tmp_path):
    """git interpret-trailers must see the same block we parse, so `git tag --format=%(trailers)` works too."""
    message = r.render_tag_message(
        title="Deploy", release_id="release-1", versions=VERSIONS,
        provenance=r.Provenance(pull_number=4, pull_url="https://github.com/acme/release/pull/4", head_sha="a" * 40,
                                approvals=(r.Approval("@acme/infra-team", "alice", "a" * 40),)),
        rollback_of="release-0", previous_id="release-0",
    )
    out = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "Release-Id: release-1",
        "Component-Version: payments-app=1.5.3",
        "Component-Version: platform-infra=2.1.0",
        "Rollback-Of: release-0",
        "Previous-Release: release-0",
    ]
    assert r.previous_release_of(message) == "release-0"
