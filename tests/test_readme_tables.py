"""The README's generated tables match the committed result files they are generated from."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import readme_tables  # noqa: E402


def test_readme_tables_match_their_result_files():
    text = (ROOT / "README.md").read_text()
    _, changed = readme_tables.render(text)
    assert changed == [], f"stale README tables {changed}: run python experiments/readme_tables.py"
    for name in readme_tables.TABLES:  # every table is in the README, generated from a committed file
        assert f"<!-- table:{name} -->" in text
        assert readme_tables.TABLES[name][0].exists()


def test_a_stale_or_unknown_block_is_found(tmp_path):
    stale = "intro\n<!-- table:mcs -->\n| an old table |\n<!-- /table:mcs -->\nrest\n"
    regenerated, changed = readme_tables.render(stale)
    assert changed == ["mcs"] and "| an old table |" not in regenerated
    assert regenerated.startswith("intro\n<!-- table:mcs -->\n| MCS |") and regenerated.endswith("rest\n")
    assert readme_tables.render(regenerated)[1] == []
    readme = tmp_path / "README.md"
    readme.write_text(stale)
    assert readme_tables.main(["--readme", str(readme), "--check"]) == 1 and readme.read_text() == stale
    with pytest.raises(ValueError, match="table:nope has no generator"):
        readme_tables.render("<!-- table:nope -->\nx\n<!-- /table:nope -->\n")
