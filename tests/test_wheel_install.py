"""Installed the way users install it: the project's wheel, `pip install`ed into a fresh venv
whose pip is the one its Python bundles (not upgraded by hand), then build with a real
requirement, lock, build from the lock and invoke, from outside the checkout.

This proves that the launcher bytecode, the profiles and the JSON schemas ship in the wheel,
that the declared `pip>=` floor is met by a plain install on old bundled pips (3.9: 23.0.1,
3.13: 24.2), and that `python -m build` builds the project without deprecation warnings.
The requirement is hermetic (tiny wheels in a local wheelhouse, --offline); installing
ignite-packager's own dependencies uses the package index, as a user's install does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci_helpers import REPO
from tests.wheelhouse import make_wheel

pytestmark = [pytest.mark.slow, pytest.mark.wheel_install]

#: The oldest and newest host Pythons the README promises: under CI=true a missing one fails.
#: pyenv's builds are used (the `python3.X` on PATH may be a shim). 3.11/3.12 (bundled pip
#: 23.2.1) take the same path as 3.9's 23.0.1: the install itself pulls in pip>=23.3.
PROMISED = ("3.9", "3.13")


def _interpreter(version: str) -> Path | None:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for cand in sorted(root.glob(f"{version}.*/bin/python{version}"), reverse=True):
        ok = subprocess.run([str(cand), "-c", f"import sys; assert sys.version.startswith('{version}.')"],
                            capture_output=True, check=False)
        if ok.returncode == 0:
            return cand
    return None


def _clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH (the checkout must not be importable) and no virtualenv of the test run."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`python -m build` of the checkout (sdist, then the wheel from the sdist), checked for warnings."""
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
                       capture_output=True, text=True, env=_clean_env(), timeout=600, check=False)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    bad = [ln for ln in log.splitlines() if re.search(r"deprecat|BuildBackendWarning", ln, re.I)]
    assert not bad, "python -m build warns:\n" + "\n".join(bad)
    wheels = list(out.glob("ignite_packager-*-py3-none-any.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    yield wheels[0]


@pytest.mark.parametrize("version", PROMISED)
def test_wheel_in_fresh_venv_with_bundled_pip_builds_locks_and_invokes(
        version: str, wheel: Path, tmp_path: Path) -> None:
    py = _interpreter(version)
    if py is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CPython {version} (promised in the README) is missing: pyenv install {version}")
        pytest.skip(f"no CPython {version} here")
    venv = tmp_path / "venv"
    subprocess.run([str(py), "-m", "venv", str(venv)], check=True, env=_clean_env(), timeout=300)
    vpy = venv / "bin" / "python"

    bundled = sorted((py.parent.parent / "lib" / f"python{version}" / "ensurepip" / "_bundled").glob("pip-*.whl"))
    pip_before = subprocess.run([str(vpy), "-m", "pip", "--version"], capture_output=True, text=True,
                                check=True, env=_clean_env()).stdout.split()[1]
    assert bundled and bundled[0].name.startswith(f"pip-{pip_before}-"), (pip_before, bundled)

    inst = subprocess.run([str(vpy), "-m", "pip", "install", str(wheel)], capture_output=True,
                          text=True, env=_clean_env(), cwd=tmp_path, timeout=900, check=False)
    assert inst.returncode == 0, (inst.stdout + inst.stderr)[-3000:]

    # The data files ship: profiles, schemas, the launcher's bytecode.
    shipped = subprocess.run([str(vpy), "-c", (
        "import importlib.resources as r, json; "
        "print(json.dumps({d: sorted(x.name for x in (r.files(pkg) / d).iterdir()) for pkg, d in ("
        "('packager.deps', 'profiles'), ('packager', 'schemas'), ('packager.artifact', 'launcher_pyc'))}))")],
        capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, check=True)
    data = json.loads(shipped.stdout)
    assert "python3.12.toml" in data["profiles"] and "python3.12.json" in data["profiles"]  # (and its twin)
    assert {"build.json", "error.json", "inspect.json"} <= set(data["schemas"])
    assert any(n.endswith("main.cpython-312.pyc") for n in data["launcher_pyc"])
    # the deflate probe's bytes, the premade launcher segment and the stripped launcher ship, and are used
    premade = subprocess.run([str(vpy), "-c", (
        "from packager.artifact import deflate, embed; "
        "idx = embed._premade_index(*embed.PREMADE_FOR); "
        "print(deflate.PROBE_FILE.is_file() and deflate._probe(4) == deflate._generate_probe(4), "
        "idx is not None and embed._premade_entries(idx) is not None, "
        "{e.path: e.data for e in embed.launcher_entries()}['__ignite__/server.py'].startswith("
        "b'# comments and docstrings removed'))")],
        capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, check=True)
    assert premade.stdout.split() == ["True", "True", "True"], premade.stdout + premade.stderr
    # the default profile's metadata stubs ship, byte for byte what would be made (none is written at build)
    stubs = subprocess.run([str(vpy), "-c", (
        "from packager.deps.profile import load_profile; from packager.deps.stubs import stub_wheels; "
        "from packager.profilefiles import shipped_stubs_dir; p = load_profile(); d = shipped_stubs_dir(p.digest); "
        "print(d.is_dir() and {f.name: f.read_bytes() for f in d.iterdir()} == stub_wheels(p))")],
        capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, check=True)
    assert stubs.stdout.strip() == "True", stubs.stdout + stubs.stderr

    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "tinydep", "1.0")
    make_wheel(wh, "tinydep", "1.1", requires=["tinysub>=2"])
    make_wheel(wh, "tinysub", "2.0")
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text(
        "import tinydep, tinysub\n\ndef handler(payload, ctx):\n"
        "    return {'tinydep': tinydep.VERSION, 'tinysub': tinysub.VERSION}\n")
    (src / "requirements.txt").write_text("tinydep\n")
    env = _clean_env(PIP_CONFIG_FILE=os.devnull, IGNITE_CACHE_DIR=str(tmp_path / "cache"))
    tool = str(venv / "bin" / "ignite-pack")
    offline = ["--wheelhouse", str(wh), "--offline"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([tool, *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=600, check=False)
        assert r.returncode == 0, f"ignite-pack {args[0]}: {r.stdout}{r.stderr}"[-3000:]
        return r

    built = json.loads(run("build", str(src), "-o", str(tmp_path / "a.tar.gz"), *offline, "--json").stdout)
    assert {d["name"]: d["version"] for d in built["vendored"]} == {"tinydep": "1.1", "tinysub": "2.0"}
    run("lock", str(src), *offline)
    lock = (src / "requirements.lock").read_text()
    assert "tinydep==1.1" in lock and "tinysub==2.0" in lock and "--hash=sha256:" in lock
    run("build", str(src), "-o", str(tmp_path / "b.tar.gz"), *offline)
    out = run("invoke", str(tmp_path / "b.tar.gz"), "-p", "{}").stdout
    assert json.loads(out) == {"tinydep": "1.1", "tinysub": "2.0"}
