"""Issue 32: uv.lock and pylock.toml (PEP 751) written by the real tools (uv, pip lock) against a
loopback index at test time, installed exactly for the target; pyproject.toml declarations."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from packager.artifact.tarball import read_manifest
from packager.build import BuildResult, build
from packager.deps.indexconfig import IndexConfig
from packager.errors import FetchError, RequirementsError, ResolveError
from packager.options import BuildOptions
from tests.ci_helpers import validate
from tests.conftest import run_cli
from tests.wheelhouse import LoopbackIndex, make_wheel

HANDLER = "def handler(payload, ctx):\n    return 'ok'\n"
BIN = Path(sys.executable).parent
UV = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
#: the image's requests (python3.12 profile): a lock that lists it has it skipped, not vendored
IMAGE_REQUESTS = "2.34.2"

needs_uv = pytest.mark.skipif(UV is None, reason="uv is not installed (the [uv] extra)")


def _pip_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(p) for p in version("pip").split(".")[:2] if p.isdigit())


#: `pip lock` (PEP 751) is pip 25.1's; `make venv` installs the newest pip
needs_pip_lock = pytest.mark.skipif(_pip_version() < (25, 1), reason="pip lock needs pip >= 25.1")


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "demo", "1.0", requires=['oldonly; python_version < "3.12"', 'newonly; python_version >= "3.12"'])
    make_wheel(wh, "oldonly", "1.0")
    make_wheel(wh, "newonly", "1.0")
    make_wheel(wh, "groupdep", "1.0")
    make_wheel(wh, "plat", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64", files={"plat.py": "X = 311\n"})
    make_wheel(wh, "plat", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64", files={"plat.py": "X = 312\n"})
    make_wheel(wh, "plat", "1.0", tag="cp313-cp313-manylinux_2_17_x86_64", files={"plat.py": "X = 313\n"})
    host = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    if host not in ("cp311", "cp312", "cp313"):  # `pip lock` on this host (not_the_target) finds one too
        make_wheel(wh, "plat", "1.0", tag=f"{host}-{host}-manylinux_2_17_x86_64", files={"plat.py": "X = 0\n"})
    make_wheel(wh, "requests", IMAGE_REQUESTS)
    return wh


def _project(root: Path, deps: list[str], extra: str = "") -> Path:
    root.mkdir(parents=True)
    (root / "handler.py").write_text(HANDLER)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "fn"\nversion = "0.1"\nrequires-python = ">=3.11"\n'
        f"dependencies = {json.dumps(deps)}\n\n[dependency-groups]\ndev = [\"groupdep\"]\n{extra}")
    return root


def _tool_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return {**env, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_NO_CONFIG": "1", "PIP_CONFIG_FILE": os.devnull,
            "PIP_CACHE_DIR": str(tmp_path / "pip-cache"), "UV_PYTHON_DOWNLOADS": "never"}


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, f"{argv}: {r.stderr}"


def uv_lock(project: Path, index: str, tmp_path: Path) -> Path:
    """``uv lock`` (universal) against the loopback index."""
    assert UV is not None
    _run([UV, "lock", "--default-index", index], project, _tool_env(tmp_path))
    return project / "uv.lock"


def pip_lock(project: Path, index: str, tmp_path: Path, python: Optional[str], *reqs: str) -> Path:
    """``pip lock`` (pip >= 25.1) for *python*'s environment (pip's own, else the host's)."""
    argv = [sys.executable, "-m", "pip", *(["--python", python] if python else []), "lock", *reqs,
            "--index-url", index, "-o", "pylock.toml"]
    _run(argv, project, _tool_env(tmp_path))
    return project / "pylock.toml"


def not_the_target(request: pytest.FixtureRequest) -> tuple[Optional[str], str]:
    """An interpreter other than the target's CPython 3.12 for `pip lock` (the host's, else a 3.13),
    and the cpXY tag its wheels have."""
    if sys.version_info[:2] != (3, 12):
        return None, f"cp{sys.version_info[0]}{sys.version_info[1]}"
    return str(request.getfixturevalue("python313")), "cp313"


