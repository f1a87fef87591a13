"""What Forge.merged_pulls_for_commits costs on the wire, and what it asks: GitHubForge over FakeGitHub (one
GraphQL query per 100 commits), GitLabForge over FakeGitLab (one request per commit), both caching what they
found by sha. What both answer is in tests/forge/test_contract.py."""
from __future__ import annotations

import pytest

from bot.forge.errors import NotFound, RateLimited
from bot.forge.github_attribution import COMMITS_PER_QUERY
from tests.forge.fakegithub import FakeGitHub, commit_json, fake_sha
from tests.forge.fakegraphql import GraphQLError
from tests.forge.fakegitlab import FakeGitLab
from tests.forge import test_github, test_gitlab
from tests.forge.test_github import rsps  # noqa: F401  (the responses fixture)

APP = "acme/payments-app"


def rebase_merged(fg: FakeGitHub, count: int, *, per_pull: int = 3) -> list[str]:
    """`count` commits on main, rebase-merged `per_pull` to a pull request (#1, #2, ...)."""
    shas = [fake_sha(APP, "rebased", k) for k in range(count)]
    for start in range(0, count, per_pull):
        number = start // per_pull + 1
        fg.add_pull(APP, number, author=f"dev{number}", head_sha=shas[min(start + per_pull, count) - 1],
                    base_sha=fake_sha("base"), head_ref=f"topic-{number}")
        fg.merge_pull(APP, number, commits=shas[start:start + per_pull])
    return shas


def graphql_calls(fg: FakeGitHub) -> list:
    return [c for c in fg.calls if c.path == "/graphql"]


def test_github_asks_one_graphql_query_per_100_commits_then_only_for_what_it_did_not_find(rsps):
    fg = FakeGitHub().register(rsps)
    shas = rebase_merged(fg, 150)
    pushed = [fg.add_commit(APP, {f"f{k}": "x"}, branch="main") for k in range(3)]  # no pull request
    now = [test_github.NOW]
    forge = test_github.make_forge(clock=lambda: now[0])
    found = forge.merged_pulls_for_commits(APP, [*shas, *pushed])
    assert len(found) == 150 and found[shas[0]].number == 1 and found[shas[149]].number == 50
    assert found[shas[4]].author == "dev2"
    calls = graphql_calls(fg)
    assert len(calls) == len(fg.calls) == 2  # 153 commits: 100 + 53, nothing over REST
    first = calls[0].body
    assert "associatedPullRequests(first: 5)" in first["query"] and "defaultBranchRef { name }" in first["query"]
    assert first["variables"]["owner"] == "acme" and first["variables"]["name"] == "payments-app"
    assert [first["variables"][f"c{i}"] for i in range(COMMITS_PER_QUERY)] == shas[:100]
    assert "c100" not in first["variables"]
    assert len([k for k in calls[1].body["variables"] if k.startswith("c")]) == 53
    fg.calls.clear()
    assert forge.merged_pulls_for_commits(APP, [*shas, *pushed]) == found
    assert fg.calls == []  # within the minute: the release handler asks twice per merge, GitHub once
    now[0] += 61
    assert forge.merged_pulls_for_commits(APP, [*shas, *pushed]) == found
    # what was found is cached for good; the 3 pushed commits are asked again (a pull may still merge them)
    assert [sorted(k for k in c.body["variables"] if k.startswith("c")) for c in graphql_calls(fg)] == [["c0", "c1", "c2"]]
    fg.calls.clear()
    assert forge.merged_pulls_for_commits(APP, shas[:10]) == {sha: found[sha] for sha in shas[:10]}
    assert fg.calls == []  # all found before: no request


def test_github_takes_the_earliest_merge_into_the_default_branch(rsps):
    fg = FakeGitHub().register(rsps)
    sha = fake_sha(APP, "picked")
    fg.add_pull(APP, 8, head_sha=sha, base_sha=fake_sha("base"), head_ref="later")
    fg.merge_pull(APP, 8, commits=[sha], merged_at="2026-11-22T10:00:00Z")
    fg.add_pull(APP, 5, head_sha=sha, base_sha=fake_sha("base"), head_ref="first")
    fg.merge_pull(APP, 5, commits=[sha], merged_at="2026-11-21T10:00:00Z")
    fg.add_pull(APP, 3, head_sha=sha, base_sha=fake_sha("base"), head_ref="backport", base_ref="release-1.x")
    fg.merge_pull(APP, 3, commits=[sha], merged_at="2026-11-20T10:00:00Z")  # earlier, but into another branch
    assert test_github.make_forge().merged_pulls_for_commits(APP, [sha])[sha].number == 5


