"""Dependencies for the target, hermetic: wheels and sdists made here, a wheelhouse or a loopback index."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest

from packager.artifact.tarball import read_manifest
from packager.build import build
from packager.deps.indexconfig import IndexConfig
from packager.errors import FetchError, RequirementsError, ResolveError, SdistBuildError
from packager.options import BuildOptions
from tests.conftest import run_cli
from tests.wheelhouse import LoopbackIndex, make_sdist, make_wheel

HANDLER = "def handler(payload, ctx):\n    return 'ok'\n"


def _source(tmp_path: Path, requirements: str, name: str = "src") -> Path:
    src = tmp_path / name
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text(requirements)
    return src


def _offline(wheelhouse: Path, **kw: object) -> dict[str, object]:
    return {"index": IndexConfig(find_links=(str(wheelhouse),), offline=True), "wheelhouses": (wheelhouse,), **kw}


def _members(artifact: Path) -> dict[str, bytes]:
    with tarfile.open(artifact) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "demo", "1.0", requires=['oldonly; python_version < "3.12"', 'newonly; python_version >= "3.12"'])
    make_wheel(wh, "oldonly", "1.0")
    make_wheel(wh, "newonly", "1.0")
    make_wheel(wh, "tomli", "2.0.1")
    make_wheel(wh, "plat", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64", files={"plat.py": "X = 311\n"})
    make_wheel(wh, "plat", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64", files={"plat.py": "X = 312\n"})
    make_wheel(wh, "plat", "1.0", tag="cp312-cp312-macosx_11_0_arm64", files={"plat.py": "X = 'mac'\n"})
    make_wheel(wh, "onlyold", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    make_wheel(wh, "tool", "1.0", scripts={"tool": "tool:main"})
    make_wheel(wh, "six", "1.0")  # a version the image does not have
    make_wheel(wh, "usesnumpy", "1.0", requires=["numpy>=1.20", "newonly"])
    return wh


def test_markers_and_tags_are_evaluated_for_the_target(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _source(tmp_path, 'demo\nplat\ntomli; python_version < "3.12"\n')
    out = tmp_path / "a.tar.gz"
    result = build(BuildOptions(source=src, output=out, **_offline(wheelhouse)))  # type: ignore[arg-type]
    names = {v.name for v in result.manifest.vendored}
    assert names == {"demo", "newonly", "plat"}  # not oldonly, not tomli: this 3.11 host builds for 3.12
    files = _members(out)
    assert files["vendor/plat.py"] == b"X = 312\n"
    plat = next(v for v in result.manifest.vendored if v.name == "plat")
    assert plat.wheel == "plat-1.0-cp312-cp312-manylinux_2_17_x86_64.whl" and len(plat.wheel_sha256) == 64


def test_vendor_is_normalized(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _source(tmp_path, "tool\n")
    out = tmp_path / "a.tar.gz"
    build(BuildOptions(source=src, output=out, **_offline(wheelhouse)))  # type: ignore[arg-type]
    files = _members(out)
    vendor = sorted(p for p in files if p.startswith("vendor/"))
    assert vendor == [
        "vendor/tool-1.0.dist-info/INSTALLER", "vendor/tool-1.0.dist-info/METADATA",
        "vendor/tool-1.0.dist-info/RECORD", "vendor/tool-1.0.dist-info/WHEEL",
        "vendor/tool-1.0.dist-info/entry_points.txt", "vendor/tool.py",
    ]  # no bin/, no .pyc
    assert files["vendor/tool-1.0.dist-info/INSTALLER"] == b"ignite-pack\n"
    record = files["vendor/tool-1.0.dist-info/RECORD"].decode().splitlines()
    listed = {line.split(",")[0] for line in record}
    assert listed == {p[len("vendor/"):] for p in vendor}
    assert not any(str(tmp_path) in d.decode("utf-8", "replace") for d in files.values())


def test_preinstalled_closure_is_skipped_and_listed(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _source(tmp_path, "usesnumpy\nrequests>=2\n")
    out = tmp_path / "a.tar.gz"
    result = build(BuildOptions(source=src, output=out, **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert {v.name for v in result.manifest.vendored} == {"usesnumpy", "newonly"}
    skipped = {s.name: s for s in result.manifest.skipped}
    assert {"numpy", "requests", "urllib3", "idna", "certifi", "charset-normalizer"} <= set(skipped)
    assert "(requested)" in skipped["requests"].reason and "(dependency)" in skipped["numpy"].reason
    assert not any(p.startswith("vendor/numpy") for p in _members(out))


def test_conflict_with_a_pin_names_both_sides_and_the_way_out(tmp_path: Path, wheelhouse: Path,
                                                              hermetic_pip: Path) -> None:
    src = _source(tmp_path, "demo\nrequests<2\n")
    out = tmp_path / "a.tar.gz"
    with pytest.raises(ResolveError) as err:
        build(BuildOptions(source=src, output=out, **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert err.value.where == "requirements.txt:2"
    assert "requests<2 conflicts with requests==2.34.2" in err.value.message
    assert "--vendor-anyway requests" in (err.value.hint or "")
    assert not out.exists()


def test_vendor_anyway_vendors_and_warns(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _source(tmp_path, "six==1.0\n")
    out = tmp_path / "a.tar.gz"
    result = build(BuildOptions(source=src, output=out, vendor_anyway=frozenset({"six"}),
                                **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert [(v.name, v.version) for v in result.manifest.vendored] == [("six", "1.0")]
    assert any("shadow six==1.17.0" in w for w in result.warnings)


def test_unknown_package_and_no_wheel_for_target(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    out = tmp_path / "a.tar.gz"
    with pytest.raises(ResolveError) as err:
        build(BuildOptions(source=_source(tmp_path, "does-not-exist-anywhere\n", "a"), output=out,
                           **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert "does-not-exist-anywhere" in err.value.message
    with pytest.raises(ResolveError) as err:
        build(BuildOptions(source=_source(tmp_path, "onlyold\n", "b"), output=out,
                           **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert "onlyold" in err.value.message and "3.12" in err.value.message
    assert not out.exists()


def test_pure_sdist_is_built_into_a_wheel(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    make_sdist(wheelhouse, "puresdist", "0.3", module_source="ANSWER = 42\n")
    src = _source(tmp_path, "puresdist==0.3\n")
    out = tmp_path / "a.tar.gz"
    result = build(BuildOptions(source=src, output=out, **_offline(wheelhouse)))  # type: ignore[arg-type]
    [dist] = result.manifest.vendored
    assert dist.name == "puresdist" and dist.built_from_sdist and dist.wheel.endswith("py3-none-any.whl")
    assert _members(out)["vendor/puresdist.py"] == b"ANSWER = 42\n"


def test_a_pure_sdist_built_twice_from_scratch_gives_the_same_wheel_and_artifact(
        tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    """Two builds in two processes (as two CI runs), two empty caches, a later clock (zip times
    have 2 s resolution): the same wheel, the same artifact. (Two builds inside one long test
    process once differed: what an earlier test leaves in a process is not what users run.)"""
    make_sdist(wheelhouse, "puresdist", "0.3", module_source="ANSWER = 42\n")
    src = _source(tmp_path, "puresdist==0.3\n")
    runs = []
    for name in ("a", "b"):
        r = run_cli("build", str(src), "-o", str(tmp_path / f"{name}.tar.gz"), "--wheelhouse", str(wheelhouse),
                    "--offline", "--cache-dir", str(tmp_path / f"cache-{name}"), "--json")
        assert r.returncode == 0, r.stderr
        runs.append(read_manifest(tmp_path / f"{name}.tar.gz"))
        time.sleep(2.1)
    assert [v.wheel_sha256 for v in runs[0].vendored] == [v.wheel_sha256 for v in runs[1].vendored]
    assert runs[0].vendored[0].built_from_sdist
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_c_extension_sdist_that_cannot_target_312_is_a_clear_error(tmp_path: Path, wheelhouse: Path,
                                                                   hermetic_pip: Path) -> None:
    make_sdist(wheelhouse, "cext", "1.0", c_extension=True)
    src = _source(tmp_path, "cext==1.0\n")
    out = tmp_path / "a.tar.gz"
    with pytest.raises((SdistBuildError, ResolveError)) as err:
        # No CPython 3.12 given: this 3.11 host can only build a cp311 wheel.
        build(BuildOptions(source=src, output=out, target_interpreter=None, auto_python=False, **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert "cext" in str(err.value)
    assert err.value.hint and "--wheelhouse" in err.value.hint
    assert not out.exists()


def test_offline_without_the_wheel_is_a_fetch_error(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("newonly==9.9 --hash=sha256:" + "0" * 64 + "\n")
    src = _source(tmp_path, "newonly\n")
    with pytest.raises(FetchError) as err:
        build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", lock=lock,
                           **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert "newonly==9.9" in err.value.message and "--wheelhouse" in (err.value.hint or "")


def test_warm_rebuild_needs_no_network(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _source(tmp_path, "demo\nplat\n")
    with LoopbackIndex(wheelhouse) as index:
        url = index.url
        first = build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", index=IndexConfig(index_url=url)))
        assert index.hits > 0  # the cold build really used the index
    # The index is gone now: a warm rebuild must come from the cache alone.
    second = build(BuildOptions(source=src, output=tmp_path / "b.tar.gz", index=IndexConfig(index_url=url)))
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert first.sha256 == second.sha256


def test_lock_then_build_is_byte_identical_across_directories(tmp_path: Path, wheelhouse: Path,
                                                              hermetic_pip: Path) -> None:
    src = _source(tmp_path, "demo\nplat\nrequests\n")
    with LoopbackIndex(wheelhouse) as index:
        r = run_cli("lock", str(src), "--index-url", index.url, "--json", timeout=300)
        assert r.returncode == 0, r.stderr
        lock = Path(json.loads(r.stdout)["output"])
        text = lock.read_text()
        assert "demo==1.0" in text and "newonly==1.0" in text and "--hash=sha256:" in text
        assert "oldonly" not in text  # markers for the target
        assert "--index-url" not in text and "--find-links" not in text  # no options in the lock
        outs = []
        for i, cwd in enumerate((tmp_path, src)):
            out = tmp_path / f"locked-{i}.tar.gz"
            r = run_cli("build", str(src), "-o", str(out), "--index-url", index.url,
                        "--cache-dir", str(tmp_path / f"cache-{i}"), "--json", cwd=cwd, timeout=300)
            assert r.returncode == 0, r.stderr
            outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()  # separate caches, same lock, same bytes
    m = read_manifest(outs[0])
    assert m.requirements["locked"] is True and m.requirements["file"] == "requirements.lock"
    assert {v.name for v in m.vendored} == {"demo", "newonly", "plat"}
    assert "requests" in {s.name for s in m.skipped}


def test_lock_with_a_tampered_hash_is_refused(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("newonly==1.0 --hash=sha256:" + "1" * 64 + "\n")
    src = _source(tmp_path, "newonly\n")
    with LoopbackIndex(wheelhouse) as index, pytest.raises(FetchError) as err:
        build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", lock=lock,
                           index=IndexConfig(index_url=index.url)))
    assert "newonly" in str(err.value)
    assert not (tmp_path / "a.tar.gz").exists()


def test_json_mode_is_quiet_and_parseable(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = _source(tmp_path, "demo\n")
    r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--offline", "--wheelhouse", str(wheelhouse),
                "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [v["name"] for v in doc["vendored"]] == ["demo", "newonly"]
    assert "[resolve]" not in r.stderr
    r = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--offline", "--wheelhouse", str(wheelhouse))
    assert "[resolve]" in r.stderr and "[vendor]" in r.stderr  # progress on a human run


def test_lock_follows_the_convention_layout(tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    src = tmp_path / "fn"
    (src / "function").mkdir(parents=True)
    (src / "function" / "__init__.py").write_text("")
    (src / "function" / "handler.py").write_text("def handle(logger, request):\n    return {'ok': True}\n")
    (src / "function" / "requirements.txt").write_text("demo\n")
    with LoopbackIndex(wheelhouse) as index:
        r = run_cli("lock", str(src), "--convention", "openfaas", "--index-url", index.url, "--json", timeout=300)
        assert r.returncode == 0, r.stderr
        assert "demo==1.0" in (src / "requirements.lock").read_text()
        out = tmp_path / "a.tar.gz"
        r = run_cli("build", str(src), "--convention", "openfaas", "-o", str(out), "--offline",
                    "--wheelhouse", str(wheelhouse), "--json", timeout=300)
        assert r.returncode == 0, r.stderr
    m = read_manifest(out)
    assert m.requirements["file"] == "requirements.lock" and m.requirements["locked"] is True
    assert {v.name for v in m.vendored} == {"demo", "newonly"}


def test_direct_downloads_and_their_fallbacks(tmp_path: Path, wheelhouse: Path) -> None:
    import hashlib

    from packaging.utils import canonicalize_name

    from packager.deps.fetch import download_direct
    from packager.deps.resolve import Pin

    demo = wheelhouse / "demo-1.0-py3-none-any.whl"
    good = "sha256:" + hashlib.sha256(demo.read_bytes()).hexdigest()
    with LoopbackIndex(wheelhouse) as index:
        base = index.url.replace("/simple/", "/files/")
        pins = [
            Pin(canonicalize_name("demo"), "1.0", (good,), url=base + demo.name),
            Pin(canonicalize_name("newonly"), "1.0", ("sha256:" + "0" * 64,), url=base + "newonly-1.0-py3-none-any.whl"),
            Pin(canonicalize_name("oldonly"), "1.0", (), url=base.replace("127.0.0.1", "user:pw@127.0.0.1")
                + "oldonly-1.0-py3-none-any.whl"),
            Pin(canonicalize_name("tomli"), "2.0.1", ()),  # from a lock: no URL
        ]
        rest = download_direct(pins, tmp_path / "dl")
    assert [p.name for p in rest] == ["newonly", "oldonly", "tomli"]  # bad hash, credentials, no URL: pip's job
    assert sorted(f.name for f in (tmp_path / "dl").iterdir()) == [demo.name]
    assert (tmp_path / "dl" / demo.name).read_bytes() == demo.read_bytes()


def test_parallel_downloads_look_the_files_host_up_once(tmp_path: Path, wheelhouse: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """8 download threads, one DNS lookup: parallel lookups of one name are where a lost reply
    costs the resolver's 5 s retry (measured: cold builds of 20 wheels at 6 s instead of 1.3 s)."""
    import hashlib
    import shutil
    import socket

    from packaging.utils import canonicalize_name

    from packager.deps.download import SharedLookups, download_direct
    from packager.deps.resolve import Pin

    files = tmp_path / "files"
    files.mkdir()
    demo = wheelhouse / "demo-1.0-py3-none-any.whl"
    for i in range(12):
        shutil.copy(demo, files / f"demo{i}-1.0-py3-none-any.whl")
    digest = "sha256:" + hashlib.sha256(demo.read_bytes()).hexdigest()
    asked: list[str] = []
    real = socket.getaddrinfo

    def counting(host: object, *args: object, **kwargs: object) -> object:
        asked.append(str(host))
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    lookups = SharedLookups()
    with LoopbackIndex(files) as index:
        base = index.url.replace("/simple/", "/files/").replace("127.0.0.1", "localhost")
        pins = [Pin(canonicalize_name(f"demo{i}"), "1.0", (digest,), url=f"{base}demo{i}-1.0-py3-none-any.whl")
                for i in range(12)]
        rest = download_direct(pins, tmp_path / "dl", lookups=lookups)
    assert rest == []
    assert len(list((tmp_path / "dl").iterdir())) == 12
    assert lookups.lookups == 1
    assert asked.count("localhost") == 1