def _offline(wheelhouse: Path) -> dict[str, object]:
    return {"index": IndexConfig(find_links=(str(wheelhouse),), offline=True), "wheelhouses": (wheelhouse,)}


def _build(src: Path, out: Path, wheelhouse: Path, **kw: object) -> BuildResult:
    return build(BuildOptions(source=src, output=out, **_offline(wheelhouse), **kw))  # type: ignore[arg-type]


def _vendored(result: BuildResult) -> dict[str, str]:
    return {v.name: v.wheel for v in result.manifest.vendored}


def test_a_pyproject_only_function_vendors_its_dependencies(tmp_path: Path, wheelhouse: Path,
                                                            hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["demo", "plat", 'oldonly; python_version < "3.12"'])
    result = _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert set(_vendored(result)) == {"demo", "newonly", "plat"}  # markers for the 3.12 target, not this host
    assert _vendored(result)["plat"].startswith("plat-1.0-cp312")
    req = result.manifest.requirements
    assert (req["file"], req["kind"], req["locked"]) == ("pyproject.toml", "pyproject.toml", False)
    grouped = _build(src, tmp_path / "b.tar.gz", wheelhouse, groups=("dev",))
    assert set(_vendored(grouped)) == {"demo", "newonly", "plat", "groupdep"}


@needs_uv
def test_uv_lock_written_by_uv_installs_exactly_its_pins_for_the_target(tmp_path: Path, wheelhouse: Path,
                                                                        hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["demo", "plat", "requests"])
    with LoopbackIndex(wheelhouse) as index:
        lock = uv_lock(src, index.url, tmp_path)
    text = lock.read_text()
    assert 'source = { virtual = "." }' in text and "oldonly" in text  # universal: both branches are in it
    # The index is gone: files come from the build's own settings (here offline), checked against the hashes.
    result = _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert _vendored(result) == {"demo": "demo-1.0-py3-none-any.whl", "newonly": "newonly-1.0-py3-none-any.whl",
                                 "plat": "plat-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"}
    assert [(s.name, s.version) for s in result.manifest.skipped if s.name == "requests"] == [
        ("requests", IMAGE_REQUESTS)]  # the image's, skipped
    req = result.manifest.requirements
    assert (req["file"], req["kind"], req["locked"]) == ("uv.lock", "uv.lock", True)
    assert "fn" not in _vendored(result)  # the root project is the source
    grouped = _build(src, tmp_path / "b.tar.gz", wheelhouse, groups=("dev",))
    assert set(_vendored(grouped)) == {"demo", "newonly", "plat", "groupdep"}


@needs_uv
def test_uv_lock_hashes_are_checked(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["newonly"])
    with LoopbackIndex(wheelhouse) as index:
        lock = uv_lock(src, index.url, tmp_path)
    text = lock.read_text()
    lock.write_text(re.sub(r'(name = "newonly".*?sha256:)[0-9a-f]{64}', r"\g<1>" + "1" * 64, text, flags=re.S))
    line = lock.read_text().splitlines().index('name = "newonly"')  # its [[package]] is the line above
    with LoopbackIndex(wheelhouse) as index, pytest.raises(FetchError) as err:
        build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", index=IndexConfig(index_url=index.url)))
    assert "newonly" in err.value.message
    assert err.value.where == f"uv.lock:{line}"  # the build's dependency file, not "requirements.txt"
    assert not (tmp_path / "a.tar.gz").exists()


