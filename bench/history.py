"""GitHub API requests for one manifest check of a rollback pull request, by the number of release tags.

Run by hand from the repository root: `.venv/bin/python bench/history.py [--out bench/results/history.md]`.
A rollback manifest is judged against the release history (every earlier coordinated release, read from
the release repo's annotated tags and their trailers), so this is the check whose cost grows with the repo's
age. The manifest handler drives a real GitHubForge against tests/forge/fakegithub.py on `responses`; nothing
leaves the process. "cold" is the first check on a fresh forge (one per installation), "warm" the re-run of
the same check on the same forge right after (the check run itself is unchanged, so nothing is written).
"before" runs the history read as it was up to commit 5a0ccf8 (list the tags over REST, then get_tag on
each: its ref, then its tag object), "after" the current one (Forge.list_annotated_tags, GraphQL refs).
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections import Counter
from pathlib import Path
from unittest.mock import patch

import github
import responses
from github import Auth

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.forge.github import GitHubForge  # noqa: E402
from bot.forge.github_json import pull_request  # noqa: E402
from bot.handlers import Context  # noqa: E402
from bot.webhooks.event import Event  # noqa: E402
from tests.fakeforge import DictStore  # noqa: E402
from tests.forge.fakegithub import FakeGitHub, fake_sha, file_json  # noqa: E402

RELEASE, APP, INFRA = "acme/release", "acme/payments-app", "acme/platform-infra"
CONFIG = b"""release:
  manifest: release.yml
components:
  payments-app:   {repo: acme/payments-app,   kind: application,    tag_prefix: "v"}
  platform-infra: {repo: acme/platform-infra, kind: infrastructure, tag_prefix: "v"}
"""
KINDS = [
    ("tags (graphql)", r"^/graphql refs\("), ("files (graphql)", r"^/graphql object\(expression"),
    ("tag list", r"/tags$"), ("tag ref", r"/git/ref/tags/"), ("tag object", r"/git/tags/"),
    ("pull files", r"/pulls/\d+/files"), ("contents", r"/contents/"), ("check-runs", r"check-runs"),
]


def versions(i: int) -> tuple[str, str]:
    return f"1.{i // 10}.{i % 10}", f"2.{i // 10}.{i % 10}"


def seed(fg: FakeGitHub, n_tags: int) -> tuple[str, str]:
    """A release repo with `n_tags` coordinated releases (annotated tags with trailers) and a pull request
    rolling the manifest back from the newest release to the one before it."""
    for i in range(n_tags):
        app, infra = versions(i)
        release_id = f"release-{app}-{infra}"
        commit = fg.add_commit(RELEASE, {"release.yml": f"release:\n  application_version: {app}\n"
                                                        f"  infrastructure_version: {infra}\n",
                                         ".github/release-coordinator.yml": CONFIG}, branch="main",
                               parent=fg.repo(RELEASE).branches.get("main"))
        message = (f"Deploy: Application v{app} and Infrastructure v{infra}\n\nRelease-Id: {release_id}\n"
                   f"Component-Version: payments-app={app}\nComponent-Version: platform-infra={infra}\n")
        sha = fake_sha(RELEASE, "tag", release_id)
        fg.repo(RELEASE).tag_objects[sha] = {"sha": sha, "tag": release_id, "message": message,
                                             "object": {"type": "commit", "sha": commit}}
        fg.repo(RELEASE).tag_refs[release_id] = ("tag", sha)
        for repo, version in ((APP, app), (INFRA, infra)):
            fg.repo(repo).tag_refs[f"v{version}"] = ("commit", fg.add_commit(repo, {"VERSION": version}, branch="main"))
    base = fg.repo(RELEASE).branches["main"]
    app, infra = versions(n_tags - 2)
    head = fg.add_commit(RELEASE, {"release.yml": f"release:\n  components:\n    payments-app: {app}\n"
                                                  f"    platform-infra: {infra}\n  rollback: true\n"},
                         branch="rollback", parent=base)
    fg.add_pull(RELEASE, 7, author="alice", head_sha=head, base_sha=base, head_ref="rollback",
                files=[file_json("release.yml")], title="Roll back")
    return base, head


def fetch_history_before(forge, repo: str) -> tuple:
    """bot/handlers/manifest.fetch_history as of 5a0ccf8, verbatim: two REST requests per tag on a cold forge."""
    from bot.core.release import parse_release_trailers

    records = []
    for listed in forge.list_tags(repo):
        tag = forge.get_tag(repo, listed.name)
        trailers = parse_release_trailers(tag.message if tag else None)
        if trailers.release_id:
            records.append(trailers)
    return tuple(records)


def described(call) -> str:
    if call.path == "/graphql":
        query = call.body["query"]
        return "/graphql " + ("refs(" if "refs(" in query else "object(expression" if "object(expression" in query else "")
    return call.path.split("?")[0]


def run(n_tags: int, code: str) -> list[dict]:
    from bot.handlers import manifest
    from bot.handlers.manifest import router

    rows = []
    current = manifest.fetch_history
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps, \
            patch.object(manifest, "fetch_history", fetch_history_before if code == "before" else current):
        fg = FakeGitHub(our_app_id=4242).register(rsps)
        _base, head = seed(fg, n_tags)
        client = github.Github(auth=Auth.Token("bench"), per_page=100, seconds_between_requests=None, seconds_between_writes=None)
        forge = GitHubForge(client, app_id=4242)
        ctx = Context(forge=forge, now=dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc),
                      public_url="https://rc.example.com", store=DictStore())
        pull = pull_request(RELEASE, fg.repo(RELEASE).pulls[7])
        for label in ("cold", "warm"):
            fg.calls.clear()
            event = Event(forge="github", name="pull_request", action="synchronize", delivery_id=f"bench-{label}",
                          installation_id=1, repo=RELEASE, default_branch="main", pull_number=7, head_sha=head,
                          base_ref="main", base_sha=pull.base_sha, pull=pull)
            for handler in router.handlers_for("pull_request", "synchronize"):
                handler(event, ctx)
            checks = [c for c in fg.repo(RELEASE).check_runs.values() if c["head_sha"] == head]
            assert checks and checks[-1]["conclusion"] == "success", checks and checks[-1]["output"]["title"]
            kinds = Counter(next((k for k, rx in KINDS if re.search(rx, described(c))), described(c)) for c in fg.calls)
            rows.append({"tags": n_tags, "code": code, "run": label, "requests": len(fg.calls),
                         "not_modified": sum(c.status == 304 for c in fg.calls),
                         "by_kind": ", ".join(f"{k} {v}" for k, v in kinds.most_common())})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| release tags | code | run | requests | of which 304 | count against a rate limit | requests by endpoint |",
             "| ---: | --- | --- | ---: | ---: | ---: | --- |"]
    lines += [f"| {r['tags']} | {r['code']} | {r['run']} | {r['requests']} | {r['not_modified']} | "
              f"{r['requests'] - r['not_modified']} | {r['by_kind']} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    text = table([row for n in (10, 100, 300) for code in ("before", "after") for row in run(n, code)])
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# GitHub API requests for a manifest check of a rollback pull request\n\n"
                            "Generated by `bench/history.py`. " + " ".join(__doc__.split("\n\n")[1].split()).split("]`. ", 1)[1] +
                            " 304s count as requests but not against GitHub's primary rate limit; a GraphQL query "
                            "draws on GraphQL's own budget (a point or so each).\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
