"""The results floor: every result file and figure names the command that writes it, every
experiment has a runnable entry point, and every program in scripts/ is documented in the README."""
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INDEX = (ROOT / "docs" / "results" / "README.md").read_text()
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py"))


@pytest.mark.parametrize("path", sorted([*(ROOT / "docs" / "results").iterdir(),
                                         *(ROOT / "docs" / "figures").iterdir()]), ids=lambda p: p.name)
def test_every_result_file_and_figure_is_in_the_index(path):
    if path.name == "README.md":
        return
    name = path.name if path.parent.name == "results" else f"../figures/{path.name}"
    assert f"`{name}`" in INDEX, f"{name} is not in docs/results/README.md: add the command that writes it"


def test_every_program_the_index_names_exists():
    named = set(re.findall(r"\b((?:experiments|scripts|phy)/\w+\.py)\b", INDEX))
    assert named and all((ROOT / p).is_file() for p in named), sorted(p for p in named if not (ROOT / p).is_file())


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_has_a_runnable_entry_point(name, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    module = importlib.import_module(name)
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out
    assert f"experiments/{name}.py" in INDEX, f"docs/results/README.md does not say what {name} writes"


def test_every_script_is_a_documented_user_program():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in sorted((ROOT / "scripts").iterdir())
               if p.is_file() and f"scripts/{p.name}" not in readme]
    assert not missing, f"scripts/ holds programs the README does not document: {missing}"
