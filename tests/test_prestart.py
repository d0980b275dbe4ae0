"""uv's look at the interpreter, started before the CLI is imported (packager.prestart).

What must hold: it starts only when a build will resolve with uv in an empty uv cache;
what it caches is exactly what the resolution looks up (uv's own trace says it skipped
the query); and a build it ran beside writes the same bytes as one without it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from packager import prestart
from packager.uvenv import uv_environment
from tests.conftest import run_cli
from tests.wheelhouse import LoopbackIndex, make_wheel

HANDLER = "def handler(payload, ctx):\n    return 'ok'\n"


def _source(root: Path, *files: str) -> Path:
    root.mkdir(parents=True)
    (root / "handler.py").write_text(HANDLER)
    for name in files:
        (root / name).write_text("requests\n" if name.endswith(".txt") else "")
    return root


def _env(tmp_path: Path, uv: str, **more: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "IGNITE_UV": uv, "IGNITE_CACHE_DIR": str(tmp_path / "cache"), **more}


def test_started_for_a_build_that_will_resolve_in_an_empty_uv_cache(tmp_path: Path, uv: str) -> None:
    src = _source(tmp_path / "src", "requirements.txt")
    argv = prestart.wanted(["build", str(src), "-o", "out.tar.gz"], _env(tmp_path, uv))
    assert argv == [uv, "python", "find", "--no-config", "--cache-dir", str(tmp_path / "cache" / "uv"),
                    sys.executable]
    # --cache-dir wins over IGNITE_CACHE_DIR, in both spellings; an archive may hold anything
    for given in (["--cache-dir", str(tmp_path / "c2")], [f"--cache-dir={tmp_path / 'c2'}"]):
        got = prestart.wanted(["build", str(src), *given], _env(tmp_path, uv))
        assert got is not None and got[5] == str(tmp_path / "c2" / "uv")
    archive = tmp_path / "upload.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))
    assert prestart.wanted(["build", str(archive)], _env(tmp_path, uv)) is not None


@pytest.mark.parametrize("case", [
    "lock", "help", "pip-flag", "pip-flag-eq", "pip-env", "offline-flag", "offline-env", "no-deps-file",
    "ignite-toml", "tool-ignite", "uv-cache-exists", "no-config", "output-is-an-archive",
])
def test_not_started_when_the_build_would_not_use_it(tmp_path: Path, uv: str, case: str) -> None:
    src = _source(tmp_path / "src", "requirements.txt")
    argv, env = ["build", str(src)], _env(tmp_path, uv)
    if case == "lock":
        argv[0] = "lock"
    elif case == "help":
        argv.append("--help")
    elif case == "pip-flag":
        argv += ["--resolver", "pip"]
    elif case == "pip-flag-eq":
        argv.append("--resolver=pip")
    elif case == "pip-env":
        env["IGNITE_RESOLVER"] = "pip"
    elif case == "offline-flag":
        argv.append("--offline")
    elif case == "offline-env":
        env["IGNITE_OFFLINE"] = "true"
    elif case == "no-deps-file":
        (src / "requirements.txt").unlink()
    elif case == "ignite-toml":  # settings may name another cache or resolver: no guess
        (src / "ignite.toml").write_text('resolver = "pip"\n')
    elif case == "tool-ignite":
        (src / "pyproject.toml").write_text('[tool.ignite]\ncache-dir = "elsewhere"\n')
    elif case == "uv-cache-exists":
        (tmp_path / "cache" / "uv").mkdir(parents=True)
    elif case == "no-config":
        argv.append("--no-config")
    elif case == "output-is-an-archive":  # the artifact of the build before, in a source without dependencies
        (src / "requirements.txt").unlink()
        (tmp_path / "out.tar.gz").write_bytes(b"\x1f\x8b")
        argv += ["-o", str(tmp_path / "out.tar.gz")]
    assert prestart.wanted(argv, env) is None


def test_the_cache_it_names_is_the_builds(tmp_path: Path) -> None:
    from packager.cache import default_cache_dir

    assert prestart.uv_cache_dir(["build", "x"], os.environ) == default_cache_dir() / "uv"
    assert prestart.uv_cache_dir([], {"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/ignite-packager/uv")
    assert prestart.uv_cache_dir([], {"HOME": "/h"}) == Path("/h/.cache/ignite-packager/uv")


def test_a_pyproject_without_tool_settings_may_declare_dependencies(tmp_path: Path, uv: str) -> None:
    src = _source(tmp_path / "src")
    (src / "pyproject.toml").write_text('[project]\nname = "f"\nversion = "1"\ndependencies = ["attrs"]\n')
    assert prestart.wanted(["build", str(src)], _env(tmp_path, uv)) is not None


def test_what_it_caches_is_what_the_resolution_looks_up(tmp_path: Path, uv: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """uv's trace (``-vv``) names a skipped query: the cache key (interpreter, cache, environment) matches."""
    src = _source(tmp_path / "src", "requirements.txt")
    for key, value in _env(tmp_path, uv).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(prestart, "_started", None)
    prestart.begin(["build", str(src)])
    pid = prestart._started
    assert pid is not None
    prestart.settle(timeout=60)
    assert prestart._started is None  # ended and reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert list((tmp_path / "cache" / "uv").glob("interpreter-v*/*/*.msgpack")), "it cached nothing"
    (tmp_path / "empty.in").write_text("")
    out = tmp_path / "lock"
    out.mkdir()
    said = subprocess.run(
        [uv, "pip", "compile", "-vv", "--no-config", "--no-index", "--format", "pylock.toml", "-o",
         str(out / "pylock.toml"), str(tmp_path / "empty.in"), "--cache-dir", str(tmp_path / "cache" / "uv"),
         "--python", sys.executable, "--python-version", "3.12"],
        env=uv_environment(), capture_output=True, text=True, timeout=120).stderr
    assert "skipping query" in said and "Querying interpreter" not in said, said[-3000:]
    assert prestart.wanted(["build", str(src)], os.environ) is None  # the next build starts nothing


def test_a_build_it_ran_beside_writes_the_same_artifact(tmp_path: Path, uv: str, hermetic_pip: Path) -> None:
    files = tmp_path / "files"
    make_wheel(files, "tinylib", "1.0", files={"tinylib.py": "X = 1\n"})
    src = _source(tmp_path / "src")
    (src / "requirements.txt").write_text("tinylib\n")
    digests = []
    with LoopbackIndex(files) as index:
        for tag, premade in (("with", False), ("without", True)):
            cache = tmp_path / f"cache-{tag}"
            if premade:  # an existing uv cache: nothing is started
                (cache / "uv").mkdir(parents=True)
            out = tmp_path / f"{tag}.tar.gz"
            res = run_cli("build", str(src), "-o", str(out), "--index-url", index.url, "--resolver", "uv",
                          env={"IGNITE_CACHE_DIR": str(cache), "IGNITE_UV": uv, "SOURCE_DATE_EPOCH": "1700000000"})
            assert res.returncode == 0, res.stderr
            assert list((cache / "uv").glob("interpreter-v*/*/*.msgpack")), "uv cached no interpreter facts"
            digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_it_starts_before_the_subprocess_machinery_is_imported() -> None:
    """posix_spawn and the environment's allow-list alone: the look starts ~10 ms earlier."""
    code = "import sys, packager.prestart, packager.uvenv; print(sorted({'subprocess', 'tempfile', 'packager.runtime'} & set(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert (res.returncode, res.stdout.strip()) == (0, "[]"), res.stderr