@needs_pip_lock
def test_pylock_written_by_pip_lock_installs_exactly_its_pins(tmp_path: Path, wheelhouse: Path,
                                                              hermetic_pip: Path, python312: str) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text("demo\nplat\n")
    with LoopbackIndex(wheelhouse) as index:
        lock = pip_lock(src, index.url, tmp_path, python312, "-r", "requirements.txt")  # for CPython 3.12
    assert 'created-by = "pip"' in lock.read_text()
    result = _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert _vendored(result) == {"demo": "demo-1.0-py3-none-any.whl", "newonly": "newonly-1.0-py3-none-any.whl",
                                 "plat": "plat-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"}
    req = result.manifest.requirements
    assert (req["file"], req["kind"], req["locked"]) == ("pylock.toml", "pylock", True)


@needs_uv
def test_pylock_exported_by_uv_is_selected_for_the_target(tmp_path: Path, wheelhouse: Path,
                                                          hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["demo", "plat"])
    with LoopbackIndex(wheelhouse) as index:
        uv_lock(src, index.url, tmp_path)
        assert UV is not None
        _run([UV, "export", "--format", "pylock.toml", "--no-dev", "-o", "pylock.toml", "--default-index", index.url],
             src, _tool_env(tmp_path))
    (src / "uv.lock").unlink()
    text = (src / "pylock.toml").read_text()
    assert "marker = " in text and "oldonly" in text  # universal, with markers
    result = _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert set(_vendored(result)) == {"demo", "newonly", "plat"}
    assert _vendored(result)["plat"].startswith("plat-1.0-cp312")


@needs_pip_lock
def test_a_lock_with_no_wheel_for_the_target_names_the_package_and_the_tags(
        tmp_path: Path, wheelhouse: Path, hermetic_pip: Path, request: pytest.FixtureRequest) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text("plat\n")
    python, tag = not_the_target(request)
    with LoopbackIndex(wheelhouse) as index:
        lock = pip_lock(src, index.url, tmp_path, python, "-r", "requirements.txt")  # pip locks for that python
    line = lock.read_text().splitlines().index("[[packages]]") + 1
    with pytest.raises(RequirementsError) as err:
        _build(src, tmp_path / "a.tar.gz", wheelhouse)
    e = err.value
    assert e.where == f"pylock.toml:{line}"
    assert "no wheel of plat 1.0" in e.message and "cp312-cp312-manylinux_2_36_x86_64" in e.message
    assert f"{tag}-{tag}-manylinux_2_17_x86_64" in e.message  # what the lock has
    assert not (tmp_path / "a.tar.gz").exists()


# ------------------------------------------------------------------ the same input policy


@needs_uv
@pytest.mark.parametrize("editable", [False, True])
def test_uv_lock_path_and_editable_sources_are_refused_with_the_line(tmp_path: Path, wheelhouse: Path,
                                                                     hermetic_pip: Path, editable: bool) -> None:
    local = tmp_path / "localdep"
    local.mkdir()
    (local / "pyproject.toml").write_text('[project]\nname = "localdep"\nversion = "1.0"\n'
                                          '[build-system]\nrequires = []\nbuild-backend = "x"\n')
    src = _project(tmp_path / "fn", ["newonly", "localdep"],
                   extra=f'\n[tool.uv.sources]\nlocaldep = {{ path = "../localdep", editable = {str(editable).lower()} }}\n')
    with LoopbackIndex(wheelhouse) as index:
        lock = uv_lock(src, index.url, tmp_path)
    lines = lock.read_text().splitlines()
    line = next(i for i, ln in enumerate(lines, 1) if ln == 'name = "localdep"') - 1
    (src / "pyproject.toml").write_text((src / "pyproject.toml").read_text().split("[tool.uv.sources]")[0])
    with pytest.raises(RequirementsError) as err:
        _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert err.value.where == f"uv.lock:{line}"
    assert "localdep comes from a" in err.value.message and ("editable" if editable else "directory") in \
        err.value.message


