"""Other targets than the default (aarch64, CPython 3.13), hermetic: tiny wheels tagged for them,
tiny profiles written here, and the real interpreters where a test runs one."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from packager.artifact.compile import compile_segment
from packager.artifact.embed import PYC_VERSIONS, launcher_entries
from packager.build import build
from packager.deps.indexconfig import IndexConfig
from packager.deps.profile import DEFAULT_PROFILE, builtin_profiles, load_profile
from packager.errors import RequirementsError, RuntimeNotFound, SdistBuildError
from packager.options import BuildOptions
from packager.runtime import check_runs_here, host_machine
from packager.tomlparser import parser
from tests.ci_helpers import source
from tests.conftest import run_cli
from tests.wheelhouse import make_sdist, make_wheel

HANDLER = (
    "import sys, plat\n"
    "def handler(payload, ctx):\n"
    "    return {'python': '%d.%d' % sys.version_info[:2], 'plat': plat.X}\n"
)


def tiny_profile(directory: Path, name: str, version: str, machine: str, pins: dict[str, str]) -> Path:
    """A profile file like the built-in ones, with a made-up preinstalled set (*pins*)."""
    nodot = version.replace(".", "")
    tags = [f"manylinux_2_{m}_{machine}" for m in range(36, 16, -1)] + [f"manylinux2014_{machine}", f"linux_{machine}"]
    lines = [
        f'name = "{name}"', f'image = "python:{version}"', "[python]", f'version = "{version}"',
        f'full_version = "{version}.1"', 'implementation = "cp"', f'abi = "cp{nodot}"',
        "[platform]", "tags = [" + ", ".join(f'"{t}"' for t in tags) + "]",
        "[markers]", 'implementation_name = "cpython"', f'implementation_version = "{version}.1"',
        'os_name = "posix"', f'platform_machine = "{machine}"', 'platform_python_implementation = "CPython"',
        'platform_release = ""', 'platform_system = "Linux"', 'platform_version = ""',
        f'python_full_version = "{version}.1"', f'python_version = "{version}"', 'sys_platform = "linux"',
        "[preinstalled]", "roots = [" + ", ".join(f'"{n}"' for n in pins) + "]",
        "[preinstalled.pins]", *(f'{n} = "{v}"' for n, v in pins.items()),
        "[preinstalled.requires]", *(f"{n} = []" for n in pins),
    ]
    path = directory / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def profiles(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "profiles"
    d.mkdir()
    return {
        "arm": tiny_profile(d, "t312-arm64", "3.12", "aarch64", {"fakepre": "1.0"}),
        "py313": tiny_profile(d, "t313", "3.13", "x86_64", {"fakepre": "1.0"}),
        "x86": tiny_profile(d, "t312", "3.12", "x86_64", {"fakepre": "1.0"}),
    }


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wheelhouse"
    for tag, x in (("cp312-cp312-manylinux_2_17_x86_64", "cp312-x86_64"),
                   ("cp312-cp312-manylinux_2_17_aarch64", "cp312-aarch64"),
                   ("cp313-cp313-manylinux_2_17_x86_64", "cp313-x86_64"),
                   ("cp313-cp313-manylinux_2_28_aarch64", "cp313-aarch64")):
        make_wheel(wh, "plat", "1.0", tag=tag, files={"plat.py": f"X = {x!r}\n"})
    make_wheel(wh, "x86only", "1.0")
    make_wheel(wh, "armonly", "1.0")
    make_wheel(wh, "before313", "1.0")
    make_wheel(wh, "fakepre", "1.0")
    make_wheel(wh, "usesfakepre", "1.0", requires=["fakepre>=1"])
    return wh


def _source(tmp_path: Path, requirements: str, name: str = "src") -> Path:
    return source(tmp_path, name, requirements, files={"handler.py": HANDLER})


REQS = ('plat\nx86only; platform_machine == "x86_64"\narmonly; platform_machine == "aarch64"\n'
        'before313; python_version < "3.13"\nusesfakepre\n')


def _offline(wheelhouse: Path) -> dict[str, object]:
    return {"index": IndexConfig(find_links=(str(wheelhouse),), offline=True), "wheelhouses": (wheelhouse,)}


def _members(artifact: Path) -> dict[str, bytes]:
    with tarfile.open(artifact) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]


def test_aarch64_target_takes_aarch64_wheels_markers_and_skips_the_image(tmp_path: Path, wheelhouse: Path,
                                                                         profiles: dict[str, Path],
                                                                         hermetic_pip: Path) -> None:
    src = _source(tmp_path, REQS)
    out = tmp_path / "arm.tar.gz"
    result = build(BuildOptions(source=src, output=out, profile=str(profiles["arm"]),
                                **_offline(wheelhouse)))  # type: ignore[arg-type]
    m = result.manifest
    assert {v.name for v in m.vendored} == {"plat", "armonly", "before313", "usesfakepre"}  # no x86only
    assert [s.name for s in m.skipped] == ["fakepre"]  # the target image's own package
    assert next(v.wheel for v in m.vendored if v.name == "plat") == "plat-1.0-cp312-cp312-manylinux_2_17_aarch64.whl"
    files = _members(out)
    assert files["vendor/plat.py"] == b"X = 'cp312-aarch64'\n"
    assert m.target["machine"] == "aarch64" and m.target["profile"] == "t312-arm64"
    assert all(p.endswith("aarch64") for p in m.target["platforms"])
    assert json.loads(files["manifest.json"])["target"]["machine"] == "aarch64"
    # The same source for x86_64 takes the other wheel and the other marker.
    x86 = build(BuildOptions(source=src, output=tmp_path / "x86.tar.gz", profile=str(profiles["x86"]),
                             **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert {v.name for v in x86.manifest.vendored} == {"plat", "x86only", "before313", "usesfakepre"}
    assert x86.manifest.target["machine"] == "x86_64"


def test_cp313_target_takes_cp313_wheels_markers_and_its_own_launcher_bytecode(
        tmp_path: Path, wheelhouse: Path, profiles: dict[str, Path], hermetic_pip: Path) -> None:
    src = _source(tmp_path, REQS)
    out = tmp_path / "313.tar.gz"
    m = build(BuildOptions(source=src, output=out, profile=str(profiles["py313"]),
                           **_offline(wheelhouse))).manifest  # type: ignore[arg-type]
    assert {v.name for v in m.vendored} == {"plat", "x86only", "usesfakepre"}  # before313 is for < 3.13
    assert next(v.wheel for v in m.vendored if v.name == "plat") == "plat-1.0-cp313-cp313-manylinux_2_17_x86_64.whl"
    assert m.target["python"] == "3.13" and m.target["abi"] == "cp313"
    pycs = [p for p in _members(out) if p.endswith(".pyc")]
    assert pycs and all(p.startswith("__ignite__/") and p.endswith(".cpython-313.pyc") for p in pycs)


def test_launcher_bytecode_only_for_the_target_version_else_source() -> None:
    assert PYC_VERSIONS == ("3.12", "3.13")
    for version in PYC_VERSIONS:
        tag = ".cpython-" + version.replace(".", "") + ".pyc"
        entries = launcher_entries(version)
        pycs = [e.path for e in entries if e.path.endswith(".pyc")]
        sources = [e.path for e in entries if e.path.endswith(".py")]
        assert len(pycs) == len(sources), f"no committed {version} bytecode: run `make launcher-pyc`"
        assert all(p.endswith(tag) for p in pycs)
    # A version without committed bytecode runs the source: nothing it could not load.
    future = launcher_entries("3.14")
    assert not [e for e in future if e.path.endswith(".pyc")]
    assert {e.path for e in future} == {e.path for e in launcher_entries("3.12") if e.path.endswith(".py")}


def test_cp313_artifact_runs_under_cpython_313_and_not_under_312(tmp_path: Path, wheelhouse: Path,
                                                                 profiles: dict[str, Path], python312: str,
                                                                 python313: str, hermetic_pip: Path) -> None:
    src = _source(tmp_path, "plat\n")
    out = tmp_path / "313.tar.gz"
    build(BuildOptions(source=src, output=out, profile=str(profiles["py313"]), **_offline(wheelhouse)))  # type: ignore[arg-type]
    r = run_cli("invoke", str(out), "--python", python313, "--runtime", "bare", timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"python": "3.13", "plat": "cp313-x86_64"}
    r = run_cli("invoke", str(out), "--python", python312, "--runtime", "bare", timeout=120)
    assert r.returncode == 12, r.stderr  # runtime: the target's Python is 3.13
    assert "3.13" in r.stderr


def test_aarch64_artifact_is_refused_on_an_x86_64_host_with_the_runtime_exit_code(
        tmp_path: Path, wheelhouse: Path, profiles: dict[str, Path], hermetic_pip: Path) -> None:
    if host_machine() != "x86_64":
        pytest.skip("this checks the refusal from an x86_64 host")
    src = _source(tmp_path, "plat\n")
    out = tmp_path / "arm.tar.gz"
    build(BuildOptions(source=src, output=out, profile=str(profiles["arm"]), **_offline(wheelhouse)))  # type: ignore[arg-type]
    for cmd in ("invoke", "serve"):
        r = run_cli(cmd, str(out), "--runtime", "bare", timeout=120)
        assert r.returncode == 12, (cmd, r.stderr)
        assert "aarch64" in r.stderr and "x86_64" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("invoke", str(out), "--json", timeout=120)
    err = json.loads(r.stdout)["error"]
    assert r.returncode == 12 and err["error"] == "runtime"
    assert err["details"] == {"artifact_machine": "aarch64", "host_machine": "x86_64"}
    check_runs_here({"machine": "x86_64"}, "x")  # the host's own architecture is fine
    with pytest.raises(RuntimeNotFound):
        check_runs_here({"platforms": ["manylinux_2_17_aarch64"]}, "x")  # older manifests: from the tags


def test_a_lock_made_for_another_target_is_refused(tmp_path: Path, wheelhouse: Path, profiles: dict[str, Path],
                                                   hermetic_pip: Path) -> None:
    src = _source(tmp_path, "plat\n")
    lock = tmp_path / "requirements.lock"
    r = run_cli("lock", str(src), "--profile", str(profiles["x86"]), "-o", str(lock), "--offline",
                "--wheelhouse", str(wheelhouse), "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    text = lock.read_text()
    assert "# ignite-profile: t312\n" in text and "plat==1.0" in text
    # The lock pins only names and hashes: the cp312 x86_64 wheel's hash, useless on aarch64.
    with pytest.raises(RequirementsError) as err:
        build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", lock=lock, profile=str(profiles["arm"]),
                           **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert "'t312'" in err.value.message and "'t312-arm64'" in err.value.message
    assert err.value.hint and "--profile t312" in err.value.hint
    assert not (tmp_path / "a.tar.gz").exists()
    ok = build(BuildOptions(source=src, output=tmp_path / "b.tar.gz", lock=lock, profile=str(profiles["x86"]),
                            **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert ok.manifest.requirements["locked"] is True
    r = run_cli("build", str(src), "--lock", str(lock), "--profile", str(profiles["arm"]), "-o",
                str(tmp_path / "c.tar.gz"), "--offline", "--wheelhouse", str(wheelhouse), timeout=300)
    assert r.returncode == 6 and "t312-arm64" in r.stderr, r.stderr


def test_c_extension_sdist_for_a_foreign_arch_is_a_clear_error_and_pure_python_sdists_work(
        tmp_path: Path, wheelhouse: Path, profiles: dict[str, Path], hermetic_pip: Path) -> None:
    make_sdist(wheelhouse, "cext", "1.0", c_extension=True)
    make_sdist(wheelhouse, "puresdist", "1.0")
    src = _source(tmp_path, "cext==1.0\n")
    out = tmp_path / "a.tar.gz"
    with pytest.raises(SdistBuildError) as err:
        build(BuildOptions(source=src, output=out, profile=str(profiles["arm"]), **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert "cext" in err.value.message and "aarch64" in err.value.message
    assert err.value.hint and "--wheelhouse" in err.value.hint and "aarch64" in err.value.hint
    assert not out.exists()
    src2 = _source(tmp_path, "puresdist==1.0\n", name="src2")
    m = build(BuildOptions(source=src2, output=out, profile=str(profiles["arm"]), **_offline(wheelhouse))).manifest  # type: ignore[arg-type]
    assert [(v.name, v.built_from_sdist) for v in m.vendored] == [("puresdist", True)]


def test_compile_for_313_needs_a_313(profiles: dict[str, Path], python312: str, python313: str) -> None:
    from packager.artifact.tarball import Entry, Segment

    seg = Segment("source", (Entry("handler.py", b"def handler(p, c):\n    return 1\n", 0o644),))
    with pytest.raises(RuntimeNotFound) as err:
        compile_segment([seg], None, version="3.13")
    assert "3.13" in err.value.message
    with pytest.raises(RuntimeNotFound) as err:
        compile_segment([seg], python312, version="3.13")  # a 3.12 would write bytecode 3.13 cannot load
    assert "3.13" in err.value.message
    made = compile_segment([seg], python313, version="3.13").segment
    assert [e.path for e in made.entries] == ["__pycache__/handler.cpython-313.pyc"]


def test_compiled_313_artifact_verifies_strictly(tmp_path: Path, profiles: dict[str, Path], python313: str) -> None:
    from packager.inspect.inspection import verify_artifact

    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(p, c):\n    return 1\n")
    out = tmp_path / "a.tar.gz"
    build(BuildOptions(source=src, output=out, profile=str(profiles["py313"]), compile=True,
                       target_interpreter=python313))
    assert "__pycache__/handler.cpython-313.pyc" in _members(out)
    report = verify_artifact(out, strict=True)
    assert report.pycs_checked == 1 + len([e for e in launcher_entries("3.13") if e.path.endswith(".pyc")])


def test_builtin_profiles_are_complete_targets() -> None:
    names = builtin_profiles()
    assert DEFAULT_PROFILE == "python3.12" and DEFAULT_PROFILE in names
    for name in names:
        p = load_profile(name)
        assert p.name == name
        arch = p.machine
        assert arch in ("x86_64", "aarch64")
        assert p.platforms[0] == f"manylinux_2_36_{arch}" and p.platforms[-1] == f"linux_{arch}"
        assert all(t.endswith(arch) for t in p.platforms) and "manylinux2014_" + arch in p.platforms
        assert p.markers["python_version"] == p.python_version and p.abi == "cp" + p.python_version.replace(".", "")
        assert p.markers["python_full_version"].startswith(p.python_version + ".")
        assert set(p.preinstalled_roots) == {"numpy", "pandas", "requests", "httpx", "pydantic", "boto3",
                                             "cloudpickle"}
        closure = set(p.preinstalled_closure(p.preinstalled_roots))
        assert closure == set(p.preinstalled), name  # the pins are exactly the roots' closure


def test_builtin_profiles_are_read_from_their_json_twins_made_from_the_toml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each built-in profile's twin is the TOML's document (key order included) made from exactly
    its bytes (regenerate: `python -m packager.deps.profiles.generate --twins`); a twin that no
    longer matches, or one beside a profile given by path, is not used: the TOML is parsed."""
    import hashlib
    import shutil

    import packager.deps.profile as profile_mod
    from packager.deps.profile import _LOADED, profile_twin
    from packager.profilefiles import TWIN_SUFFIX

    tomllib = parser()  # (tomllib, or tomli below 3.11)
    folder = profile_mod._profiles_dir()
    for name in builtin_profiles():
        toml_path = folder / f"{name}.toml"
        twin = json.loads((folder / f"{name}{TWIN_SUFFIX}").read_bytes())
        raw = toml_path.read_bytes()
        assert twin["toml_sha256"] == hashlib.sha256(raw).hexdigest(), f"{name}: the twin is stale"
        assert json.dumps(twin["document"]) == json.dumps(tomllib.loads(raw.decode())), name
        assert (folder / f"{name}{TWIN_SUFFIX}").read_bytes() == profile_twin(raw)
    # the loader reads the twin: it would read a doctored one (here: another image name) ...
    fake = tmp_path / "profiles"
    fake.mkdir()
    raw = (folder / "python3.12.toml").read_bytes()
    (fake / "python3.12.toml").write_bytes(raw)
    doc = json.loads(profile_twin(raw))
    doc["document"]["image"] = "from-the-twin"
    (fake / f"python3.12{TWIN_SUFFIX}").write_text(json.dumps(doc))
    monkeypatch.setattr(profile_mod, "_profiles_dir", lambda: fake)
    _LOADED.clear()
    assert load_profile("python3.12").image == "from-the-twin"
    # ... but not once the TOML changed, nor for a profile given by its path
    (fake / "python3.12.toml").write_bytes(raw + b"\n")
    _LOADED.clear()
    assert load_profile("python3.12").image == "python:3.12"
    shutil.copy(fake / "python3.12.toml", tmp_path / "mine.toml")
    (tmp_path / f"mine{TWIN_SUFFIX}").write_text(json.dumps({**doc, "toml_sha256": hashlib.sha256(
        (tmp_path / "mine.toml").read_bytes()).hexdigest()}))
    _LOADED.clear()
    assert load_profile(str(tmp_path / "mine.toml")).image == "python:3.12"
    _LOADED.clear()


