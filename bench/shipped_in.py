"""GitHub API requests per release for the shipped-in notes, by the number of pull requests the release carries
and how they were merged; then GitLab's requests to attribute commits whose messages name no merge request.

Run by hand from the repository root: `.venv/bin/python bench/shipped_in.py [--out bench/results/shipped_in.md]`.
The release handler's communication step (bot.handlers.shipped: with_shipped_list, then after_release) drives a
real GitHubForge against tests/forge/fakegithub.py on `responses`; nothing leaves the process. A release carries N
pull requests of one component, merged by one method: "squash" (N commits "feat: change k (#k)" between its two
tags), "merge" (each pull's commit and its "Merge pull request #k" merge commit, first parent the mainline) or
"rebase" (each pull's two commits rebased onto main, naming no pull request: only the forge can attribute them,
Forge.merged_pulls_for_commits, one GraphQL query per 100 such commits). "first" is the merge's delivery,
"replay" the same delivery again with the store kept (GitHub's redelivery, a queue retry), "replay, new process"
the same with a fresh adapter (nothing cached: the rebase attribution is asked again), "store lost" a replay
after the store was emptied (only the notes' hidden markers remain). Writes are counted
separately: GitHub asks for one second between content-creating requests, which GitHubForge's requester keeps
(PyGithub's seconds_between_writes, 1 s); the bench turns the pause off and reports the time it would add.
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

from bot.core import release as core  # noqa: E402
from bot.core.config import ConfigSource, load_config  # noqa: E402
from bot.forge.github import GitHubForge  # noqa: E402
from bot.forge.gitlab import GitLabForge, client as gitlab_client  # noqa: E402
from bot.handlers import Context, shipped  # noqa: E402
from bot.model import PullRequest  # noqa: E402
from tests.fakeforge import DictStore  # noqa: E402
from tests.forge.fakegithub import FakeGitHub, commit_json, fake_sha  # noqa: E402
from tests.forge.fakegitlab import FakeGitLab  # noqa: E402

RELEASE, APP = "acme/release", "acme/payments-app"
CONFIG = b"""
release: {manifest: release.yml}
components:
  payments-app: {repo: acme/payments-app, kind: application, tag_prefix: "v"}
