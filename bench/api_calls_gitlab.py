"""GitLab API requests per Merge Request Hook, cold and warm, through the worker (every handler routed for it).

Run by hand from the repository root: `.venv/bin/python bench/api_calls_gitlab.py [--out bench/results/api_calls_gitlab.md]`.
A Merge Request Hook (go-gitlab's fixture fixtures/gitlab/merge_request/update.json with this project's names)
is parsed by bot/webhooks/gitlab.py and run by bot.worker.Worker.run_event, as the queue would, against a real
GitLabForge over tests/forge/fakegitlab.py (GitLab's JSON, offset pagination, ETags) on `responses`; nothing
leaves the process. "cold" is the first event on a new forge (one per process), "warm" the next event on the
same MR and forge (someone edits the title: an `update` without oldrev), "warm, 61 s later" one more after the
60 s cache of groups, access levels and the org config ran out, "other MR" the first event of another MR on
that same forge right after. The approvals handler publishes a commit status and the summary note; on this
project (not the release project) the manifest, semver and window handlers find nothing to do.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import re
import sys
from collections import Counter
from pathlib import Path

import responses

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.forge.gitlab import GitLabForge, client  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.webhooks import gitlab as gitlab_webhooks  # noqa: E402
from bot.worker import Worker  # noqa: E402
from tests.fakeforge import DictStore  # noqa: E402
from tests.forge.fakegitlab import FakeGitLab, diff_json  # noqa: E402

# The scenario of bench/api_calls.py (same repository, rules and teams), so the two forges' counts compare; GitLab's
# infra team is 20 people plus a subgroup of 5, where GitHub's team is 25.
from bench.api_calls import APP_TEAM, CODEOWNERS, CONFIG, DOCS_TEAM, NUMBER, ORG_CONFIG, REPO  # noqa: E402

CONFIG_PROJECT = "acme/release-settings"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/gitlab/merge_request/update.json"  # go-gitlab's, unchanged
INFRA_TEAM = [f"infra-dev{i}" for i in range(20)]
SRE = [f"sre{i}" for i in range(5)]  # acme/infra-team/sre: members of a subgroup count for the team

KINDS = [
    ("rule-files (graphql blobs)", r"^/graphql repository"), ("groups (graphql)", r"^/graphql group"),
    ("mr", r"/merge_requests/\d+$"), ("diffs", r"/diffs"), ("approvals", r"/approvals"), ("reviewers", r"/reviewers"),
    ("versions", r"/versions"), ("access", r"/members/all"), ("compare", r"/compare|/merge_base"),
    ("statuses (read)", r"GET .*/statuses"), ("statuses (write)", r"POST .*/statuses"), ("notes", r"/notes"),
    ("users", r"^/users"), ("project", r"^/projects/[^/]+$"),
]


def seed(gl: FakeGitLab) -> str:
    gl.add_file(CONFIG_PROJECT, ".gitlab/release-coordinator.yml", ORG_CONFIG)
    base = gl.add_commit(REPO, {".gitlab/release-coordinator.yml": CONFIG, "CODEOWNERS": CODEOWNERS, "README.md": "x"},
                         branch="main")
    gl.add_group("acme/app-team", dict.fromkeys(APP_TEAM, 30))
    gl.add_group("acme/infra-team", dict.fromkeys(INFRA_TEAM, 30))
    gl.add_group("acme/infra-team/sre", dict.fromkeys(SRE, 30))
    gl.add_group("acme/docs-team", dict.fromkeys(DOCS_TEAM, 30))
    for login in APP_TEAM + INFRA_TEAM + SRE + DOCS_TEAM:
        gl.set_access(REPO, login, 30)  # code owners need Developer to count
    gl.project(REPO).reset_approvals_on_push = False  # approvals survive pushes: staleness is ours to judge
    return base


def add_mr(gl: FakeGitLab, number: int, *, base: str, n_files: int, n_approvals: int) -> str:
    branch = f"feature-{number}"
    gl.add_commit(REPO, {f"src/step{number}.py": "0"}, branch=branch, parent=base)
    files = [diff_json(f"infra/modules/m{i}.tf") if i % 5 == 0 else diff_json(f"docs/page{i}.md") if i % 23 == 0
             else diff_json(f"src/pkg{i % 17}/mod{i}.py") for i in range(n_files)]
    gl.add_mr(REPO, number, author="app-dev0", source_branch=branch, diffs=files)
    if n_approvals == 2:  # the short case: two owners approve the head
        for person in ("app-dev1", "infra-dev1"):
            gl.approve(REPO, number, person)
        return gl.project(REPO).branches[branch]
    # The long case: 15 people over the MR's life, approvals spread over four pushes (versions), and a requested
    # change; every older head an approval was given on costs one compare (cached for good).
    people = (APP_TEAM[1:6] + INFRA_TEAM[1:4] + SRE[:2] + DOCS_TEAM[:2] + ["outsider"] * 3)[:n_approvals]
    for i, person in enumerate(people):
        if i and i % max(1, len(people) // 3) == 0:
            gl.push(REPO, number, {f"src/step{number}.py": str(i)})
        gl.approve(REPO, number, person if person != "outsider" else f"outsider{i}")
    gl.request_changes(REPO, number, "infra-dev5")
    return gl.project(REPO).branches[branch]


def hook(gl: FakeGitLab, number: int, *, action: str, delivery: int) -> dict:
    """The Merge Request Hook GitLab sends, on the go-gitlab fixture's shape."""
    payload = copy.deepcopy(json.loads(FIXTURE.read_text()))
    st = gl.project(REPO)
    mr = st.mrs[number]
    payload["project"].update(path_with_namespace=REPO, default_branch="main", id=st.id)
    payload["user"].update(username="app-dev2", id=gl.add_user("app-dev2"))
    attrs = payload["object_attributes"]
    attrs.update(iid=number, action=action, source_branch=mr.source_branch, target_branch=mr.target_branch, state="opened",
                 last_commit={"id": st.branches[mr.source_branch]})
    attrs.pop("oldrev", None)
    return payload