@needs_uv
@pytest.mark.parametrize(("source", "what"), [
    ('{ git = "https://example.invalid/newonly.git?rev=abc#abc" }', "VCS"),
    ('{ url = "https://example.invalid/newonly-1.0-py3-none-any.whl" }', "URL"),
])
def test_uv_lock_git_and_url_sources_are_refused(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path,
                                                 source: str, what: str) -> None:
    src = _project(tmp_path / "fn", ["newonly"])
    with LoopbackIndex(wheelhouse) as index:
        lock = uv_lock(src, index.url, tmp_path)
    text = lock.read_text()  # uv's lock, with newonly's source as uv writes a git/URL dependency's
    lock.write_text(re.sub(r'(name = "newonly"\nversion = "1.0"\nsource = )\{[^}]*\}', r"\g<1>" + source, text))
    with pytest.raises(RequirementsError) as err:
        _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert err.value.where.startswith("uv.lock:") and f"newonly comes from a {what} source" in err.value.message


@needs_pip_lock
def test_pylock_directory_vcs_and_archive_entries_are_refused(tmp_path: Path, wheelhouse: Path,
                                                              hermetic_pip: Path) -> None:
    local = tmp_path / "fn" / "localdep"
    local.mkdir(parents=True)
    (local / "pyproject.toml").write_text('[project]\nname = "localdep"\nversion = "1.0"\n'
                                          '[build-system]\nrequires = ["setuptools"]\n'
                                          'build-backend = "setuptools.build_meta"\n')
    (local / "localdep.py").write_text("")
    src = tmp_path / "fn"
    (src / "handler.py").write_text(HANDLER)
    with LoopbackIndex(wheelhouse) as index:
        lock = pip_lock(src, index.url, tmp_path, None, "newonly", "./localdep", "--no-build-isolation")
    text = lock.read_text()
    assert 'path = "localdep"' in text  # pip's directory entry
    with pytest.raises(RequirementsError) as err:
        _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert "localdep comes from a directory source" in err.value.message
    assert re.fullmatch(r"pylock\.toml:\d+", err.value.where or "")
    for key, value in (("vcs", '{ type = "git", url = "https://example.invalid/x.git", commit-id = "abc" }'),
                       ("archive", '{ url = "https://example.invalid/x.tar.gz", hashes = { sha256 = "00" } }')):
        lock.write_text(re.sub(r"\[packages\.directory\]\n[^\[]*", "", text).replace(
            'name = "localdep"', f'name = "localdep"\n{key} = {value}'))
        with pytest.raises(RequirementsError) as err:
            _build(src, tmp_path / "a.tar.gz", wheelhouse)
        assert f"localdep comes from a {'VCS' if key == 'vcs' else 'archive'}" in err.value.message


@needs_pip_lock
def test_a_lock_that_disagrees_with_the_image_is_explained(tmp_path: Path, wheelhouse: Path,
                                                           hermetic_pip: Path, python312: str) -> None:
    make_wheel(wheelhouse, "requests", "2.0.0")
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    with LoopbackIndex(wheelhouse) as index:
        lock = pip_lock(src, index.url, tmp_path, python312, "requests==2.0.0")
    line = lock.read_text().splitlines().index("[[packages]]") + 1
    with pytest.raises(ResolveError) as err:
        _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert err.value.where == f"pylock.toml:{line}" and f"preinstalls requests=={IMAGE_REQUESTS}" in err.value.message
    assert "--vendor-anyway requests" in (err.value.hint or "")


# ------------------------------------------------------------------ the CLI


def test_cli_requirements_and_group(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["demo"])
    (src / "requirements.txt").write_text("plat\n")
    out = tmp_path / "a.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--offline", "--wheelhouse", str(wheelhouse),
                "--requirements", "pyproject.toml", "--group", "dev", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "build")
    assert doc["dependencies"] == {"file": "pyproject.toml", "kind": "pyproject.toml", "locked": False,
                                   "groups": ["dev"]}
    assert {v["name"] for v in doc["vendored"]} == {"demo", "newonly", "groupdep"}
    assert any("requirements.txt and pyproject.toml declare different" in w for w in doc["warnings"])
    m = read_manifest(out)
    assert (m.requirements["file"], m.requirements["kind"], m.requirements["groups"]) == \
        ("pyproject.toml", "pyproject.toml", ["dev"])
    r = run_cli("inspect", str(out))
    assert r.returncode == 0, r.stderr
    assert "deps from  pyproject.toml (pyproject.toml, groups dev)" in r.stdout
    r = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--offline", "--wheelhouse", str(wheelhouse))
    assert r.returncode == 0, r.stderr
    assert "dependencies from requirements.txt (requirements.txt)" in r.stderr  # the precedence, said once