"""
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def add_comment_routes(fg: FakeGitHub) -> None:
    """The issue comment list and edit that Forge.ensure_note reads and writes (not in the shared fake yet)."""
    @fg._route("GET", r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments")
    def list_comments(q, b, repo, number):
        bodies = fg.repo(repo).comments[int(number)]
        return 200, [{"id": 9_000_000 + i, "body": body} for i, body in enumerate(bodies)]

    @fg._route("PATCH", r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)")
    def edit_comment(q, b, repo, comment_id):
        return 200, {"id": int(comment_id), "body": b["body"]}


def seed(fg: FakeGitHub, carried: int, method: str = "squash") -> None:
    base = fg.add_commit(RELEASE, {"release.yml": "release:\n  components:\n    payments-app: 1.0.0\n"}, branch="main")
    fg.repo(RELEASE).branches["base"] = base
    commits, mainline = [], fake_sha(APP, "v1.0.0")
    for k in range(1, carried + 1):
        if method == "squash":
            commits.append(commit_json(fake_sha(APP, k), f"feat: change {k} (#{k})", author="erin"))
            continue
        if method == "merge":  # the pull's commit, then its merge commit (mainline first parent)
            topic = _with_parents(commit_json(fake_sha(APP, k, "topic"), f"feat: change {k}", author="erin"), mainline)
            merge = _with_parents(commit_json(fake_sha(APP, k, "merge"), f"Merge pull request #{k} from acme/topic-{k}"),
                                  mainline, topic["sha"])
            commits += [topic, merge]
            mainline = merge["sha"]
            continue
        rebased = []  # rebase: two commits per pull request, their messages naming none
        for part in (1, 2):
            rebased.append(_with_parents(commit_json(fake_sha(APP, k, part), f"feat: change {k}, part {part}",
                                                     author="erin"), mainline))
            mainline = rebased[-1]["sha"]
        fg.add_pull(APP, k, author="erin", head_sha=mainline, base_sha=fake_sha("base"), head_ref=f"topic-{k}")
        fg.merge_pull(APP, k, commits=[c["sha"] for c in rebased])
        commits += rebased
    fg.repo(APP).compares[("v1.0.0", "v1.1.0")] = {"status": "ahead", "ahead_by": len(commits), "behind_by": 0,
                                                  "total_commits": len(commits), "commits": commits, "files": []}


def _with_parents(commit: dict, *parents: str) -> dict:
    return {**commit, "parents": [{"sha": p, "url": "", "html_url": ""} for p in parents]}


def run(carried: int, method: str = "squash") -> list[dict]:
    rows = []
    loaded = load_config([ConfigSource(".github/release-coordinator.yml", CONFIG)], repo=RELEASE)
    assert loaded.ok, loaded.problems
    plan = core.ReleasePlan(release_id="release-1.1.0", title="Deploy", tag_message="", changelog_entry="## x\n",
                            release_body="Deploy\n", versions={"payments-app": "1.1.0"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fg = FakeGitHub(our_app_id=4242).register(rsps)
        add_comment_routes(fg)
        seed(fg, carried, method)
        client = github.Github(auth=Auth.Token("bench"), per_page=100, seconds_between_requests=None,
                               seconds_between_writes=None)
        forge = GitHubForge(client, app_id=4242)
        pull = PullRequest(RELEASE, 7, "Release 1.1.0", "dave", "h" * 40, "next", "main", fg.repo(RELEASE).branches["base"],
                           "closed", merged=True, merge_commit_sha="m" * 40, html_url=f"https://github.com/{RELEASE}/pull/7")
        store = DictStore()
        for label in ("first", "replay", "replay, new process", "store lost"):
            if label == "store lost":
                store = DictStore()
            if label == "replay, new process":
                forge = GitHubForge(client, app_id=4242)
            tags = forge.list_annotated_tags(RELEASE, limit=1000)  # the release handler's own listing, passed on
            fg.calls.clear()
            ctx = Context(forge=forge, now=dt.datetime(2026, 12, 3, 10, tzinfo=dt.timezone.utc), store=store)
            released, pulls = shipped.with_shipped_list(ctx, pull, loaded.config, plan)
            shipped.after_release(ctx, pull, loaded.config, released, pulls, tags=tags)
            assert len(pulls) == carried
            assert all(len(fg.repo(APP).comments[k]) == 1 for k in range(1, carried + 1)), "one note per pull request"
            kinds = Counter(f"{c.method} {_shape(c.path)}" for c in fg.calls)
            # a GraphQL query is a read (POSTed; GitHubForge paces only mutations: bot.forge.http.is_mutation)
            writes = sum(1 for c in fg.calls if c.method in WRITES and c.path != "/graphql")
            rows.append({"carried": carried, "method": method, "run": label, "requests": len(fg.calls), "writes": writes,
                         "graphql": sum(1 for c in fg.calls if c.path == "/graphql"),
                         "per_pull": round(len(fg.calls) / carried, 2), "paced_s": max(0, writes - 1),
                         "by_kind": ", ".join(f"{k} {v}" for k, v in kinds.most_common())})
    return rows


def gitlab_attribution(merged: int) -> dict:
    """GitLab's side of the attribution alone: `merged` MRs fast-forward merged with two commits each (their
    messages name no MR) asked of GitLabForge against tests/forge/fakegitlab.py, cold then again (cached)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gl = FakeGitLab().register(rsps)
        gl.add_commit(APP, {"README.md": "x"}, branch="main", message="initial")
        st, shas = gl.project(APP), []
        for k in range(1, merged + 1):
            st.branches[f"topic-{k}"] = st.branches["main"]
            shas += [gl.add_commit(APP, {f"{k}-{part}": "x"}, branch=f"topic-{k}", message=f"feat: change {k}, part {part}")
                     for part in (1, 2)]
            gl.add_mr(APP, k, author="erin", source_branch=f"topic-{k}")
            gl.merge(APP, k, fast_forward=True)
        forge = GitLabForge(gitlab_client(gl.url, "bench"), retry=None)
        gl.calls.clear()
        found = forge.merged_pulls_for_commits(APP, shas)
        assert len({p.number for p in found.values()}) == merged
        cold = len(gl.calls)
        gl.calls.clear()
        forge.merged_pulls_for_commits(APP, shas)
        return {"merged": merged, "commits": len(shas), "cold": cold, "cached": len(gl.calls)}


def _shape(path: str) -> str:
    return re.sub(r"/[0-9a-f]{40}|/\d+", "/N", path.split("?")[0])


def table(rows: list[dict]) -> str:
    lines = ["| pull requests carried | merged by | run | requests | of which writes | of which attribution "
             "(GraphQL) | requests per pull request | seconds of write pacing (1 s apart) | requests by endpoint |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    lines += [f"| {r['carried']} | {r['method']} | {r['run']} | {r['requests']} | {r['writes']} | {r['graphql']} | "
              f"{r['per_pull']} | {r['paced_s']} | {r['by_kind']} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    text = table([row for method in ("squash", "merge", "rebase") for n in (1, 10, 50, 200) for row in run(n, method)])
    gitlab = [gitlab_attribution(n) for n in (1, 10, 50)]
    text += ("\n\nGitLab: attributing fast-forward merged MRs (two commits each, naming no MR) with "
             "GitLabForge.merged_pulls_for_commits, requests on the wire:\n\n"
             "| merge requests | commits asked | requests, cold | requests, asked again |\n| ---: | ---: | ---: | ---: |\n"
             + "\n".join(f"| {g['merged']} | {g['commits']} | {g['cold']} | {g['cached']} |" for g in gitlab))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# API requests per release for the shipped-in notes\n\nGenerated by "
                            "`bench/shipped_in.py` (see its docstring for what each run is).\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
