"""`release-coordinator audit [--json] [--plan] [--org ORG]`: the access audit (SPEC §3 `access:`) for CI and admins.
Reads with the GitHub App's credentials, writes nothing (no check, no issue, no enforce). Exit 0 clean, 1 drift,
2 usage or credentials (unset, refused, or a permission the App lacks)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Iterable

from bot.commands._runtime import StartupError, fail, load_settings
from bot.core.access import to_json
from bot.core.access_render import render_issue
from bot.forge.errors import ForgeError, PermissionDenied

EXIT_CLEAN, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit", help="audit branch protection and write access against access: (exit 0 clean, 1 drift, 2 usage)",
        description="Audits every release repository the GitHub App's installations (and the GitLab token) manage, and "
                    "the components each lists, against the access: policy. Needs GITHUB_APP_ID and "
                    "GITHUB_PRIVATE_KEY(_PATH), or GITLAB_URL and GITLAB_TOKEN.")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON (a list, one per release repo)")
    parser.add_argument("--plan", action="store_true",
                        help="also print the exact changes access.enforce would make (nothing is changed)")
    parser.add_argument("--org", metavar="ORG", help="only this organization's (or user's) installation and repositories")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, *, forges: Callable[[str | None], Iterable] | None = None) -> int:
    """forges(org) -> the installations' forge adapters to audit (tests pass their own)."""
    from bot.handlers.access import audit

    try:
        adapters = list((forges or _installation_forges)(args.org))
    except StartupError as exc:
        return fail(str(exc))
    except ForgeError as exc:
        return fail(f"GitHub refused the App's credentials or the installation list: {exc}")
    if not adapters:
        return fail(f"the App has no installation on {args.org}" if args.org else "the App has no installations")
    audited = []
    try:
        for forge in adapters:
            audited += audit(forge, enforce=False, org=args.org)
    except PermissionDenied as exc:
        return fail(f"the App may not read what the audit needs: {exc}")
    except ForgeError as exc:
        return fail(f"GitHub failed during the audit ({type(exc).__name__}): {exc}; try again")
    reports = [item.report for item in audited]
    if args.json:
        out = [{**to_json(item.report), **({"plan": [{"repo": c.repo, "summary": c.summary, "method": c.method,
                                                      "path": c.path, "body": c.body} for c in item.planned]}
                                           if args.plan else {})} for item in audited]
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        if not audited:
            print("No release repository found: none of the installation's repositories has a release: section "
                  "in .github/release-coordinator.yml.")
        for item in audited:
            print(render_issue(item.report).split("\n", 1)[1])  # without the issue's HTML marker
            if args.plan:
                print("\nPlan (access.enforce would make these changes):" if item.planned else "\nPlan: no change.")
                for change in item.planned:
                    print(f"- {change.summary}\n  {change.describe()}")
            print()
    statuses = {report.status for report in reports}
    if "drift" in statuses:
        return EXIT_DRIFT
    if "unverified" in statuses:
        return EXIT_USAGE  # a permission to grant: the credentials cannot see everything the audit must judge
    return EXIT_CLEAN


def _installation_forges(org: str | None):
    """One GitHubForge per installation of the App (GET /app/installations with the App's JWT), `org`'s only;
    and the GitLab token's forge when GITLAB_URL and GITLAB_TOKEN are set (`org`: a top-level group)."""
    settings = load_settings()
    gitlab = not settings.missing_gitlab_api()
    if not settings.github_app_configured and not gitlab:
        raise StartupError("set GITHUB_APP_ID and GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH), or GITLAB_URL and "
                           "GITLAB_TOKEN, to audit")
    if settings.github_app_configured:
        yield from _github_forges(settings, org)
    if gitlab:
        from bot.forge.gitlab import GitLabForge
        from bot.forge.gitlab.forge import client

        yield GitLabForge(client(settings.gitlab_url, settings.gitlab_token.reveal()),
                          config_project=settings.gitlab_config_project)


def _github_forges(settings, org: str | None):
    from github import GithubException

    from bot.forge.auth import GitHubApp
    from bot.forge.github import GitHubForge

    app = GitHubApp(app_id=settings.github_app_id, private_key=settings.github_private_key, api_url=settings.github_api_url)
    try:
        installations = list(app.integration().get_installations())
    except GithubException as exc:
        message = exc.data.get("message", "") if isinstance(exc.data, dict) else exc.data
        raise ForgeError(f"GET /app/installations: {exc.status} {message}") from None
    for installation in installations:
        login = installation.account.login if installation.account else None
        if org is None or (login or "").lower() == org.lower():
            yield GitHubForge(app.client(installation.id))
