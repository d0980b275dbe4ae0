"""The quick ``build`` path (packager.cli.quick) is the click command, without click's import.

What must hold: for every invocation it takes, its parameters are exactly the ones click
gives for the same words and environment; for everything else it steps aside; a build run
by it writes the same artifact and prints the same lines (human, --json, errors) as one run
through click; and it never imports click.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from packager.cli import quick
from tests.conftest import FIXTURES, REPO

QUICK_WORDS = [
    ["build", "src"],
    ["build", "src", "-o", "x.tar.gz"],
    ["build", "-q", "src", "--json"],
    ["build", "src", "--output=y.tar.gz", "--quiet"],
    ["build", "--output", "z.tar.gz", "src", "-q", "-o", "last.tar.gz"],
    ["build", "src", "--index-url", "http://127.0.0.1:1/simple", "--extra-index-url", "http://a/simple",
     "--extra-index-url=http://b/simple"],
    ["build", "--index-url=http://i/simple", "src", "--index-url", "http://j/simple", "--json"],
]
ENVIRONMENTS = [{}, {"IGNITE_CACHE_DIR": "/c"}, {"IGNITE_PYTHON": "/p/python3.12"}, {"IGNITE_CACHE_DIR": ""}]


def _clean_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key in list(os.environ):
        if key.startswith("IGNITE_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=["none", "cache-dir", "python", "empty-cache-dir"])
@pytest.mark.parametrize("words", QUICK_WORDS, ids=[" ".join(w[1:]) for w in QUICK_WORDS])
def test_its_parameters_are_clicks(monkeypatch: pytest.MonkeyPatch, words: list[str], env: dict[str, str]) -> None:
    from packager.cli.build import build

    _clean_environment(monkeypatch, env)
    ours = quick.parameters(words, os.environ)
    assert ours is not None
    with build.make_context("build", list(words[1:])) as ctx:
        assert ours == ctx.params


@pytest.mark.parametrize("words", [
    ["build"], ["build", "--help"], ["build", "-h"], ["build", "a", "b"], ["build", "src", "-o"],
    ["build", "src", "-o", "-x"], ["build", "--", "src"], ["build", "-qo", "x", "src"], ["build", "-oout", "src"],
    ["build", "src", "--level", "4"], ["build", "src", "--python", "x"], ["build", "src", "--output="],
    ["build", "src", "--index-url"], ["build", "src", "--index-url", "-x"], ["build", "src", "--index-url="],
    ["build", "src", "--extra-index-url="], ["build", "src", "--wheelhouse", "w"],
    ["inspect", "a.tar.gz"], ["--version"], [],
])
def test_anything_else_goes_to_click(words: list[str]) -> None:
    assert quick.parameters(words, {}) is None


@pytest.mark.parametrize("variable", quick.CLICK_ONLY_ENVIRONMENT)
def test_another_build_variable_goes_to_click(variable: str) -> None:
    assert quick.parameters(["build", "src"], {variable: "x"}) is None
    assert quick.parameters(["build", "src"], {variable: ""}) is not None  # (click ignores an empty one)


def test_every_environment_variable_of_the_command_is_known() -> None:
    from packager.cli.build import build

    declared = {str(p.envvar) for p in build.params if p.envvar}
    assert declared == {*quick.ENVIRONMENT, *quick.CLICK_ONLY_ENVIRONMENT}


def test_a_configuration_file_goes_to_click(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "python-hello", src)
    assert quick.quick_build(["build", str(src)], {}) is not None
    (src / "pyproject.toml").write_text('[project]\nname = "f"\nversion = "1"\n')  # no [tool.ignite]: no config
    assert quick.quick_build(["build", str(src)], {}) is not None
    (src / "ignite.toml").write_text("level = 9\n")
    assert quick.quick_build(["build", str(src)], {}) is None
    (src / "ignite.toml").unlink()
    (src / "pyproject.toml").write_text("[tool.ignite\n")  # unreadable: click's path reports it
    assert quick.quick_build(["build", str(src)], {}) is None


def _run(tmp_path: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return _python(tmp_path, "-m", "packager", *words)


def _python(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IGNITE_", "PIP_"))}
    env.update(PYTHONPATH=str(REPO), IGNITE_CACHE_DIR=str(tmp_path / "cache"), PIP_CONFIG_FILE=os.devnull,
               SOURCE_DATE_EPOCH="1700000000", NO_COLOR="1")
    return subprocess.run([sys.executable, "-X", "importtime", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def _started_with(tmp_path: Path) -> set[str]:
    """What the interpreter imports before it runs anything (site, .pth files), as _run starts it."""
    return _imported(_python(tmp_path, "-c", "pass").stderr)


def _imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def _said(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_both_paths_write_the_same_artifact_and_say_the_same(tmp_path: Path, as_json: bool) -> None:
    shutil.copytree(FIXTURES / "python-hello", tmp_path / "src")
    flags = ["--json"] if as_json else []
    by_quick = _run(tmp_path, "build", "src", "-o", "quick.tar.gz", *flags)
    by_click = _run(tmp_path, "build", "src", "-o", "click.tar.gz", "--level", "4", *flags)  # (the default level)
    assert by_quick.returncode == by_click.returncode == 0, by_quick.stderr[-2000:] + by_click.stderr[-2000:]
    assert "click" not in _imported(by_quick.stderr) and "click" in _imported(by_click.stderr)
    # nor typing (~13 M instructions of import): the pipeline's modules import it for mypy alone
    # (on 3.9 the interpreter's own start may: importlib.abc imports it, and site may import that)
    assert "typing" not in _imported(by_quick.stderr) - _started_with(tmp_path)
    assert "typing" in _imported(by_click.stderr)
    # nor dataclasses, which imports inspect, dis and tokenize (~23 M): records are not dataclasses
    assert not {"dataclasses", "inspect"} & (_imported(by_quick.stderr) - _started_with(tmp_path))
    assert (tmp_path / "quick.tar.gz").read_bytes() == (tmp_path / "click.tar.gz").read_bytes()
    if as_json:
        q, c = json.loads(by_quick.stdout), json.loads(by_click.stdout)
        for doc in (q, c):
            doc.pop("seconds")
            doc.pop("output")
        assert q == c and q["ok"] is True
    else:
        assert by_quick.stdout == "quick.tar.gz\n" and by_click.stdout == "click.tar.gz\n"
        norm = [[line.replace("quick.tar.gz", "OUT").replace("click.tar.gz", "OUT").rsplit(", ", 1)[0]
                 for line in _said(r.stderr)] for r in (by_quick, by_click)]
        assert norm[0] == norm[1] and any(line.startswith("built OUT:") for line in norm[0])


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_both_paths_report_an_error_the_same_way(tmp_path: Path, as_json: bool) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "handler.py").write_text("def handler(payload, ctx:\n    return 1\n")
    flags = ["--json"] if as_json else []
    by_quick = _run(tmp_path, "build", "src", "-o", "a.tar.gz", *flags)
    by_click = _run(tmp_path, "build", "src", "-o", "a.tar.gz", "--level", "4", *flags)
    assert by_quick.returncode == by_click.returncode != 0
    assert "click" not in _imported(by_quick.stderr)
    assert (by_quick.stdout, _said(by_quick.stderr)) == (by_click.stdout, _said(by_click.stderr))
    assert not (tmp_path / "a.tar.gz").exists()
    if as_json:
        assert json.loads(by_quick.stdout)["ok"] is False
    else:
        assert any(line.startswith("error:") for line in _said(by_quick.stderr))