def test_a_lock_line_with_many_hashes_is_accepted() -> None:
    from packager.deps.requirements import parse_requirements

    # pip-compile lists a hash per file of the release: dozens for numpy-like projects.
    line = "orjson==3.10.0 " + " ".join(f"\\\n    --hash=sha256:{i:064x}" for i in range(120))
    reqs = parse_requirements(line.encode(), "requirements.lock")
    assert reqs.is_lock and len(reqs.lines[0].hashes) == 120


def test_locked_fetch_downloads_the_wheels_and_builds_only_the_sdist_only_pin(tmp_path: Path, wheelhouse: Path,
                                                                             hermetic_pip: Path) -> None:
    """pip download stops at the first pin without a wheel; the others must still come from the index."""
    import hashlib

    from packaging.utils import canonicalize_name

    from packager.cache import Cache
    from packager.deps.fetch import SDIST_SIDECAR, fetch
    from packager.deps.profile import load_profile
    from packager.deps.resolve import Pin

    index_dir = tmp_path / "index"
    index_dir.mkdir()
    for name in ("demo-1.0-py3-none-any.whl", "newonly-1.0-py3-none-any.whl"):
        (index_dir / name).write_bytes((wheelhouse / name).read_bytes())
    sdist = make_sdist(index_dir, "puresdist", "0.3")
    sdist_sha = hashlib.sha256(sdist.read_bytes()).hexdigest()

    def sha(p: Path) -> tuple[str, ...]:
        return (f"sha256:{hashlib.sha256(p.read_bytes()).hexdigest()}",)

    pins = [Pin(canonicalize_name("demo"), "1.0", sha(index_dir / "demo-1.0-py3-none-any.whl")),
            Pin(canonicalize_name("puresdist"), "0.3", (f"sha256:{sdist_sha}",)),
            Pin(canonicalize_name("newonly"), "1.0", sha(index_dir / "newonly-1.0-py3-none-any.whl"))]
    cache = Cache(tmp_path / "cache").ensure()
    built: list[str] = []

    def fake_builder(spec: str, hashes: tuple[str, ...] = ()) -> Path:
        # Stands in for the sdist build: the wheel it would make, with the sdist's hash beside it.
        built.append(spec)
        assert f"sha256:{sdist_sha}" in hashes
        wheel = make_wheel(cache.built, "puresdist", "0.3")
        (cache.built / (wheel.name + SDIST_SIDECAR)).write_text(f"{sdist_sha}\n{sha(wheel)[0][7:]}\n")
        return wheel

    with LoopbackIndex(index_dir) as index:
        got = fetch(pins, load_profile(), index=IndexConfig(index_url=index.url), cache=cache,
                    build_sdist=fake_builder)  # type: ignore[arg-type]
    assert [w.pin.name for w in got] == ["demo", "puresdist", "newonly"]
    assert built == ["puresdist==0.3"]
    assert got[1].built_from_sdist and not got[0].built_from_sdist
    assert {p.name for p in cache.wheels.iterdir()} == {"demo-1.0-py3-none-any.whl", "newonly-1.0-py3-none-any.whl"}


