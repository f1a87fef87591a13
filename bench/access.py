"""API requests per audited repository for the access audit, cold and warm, on GitHub and on GitLab.

Run by hand from the repository root: `.venv/bin/python bench/access.py [--out bench/results/access.md]`.
bot.handlers.access.audit drives a real GitHubForge (GitHubAccess) against tests/forge/fakegithub.py plus its access
slice (tests/forge/fakegithub_access.py) on `responses`; nothing leaves the process. Each org has one release repo
listing N-1 components; every repo has branch protection, one org ruleset applies to all, two teams and a direct
collaborator. "cold": the first audit on a new forge; "warm, next day": the same forge after its 60 s answers
expired (every GET conditional: 304s, no rate limit spent); "warm, within 60 s": a second audit right after.
GitLab: each project protected (push: No one), one approval rule, a group share, "Pipelines must succeed".
The config/CODEOWNERS read (one GraphQL query per 40 repos) and the org-wide reads (outside collaborators, org
base permission, the org ruleset) are shared, so they are divided over the repos audited.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import github
import responses
from github import Auth

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.access import APPROVALS_CHECK, MANIFEST_CHECK  # noqa: E402
from bot.forge.github import GitHubForge  # noqa: E402
from bot.handlers.access import audit  # noqa: E402
from tests.forge.fakegithub import FakeGitHub  # noqa: E402
from tests.forge.fakegithub_access import install, ruleset  # noqa: E402


def run(n: int) -> dict[str, object]:
    now = {"t": 1_800_000_000.0}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gh = FakeGitHub().register(rsps)
        world = install(gh)
        world.orgs = {"acme"}
        release = "acme/release"
        components = [f"acme/svc-{i}" for i in range(n - 1)]
        config = "release: {manifest: release.yml}\ncomponents:" + (" {}\n" if not components else "\n") + "".join(
            f"  svc-{i}: {{repo: {repo}, kind: {'infrastructure' if i == 0 else 'application'}}}\n" for i, repo in enumerate(components))
        for repo in [release, *components]:
            files = {".github/CODEOWNERS": "* @acme/owners\n"}
            if repo == release:
                files[".github/release-coordinator.yml"] = config
            gh.add_commit(repo, files, branch="main")
            world.installed.append(repo)
            world.teams[repo] = [{"id": 1, "slug": "owners", "permission": "push"}, {"id": 2, "slug": "readers", "permission": "pull"}]
            world.collaborators[repo] = [("alice", "read")]
            world.protection[(repo, "main")] = {
                "url": f"https://api.github.com/repos/{repo}/branches/main/protection", "enforce_admins": {"enabled": True},
                "required_status_checks": {"strict": False, "contexts": [APPROVALS_CHECK, MANIFEST_CHECK], "checks": []},
                "required_pull_request_reviews": {"required_approving_review_count": 2, "require_code_owner_reviews": True},
                "allow_force_pushes": {"enabled": False}, "allow_deletions": {"enabled": False}}
        world.rulesets[7] = ruleset(7, "org baseline", source="acme", source_type="Organization", include=("~ALL",),
                                    rules=[{"type": "deletion"}, {"type": "non_fast_forward"}])
        world.outside["acme"] = ["vendor"]
        world.base_permission["acme"] = "read"
        client = github.Github(auth=Auth.Token("bench"), base_url="https://api.github.com", seconds_between_requests=None,
                               seconds_between_writes=None)
        forge = GitHubForge(client, app_id=gh.our_app_id, clock=lambda: now["t"])
        rows = {}
        for label, advance in (("cold", 0), ("warm, next day", 86_400), ("warm, within 60 s", 10)):
            now["t"] += advance
            start = len(gh.calls)
            [item] = audit(forge, enforce=False)
            calls = gh.calls[start:]
            assert item.report.status == "clean", item.report
            rows[label] = (len(calls), sum(1 for c in calls if c.status == 304),
                           Counter(c.path.split("?")[0].split("/")[-1] for c in calls))
        return rows


def run_gitlab(n: int) -> dict[str, object]:
    """The same shape on GitLab: a release project listing n-1 components, each protected, one approval rule."""
    from bot.forge.gitlab import GitLabForge
    from bot.forge.gitlab.forge import client
    from tests.forge.fakegitlab import FakeGitLab
    from tests.forge.fakegitlab_access import install as install_gitlab, protected_branch

    now = {"t": 1_800_000_000.0}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gl = FakeGitLab().register(rsps)
        world = install_gitlab(gl)
        release = "acme/release"
        components = [f"acme/svc-{i}" for i in range(n - 1)]
        config = "release: {manifest: release.yml}\ncomponents:" + (" {}\n" if not components else "\n") + "".join(
            f"  svc-{i}: {{repo: {repo}, kind: application}}\n" for i, repo in enumerate(components))
        for repo in [release, *components]:
            files = {"CODEOWNERS": "* @acme/owners\n"}
            if repo == release:
                files[".gitlab/release-coordinator.yml"] = config
            gl.add_commit(repo, files, branch="main")
            world.protected[repo] = [protected_branch("main", push=0, code_owners=True)]
            world.rules[repo] = [{"id": 1, "name": "owners", "rule_type": "regular", "approvals_required": 2, "protected_branches": []}]
            world.shares[repo] = [{"group_id": 7, "group_full_path": "acme/owners", "group_access_level": 30}]
            world.pipelines_must_succeed.add(repo)
        forge = GitLabForge(client("https://gitlab.example.com", "bench"), retry=None, clock=lambda: now["t"])
        rows = {}
        for label, advance in (("cold", 0), ("warm, next day", 86_400), ("warm, within 60 s", 10)):
            now["t"] += advance
            start = len(gl.calls)
            [item] = audit(forge, enforce=False)
            calls = gl.calls[start:]
            assert item.report.status == "clean", item.report
            rows[label] = (len(calls), sum(1 for c in calls if c.status == 304), None)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table as Markdown here")
    args = parser.parse_args()
    lines = ["| forge | repos audited | run | requests | per repo | of them 304 |", "| --- | --- | --- | --- | --- | --- |"]
    for forge, runner in (("GitHub", run), ("GitLab", run_gitlab)):
        for n in (1, 5, 20):
            for label, (total, not_modified, _) in runner(n).items():
                lines.append(f"| {forge} | {n} | {label} | {total} | {total / n:.1f} | {not_modified} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text("# Access audit: GitHub API requests per audited repository\n\n"
                                  "Measured with `.venv/bin/python bench/access.py` (a shared 2-core machine, under "
                                  "load; request counts do not depend on load).\n\n" + table + "\n")


if __name__ == "__main__":
    main()