def test_builtin_profiles_ship_their_stubs_and_other_profiles_get_theirs_in_the_cache(tmp_path: Path) -> None:
    """The stubs shipped for each built-in profile are exactly what would be made from its TOML now
    (regenerate: `python -m packager.deps.profiles.generate --twins`), and nothing else is there; a
    build with a built-in profile writes no stub; a profile given by path gets its own, in the cache."""
    import io
    import zipfile

    from packager.cache import Cache
    from packager.deps.stubs import ensure_stubs, stub_wheels
    from packager.profilefiles import shipped_stubs_dir, shipped_stubs_root

    made = set()
    for name in builtin_profiles():
        profile = load_profile(name)
        folder = shipped_stubs_dir(profile.digest)
        made.add(folder)
        shipped = {f.name: f.read_bytes() for f in folder.iterdir()}
        assert shipped == stub_wheels(profile), f"{name}: the shipped stubs are stale"
        assert set(shipped) and len(shipped) == len(profile.preinstalled)
        cache = Cache(tmp_path / "cache" / name)
        assert ensure_stubs(profile, cache) == folder and not (cache.root / "stubs").exists()
    assert set(shipped_stubs_root().iterdir()) == made, "stubs of a profile that is no longer built in"
    one = next(iter(stub_wheels(load_profile()).values()))
    with zipfile.ZipFile(io.BytesIO(one)) as zf:
        assert any(n.endswith(".dist-info/METADATA") for n in zf.namelist())
    # a profile of its own (the default one, changed): its stubs are made in the cache, once
    raw = (shipped_stubs_root().parent / f"{DEFAULT_PROFILE}.toml").read_bytes()
    mine = tmp_path / "mine.toml"
    mine.write_bytes(raw.replace(b'name = "python3.12"', b'name = "mine"'))
    profile = load_profile(str(mine))
    assert profile.name == "mine"
    cache = Cache(tmp_path / "cache" / "mine")
    folder = ensure_stubs(profile, cache)
    assert folder.parent == cache.root / "stubs"
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == stub_wheels(profile)