def test_requires_python_is_checked_for_the_target_in_build_and_lock(tmp_path: Path, wheelhouse: Path,
                                                                     hermetic_pip: Path) -> None:
    # Version 2.0 needs Python >= 3.12: a 3.11 host must still choose it for the 3.12 target.
    make_wheel(wheelhouse, "rpy", "1.0")
    make_wheel(wheelhouse, "rpy", "2.0", requires_python=">=3.12")
    src = _source(tmp_path, "rpy\n")
    result = build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert [(v.name, v.version) for v in result.manifest.vendored] == [("rpy", "2.0")]
    with LoopbackIndex(wheelhouse) as index:
        r = run_cli("lock", str(src), "--index-url", index.url, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "rpy==2.0" in (src / "requirements.lock").read_text()


def test_fetch_hands_over_each_wheel_once_as_soon_as_it_is_there(tmp_path: Path, wheelhouse: Path) -> None:
    """on_ready gets the local hit first and each download as it lands (from the download
    threads); the list fetch returns is still in the pins' order, and its wheels are the
    very ones handed over. The vendoring that listens gives the segments a serial run gives."""
    import hashlib
    import threading

    from packaging.utils import canonicalize_name

    from packager.cache import Cache
    from packager.dependencies import Vendoring
    from packager.deps.fetch import FetchedWheel, fetch
    from packager.deps.indexconfig import IndexConfig
    from packager.deps.profile import load_profile
    from packager.deps.resolve import Pin

    cache = Cache(tmp_path / "cache").ensure()
    local = tmp_path / "local"
    local.mkdir()
    (local / "tool-1.0-py3-none-any.whl").write_bytes((wheelhouse / "tool-1.0-py3-none-any.whl").read_bytes())

    def pin(name: str, version: str, url: str = "") -> Pin:
        data = next(wheelhouse.glob(f"{name}-{version}-*.whl")).read_bytes()
        return Pin(canonicalize_name(name), version, ("sha256:" + hashlib.sha256(data).hexdigest(),), url=url)

    said: list[tuple[str, str]] = []
    with LoopbackIndex(wheelhouse) as index:
        base = index.url.replace("/simple/", "/files/")
        pins = [pin("newonly", "1.0", base + "newonly-1.0-py3-none-any.whl"), pin("tool", "1.0"),
                pin("demo", "1.0", base + "demo-1.0-py3-none-any.whl")]

        def ready(w: FetchedWheel) -> None:
            said.append((w.pin.name, threading.current_thread().name))
            vendoring.add(w)

        profile = load_profile(None)
        with Vendoring(cache, 0, 4) as vendoring:
            got = fetch(pins, profile, index=IndexConfig(index_url=index.url), cache=cache,
                        build_sdist=None, wheelhouses=[local], on_ready=ready)  # type: ignore[arg-type]
            piped = vendoring.segments(got, lambda s, m: None)
    assert [w.pin.name for w in got] == ["newonly", "tool", "demo"]
    assert said[0] == ("tool", threading.current_thread().name)  # the local one, before any download
    assert sorted(n for n, _ in said) == ["demo", "newonly", "tool"]  # each once
    assert all(t != threading.current_thread().name for n, t in said[1:])  # downloads: as they land
    assert all(w.path.parent in (local, cache.wheels) for w in got)
    with Vendoring(Cache(tmp_path / "other").ensure(), 0, 4) as serial:
        again = serial.segments(got, lambda s, m: None)
    assert [(s.name, s.deflated, s.crc) for s, _ in piped] == [(s.name, s.deflated, s.crc) for s, _ in again]


PIPENV_STYLE = """-i https://ci:tok@mirror.invalid/simple
--extra-index-url https://other.invalid/simple
--trusted-host mirror.invalid
demo==1.0
"""


def test_a_pipenv_style_requirements_file_builds_from_the_builds_own_index(
        tmp_path: Path, wheelhouse: Path, hermetic_pip: Path) -> None:
    """`pipenv requirements` / pip-compile --emit-index-url output: index lines skipped, each named."""
    src = _source(tmp_path, PIPENV_STYLE)
    out = tmp_path / "a.tar.gz"
    result = build(BuildOptions(source=src, output=out, **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert {d.name for d in result.manifest.vendored} == {"demo", "newonly"}
    skipped = [w for w in result.warnings if "build's own index settings were used" in w]
    assert [w.split(": ignored")[0] for w in skipped] == [
        "requirements.txt:1", "requirements.txt:2", "requirements.txt:3"]
    assert not any("tok" in w for w in result.warnings)
    with pytest.raises(RequirementsError) as err:
        build(BuildOptions(source=src, output=tmp_path / "b.tar.gz", strict_requirements=True,
                           **_offline(wheelhouse)))  # type: ignore[arg-type]
    assert err.value.where == "requirements.txt:1"
    assert not (tmp_path / "b.tar.gz").exists()