@needs_uv
def test_our_pylock_installs_with_uv_to_the_same_distributions(tmp_path: Path, wheelhouse: Path,
                                                               hermetic_pip: Path, python312: str) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text("demo\nplat\nrequests\n")
    with LoopbackIndex(wheelhouse) as index:
        r = run_cli("lock", str(src), "--format", "pylock", "--index-url", index.url, "--json", timeout=300)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        lock = Path(doc["output"])
        assert lock == src / "pylock.toml" and doc["format"] == "pylock"
        assert sorted(doc["pins"]) == ["demo==1.0", "newonly==1.0", "plat==1.0"]
        text = lock.read_text()
        assert "platform_machine == 'x86_64'" in text and f'"requests=={IMAGE_REQUESTS}"' in text
        # uv reads it (PEP 751) and installs, for the target's CPython, exactly those distributions
        assert UV is not None
        target = tmp_path / "uv-target"
        _run([UV, "pip", "install", "--python", python312, "--target", str(target), "-r", str(lock)],
             tmp_path, _tool_env(tmp_path))
        # and so does pip (when it reads pylock.toml: pip 26's `-r`), run by the target's CPython
        by_pip = tmp_path / "pip-target"
        pip_reads_pylock = "pylock.toml format" in subprocess.run(
            [sys.executable, "-m", "pip", "install", "--help"], capture_output=True, text=True, timeout=120).stdout
        if pip_reads_pylock:
            _run([sys.executable, "-m", "pip", "--python", python312, "install", "--target", str(by_pip),
                  "-r", str(lock)], tmp_path, _tool_env(tmp_path))
    for where in (target, by_pip) if pip_reads_pylock else (target,):
        installed = sorted(p.name for p in where.glob("*.dist-info"))
        assert installed == ["demo-1.0.dist-info", "newonly-1.0.dist-info", "plat-1.0.dist-info"]
        assert (where / "plat.py").read_text() == "X = 312\n"
    # and a build from it vendors the same distributions, the same wheels
    (src / "requirements.txt").unlink()
    result = _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert _vendored(result) == {"demo": "demo-1.0-py3-none-any.whl", "newonly": "newonly-1.0-py3-none-any.whl",
                                 "plat": "plat-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"}
    assert result.manifest.requirements["kind"] == "pylock"
    assert "requests" in {s.name for s in result.manifest.skipped}


@needs_pip_lock
@needs_uv
def test_pylock_selection_without_packaging_pylock_is_the_same(
        tmp_path: Path, wheelhouse: Path, hermetic_pip: Path, request: pytest.FixtureRequest) -> None:
    """Without packaging.pylock's select (packaging < 26.1) the selection follows PEP 751's steps here."""
    from packager.deps.lockfiles import parse_pylock
    from packager.deps.profile import load_profile

    profile = load_profile(None)
    src = _project(tmp_path / "fn", ["demo", "plat", "requests"])
    host = tmp_path / "host"
    host.mkdir()
    with LoopbackIndex(wheelhouse) as index:
        uv_lock(src, index.url, tmp_path)
        assert UV is not None
        _run([UV, "export", "--format", "pylock.toml", "-o", "pylock.toml", "--default-index", index.url],
             src, _tool_env(tmp_path))
        host_lock = pip_lock(host, index.url, tmp_path, not_the_target(request)[0], "plat")
    universal = (src / "pylock.toml").read_bytes()
    a = parse_pylock(universal, "pylock.toml", profile)
    b = parse_pylock(universal, "pylock.toml", profile, use_packaging=False)
    assert [(r.line, str(r.requirement), r.hashes) for r in a.lines] == \
        [(r.line, str(r.requirement), r.hashes) for r in b.lines]
    assert {r.name for r in b.lines} == {"demo", "newonly", "plat", "requests", "groupdep"}  # uv exports dev
    refused = []
    for use in (True, False):  # a group the lock does not declare
        with pytest.raises(RequirementsError) as err:
            parse_pylock(universal, "pylock.toml", profile, ("nope",), use_packaging=use)
        refused.append(err.value.message)
    assert refused[0] == refused[1] and "Undeclared dependency groups: nope" in refused[0]
    errors = []
    for use in (True, False):
        with pytest.raises(RequirementsError) as err:
            parse_pylock(host_lock.read_bytes(), "pylock.toml", profile, use_packaging=use)
        errors.append((err.value.where, err.value.message))
    assert errors[0] == errors[1] and "no wheel of plat 1.0" in errors[0][1]