def test_unknown_profile_names_the_builtin_ones() -> None:
    from packager.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_profile("python3.99")
    assert err.value.hint and DEFAULT_PROFILE in err.value.hint


def test_profile_from_config_and_profile_checks_on_artifacts(tmp_path: Path, wheelhouse: Path,
                                                             profiles: dict[str, Path], hermetic_pip: Path) -> None:
    src = _source(tmp_path, "plat\n")
    (src / "ignite.toml").write_text(f'profile = "{profiles["arm"]}"\n')
    out = tmp_path / "arm.tar.gz"
    r = run_cli("build", str(src), "-o", str(out), "--offline", "--wheelhouse", str(wheelhouse), "--json",
                timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["target"]["profile"] == "t312-arm64" and doc["target"]["machine"] == "aarch64"
    assert doc["vendored"][0]["wheel"].endswith("manylinux_2_17_aarch64.whl")
    r = run_cli("inspect", str(out))
    assert r.returncode == 0 and "t312-arm64 — CPython 3.12 linux aarch64" in r.stdout, r.stdout
    assert run_cli("inspect", str(out), "--profile", str(profiles["arm"])).returncode == 0
    for cmd in ("inspect", "invoke", "serve"):  # the artifact is not for the default target
        r = run_cli(cmd, str(out), "--profile", DEFAULT_PROFILE, timeout=120)
        assert r.returncode == 2, (cmd, r.stderr)
        assert "'t312-arm64', not 'python3.12'" in r.stderr
    # The command line wins over the configuration file.
    r = run_cli("build", str(src), "-o", str(tmp_path / "x86.tar.gz"), "--profile", str(profiles["x86"]),
                "--offline", "--wheelhouse", str(wheelhouse), "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["target"]["machine"] == "x86_64"
