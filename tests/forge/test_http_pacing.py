"""GitHub's pacing applies to writes only: GraphQL queries (POSTs that read) and GETs are not slept on, REST writes
and GraphQL mutations stay at least a second apart (PyGithub's seconds_between_writes), on `responses`."""
import json
import re
import time

import github
import pytest
import responses
from github import Auth

from bot.forge.http import GitHubHttp, bounded_requester, is_mutation

API = "https://api.github.com"


@pytest.fixture
def http():
    client = github.Github(auth=Auth.Token("t0ken-for-tests"), seconds_between_writes=1.0)
    return GitHubHttp(bounded_requester(client.requester))


@pytest.fixture
def rsps():
    host = r"https://api\.github\.com(:443)?"  # PyGithub spells out :443
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, re.compile(host + "/graphql"), json={"data": {"viewer": {"login": "bot"}}})
        mock.add(responses.POST, re.compile(host + "/repos/acme/app/check-runs"), json={"id": 1}, status=201)
        mock.add(responses.GET, re.compile(host + "/repos/acme/app"), json={"full_name": "acme/app"})
        yield mock


def test_graphql_queries_and_gets_are_not_paced_like_writes(http, rsps):
    started = time.monotonic()
    http.request("POST", f"{API}/repos/acme/app/check-runs", body={"name": "x", "head_sha": "a" * 40})
    for _ in range(4):
        http.graphql("query { viewer { login } }", {})
        http.get(f"{API}/repos/acme/app")
    assert time.monotonic() - started < 0.5  # was ~4 s: each query waited a second after the last "write"
    bodies = [json.loads(c.request.body) for c in rsps.calls if c.request.url.endswith("/graphql")]
    assert bodies == [{"query": "query { viewer { login } }", "variables": {}}] * 4
    assert all(c.request.headers["Authorization"] == "token t0ken-for-tests" for c in rsps.calls)


def test_rest_writes_and_graphql_mutations_keep_a_second_between_them(http, rsps):
    started = time.monotonic()
    http.request("POST", f"{API}/repos/acme/app/check-runs", body={"name": "a", "head_sha": "a" * 40})
    http.graphql("mutation { addComment(input: {}) { clientMutationId } }", {})
    http.request("POST", f"{API}/repos/acme/app/check-runs", body={"name": "b", "head_sha": "a" * 40})
    assert time.monotonic() - started >= 2.0
    assert len(rsps.calls) == 3


@pytest.mark.parametrize("document, mutation", [
    ("query { viewer { login } }", False),
    ("{ viewer { login } }", False),
    ("query($n: Int) { a: repository(owner: \"x\", name: \"y\") { id } }", False),
    ("mutation { addComment(input: {}) { clientMutationId } }", True),
    ("  # a comment\n  mutation Add { x }", True),
    ("query mutationCount { x }", False),
])
def test_is_mutation_reads_the_operation_type(document, mutation):
    assert is_mutation(document) is mutation