@needs_uv
def test_uv_workspace_members_are_the_source_and_their_dependencies_are_installed(
        tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["demo", "lib"], extra=(
        '\n[tool.uv.workspace]\nmembers = ["packages/lib"]\n\n[tool.uv.sources]\nlib = { workspace = true }\n'))
    lib = src / "packages" / "lib"
    lib.mkdir(parents=True)
    (lib / "pyproject.toml").write_text('[project]\nname = "lib"\nversion = "0.1"\ndependencies = ["plat"]\n'
                                        '[build-system]\nrequires = ["setuptools"]\n'
                                        'build-backend = "setuptools.build_meta"\n')
    with LoopbackIndex(wheelhouse) as index:
        lock = uv_lock(src, index.url, tmp_path)
    assert 'source = { editable = "packages/lib" }' in lock.read_text()
    result = _build(src, tmp_path / "a.tar.gz", wheelhouse)
    assert set(_vendored(result)) == {"demo", "newonly", "plat"}  # lib's plat, not lib itself


def test_lock_reads_a_pyproject_declaration(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["demo", "plat"])
    with LoopbackIndex(wheelhouse) as index:
        r = run_cli("lock", str(src), "--index-url", index.url, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)["pins"]) == ["demo==1.0", "newonly==1.0", "plat==1.0"]
    result = _build(src, tmp_path / "a.tar.gz", wheelhouse)  # the lock now wins over the declaration
    assert result.manifest.requirements["kind"] == "requirements.lock"
    assert set(_vendored(result)) == {"demo", "newonly", "plat"}


@needs_uv
def test_a_stale_uv_lock_is_warned_about(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", ["demo"])
    with LoopbackIndex(wheelhouse) as index:
        uv_lock(src, index.url, tmp_path)
    assert not [w for w in _build(src, tmp_path / "a.tar.gz", wheelhouse).warnings if "out of date" in w]
    (src / "pyproject.toml").write_text((src / "pyproject.toml").read_text().replace('["demo"]', '["demo", "plat"]'))
    result = _build(src, tmp_path / "b.tar.gz", wheelhouse)
    assert any("uv.lock is out of date with pyproject.toml (differs in: plat)" in w for w in result.warnings)
    assert "plat" not in _vendored(result)  # installed as locked


def test_why_reads_the_chains_from_a_pyproject_declaration(tmp_path: Path, wheelhouse: Path,
                                                           hermetic_pip: Path) -> None:
    src = _project(tmp_path / "fn", [])
    (src / "pyproject.toml").write_text((src / "pyproject.toml").read_text().replace(
        "dependencies = []", 'dependencies = [\n    "plat",\n    "demo",\n]'))
    out = tmp_path / "a.tar.gz"
    _build(src, out, wheelhouse)
    r = run_cli("inspect", str(out), "--why", "newonly")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["  pyproject.toml:7 demo -> newonly"]
