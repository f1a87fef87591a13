"""Pull request references in commit headers: GitHub's (#12) and GitLab's merge request (!12)."""
import pytest

from bot.core.conventional import parse


@pytest.mark.parametrize("header, number, description", [
    ("feat: refunds (#14)", 14, "refunds (#14)"),
    ("feat(api): refunds (!3)", 3, "refunds (!3)"),
    ("fix: no ref", None, "no ref"),
    ("fix: a wow!3 in the middle", None, "a wow!3 in the middle"),
])
def test_a_trailing_reference_names_the_pull_request(header, number, description):
    parsed = parse(header)
    assert (parsed.pull_number, parsed.description) == (number, description)
