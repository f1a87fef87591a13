"""One set of Forge behaviours, run against FakeForge and against GitHubForge over `responses`, so the fake
every handler test relies on cannot drift from what GitHub does."""
from __future__ import annotations

import hashlib

import github
import pytest
import responses
from github import Auth

from bot.core.checks import APPROVALS, MANIFEST, Annotation, CheckResult, Conclusion, Level, result_digest
from bot.core.config import CONFIG_PATH
from bot.forge.base import FileRef, PullFiles, PullRequest, TeamInfo
from bot.forge.errors import AlreadyExists, Conflict, NotFound, TeamNotFound
from bot.forge.base import Permission
from bot.forge.github import GitHubForge
from bot.forge.gitlab import GitLabForge, client as gitlab_client
from bot.handlers.configs import fetch_config
from tests.fakeforge import FakeForge
from tests.forge.fakegithub import FakeGitHub, fake_sha
from tests.forge.fakegitlab import FakeGitLab

REPO = "acme/release"
HEAD = fake_sha("contract head")


class FakeWorld:
    """Seeds FakeForge the way a handler test would (kind="gitlab": FakeForge behaving like GitLab)."""

    def __init__(self, kind: str = "github") -> None:
        self.forge = FakeForge(kind)
        self.grants_by_team = kind == "github"

    def add_file(self, repo: str, path: str, content: bytes, *, branch: str = "main") -> str:
        state = self.forge.repos[repo]
        state.files[branch][path] = content
        sha = hashlib.sha1(repr((repo, branch, sorted(state.files[branch].items()))).encode()).hexdigest()
        state.files[sha] = dict(state.files[branch])
        state.branches[branch] = sha
        return sha

    def add_team(self, team: str, members: list[str]) -> None:
        self.forge.teams[team.lower()] = frozenset(members)

    def set_permission(self, repo: str, user: str, permission: Permission) -> None:
        self.forge.repos[repo].permissions[user] = permission

    def grant_team(self, team: str, repo: str, permission: Permission) -> None:
        self.forge.team_permissions[(team.lower(), repo)] = permission

    def add_pull(self, repo: str, number: int, *, head_sha: str, state: str = "open", base_ref: str = "main") -> None:
        self.forge.add_pull(PullRequest(repo=repo, number=number, title="t", author="alice", head_sha=head_sha,
                                        head_ref=f"topic-{number}", base_ref=base_ref, base_sha=fake_sha("base"), state=state))

    def notes(self, repo: str, number: int) -> list[str]:
        return list(self.forge.repos[repo].comments[number])

    def land(self, repo: str, number: int | None, messages: list[str], *, method: str, base: str = "main") -> list[str]:
        """The shas `method` puts on `base` for pull `number`: "rebase" its commits, "squash" one commit, "direct"
        pushes with no pull; "open": the pull's commits, on no branch yet (the pull still open)."""
        shas = [fake_sha(repo, number, m) for m in messages]
        if method == "squash":
            shas = [fake_sha(repo, number, "squash")]
        if method != "direct":
            self.forge.add_commit_pull(repo, number, shas, author="alice", state="open" if method == "open" else "merged",
                                       base=base)
        self.forge.repos[repo]  # the repository exists
        return shas


