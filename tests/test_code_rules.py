"""Rules of the code base that no single feature test would catch (issue 20): short parameter lists,
and no radio URI built inside the program."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("diffradio", "semantic", "sdr", "phy", "scripts", "experiments")
MAX_PARAMETERS = 8
EXEMPT = {"phy/kernels.py"}
"""numba kernels take their arrays one by one (no dataclass crosses into nopython code)."""
URI_PARSER = {"sdr/uri.py"}
"""The one module that parses radio URIs; its ``URI_FORMS`` and docstrings document the ``sim:`` form."""


def _sources(packages):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "__pycache__" not in path.parts and rel not in EXEMPT:
                yield rel, path


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, method: bool) -> int:
    """Every parameter a caller can pass (positional-only, ordinary, keyword-only, *args, **kwargs);
    a method's first one (self, cls) is not counted."""
    a = node.args
    count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in getattr(node, "decorator_list", []))
    return count - (1 if method and not static and (a.posonlyargs or a.args) else 0)


def long_signatures(source: str, name: str) -> list[str]:
    """``name:line function (n parameters)`` for every function of ``source`` over MAX_PARAMETERS."""
    found = []

    def visit(node: ast.AST, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                n = parameter_count(child, in_class and not isinstance(child, ast.Lambda))
                if n > MAX_PARAMETERS:
                    found.append(f"{name}:{child.lineno} {getattr(child, 'name', 'lambda')} ({n} parameters)")
            visit(child, isinstance(child, ast.ClassDef))

    visit(ast.parse(source), False)
    return found


def test_the_rule_counts_what_a_caller_passes():
    many = "def f(a, b, c, d, e, f, g, h, *, i): pass\n"
    assert long_signatures(many, "x") == ["x:1 f (9 parameters)"]
    method = ("class C:\n    def m(self, a, b, c, d, e, f, g, h): pass\n"
              "    @staticmethod\n    def s(a, b, c, d, e, f, g, h, i): pass\n")
    assert long_signatures(method, "x") == ["x:4 s (9 parameters)"]
    assert long_signatures("def f(a, *args, **kw): pass\ng = lambda *a: 0\n", "x") == []


def test_no_function_outside_the_numba_kernels_takes_more_than_eight_parameters():
    found = [hit for rel, path in _sources(PACKAGES) for hit in long_signatures(path.read_text(), rel)]
    assert not found, "group these parameters into a settings dataclass (diffradio.settings): " + "; ".join(found)


@pytest.mark.parametrize("package", ["diffradio", "semantic", "sdr", "phy"])
def test_no_sim_uri_is_built_inside_the_program(package):
    """``grep -rn '"sim:' diffradio semantic sdr phy`` finds only the URI parser and its documentation:
    the program passes ``phy.ChannelConfig`` around, a ``sim:`` URI only ever comes from the user."""
    hits = [f"{path.relative_to(ROOT).as_posix()}:{number}"
            for path in sorted((ROOT / package).rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
            for number, line in enumerate(path.read_bytes().splitlines(), start=1) if b'"sim:' in line]
    assert all(hit.split(":")[0] in URI_PARSER for hit in hits), hits
