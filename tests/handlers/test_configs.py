"""Where the rules are read, per forge (RepoLayout): config path, org defaults, CODEOWNERS order and dialect."""
import pytest

from bot.handlers.configs import fetch_codeowners, fetch_config, fetch_rule_files, parse_codeowners
from tests.fakeforge import FakeForge

SHA = "b" * 40
OWN = "approvals:\n  teams: {'@acme/infra': 2}\n"
ORG = "approvals:\n  distinct: false\ncomponents:\n  app: {repo: acme/sub/app, kind: application}\n"


def test_gitlab_reads_its_own_path_with_org_defaults_from_the_config_project():
    forge = FakeForge("gitlab", config_project="acme/settings")
    forge.add_file("acme/settings", ".gitlab/release-coordinator.yml", ORG, ref="main")
    forge.add_file("acme/sub/app", ".gitlab/release-coordinator.yml", OWN, ref=SHA)
    forge.add_file("acme/sub/app", ".github/release-coordinator.yml", "approvals: {mode: any-owner}\n", ref=SHA)
    loaded = fetch_config(forge, "acme/sub/app", ref=SHA)
    assert loaded.ok and loaded.config.managed
    assert loaded.config.approvals.distinct is False  # from the config project
    assert loaded.config.approvals.minimum("@acme/infra") == 2  # the project's own file
    assert loaded.config.approvals.mode.value == "each-team"  # GitHub's path is not read on GitLab


def test_gitlab_without_a_config_project_has_no_org_layer_and_asks_for_one_file():
    forge = FakeForge("gitlab")
    forge.add_file("acme/app", ".gitlab/release-coordinator.yml", OWN, ref=SHA)
    assert fetch_config(forge, "acme/app", ref=SHA).config.managed
    assert forge.calls["get_files"] == 1


def test_a_project_listed_by_the_config_project_is_managed_without_a_file_of_its_own():
    forge = FakeForge("gitlab", config_project="acme/settings")
    forge.add_file("acme/settings", ".gitlab/release-coordinator.yml", ORG, ref="main")
    assert fetch_config(forge, "acme/sub/app", ref=SHA).config.managed
    assert not fetch_config(forge, "acme/other", ref=SHA).config.managed


def test_the_config_project_itself_has_no_org_layer_above_it():
    forge = FakeForge("gitlab", config_project="acme/settings")
    forge.add_file("acme/settings", ".gitlab/release-coordinator.yml", OWN, ref=SHA)
    assert fetch_config(forge, "acme/settings", ref=SHA).config.approvals.minimum("@acme/infra") == 2


@pytest.mark.parametrize("kind, present, found", [
    ("github", (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"), ".github/CODEOWNERS"),
    ("github", ("CODEOWNERS", "docs/CODEOWNERS"), "CODEOWNERS"),
    ("gitlab", (".gitlab/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"), "CODEOWNERS"),
    ("gitlab", (".gitlab/CODEOWNERS", "docs/CODEOWNERS"), "docs/CODEOWNERS"),
    ("gitlab", (".github/CODEOWNERS",), None),
])
def test_codeowners_is_the_first_found_in_the_forges_order(kind, present, found):
    forge = FakeForge(kind)
    for path in present:
        forge.add_file("acme/app", path, f"* @acme/{path.replace('/', '-')}\n", ref=SHA)
    got = fetch_codeowners(forge, "acme/app", ref=SHA)
    assert (got[0] if got else None) == found
    rules = fetch_rule_files(forge, "acme/app", ref=SHA)
    assert (rules.codeowners[0] if rules.codeowners else None) == found and forge.calls["get_files"] == 2


def test_gitlab_codeowners_are_parsed_with_sections():
    parsed = parse_codeowners(FakeForge("gitlab"), "[Infra][2]\n/infra/ @acme/infra\n^[Docs]\n/infra/ @acme/docs\n")
    sections = parsed.sections_of("infra/main.tf")
    assert [(s.section, s.optional, s.approvals_required) for s in sections] == [("Infra", False, 2), ("Docs", True, 1)]
