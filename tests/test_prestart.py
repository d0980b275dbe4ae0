"""What a build starts before the CLI is imported (packager.prestart): its resolution, or uv's look at the interpreter.

What must hold: something starts only when a build will resolve with uv in an empty uv cache;
the resolution started for the commonest build is the resolver's own command on the same input
files (the resolver takes its answer, uv runs once) and anything else is stopped and leaves
nothing; what the look caches is exactly what the resolution looks up (uv's own trace says it
skipped the query); and a build either ran beside writes the same bytes as one without.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
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
    prestart.begin(["build", str(src), "--resolver", "uv"])  # (not the commonest shape: no resolution guessed)
    child = prestart._started
    assert child is not None and child.argv[1:3] == ["python", "find"] and child.work is None
    prestart.settle(timeout=60)
    assert prestart._started is None  # ended and reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)
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


def test_it_starts_before_the_subprocess_machinery_is_imported(tmp_path: Path, uv: str) -> None:
    """posix_spawn, the environment's allow-list and the build's words alone: what it starts starts
    ~10 ms earlier than with subprocess, and before packaging, tomllib or dataclasses."""
    src = _source(tmp_path / "src", "requirements.txt")
    code = ("import sys, packager.prestart as p; guess = p.speculate(['build', sys.argv[1]], {**__import__('os').environ}); "
            "print(guess is not None, sorted({'subprocess', 'tempfile', 'packager.runtime', 'dataclasses', 'packaging',"
            " 'tomllib', 'tomli', 'packager.deps', 'packager.cache'} & set(sys.modules)))")
    res = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True, timeout=60,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
                              "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                              **_env(tmp_path, uv), "PIP_CONFIG_FILE": os.devnull, "TMPDIR": str(tmp_path)})
    assert (res.returncode, res.stdout.strip()) == (0, "True []"), res.stderr


def _logging_uv(tmp_path: Path, uv: str) -> tuple[Path, Path]:
    """A uv that notes each command line (then runs the real one): which uv runs a build made."""
    log, wrapper = tmp_path / "uv.log", tmp_path / "bin" / "uv"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{uv}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def test_the_commonest_build_starts_its_resolution_first_and_takes_its_answer(tmp_path: Path, uv: str,
                                                                             hermetic_pip: Path) -> None:
    """``build DIR -o OUT --index-url URL`` of a requirements.txt of plain lines: uv runs once, started
    before anything was imported, and the artifact is the bytes of a build that ran uv itself."""
    files = tmp_path / "files"
    make_wheel(files, "tinylib", "1.0", files={"tinylib.py": "X = 1\n"})
    make_wheel(files, "otherlib", "2.0", files={"otherlib.py": "Y = 2\n"})
    src = _source(tmp_path / "src")
    (src / "requirements.txt").write_text("# what the function needs\ntinylib\n\notherlib==2.0\n")
    wrapper, log = _logging_uv(tmp_path, uv)
    temp = tmp_path / "tmp"
    temp.mkdir()
    runs: dict[str, tuple[list[list[str]], bytes]] = {}
    with LoopbackIndex(files) as index:
        for tag, extra in (("guessed", []), ("by the resolver", ["--resolver", "uv"])):
            log.write_text("")
            out = tmp_path / f"{tag}.tar.gz"
            res = run_cli("build", str(src), "-o", str(out), "--index-url", index.url, *extra,
                          env={"IGNITE_CACHE_DIR": str(tmp_path / f"cache-{tag}"), "IGNITE_UV": str(wrapper),
                               "SOURCE_DATE_EPOCH": "1700000000", "TMPDIR": str(temp)})
            assert res.returncode == 0, res.stderr
            runs[tag] = ([line.split() for line in log.read_text().splitlines()], out.read_bytes())
    guessed, by_resolver = runs["guessed"][0], runs["by the resolver"][0]
    assert [argv[:2] for argv in guessed] == [["pip", "compile"]], guessed  # no look first, no second compile
    work = Path(guessed[0][guessed[0].index("-o") + 1]).parent
    assert work.parent == temp and work.name.startswith("ignite-tmp-")  # prestart's directory, not the resolver's
    assert [argv[:2] for argv in by_resolver] == [["python", "find"], ["pip", "compile"]], by_resolver
    assert runs["guessed"][1] == runs["by the resolver"][1]
    assert list(temp.iterdir()) == []  # its work directory went with the build
    with tarfile.open(tmp_path / "guessed.tar.gz") as tf:
        assert {"vendor/tinylib.py", "vendor/otherlib.py"} <= set(tf.getnames())


def _guess(tmp_path: Path, uv: str, monkeypatch: pytest.MonkeyPatch, *words: str) -> prestart._Child:
    src = tmp_path / "src"
    if not src.exists():
        _source(src)
        (src / "requirements.txt").write_text("tinylib\n")
    for key, value in {**_env(tmp_path, uv), "PIP_CONFIG_FILE": os.devnull, "TMPDIR": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(prestart, "_started", None)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)  # (a first build with this cache)
    prestart.begin(["build", str(src), *words])
    child = prestart._started
    assert child is not None and child.work is not None and child.argv[1:3] == ["pip", "compile"]
    return child


def test_a_guess_that_is_not_the_resolvers_command_is_stopped_and_leaves_nothing(
        tmp_path: Path, uv: str, monkeypatch: pytest.MonkeyPatch, hermetic_pip: Path) -> None:
    dead = "http://127.0.0.1:9/simple"  # (refused: the guess fails, or is still trying, when asked)
    for change in ("index", "requirements"):
        child = _guess(tmp_path, uv, monkeypatch, "--index-url", dead)
        work = Path(child.work or "")
        assert (work / "requirements.in").read_text() == "tinylib\n"
        mine = tmp_path / f"resolver-{change}"
        shutil.copytree(work, mine, ignore=shutil.ignore_patterns("std*"))
        argv = [a.replace(str(work), str(mine)) for a in child.argv]
        if change == "index":
            argv[argv.index("--index-url") + 1] = "http://127.0.0.1:10/simple"
        else:
            (mine / "requirements.in").write_text("tinylib==1.0\n")
        assert prestart.adopt(argv, mine) is None
        assert prestart._started is None and not work.exists()
        with pytest.raises(ChildProcessError):
            os.waitpid(child.pid, os.WNOHANG)
    # the same command on the same files: its answer, as if uv had run in the resolver's directory
    child = _guess(tmp_path, uv, monkeypatch, "--index-url", dead)
    work = Path(child.work or "")
    mine = tmp_path / "resolver-same"
    shutil.copytree(work, mine, ignore=shutil.ignore_patterns("std*"))
    taken = prestart.adopt([a.replace(str(work), str(mine)) for a in child.argv], mine, timeout=120)
    assert taken is not None
    proc, lock = taken
    assert proc.returncode != 0 and lock is None and "127.0.0.1:9" in proc.stderr, proc.stderr
    assert str(work) not in proc.stderr and not work.exists() and prestart._started is None


PLAIN = ["tinylib\n", "# made by hand\n\nA-b.c_d\nx==1.0\n\n# the end\n", "\ufeffpyyaml\r\norjson==3.10.1\r\n",
         "a\nb\nc1==2024.1.post1\n"]


@pytest.mark.parametrize("text", PLAIN)
def test_a_plain_requirements_file_is_read_as_the_resolver_reads_it(tmp_path: Path, text: str) -> None:
    from packager.deps.profile import load_profile
    from packager.deps.requirements import parse_requirements
    from packager.deps.resolver import requirements_in

    src = _source(tmp_path / "src")
    (src / "requirements.txt").write_bytes(text.encode("utf-8"))
    expected = requirements_in(parse_requirements(text.encode("utf-8")), load_profile())
    assert prestart._plain_requirements(src) == expected


@pytest.mark.parametrize("text", [
    "tinylib>=1\n", "tinylib  # pinned later\n", "-i http://127.0.0.1:1/simple\ntinylib\n", "tinylib[extra]\n",
    "tinylib; python_version < '3.13'\n", "${LIB}\n", "tinylib \\\n  ==1.0\n", "# nothing\n", "",
    "tinylib==1.*\n", "caf\u00e9\n", "tinylib @ https://127.0.0.1/t.whl\n",
])
def test_anything_but_plain_lines_is_left_to_the_resolver(tmp_path: Path, text: str) -> None:
    src = _source(tmp_path / "src")
    (src / "requirements.txt").write_bytes(text.encode("utf-8"))
    assert prestart._plain_requirements(src) is None


@pytest.mark.parametrize("case", ["pyproject", "uv-lock", "pylock", "symlink", "fifo", "large", "many-lines", "pip-env",
                                  "pip-conf", "uv-cache-exists", "other-option", "lock-command"])
def test_no_guess_where_the_resolution_may_differ(tmp_path: Path, uv: str, case: str) -> None:
    src = _source(tmp_path / "src")
    (src / "requirements.txt").write_text("tinylib\n")
    argv = ["build", str(src)]
    env = {**_env(tmp_path, uv), "PIP_CONFIG_FILE": os.devnull, "TMPDIR": str(tmp_path)}
    control = prestart.speculate(argv, env)  # (before the case: a guess, whose directory is removed)
    assert control is not None, "no guess even without the case"
    shutil.rmtree(control[1])
    if case == "pyproject":
        (src / "pyproject.toml").write_text('[project]\nname = "f"\nversion = "1"\n')
    elif case == "uv-lock":
        (src / "uv.lock").write_text("version = 1\n")
    elif case == "pylock":
        (src / "pylock.dev.toml").write_text('lock-version = "1.0"\n')
    elif case == "symlink":  # (the intake refuses it; nothing is read before)
        (tmp_path / "elsewhere.txt").write_text("tinylib\n")
        (src / "requirements.txt").unlink()
        (src / "requirements.txt").symlink_to(tmp_path / "elsewhere.txt")
    elif case == "fifo":  # (a reader would wait for a writer forever: not opened for waiting)
        (src / "requirements.txt").unlink()
        os.mkfifo(src / "requirements.txt")
    elif case == "large":
        (src / "requirements.txt").write_text("tinylib\n" + "#" * (70 * 1024) + "\n")
    elif case == "many-lines":  # (the index would be asked for each, before the upload's checks)
        (src / "requirements.txt").write_text("".join(f"lib{i}\n" for i in range(201)))
    elif case == "pip-env":
        env["PIP_INDEX_URL"] = "http://127.0.0.1:1/simple"
    elif case == "pip-conf":  # (pip's own places are the machine's: /etc/pip.conf may be there anyway)
        (tmp_path / "pip.conf").write_text("[global]\nindex-url = http://127.0.0.1:1/\n")
        env["PIP_CONFIG_FILE"] = str(tmp_path / "pip.conf")
    elif case == "uv-cache-exists":
        (tmp_path / "cache" / "uv").mkdir(parents=True)
    elif case == "other-option":
        argv += ["--level", "6"]
    elif case == "lock-command":
        argv[0] = "lock"
    assert prestart.speculate(argv, env) is None
    assert not any(p.name.startswith("ignite-tmp-") for p in tmp_path.iterdir())


def test_a_build_stopped_by_its_checks_leaves_no_guess_behind(tmp_path: Path, uv: str, hermetic_pip: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def not_the_handler():\n    return 1\n")
    (src / "requirements.txt").write_text("tinylib\n")
    wrapper, log = _logging_uv(tmp_path, uv)
    temp = tmp_path / "tmp"
    temp.mkdir()
    res = run_cli("build", str(src), "-o", str(tmp_path / "out.tar.gz"), "--index-url", "http://127.0.0.1:9/simple",
                  env={"IGNITE_CACHE_DIR": str(tmp_path / "cache"), "IGNITE_UV": str(wrapper), "TMPDIR": str(temp)})
    assert res.returncode != 0 and "handler" in res.stderr, res.stderr
    assert log.read_text().split()[:2] == ["pip", "compile"]  # it had started
    assert list(temp.iterdir()) == [] and not (tmp_path / "out.tar.gz").exists()
