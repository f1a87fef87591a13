"""`release-coordinator plan` reads commits from local git with their parents, so a merge commit's own commits
are linked to its pull request offline too (bot.core.plan.with_pulls), as the bot does from the forge's compare."""
from bot.commands.plan import commits_between
from tests.test_cli_plan import Repo


def test_a_merge_commits_own_commits_carry_its_pull_request(tmp_path):
    repo = Repo(tmp_path / "payments-app", [0])
    repo.commit("chore: initial")
    repo.tag("v1.5.2", "v1.5.2")
    repo.git("checkout", "-q", "-b", "topic")
    feat = repo.commit("feat: pay by invoice")
    fix = repo.commit("fix: round cents")
    repo.git("checkout", "-q", "main")
    docs = repo.commit("docs: refunds")
    repo.git("merge", "-q", "--no-ff", "topic", "-m", "Merge pull request #7 from acme/topic")
    merge = repo.git("rev-parse", "HEAD").strip()
    squashed = repo.commit("feat: totals (#9)")
    commits = {c.sha: c for c in commits_between(repo.path, "v1.5.2", "HEAD")}
    assert set(commits) == {feat, fix, docs, merge, squashed}
    assert commits[merge].parents == (docs, fix)
    assert {sha: c.pull_number for sha, c in commits.items()} == {feat: 7, fix: 7, docs: None, merge: None, squashed: None}