def test_github_errors_map_as_every_query_does(rsps):
    fg = FakeGitHub().register(rsps)
    shas = rebase_merged(fg, 3)
    with pytest.raises(NotFound):
        test_github.make_forge().merged_pulls_for_commits("acme/gone", shas)
    fg.fail("POST", r"/graphql", 200, body={"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]},
            headers={"x-ratelimit-reset": "2000000000"})
    with pytest.raises(RateLimited):  # the queue retries the delivery after the reset
        test_github.make_forge().merged_pulls_for_commits(APP, shas)


def test_gitlab_asks_per_commit_after_the_default_branch_and_caches_merged_answers(rsps):
    gl = FakeGitLab().register(rsps)
    gl.add_commit(APP, {"README.md": "x"}, branch="main", message="initial")
    st = gl.project(APP)
    st.branches["topic"] = st.branches["main"]
    rebased = [gl.add_commit(APP, {f"f{k}": "x"}, branch="topic", message=f"fix: {k}") for k in range(3)]
    gl.add_mr(APP, 7, author="erin", source_branch="topic")
    gl.merge(APP, 7, fast_forward=True)
    pushed = gl.add_commit(APP, {"g": "x"}, branch="main", message="chore: pushed")
    now = [test_gitlab.NOW]
    forge = test_gitlab.make_forge(clock=lambda: now[0])
    gl.calls.clear()
    found = forge.merged_pulls_for_commits(APP, [*rebased, pushed])
    assert {sha: (p.number, p.author) for sha, p in found.items()} == {sha: (7, "erin") for sha in rebased}
    asked = [c.path.split("?")[0] for c in gl.calls]
    project = "/projects/acme%2Fpayments-app"
    assert asked == [project] + [f"{project}/repository/commits/{sha}/merge_requests" for sha in [*rebased, pushed]]
    gl.calls.clear()
    assert forge.merged_pulls_for_commits(APP, [*rebased, pushed]) == found
    assert gl.calls == []  # within the minute
    now[0] += 61
    assert forge.merged_pulls_for_commits(APP, [*rebased, pushed]) == found
    # the merged answers come from the cache; the pushed commit is asked again (an MR may merge it yet)
    assert [c.path.split("?")[0] for c in gl.calls] == [project, f"{project}/repository/commits/{pushed}/merge_requests"]
    gl.calls.clear()
    assert forge.merged_pulls_for_commits(APP, rebased) == found
    assert gl.calls == []


def test_gitlab_a_commit_it_does_not_know_is_absent_and_a_missing_project_not_found(rsps):
    gl = FakeGitLab().register(rsps)
    gl.add_commit(APP, {"README.md": "x"}, branch="main", message="initial")
    forge = test_gitlab.make_forge()
    assert forge.merged_pulls_for_commits(APP, [fake_sha("nobody pushed")]) == {}
    with pytest.raises(NotFound):
        forge.merged_pulls_for_commits("acme/gone", [fake_sha("x")])


def test_compare_gives_each_commits_parents_so_a_merge_commit_brings_its_own_commits(rsps):
    fg = FakeGitHub().register(rsps)
    mainline, topic, merge = fake_sha("mainline"), fake_sha("topic"), fake_sha("merge")
    commits = [{**commit_json(topic, "feat: x"), "parents": [{"sha": mainline}]},
               {**commit_json(merge, "Merge pull request #4 from a/b"), "parents": [{"sha": mainline}, {"sha": topic}]}]
    fg.repo(APP).compares[("v1", "v2")] = {"status": "ahead", "ahead_by": 2, "behind_by": 0, "total_commits": 2,
                                           "commits": commits, "files": []}
    compared = test_github.make_forge().compare(APP, "v1", "v2")
    assert [c.parents for c in compared.commits] == [(mainline,), (mainline, topic)]

    gl = FakeGitLab().register(rsps)
    first = gl.add_commit(APP, {"README.md": "x"}, branch="main", message="initial")
    gl.add_tag(APP, "v1", sha=first)
    second = gl.add_commit(APP, {"a": "x"}, branch="main", message="feat: y")
    gl.add_tag(APP, "v2", sha=second)
    assert [c.parents for c in test_gitlab.make_forge().compare(APP, "v1", "v2").commits] == [(first,)]


def test_github_a_commit_alias_not_found_is_absent_the_others_answered(rsps):
    fg = FakeGitHub().register(rsps)
    shas = rebase_merged(fg, 3)
    resolvers = fg.graphql_resolvers

    def failing_second_commit():
        table = dict(resolvers())
        git_object = table[("Repository", "object")]

        def object_or_error(parent, args):
            if args.get("oid") == shas[1]:
                raise GraphQLError("NOT_FOUND", f"Could not resolve to a GitObject with the oid '{shas[1]}'.")
            return git_object(parent, args)

        table[("Repository", "object")] = object_or_error
        return table

    fg.graphql_resolvers = failing_second_commit
    found = test_github.make_forge().merged_pulls_for_commits(APP, shas)
    assert sorted(found) == sorted([shas[0], shas[2]]) and {p.number for p in found.values()} == {1}
