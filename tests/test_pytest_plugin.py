"""The `ignite_function` pytest fixture (issue 33), as a user meets it: a test file that only names the
fixture (the `pytest11` entry point loads it), run by pytest in a subprocess; it passes and fails as
its assertions say, handler errors are responses, one launcher per build for the session, and none
is left when pytest exits. Once with this checkout installed, once from the wheel in a fresh venv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ci_helpers import REPO
from tests.wheelhouse import make_wheel

HANDLER = """\
import json
import os

def handler(payload, ctx):
    payload = json.loads(payload or b"{}")
    if payload.get("boom"):
        raise ValueError("boom requested")
    return {"hello": payload.get("name"), "pid": os.getpid(), "greeting": os.environ.get("GREETING")}
"""

USER_TESTS = """\
import json
import os


def _record(pid):
    with open(os.environ["PIDS_FILE"], "a") as f:
        f.write(f"{pid}\\n")


def test_answers(ignite_function):
    r = ignite_function("src").invoke({"name": "world"})
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json()["hello"] == "world"
    _record(r.json()["pid"])


def test_handler_error_is_a_response(ignite_function):
    r = ignite_function("src").invoke({"boom": True})
    assert r.status == 500
    assert r.json()["type"] == "ValueError" and "boom requested" in r.json()["error"]


def test_one_launcher_per_build_for_the_session(ignite_function):
    fn = ignite_function("src")
    assert fn.invoke(b'{"name": "a"}').json()["pid"] == fn.invoke('{"name": "b"}').json()["pid"]
    _record(fn.invoke({}).json()["pid"])


def test_env_is_another_launcher(ignite_function):
    r = ignite_function("src", env={"GREETING": "hi"}).invoke({})
    assert r.json()["greeting"] == "hi"
    _record(r.json()["pid"])


def test_build_options(ignite_function):
    fn = ignite_function("src2", entry="main:run", wheelhouses=["wheels"], offline=True)
    assert fn.invoke().json() == {"dep": "1.0"}


def test_broken_source_fails_with_the_build_error(ignite_function):
    ignite_function("broken")


def test_wrong_on_purpose(ignite_function):
    assert ignite_function("src").invoke({"name": "world"}).json()["hello"] == "nobody"
"""


def _user_project(tmp_path: Path) -> Path:
    proj = tmp_path / "project"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "handler.py").write_text(HANDLER)
    (proj / "src2").mkdir()
    (proj / "src2" / "handler.py").write_text("")
    (proj / "src2" / "main.py").write_text("import tinydep\n\ndef run(payload, ctx):\n    return {'dep': tinydep.VERSION}\n")
    (proj / "src2" / "requirements.txt").write_text("tinydep\n")
    make_wheel(proj / "wheels", "tinydep", "1.0")
    (proj / "broken").mkdir()
    (proj / "broken" / "handler.py").write_text("def handler(payload, ctx):\n    return (\n")
    (proj / "tests").mkdir()
    (proj / "tests" / "test_function.py").write_text(USER_TESTS)
    return proj


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()


def _run_user_tests(python: str, proj: Path, env: dict[str, str]) -> None:
    pids = proj / "pids.txt"
    env = {**env, "PIDS_FILE": str(pids), "IGNITE_CACHE_DIR": str(proj.parent / "cache"),
           "PIP_CONFIG_FILE": os.devnull}
    r = subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "tests"], cwd=proj, env=env,
                       capture_output=True, text=True, timeout=600, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out  # one test fails, as its assertion says
    assert re.search(r"\b2 failed, 5 passed\b", out), out
    assert re.search(r"FAILED tests/test_function.py::test_wrong_on_purpose\b", out), out
    assert "FAILED tests/test_function.py::test_broken_source_fails_with_the_build_error" in out, out
    assert "ignite_function('broken'): handler.py:2: invalid Python 3.12 syntax" in out, out
    assert "hint: fix the syntax error" in out, out
    assert "assert 'world' == 'nobody'" in out, out
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 3 and recorded[0] == recorded[1] != recorded[2], recorded  # env: its own launcher
    deadline = time.monotonic() + 10
    while not all(_gone(p) for p in recorded) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(p) for p in recorded), "a launcher outlived the test session"


def test_fixture_with_this_checkout_installed(tmp_path: Path, python312: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["IGNITE_PYTHON"] = python312
    _run_user_tests(sys.executable, _user_project(tmp_path), env)


@pytest.mark.slow
@pytest.mark.wheel_install
def test_fixture_from_the_wheel_in_a_fresh_venv(tmp_path: Path, python312: str) -> None:
    from tests.test_wheel_install import _clean_env

    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(dist), str(REPO)], capture_output=True, text=True, env=_clean_env(),
                       timeout=600, check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    wheel = next(dist.glob("ignite_packager-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_clean_env(), timeout=300)
    vpy = str(venv / "bin" / "python")
    inst = subprocess.run([vpy, "-m", "pip", "install", "-q", str(wheel), "pytest"], capture_output=True,
                          text=True, env=_clean_env(), cwd=tmp_path, timeout=900, check=False)
    assert inst.returncode == 0, (inst.stdout + inst.stderr)[-3000:]
    _run_user_tests(vpy, _user_project(tmp_path), _clean_env(IGNITE_PYTHON=python312))
