"""Which merged pull request brought each commit to the default branch, on GitHub (Forge.merged_pulls_for_commits).

Kept beside bot/forge/github.py (which delegates here). One GraphQL query answers up to COMMITS_PER_QUERY
commits: an aliased `object(oid:)` per sha, each `... on Commit { associatedPullRequests }`, plus the repository's
`defaultBranchRef`, so a rebase merge (whose commits name no pull request) is found as cheaply as a squash.
https://docs.github.com/en/graphql/reference/objects#commit (associatedPullRequests: "The merged Pull Request
that introduced the commit to the repository. If the commit is not present in the default branch, additionally
returns open Pull Requests associated with the commit"), https://docs.github.com/en/graphql/reference/objects#pullrequest
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from bot.forge.errors import NotFound
from bot.forge.http import GitHubHttp
from bot.model import MergedPull

# GraphQL's node limit counts first: x aliases: 100 commits x 5 pulls = 500 nodes, far below the 500,000 allowed,
# and a query text of ~12 KB. https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
COMMITS_PER_QUERY = 100
# A commit on the default branch is in one merged pull request, rarely a few (a branch merged twice, a
# backport's cherry-pick keeps its own sha). Open ones may be listed beside it; 5 leaves room for both.
PULLS_PER_COMMIT = 5
_SHA = re.compile(r"[0-9a-f]{40}")
PULL_FIELDS = "number state mergedAt baseRefName author { login }"


def merged_pulls_for_commits(http: GitHubHttp, repo: str, shas: Sequence[str]) -> dict[str, MergedPull]:
    found: dict[str, MergedPull] = {}
    todo: list[str] = []
    for sha in dict.fromkeys(shas):  # once each, in order
        key = ("merged-pull", repo, sha)
        if key in http.immutable:
            http.stats.cache_hits += 1
            found[sha] = http.immutable.get(key)
        elif http.fresh.get(("no-merged-pull", repo, sha)) is not http.fresh.MISSING:
            http.stats.cache_hits += 1  # asked within the last minute: none (the release asks twice per merge)
        elif _SHA.fullmatch(sha):
            todo.append(sha)
    owner, _, name = repo.partition("/")
    for start in range(0, len(todo), COMMITS_PER_QUERY):
        chunk = todo[start:start + COMMITS_PER_QUERY]
        variables: dict[str, Any] = {"owner": owner, "name": name, **{f"c{i}": sha for i, sha in enumerate(chunk)}}
        declared = ", ".join(["$owner: String!", "$name: String!", *(f"$c{i}: GitObjectID!" for i in range(len(chunk)))])
        aliases = " ".join(f"c{i}: object(oid: $c{i}) {{ ... on Commit {{ associatedPullRequests(first: {PULLS_PER_COMMIT}) "
                           f"{{ nodes {{ {PULL_FIELDS} }} }} }} }}" for i in range(len(chunk)))
        query = (f"query({declared}) {{ repository(owner: $owner, name: $name) {{ defaultBranchRef {{ name }} "
                 f"{aliases} }} }}")
        # NOT_FOUND on one commit's alias (an object the repository does not have) leaves that alias null; on
        # `repository` itself, the repository does not exist (or the app cannot see it): NotFound.
        data, _ = http.graphql(query, variables, tolerate=frozenset({"NOT_FOUND"}))
        if data.get("repository") is None:
            raise NotFound(f"POST graphql: repository {repo} not found")
        repository = data["repository"]
        default = (repository.get("defaultBranchRef") or {}).get("name")
        for i, sha in enumerate(chunk):
            nodes = ((repository.get(f"c{i}") or {}).get("associatedPullRequests") or {}).get("nodes") or ()
            pull = first_merged(nodes, default_branch=default)
            if pull is not None:
                found[sha] = pull
                http.immutable.put(("merged-pull", repo, sha), pull)  # a merge is never undone
            else:  # none yet: a pull may still merge it, so asked again once `fresh_for` (60 s) has passed
                http.fresh.put(("no-merged-pull", repo, sha), True)
    return found


def first_merged(nodes: Sequence[dict | None], *, default_branch: str | None) -> MergedPull | None:
    """The earliest-merged pull request into the default branch among a commit's associated ones."""
    merged = [n for n in nodes if n and n.get("state") == "MERGED" and n.get("mergedAt")
              and (default_branch is None or n.get("baseRefName") == default_branch)]
    if not merged:
        return None
    pull = min(merged, key=lambda n: (n["mergedAt"], n["number"]))  # ISO 8601 UTC sorts as text
    return MergedPull(number=int(pull["number"]), author=(pull.get("author") or {}).get("login"),
                      merged_at=pull["mergedAt"])