class GitHubWorld:
    """Seeds FakeGitHub; the forge under test is the real adapter."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.gh = FakeGitHub(our_app_id=4242).register(rsps)
        client = github.Github(auth=Auth.Token("test-token"), seconds_between_requests=None, seconds_between_writes=None)
        self.forge = GitHubForge(client, app_id=4242)

    def add_file(self, repo: str, path: str, content: bytes, *, branch: str = "main") -> str:
        return self.gh.add_file(repo, path, content, ref=branch)

    def add_team(self, team: str, members: list[str]) -> None:
        self.gh.add_team(team, members)

    def set_permission(self, repo: str, user: str, permission: Permission) -> None:
        self.gh.repo(repo).roles[user] = permission.name.lower()

    def grant_team(self, team: str, repo: str, permission: Permission) -> None:
        org, slug = team.lstrip("@").lower().split("/")
        self.gh.team_repos[(org, slug)][repo] = permission.name.lower()

    def add_pull(self, repo: str, number: int, *, head_sha: str, state: str = "open", base_ref: str = "main") -> None:
        self.gh.add_pull(repo, number, author="alice", head_sha=head_sha, base_sha=fake_sha("base"),
                         head_ref=f"topic-{number}", base_ref=base_ref, state=state, title="t")

    def notes(self, repo: str, number: int) -> list[str]:
        return list(self.gh.repo(repo).comments[number])

    def land(self, repo: str, number: int | None, messages: list[str], *, method: str, base: str = "main") -> list[str]:
        if method == "direct":
            return [self.gh.add_commit(repo, {f"direct-{i}": m}, branch="main") for i, m in enumerate(messages)]
        shas = [fake_sha(repo, number, m) for m in messages]
        self.gh.add_pull(repo, number, author="alice", head_sha=shas[-1], base_sha=fake_sha("base"),
                         head_ref=f"topic-{number}", base_ref=base, title="t")
        if method == "open":
            return shas
        landed = [fake_sha(repo, number, "squash")] if method == "squash" else shas
        self.gh.merge_pull(repo, number, commits=landed, merged_at=f"2026-11-20T12:{number:02d}:00Z")
        return landed


class GitLabWorld:
    """Seeds FakeGitLab; the forge under test is GitLabForge. A team is a group (members at Developer, 30)."""

    grants_by_team = False  # a group's share caps its members' roles, it grants none: see GitLabForge.get_teams

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.gl = FakeGitLab().register(rsps)
        self.forge = GitLabForge(gitlab_client(self.gl.url, "test-token"), retry=None)

    def add_file(self, repo: str, path: str, content: bytes, *, branch: str = "main") -> str:
        sha = self.gl.add_file(repo, path, content, ref=branch)
        if HEAD not in self.gl.project(repo).commits:  # the contract's checks go on HEAD: a commit pushed to a branch
            self.gl.add_commit(repo, {}, branch="contract-head", parent=sha, sha=HEAD)
        return sha

    def add_team(self, team: str, members: list[str]) -> None:
        self.gl.add_group(team.lstrip("@"), dict.fromkeys(members, 30))

    def set_permission(self, repo: str, user: str, permission: Permission) -> None:
        levels = {Permission.READ: 10, Permission.TRIAGE: 20, Permission.WRITE: 30, Permission.MAINTAIN: 40, Permission.ADMIN: 50}
        self.gl.set_access(repo, user, levels.get(permission, 0))

    def grant_team(self, team: str, repo: str, permission: Permission) -> None:
        pass  # see grants_by_team

    def add_pull(self, repo: str, number: int, *, head_sha: str, state: str = "open", base_ref: str = "main") -> None:
        st = self.gl.project(repo)
        if base_ref not in st.branches:
            self.gl.add_commit(repo, {}, branch=base_ref, parent=st.branches.get("main"))
        if head_sha not in st.commits:
            self.gl.add_commit(repo, {f"topic-{number}": "x"}, branch=f"topic-{number}", parent=st.branches[base_ref], sha=head_sha)
        else:
            st.branches[f"topic-{number}"] = head_sha
        self.gl.add_mr(repo, number, author="alice", source_branch=f"topic-{number}", target_branch=base_ref, title="t",
                       state="opened" if state == "open" else state)

    def notes(self, repo: str, number: int) -> list[str]:
        return self.gl.notes_of(repo, number)

    def land(self, repo: str, number: int | None, messages: list[str], *, method: str, base: str = "main") -> list[str]:
        st = self.gl.project(repo)
        if "main" not in st.branches:
            self.gl.add_commit(repo, {"README.md": "x"}, branch="main", message="initial")
        if base not in st.branches:
            self.gl.add_commit(repo, {}, branch=base, parent=st.branches["main"], message=f"branch {base}")
        if method == "direct":
            return [self.gl.add_commit(repo, {f"direct-{i}": m}, branch="main", message=m) for i, m in enumerate(messages)]
        topic = f"topic-{number}"
        st.branches[topic] = st.branches[base]
        shas = [self.gl.add_commit(repo, {f"{number}-{i}": m}, branch=topic, message=m) for i, m in enumerate(messages)]
        self.gl.add_mr(repo, number, author="alice", source_branch=topic, target_branch=base, title="t")
        if method == "open":
            return shas
        if method == "squash":  # GitLab's default squash message is the MR title: no "See merge request" trailer
            return [self.gl.merge(repo, number, squash=True, message="t")]
        self.gl.merge(repo, number, fast_forward=True)  # rebase, then fast-forward: the MR's commits land as they are
        return shas


@pytest.fixture(params=["fake", "github", "fake-gitlab", "gitlab"])
def world(request):
    if request.param.startswith("fake"):
        yield FakeWorld("gitlab" if request.param == "fake-gitlab" else "github")
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield GitHubWorld(rsps) if request.param == "github" else GitLabWorld(rsps)


def check(name=APPROVALS, *, conclusion=Conclusion.FAILURE, summary="missing @acme/infra", annotations=()) -> CheckResult:
    return CheckResult(name=name, head_sha=HEAD, conclusion=conclusion, title="t", summary=summary, annotations=tuple(annotations))


# --- files
def test_get_file_at_a_branch_and_at_its_commit(world):
    sha = world.add_file(REPO, "release.yml", b"release: {}\n")
    by_branch = world.forge.get_file(REPO, "release.yml", ref="main")
    by_sha = world.forge.get_file(REPO, "release.yml", ref=sha)
    assert by_branch == by_sha
    assert by_sha.content == b"release: {}\n"
    assert by_sha.sha == hashlib.sha1(b"blob 12\0release: {}\n").hexdigest()  # git's blob sha, as GitHub reports


def test_get_file_absent_is_none(world):
    sha = world.add_file(REPO, "README.md", b"x")
    assert world.forge.get_file(REPO, ".github/CODEOWNERS", ref=sha) is None
    assert world.forge.get_file(REPO, ".github/CODEOWNERS", ref="main") is None
    assert world.forge.get_file("acme/no-such-repo", "README.md", ref="main") is None


def test_update_file_with_the_current_sha_commits(world):
    world.add_file(REPO, "CHANGELOG.md", b"# Changelog\n")
    current = world.forge.get_file(REPO, "CHANGELOG.md", ref="main")
    commit = world.forge.update_file(REPO, "CHANGELOG.md", content=b"# Changelog\n\n## r1\n", message="m", branch="main", sha=current.sha)
    assert world.forge.get_branch_sha(REPO, "main") == commit
    assert world.forge.get_file(REPO, "CHANGELOG.md", ref="main").content == b"# Changelog\n\n## r1\n"
    assert world.forge.get_file(REPO, "CHANGELOG.md", ref=commit).content == b"# Changelog\n\n## r1\n"


def test_update_file_with_a_stale_sha_is_conflict(world):
    world.add_file(REPO, "CHANGELOG.md", b"# Changelog\n")
    stale = world.forge.get_file(REPO, "CHANGELOG.md", ref="main")
    world.forge.update_file(REPO, "CHANGELOG.md", content=b"a human edit\n", message="m", branch="main", sha=stale.sha)
    with pytest.raises(Conflict):
        world.forge.update_file(REPO, "CHANGELOG.md", content=b"ours\n", message="m", branch="main", sha=stale.sha)
    with pytest.raises(Conflict):  # we thought it absent: someone created it first
        world.forge.update_file(REPO, "CHANGELOG.md", content=b"ours\n", message="m", branch="main", sha=None)
    assert world.forge.get_file(REPO, "CHANGELOG.md", ref="main").content == b"a human edit\n"


def test_update_file_creates_a_new_file_without_a_sha(world):
    world.add_file(REPO, "README.md", b"x")
    world.forge.update_file(REPO, "CHANGELOG.md", content=b"# Changelog\n", message="m", branch="main", sha=None)
    assert world.forge.get_file(REPO, "CHANGELOG.md", ref="main").content == b"# Changelog\n"


def test_get_files_reads_many_repositories_refs_and_paths_in_one_call(world):
    sha = world.add_file(REPO, CONFIG_PATH, b"approvals: {}\n")
    world.add_file("acme/.github", CONFIG_PATH, b"approvals:\n  distinct: false\n")
    later = world.add_file(REPO, "CODEOWNERS", b"* @acme/infra-team\n")
    found = world.forge.get_files([
        FileRef("acme/.github", CONFIG_PATH),  # the default branch
        FileRef(REPO, CONFIG_PATH, sha),
        FileRef(REPO, "CODEOWNERS", sha),  # not there yet at that commit
        FileRef(REPO, "CODEOWNERS", later),
        FileRef(REPO, "CODEOWNERS", "main"),  # a branch name
        FileRef("acme/no-such-repo", CONFIG_PATH),
        FileRef(REPO, CONFIG_PATH, fake_sha("a commit nobody pushed")),
    ])
    assert [f and f.content for f in found] == [
        b"approvals:\n  distinct: false\n", b"approvals: {}\n", None, b"* @acme/infra-team\n", b"* @acme/infra-team\n",
        None, None,
    ]
    assert found[1].sha == hashlib.sha1(b"blob 14\0approvals: {}\n").hexdigest()
    assert world.forge.get_files([]) == ()


def test_get_files_at_an_annotated_tag(world):
    sha = world.add_file(REPO, CONFIG_PATH, b"versioning: {file: VERSION}\n")
    world.forge.create_tag(REPO, name="v1.2.0", message="v1.2.0", sha=sha)
    assert world.forge.get_files([FileRef(REPO, CONFIG_PATH, "v1.2.0")])[0].content == b"versioning: {file: VERSION}\n"


def test_get_files_agrees_with_get_file(world):
    sha = world.add_file(REPO, "release.yml", b"release: {}\n")
    assert world.forge.get_files([FileRef(REPO, "release.yml", sha)]) == (world.forge.get_file(REPO, "release.yml", ref=sha),)


# --- repositories and branches
def test_missing_repository_and_branch_are_not_found(world):
    world.add_file(REPO, "README.md", b"x")
    assert world.forge.get_default_branch(REPO) == "main"
    with pytest.raises(NotFound):
        world.forge.get_default_branch("acme/.github")
    with pytest.raises(NotFound):
        world.forge.get_branch_sha(REPO, "no-such-branch")


def test_config_of_an_org_without_a_dot_github_repository(world):
    sha = world.add_file(REPO, world.forge.layout.config_path, b"approvals:\n  teams:\n    '@acme/infra-team': 2\n")
    loaded = fetch_config(world.forge, REPO, ref=sha)
    assert loaded.ok and loaded.config.managed


def test_create_branch_twice_is_already_exists(world):
    sha = world.add_file(REPO, "release.yml", b"x")
    world.forge.create_branch(REPO, name="rollback/r1", sha=sha)
    assert world.forge.get_branch_sha(REPO, "rollback/r1") == sha
    with pytest.raises(AlreadyExists):
        world.forge.create_branch(REPO, name="rollback/r1", sha=sha)


# --- tags and releases
def test_create_tag_then_get_tag_peels_to_the_commit(world):
    sha = world.add_file(REPO, "release.yml", b"x")
    made = world.forge.create_tag(REPO, name="release-1.5.3-2.1.0", message="Deploy\n\nRelease-Id: r", sha=sha)
    got = world.forge.get_tag(REPO, "release-1.5.3-2.1.0")
    assert (got.name, got.commit_sha, got.message) == ("release-1.5.3-2.1.0", sha, "Deploy\n\nRelease-Id: r")
    assert got.tag_sha == made.tag_sha is not None
    assert [(t.name, t.commit_sha, t.message) for t in world.forge.list_tags(REPO)] == [("release-1.5.3-2.1.0", sha, None)]


def test_list_annotated_tags_gives_messages_and_commits_newest_first(world):
    older = world.add_file(REPO, "release.yml", b"a")
    newer = world.add_file(REPO, "release.yml", b"b")
    first = world.forge.create_tag(REPO, name="release-1", message="Deploy 1\n\nRelease-Id: release-1", sha=older)
    second = world.forge.create_tag(REPO, name="release-2", message="Deploy 2\n\nRelease-Id: release-2", sha=newer)
    assert world.forge.list_annotated_tags(REPO) == (second, first)
    assert world.forge.list_annotated_tags(REPO, limit=1) == (second,)
    assert world.forge.get_tag(REPO, "release-1") == first


def test_create_tag_twice_is_already_exists(world):
    sha = world.add_file(REPO, "release.yml", b"x")
    world.forge.create_tag(REPO, name="release-1", message="m", sha=sha)
    with pytest.raises(AlreadyExists):
        world.forge.create_tag(REPO, name="release-1", message="m", sha=sha)


def test_get_tag_absent_is_none(world):
    world.add_file(REPO, "release.yml", b"x")
    assert world.forge.get_tag(REPO, "release-9") is None


def test_releases_absent_created_and_not_twice(world):
    sha = world.add_file(REPO, "release.yml", b"x")
    assert world.forge.get_release(REPO, "release-1") is None
    world.forge.create_tag(REPO, name="release-1", message="m", sha=sha)  # GitLab makes a release of an existing tag
    made = world.forge.create_release(REPO, tag="release-1", name="release-1", body="notes")
    assert world.forge.get_release(REPO, "release-1") == made
    assert (made.tag, made.name, made.body) == ("release-1", "release-1", "notes")
    with pytest.raises(AlreadyExists):
        world.forge.create_release(REPO, tag="release-1", name="release-1", body="notes")


# --- people
def test_team_members_and_a_missing_team(world):
    world.add_team("@acme/infra-team", ["alice", "bob"])
    assert world.forge.team_members("@acme/infra-team") == {"alice", "bob"}
    with pytest.raises(TeamNotFound) as caught:
        world.forge.team_members("@acme/no-such-team")
    assert caught.value.team == "@acme/no-such-team"


def test_team_names_are_case_insensitive_as_in_codeowners(world):
    world.add_team("@acme/infra-team", ["alice"])
    assert world.forge.team_members("@Acme/Infra-Team") == {"alice"}


def test_get_teams_names_members_and_what_each_team_grants_on_the_repo(world):
    world.add_file(REPO, "README.md", b"x")
    world.add_team("@acme/infra-team", ["alice", "bob"])
    world.add_team("@acme/docs", ["carol"])
    world.grant_team("@acme/infra-team", REPO, Permission.MAINTAIN)
    world.grant_team("@acme/docs", "acme/other-release", Permission.ADMIN)  # another repository whose name matches
    found = world.forge.get_teams(["@acme/Infra-Team", "@acme/docs", "@acme/no-such-team", "@elsewhere/team"], repo=REPO)
    granted = Permission.MAINTAIN if getattr(world, "grants_by_team", True) else Permission.NONE
    assert found == {
        "@acme/Infra-Team": TeamInfo(frozenset({"alice", "bob"}), granted),
        "@acme/docs": TeamInfo(frozenset({"carol"}), Permission.NONE),
        "@acme/no-such-team": None,
        "@elsewhere/team": None,
    }


def test_permission_known_and_unknown(world):
    world.add_file(REPO, "README.md", b"x")
    world.set_permission(REPO, "bob", Permission.MAINTAIN)
    assert world.forge.permission(REPO, "bob") is Permission.MAINTAIN
    assert world.forge.permission(REPO, "stranger") is Permission.NONE


# --- pull requests
def test_missing_pull_is_not_found(world):
    world.add_file(REPO, "README.md", b"x")
    with pytest.raises(NotFound):
        world.forge.get_pull(REPO, 404)


def test_pulls_for_commit_and_open_pulls(world):
    world.add_file(REPO, "README.md", b"x")
    world.add_pull(REPO, 1, head_sha=HEAD)
    world.add_pull(REPO, 2, head_sha=HEAD, state="closed")
    world.add_pull(REPO, 3, head_sha=fake_sha("other"), base_ref="release")
    assert world.forge.pulls_for_commit(REPO, HEAD) == (1,)
    assert sorted(p.number for p in world.forge.list_open_pulls(REPO)) == [1, 3]
    assert [p.number for p in world.forge.list_open_pulls(REPO, base="release")] == [3]


def test_compare_unknown_is_not_found(world):
    world.add_file(REPO, "README.md", b"x")
    with pytest.raises(NotFound):
        world.forge.compare(REPO, fake_sha("a"), fake_sha("b"))


def test_merged_pulls_for_commits_finds_rebase_and_squash_merges_and_nothing_else(world):
    rebased = world.land(REPO, 1, ["fix: a", "fix: b"], method="rebase")
    squashed = world.land(REPO, 2, ["feat: c", "feat: c, review"], method="squash")
    direct = world.land(REPO, None, ["chore: pushed to main"], method="direct")
    elsewhere = world.land(REPO, 4, ["fix: backport"], method="rebase", base="release-1.x")  # not the default branch
    still_open = world.land(REPO, 3, ["wip"], method="open")
    unknown = fake_sha("a commit nobody pushed")
    asked = [*rebased, *squashed, *direct, *elsewhere, *still_open, unknown]
    found = world.forge.merged_pulls_for_commits(REPO, asked)
    assert {sha: pull.number for sha, pull in found.items()} == {rebased[0]: 1, rebased[1]: 1, squashed[0]: 2}
    assert {pull.author for pull in found.values()} == {"alice"}
    assert all(pull.merged_at for pull in found.values())
    assert world.forge.merged_pulls_for_commits(REPO, asked) == found  # again (GitHub, GitLab: from the cache)
    assert world.forge.merged_pulls_for_commits(REPO, []) == {}


def test_merged_pulls_for_commits_of_a_missing_repository_is_not_found(world):
    world.land(REPO, None, ["chore: x"], method="direct")
    with pytest.raises(NotFound):
        world.forge.merged_pulls_for_commits("acme/no-such-repo", [fake_sha("x")])


# --- checks
def test_check_round_trip_keyed_by_digest(world):
    world.add_file(REPO, "README.md", b"x")
    forge = world.forge
    assert forge.find_check(REPO, head_sha=HEAD, name=APPROVALS) is None
    first = check()
    forge.create_check(REPO, first)
    found = forge.find_check(REPO, head_sha=HEAD, name=APPROVALS)
    assert found.digest == forge.check_digest(first)
    assert forge.find_check(REPO, head_sha=HEAD, name=MANIFEST) is None
    assert forge.find_check(REPO, head_sha=fake_sha("another head"), name=APPROVALS) is None
    second = check(conclusion=Conclusion.SUCCESS, summary="all teams approved")
    forge.update_check(REPO, found.id, second)
    assert forge.find_check(REPO, head_sha=HEAD, name=APPROVALS).digest == forge.check_digest(second)


def test_replace_check_writes_the_result_as_the_latest_check_and_returns_its_id(world):
    world.add_file(REPO, "README.md", b"x")
    forge = world.forge
    first_id = forge.create_check(REPO, check(conclusion=Conclusion.PENDING, summary="0 of 2"))
    again = check(conclusion=Conclusion.SUCCESS, summary="all teams approved")
    new_id = forge.replace_check(REPO, first_id, again)
    found = forge.find_check(REPO, head_sha=HEAD, name=APPROVALS)
    assert found.id == new_id and found.digest == forge.check_digest(again)


def test_check_with_many_annotations_round_trips(world):
    world.add_file(REPO, "README.md", b"x")
    notes = [Annotation("release.yml", i, i, Level.FAILURE, f"problem {i}") for i in range(1, 76)]
    result = check(MANIFEST, annotations=notes)
    world.forge.create_check(REPO, result)
    assert world.forge.find_check(REPO, head_sha=HEAD, name=MANIFEST).digest == world.forge.check_digest(result)


def test_create_pull_twice_for_one_branch_is_already_exists(world):
    sha = world.add_file(REPO, "release.yml", b"x")
    world.forge.create_branch(REPO, name="rollback/r1", sha=sha)
    pull = world.forge.create_pull(REPO, title="Roll back", body="b", head="rollback/r1", base="main")
    assert (pull.head_ref, pull.base_ref, pull.head_sha, pull.state) == ("rollback/r1", "main", sha, "open")
    with pytest.raises(AlreadyExists):
        world.forge.create_pull(REPO, title="Roll back", body="b", head="rollback/r1", base="main")
    assert [p.number for p in world.forge.list_open_pulls(REPO, base="main")] == [pull.number]



# --- identity, the one summary note, file lists and what a check shows (the reshaped protocol)

def test_identity_layout_and_links_name_the_forge(world):
    forge = world.forge
    assert forge.kind in ("github", "gitlab")
    assert forge.layout.config_path == f".{forge.kind}/release-coordinator.yml"
    assert forge.layout.codeowners_dialect == forge.kind
    assert forge.summary_note is (forge.kind == "gitlab")
    assert forge.links.pull(REPO, 7).endswith(f"/{REPO}/-/merge_requests/7" if forge.kind == "gitlab" else f"/{REPO}/pull/7")
    assert forge.links.pull_ref(7) == ("!7" if forge.kind == "gitlab" else "#7")


def test_ensure_note_creates_once_edits_in_place_and_leaves_an_equal_body_alone(world):
    world.add_file(REPO, "README.md", b"x")
    world.add_pull(REPO, 7, head_sha=HEAD)
    first = world.forge.ensure_note(REPO, 7, topic="summary", body="one")
    world.forge.ensure_note(REPO, 7, topic="summary", body="one")
    second = world.forge.ensure_note(REPO, 7, topic="summary", body="two")
    world.forge.comment(REPO, 7, "a human's comment")  # not ours: never edited
    world.forge.ensure_note(REPO, 7, topic="other", body="another topic")
    ours = [n for n in world.notes(REPO, 7) if n.startswith("<!-- release-coordinator:summary -->")]
    assert ours == ["<!-- release-coordinator:summary -->\ntwo"] and first.id == second.id
    assert "a human's comment" in world.notes(REPO, 7) and len(world.notes(REPO, 7)) == 3


def test_pull_files_say_whether_the_list_is_whole(world):
    world.add_file(REPO, "README.md", b"x")
    world.add_pull(REPO, 7, head_sha=HEAD)
    files = world.forge.list_pull_files(REPO, 7)
    assert isinstance(files, PullFiles) and files.truncated is False


def test_check_digest_changes_exactly_when_the_forge_would_show_a_change(world):
    digest = world.forge.check_digest
    waiting = check(conclusion=Conclusion.PENDING, summary="0 of 1")
    reason = CheckResult(name=APPROVALS, head_sha=HEAD, conclusion=Conclusion.PENDING, title="other", summary="0 of 2")
    assert digest(waiting) == digest(waiting)
    # GitLab's status shows no summary and refuses pending -> pending: a new reason while waiting is not a change
    assert (digest(waiting) == digest(reason)) is (world.forge.kind == "gitlab")
    assert digest(waiting) != digest(check(conclusion=Conclusion.SUCCESS, summary="0 of 1"))
    assert digest(check()) != digest(check(conclusion=Conclusion.SUCCESS))


# --- the promotion gate's reads (ENV-release)
def test_our_own_checks_are_among_a_commits_checks_with_their_state(world):
    world.add_file(REPO, "README.md", b"x")
    forge = world.forge
    assert [c for c in forge.commit_checks(REPO, HEAD, names=["e2e-staging"]) if c.name == APPROVALS] == []
    forge.create_check(REPO, check(conclusion=Conclusion.SUCCESS))
    forge.create_check(REPO, check(MANIFEST, conclusion=Conclusion.PENDING))
    found = {c.name: c.state for c in forge.commit_checks(REPO, HEAD, names=["e2e-staging"])}
    from bot.core.promotion import CheckState

    assert (found[APPROVALS], found[MANIFEST]) == (CheckState.SUCCESS, CheckState.PENDING)
    assert "e2e-staging" not in found  # nothing reported under that name: the gate waits for it