def described(call) -> str:
    if call.path == "/graphql":
        return "/graphql " + ("repository" if "blobs" in call.body["query"] else "group")
    return f"{call.method} {call.path.split('?')[0]}" if "statuses" in call.path else call.path.split("?")[0]


def run(n_files: int, n_approvals: int) -> list[dict]:
    rows = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gl = FakeGitLab().register(rsps)
        base = seed(gl)
        add_mr(gl, NUMBER, base=base, n_files=n_files, n_approvals=n_approvals)
        now = [1_800_000_000.0]  # the forge's clock, so the run past its 60 s cache is measured, not waited for
        forge = GitLabForge(client(gl.url, "bench-token"), config_project=CONFIG_PROJECT, clock=lambda: now[0], retry=None)
        settings = Settings(gitlab_url=gl.url, public_url="https://rc.example.com", gitlab_config_project=CONFIG_PROJECT)
        worker = Worker(settings, store=DictStore(), gitlab_forge_for=lambda account: forge,
                        clock=lambda: dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone.utc))
        for label in ("cold", "warm", "warm, 61 s later", "other MR"):
            number, action = NUMBER, "approved" if label == "cold" else "update"
            if label == "warm, 61 s later":
                now[0] += 61
            if label == "other MR":
                number = NUMBER + 1
                add_mr(gl, number, base=base, n_files=n_files, n_approvals=n_approvals)
                action = "open"
            gl.calls.clear()
            event = gitlab_webhooks.parse(event="Merge Request Hook", delivery_id=f"bench-{len(rows)}",
                                          payload=hook(gl, number, action=action, delivery=len(rows)))
            outcome = worker.run_event(event)
            assert not outcome.failed and not outcome.transient, outcome
            kinds = Counter(next((k for k, rx in KINDS if re.search(rx, described(c))), c.path) for c in gl.calls)
            rows.append({
                "files": n_files, "approvals": n_approvals, "run": label, "requests": len(gl.calls),
                "not_modified": sum(c.status == 304 for c in gl.calls),
                "writes": sum(c.method != "GET" and c.path != "/graphql" for c in gl.calls),
                "by_kind": ", ".join(f"{k} {v}" for k, v in kinds.most_common()),
            })
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| files | approvals | run | requests | of which 304 | writes | requests by endpoint |",
             "| ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['files']} | {r['approvals']} | {r['run']} | {r['requests']} | {r['not_modified']} | "
                     f"{r['writes']} | {r['by_kind']} |")
    return "\n".join(lines)


def targets(rows: list[dict]) -> str:
    """Issue 10's targets: cold <= 10 requests, warm <= 5 (MRs of up to 100 files)."""
    lines = []
    for r in rows:
        if r["files"] <= 100 and r["run"] != "other MR":
            limit = 10 if r["run"] == "cold" else 5
            verdict = "meets" if r["requests"] <= limit else "misses"
            lines.append(f"- {r['files']} files, {r['approvals']} approvals, {r['run']}: {r['requests']} requests "
                         f"{verdict} the target of <= {limit}")
    return "\n".join(lines)


CACHING = """What GitLabForge caches (one instance per process and token, LRU of 2,048 entries per cache):
- for the process's life, no request: files (or their absence) at a commit sha (config, CODEOWNERS at the
  MR's base), an MR's diffs for a (head sha, base sha), its diff versions for its diff_refs, a compare and
  merge base between two shas;
- for 60 seconds: group members (subgroups included), each user's effective access level on a project, files
  on a default branch (the GITLAB_CONFIG_PROJECT config), so a membership or role change counts within a minute;
- revalidated with If-None-Match on every use (a 304 reuses the parsed body): the MR itself, commit statuses;
- never: approvals and reviewers (GitLab sends no hook when a push resets approvals), writes;
- in the store: each check's digest (no status write when GitLab already shows it) and the note's digest (no
  note edit when the summary is unchanged); our note's id is remembered by the forge once found."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    rows = [row for n_files in (50, 500, 3000) for n_approvals in (2, 15) for row in run(n_files, n_approvals)]
    text = table(rows)
    verdict = targets(rows)
    print(text + "\n\n" + verdict)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# GitLab API requests per Merge Request Hook (every handler, through the worker)\n\n"
                            "Generated by `bench/api_calls_gitlab.py`. " + __doc__.split("\n\n", 1)[1].replace("\n", " ")
                            + "\n\n" + text + "\n\n" + verdict + "\n\n" + CACHING + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
