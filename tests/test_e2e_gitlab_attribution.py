"""End to end on GitLab (issue 14): a component merge request merged fast-forward (rebased: its commits name
no MR) is found through GitLabForge (repository/commits/:sha/merge_requests) when the release MR merges. Posted
as GitLab's hooks to the Flask app, run by the real consumer against the stand-in GitLab API: !5 gets one
"Shipped in" note, the changelog links its commits to !5 and the release lists it; a replay writes no note."""
from __future__ import annotations

from tests.test_e2e_gitlab import APP, GITLAB_URL, RELEASES, world  # noqa: F401 (the GitLab e2e world fixture)


def rebase_merged_component(gl) -> list[str]:
    """payments-app v1.1.0 re-tagged on top of !5's two commits, merged fast-forward by erin."""
    st = gl.project(APP)
    st.branches["invoices"] = st.branches["main"]
    commits = [gl.add_commit(APP, {"src/invoice.py": "x"}, branch="invoices", message="feat: invoice numbers"),
               gl.add_commit(APP, {"src/invoice.py": "y"}, branch="invoices", message="fix: pad invoice numbers")]
    gl.add_mr(APP, 5, author="erin", source_branch="invoices", title="Invoice numbers")
    gl.merge(APP, 5, fast_forward=True)
    gl.add_tag(APP, "v1.1.0", sha=st.branches["main"], message="v1.1.0")
    return commits


def test_a_fast_forward_merged_component_mr_is_told_listed_and_linked(world):  # noqa: F811
    first, _second = rebase_merged_component(world.gl)
    squash = world.gl.merge(RELEASES, 1, squash=True)
    assert world.post("Merge Request Hook", world.mr_hook("merge", state="merged", squash_commit_sha=squash)) == "queued"
    world.run()
    project = world.gl.project(RELEASES)
    (tag,) = [name for name in project.tags if name.startswith("release-")]
    (note,) = world.gl.notes_of(APP, 5)
    assert f"Shipped in {tag} to production on " in note
    assert len(lookups(world)) == 2  # the two rebased commits, once each; "feat: refunds (!3)" named its MR itself
    changelog = project.commits[project.branches["main"]].files["CHANGELOG.md"].decode()
    assert f"invoice numbers ([!5]({GITLAB_URL}/{APP}/-/merge_requests/5)) ([`{first[:7]}`]" in changelog
    assert f"- [{APP}!5]({GITLAB_URL}/{APP}/-/merge_requests/5) (payments-app)" in changelog
    assert f"[{APP}!5]" in project.releases[tag]["description"]

    assert world.post("Merge Request Hook", world.mr_hook("merge", state="merged", squash_commit_sha=squash)) == "queued"
    world.run()
    assert len(world.gl.notes_of(APP, 5)) == 1
    assert len(lookups(world)) == 2  # the adapter kept what it found: the replay asks nothing more


def lookups(world) -> list[str]:
    return [c.path for c in world.gl.calls if "/repository/commits/" in c.path and c.path.split("?")[0].endswith("/merge_requests")]
