"""GitHub API requests per pull_request_review.submitted, cold and warm, through the approvals handler.

Run by hand from the repository root: `.venv/bin/python bench/api_calls.py [--out bench/results/api_calls.md]`.
The approvals handler drives a real GitHubForge against tests/forge/fakegithub.py (realistic JSON, Link
pagination, ETags) on `responses`; nothing leaves the process. "cold" is the first event on a new forge
(one per installation), "warm" the next review event on the same PR and the same forge, "warm, 61 s later" one
more after the 60 s cache of teams, permissions and org config ran out, "other PR" the first event of another PR
on that same forge right after.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections import Counter
from pathlib import Path

import github
import responses
from github import Auth

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.forge.github import GitHubForge  # noqa: E402
from bot.forge.github_json import pull_request  # noqa: E402
from bot.handlers import Context  # noqa: E402
from bot.webhooks.event import Event  # noqa: E402
from tests.fakeforge import DictStore  # noqa: E402
from tests.forge.fakegithub import FakeGitHub, commit_json, fake_sha, file_json  # noqa: E402

REPO = "acme/payments-app"
NUMBER = 42
CONFIG = b"""approvals:
  mode: each-team
  teams:
    "@acme/infra-team": 1
"""
ORG_CONFIG = b"approvals:\n  ignore_bots: true\n"
CODEOWNERS = b"""# owners
*            @acme/app-team
/infra/      @acme/infra-team
/docs/       @acme/docs-team
"""
APP_TEAM = [f"app-dev{i}" for i in range(40)]
INFRA_TEAM = [f"infra-dev{i}" for i in range(25)]
DOCS_TEAM = [f"writer{i}" for i in range(6)]

# Which endpoint a request hit, for the "what dominates" column (GraphQL queries by what they ask for).
KINDS = [
    ("rule-files (graphql)", r"^/graphql object\(expression"), ("teams (graphql)", r"^/graphql organization\("),
    ("pull", r"^/repos/[^/]+/[^/]+/pulls/\d+$"), ("files", r"/pulls/\d+/files"), ("reviews", r"/pulls/\d+/reviews"),
    ("commits", r"/pulls/\d+/commits"), ("contents", r"/contents/"), ("repo", r"^/repos/[^/]+/[^/]+$"),
    ("team", r"/teams/"), ("permission", r"/permission$"), ("compare", r"/compare/"), ("check-runs", r"check-runs"),
    ("request-reviewers", r"requested_reviewers"), ("by-commit", r"/commits/[0-9a-f]{40}/pulls"),
]


def seed(fg: FakeGitHub) -> str:
    """The installation: org config, the repo's config and CODEOWNERS at the base, three teams."""
    fg.add_file("acme/.github", ".github/release-coordinator.yml", ORG_CONFIG)
    base = fg.add_commit(REPO, {".github/release-coordinator.yml": CONFIG, ".github/CODEOWNERS": CODEOWNERS, "README.md": "x"}, branch="main")
    # GitHub requires code owners to have write access: the owning teams are granted write on the repository.
    # https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners
    for team, members in (("@acme/app-team", APP_TEAM), ("@acme/infra-team", INFRA_TEAM), ("@acme/docs-team", DOCS_TEAM)):
        fg.add_team(team, members, repos={REPO: "write"})
    for login in APP_TEAM + INFRA_TEAM + DOCS_TEAM:
        fg.repo(REPO).roles[login] = "write"
    return base


