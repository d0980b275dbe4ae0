"""The launcher_only marker is true: CI skips those tests on its second, 3.9 host run (.ci/run)
because they never reach the packager, so that has to stay so."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _marked(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and "launcher_only" in ast.unparse(node.value)
        for node in tree.body
    )


def packager_uses(path: Path, seen: set[Path] | None = None) -> list[str]:
    """Where *path*, or a tests/ helper it imports, imports the packager or runs it."""
    seen = set() if seen is None else seen
    if path in seen:
        return []
    seen.add(path)
    tree = ast.parse(path.read_text())
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "tests":
            names = [f"tests.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] == "packager":
                found.append(f"{path.name}:{node.lineno} imports {name}")
            elif name.startswith("tests.") and (TESTS / (name.split(".", 1)[1].replace(".", "/") + ".py")).exists():
                found += packager_uses(TESTS / (name.split(".", 1)[1].replace(".", "/") + ".py"), seen)
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                and ("ignite-pack" in node.value or node.value == "packager")):
            found.append(f"{path.name}:{node.lineno} runs {node.value!r}")
    return found


def test_launcher_only_tests_never_reach_the_packager() -> None:
    marked = [p for p in sorted(TESTS.glob("test_*.py")) if _marked(ast.parse(p.read_text()))]
    assert len(marked) >= 10, [p.name for p in marked]
    offenders = [use for p in marked for use in packager_uses(p)]
    assert offenders == []


def test_the_check_sees_an_import_and_a_run_of_the_packager(tmp_path: Path) -> None:
    helper = TESTS / "launcher_harness.py"
    for code, says in (("from packager.build import build\n", "imports packager.build"),
                       ("import subprocess\nsubprocess.run(['python', '-m', 'packager'])\n", "runs 'packager'"),
                       ("def f():\n    import packager.cli\n", "imports packager.cli")):
        probe = tmp_path / "test_probe.py"
        probe.write_text(f"from tests import launcher_harness\nfrom tests.launcher_harness import make_root\n{code}")
        assert any(says in use for use in packager_uses(probe)), code
    assert packager_uses(helper) == []