def add_pull(fg: FakeGitHub, number: int, *, base: str, n_files: int, n_reviews: int) -> str:
    commits = [fake_sha("pr-commit", number, i) for i in range(3)]
    head = commits[-1]
    # Realistic spread: mostly application code, some infrastructure, a few docs.
    files = [file_json(f"infra/modules/m{i}.tf") if i % 5 == 0 else file_json(f"docs/page{i}.md") if i % 23 == 0
             else file_json(f"src/pkg{i % 17}/mod{i}.py") for i in range(n_files)]
    fg.add_pull(REPO, number, author="app-dev0", head_sha=head, base_sha=base, files=files,
                commits=[commit_json(sha, f"feat: step {i}") for i, sha in enumerate(commits)])
    for sha in commits[:-1]:  # what changed after an approval on an older commit (owned-files staleness)
        fg.repo(REPO).compares[(sha, head)] = {"status": "ahead", "ahead_by": 1, "behind_by": 0, "total_commits": 1,
                                                "commits": [commit_json(head, "fix: later")],
                                                "files": [file_json("src/pkg1/mod1.py")]}
    if n_reviews == 2:
        fg.add_review(REPO, number, user="app-dev1", state="APPROVED", commit_id=head)
        fg.add_review(REPO, number, user="infra-dev1", state="APPROVED", commit_id=head)
        return head
    # 13 people over the PR's life: comments and change requests early, approvals later, on all three commits.
    people = APP_TEAM[1:7] + INFRA_TEAM[1:5] + DOCS_TEAM[:2] + ["outside-contractor"]
    for i in range(n_reviews):
        state = "APPROVED" if i % 4 != 1 else ("COMMENTED" if i % 8 == 1 else "CHANGES_REQUESTED")
        fg.add_review(REPO, number, user=people[i % len(people)], state=state, commit_id=commits[i * 3 // n_reviews])
    return head


def event(fg: FakeGitHub, number: int, head: str, delivery: int) -> Event:
    """What bot/webhooks/github.py makes of the delivery: it carries the pull request as GitHub sent it."""
    pull = pull_request(REPO, fg.repo(REPO).pulls[number])
    return Event(forge="github", name="pull_request_review", action="submitted", delivery_id=f"bench-{delivery}",
                 installation_id=1, repo=REPO, default_branch="main", sender="app-dev2", pull_number=number,
                 head_sha=head, base_ref="main", base_sha=pull.base_sha, pull=pull)


def described(call) -> str:
    path = call.path.split("?")[0]
    if path == "/graphql":
        query = call.body["query"]
        return path + (" object(expression" if "object(expression" in query else " organization(" if "organization(" in query else "")
    return path


def run(n_files: int, n_reviews: int) -> list[dict]:
    from bot.handlers.approvals import router

    rows = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fg = FakeGitHub(our_app_id=4242).register(rsps)
        base = seed(fg)
        head = add_pull(fg, NUMBER, base=base, n_files=n_files, n_reviews=n_reviews)
        client = github.Github(auth=Auth.Token("bench"), per_page=100, seconds_between_requests=None, seconds_between_writes=None)
        now = [1_800_000_000.0]  # the forge's clock, so the run past its 60 s cache is measured, not waited for
        forge = GitHubForge(client, app_id=4242, clock=lambda: now[0])
        ctx = Context(forge=forge, now=dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone.utc),
                      public_url="https://rc.example.com", store=DictStore())
        for label in ("cold", "warm", "warm, 61 s later", "other PR"):
            number = NUMBER
            if label.startswith("warm"):  # the next review on the same PR: someone outside the owning teams comments
                fg.add_review(REPO, NUMBER, user="outside-contractor", state="COMMENTED", commit_id=head)
            if label == "warm, 61 s later":  # teams, permissions and the org config are asked again
                now[0] += 61
            if label == "other PR":  # a new PR on the same installation and forge: teams and org config are known
                number = NUMBER + 1
                head = add_pull(fg, number, base=base, n_files=n_files, n_reviews=n_reviews)
            fg.calls.clear()
            for handler in router.handlers_for("pull_request_review", "submitted"):
                handler(event(fg, number, head, len(rows)), ctx)
            kinds = Counter(next((k for k, rx in KINDS if re.search(rx, described(c))), c.path) for c in fg.calls)
            rows.append({
                "files": n_files, "reviews": n_reviews, "run": label, "requests": len(fg.calls),
                "not_modified": sum(c.status == 304 for c in fg.calls),
                "rate_limited": sum(c.status != 304 for c in fg.calls),  # 304s do not count against the primary limit
                "writes": sum(c.method != "GET" and c.path != "/graphql" for c in fg.calls),  # GraphQL queries read
                "by_kind": ", ".join(f"{k} {v}" for k, v in kinds.most_common()),
            })
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| files | reviews | run | requests | of which 304 | count against rate limit | writes | requests by endpoint |",
             "| ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['files']} | {r['reviews']} | {r['run']} | {r['requests']} | {r['not_modified']} | "
                     f"{r['rate_limited']} | {r['writes']} | {r['by_kind']} |")
    return "\n".join(lines)


CACHING = """What is cached (GitHubForge: one instance per installation, LRU of 2,048 entries per cache):
- for the process's life, no request: a file (or its absence) at a 40-hex commit sha (the config and
  CODEOWNERS at the base sha), blobs, annotated tag objects, a comparison between two commit shas, each
  commit's files, a pull request's files for a given (head sha, base sha);
- for 60 seconds, no request, then asked again (permissions revalidated with If-None-Match): teams (members,
  child teams included, and their grant on the repository), per-user permissions, files on a default branch
  (the org's `.github` config, or its absence). So a team change, a permission change or a new org config
  takes effect within a minute;
- revalidated on every use with If-None-Match (a 304 reuses the parsed body and is free against the primary
  rate limit): pull requests fetched by number, reviews, commits, check runs of a commit, files on other
  branches, default branches, refs, tags, releases, comparisons between names;
- in the store (SQLite/Redis), not GitHubForge: the check run written per (repo, head sha, check name) and its
  digest, so an unchanged re-evaluation makes no check-run request at all;
- from the delivery itself: the pull request of pull_request and pull_request_review events (no GET);
- never: reviews (what a review event changes) and writes."""


def targets(rows: list[dict]) -> str:
    """Issue 4's targets: cold <= 8 requests for <= 100 files, warm <= 4."""
    lines = []
    for r in rows:
        if r["files"] <= 100 and r["run"] != "other PR":
            limit = 8 if r["run"] == "cold" else 4
            verdict = "meets" if r["requests"] <= limit else "misses"
            lines.append(f"- {r['files']} files, {r['reviews']} reviews, {r['run']}: {r['requests']} requests "
                         f"({r['rate_limited']} against the rate limit) {verdict} the target of <= {limit}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    rows = [row for n_files in (50, 500, 3000) for n_reviews in (2, 30) for row in run(n_files, n_reviews)]
    text = table(rows)
    print(text)
    verdict = targets(rows)
    print("\n" + verdict)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# GitHub API requests per pull_request_review.submitted (approvals handler)\n\n"
                            "Generated by `bench/api_calls.py`: the approvals handler over GitHubForge over a `responses` "
                            "GitHub (tests/forge/fakegithub.py). cold = first event on a fresh GitHubForge (one per "
                            "installation); warm = the next review event on the same PR and forge; warm, 61 s later = "
                            "one more after the 60 s cache ran out; other PR = the first event of another PR on that "
                            "forge. Every HTTP request counts, 304s included (GitHub does not count 304s against the "
                            "primary rate limit; GraphQL queries draw on GraphQL's own points budget, a point or so "
                            "each).\n\n" + text + "\n\n" + verdict + "\n\n" + CACHING + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
