"""The artifact's deflate does not depend on the zlib the host's Python links (issue 30).

The second implementation is zlib-ng in compat mode (the zlib Fedora >= 40 links CPython
against), built from zlib-ng's source by ``make zlib-ng`` (.ci/run does it) and preloaded with
LD_PRELOAD, exactly as such a host would load it. Without it the build test skips locally and
fails under CI=true.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from packager.artifact import deflate
from packager.artifact.deflate import Compressor, compressor, deflate_raw, host_is_reference
from packager.artifact.tarball import read_manifest
from tests.conftest import REPO, run_cli
from tests.wheelhouse import make_wheel


def _zlib_ng() -> Path:
    lib = Path(os.environ.get("IGNITE_TEST_ZLIB_NG") or REPO / ".zlib-ng" / "libz.so.1")
    if not lib.is_file():
        msg = f"no zlib-ng compat libz.so.1 at {lib} (run `make zlib-ng`)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return lib


def _native_payload() -> bytes:
    """~600 KB like a compiled module's: symbol tables, numbers, zero runs (more than one chunk)."""
    out = bytearray(b"\x7fELF\x02\x01\x01" + b"\0" * 57)
    for i in range(30000):
        out += f"_ZN6native{i * 7919 % 1013}sym{i}Ev\0".encode() + (i * 2654435761 % 2**32).to_bytes(4, "little")
        if i % 97 == 0:
            out += b"\0" * (i % 251)
    return bytes(out)


def _sources(tmp_path: Path) -> tuple[Path, Path, Path]:
    hello = tmp_path / "hello"
    hello.mkdir()
    (hello / "handler.py").write_text("def handler(payload, ctx):\n    return payload\n")
    native = tmp_path / "native"
    native.mkdir()
    (native / "handler.py").write_text("import native\n\ndef handler(payload, ctx):\n    return native.X\n")
    (native / "requirements.txt").write_text("native==1.0\nattrs==23.1.0\n")
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "native", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64", files={
        "native/__init__.py": "X = 1\n",
        "native/_speed.cpython-312-x86_64-linux-gnu.so": _native_payload(),
    })
    make_wheel(wh, "attrs", "23.1.0", files={f"attr/m{i}.py": f"V = {i!r} * 3\n" * 40 for i in range(40)})
    return hello, native, wh


def _build(src: Path, out: Path, cache: Path, wh: Path, env: dict[str, str]) -> str:
    r = run_cli("build", str(src), "-o", str(out), "--cache-dir", str(cache), "--wheelhouse", str(wh),
                "--offline", env=env)
    assert r.returncode == 0, r.stderr
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_build_gives_the_same_bytes_under_zlib_ng(tmp_path: Path) -> None:
    lib = _zlib_ng()
    preload = {"LD_PRELOAD": str(lib)}
    probe = subprocess.run([sys.executable, "-c", "import zlib; print(zlib.ZLIB_RUNTIME_VERSION)"],
                           env={**os.environ, **preload}, capture_output=True, text=True, check=True)
    assert "zlib-ng" in probe.stdout, f"LD_PRELOAD did not swap the host zlib: {probe.stdout!r}"
    hello, native, wh = _sources(tmp_path)
    for src in (hello, native):
        system = _build(src, tmp_path / f"{src.name}-system.tar.gz", tmp_path / f"{src.name}-c1", wh, {})
        ng = _build(src, tmp_path / f"{src.name}-ng.tar.gz", tmp_path / f"{src.name}-c2", wh, preload)
        assert ng == system, f"{src.name}: zlib-ng host wrote other bytes"
        m = read_manifest(tmp_path / f"{src.name}-ng.tar.gz")
        assert m.compression["deflate"] == compressor().to_dict() == {"library": "zlib", "version": "1.3.1"}
    assert read_manifest(tmp_path / "native-ng.tar.gz").vendored[0].name in ("attrs", "native")


def test_the_probe_tells_zlib_ng_from_the_reference_at_every_level() -> None:
    """The probe is the check behind the version string (a fork that reports a plain release):
    zlib-ng's deflate, whatever its version says, must miss every recorded digest; and the probe
    must tell each level from the others (the levels' digests differ)."""
    lib = _zlib_ng()
    code = ("import json; from packager.artifact import deflate as d; "
            "print(json.dumps({l: d.probe_digest(d._host_deflate, l) for l in range(1, 10)}))")
    ng = subprocess.run([sys.executable, "-c", code], env={**os.environ, "LD_PRELOAD": str(lib), "PYTHONPATH": str(REPO)},
                        capture_output=True, text=True, check=True)
    digests = {int(k): v for k, v in json.loads(ng.stdout).items()}
    assert not set(digests.values()) & set(deflate.PINNED_PROBE.values()), digests
    assert len(set(deflate.PINNED_PROBE.values())) == 9


def test_pinned_library_writes_what_the_reference_zlib_writes() -> None:
    data = _native_payload()
    primed = data[:32768]
    for final in (False, True):
        pinned = deflate._pinned().deflate(data, 4, final, primed)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS, zdict=primed)
        assert inflater.decompress(pinned) == data
        if deflate._REFERENCE_RELEASE.fullmatch(zlib.ZLIB_RUNTIME_VERSION):
            # this host's zlib is a reference release: the same algorithm, the same bytes
            c = zlib.compressobj(4, zlib.DEFLATED, -zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, primed)
            assert pinned == c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def test_ignite_deflate_pinned_forces_the_pinned_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGNITE_DEFLATE", "pinned")
    deflate.forget_verdicts()
    try:
        assert not host_is_reference(4)
        assert deflate.implementation(4).startswith("cmeel-zlib 1.3.1")
        data = _native_payload()[:100000]
        assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(deflate_raw(data, 4, True)) == data
    finally:
        monkeypatch.delenv("IGNITE_DEFLATE")
        deflate.forget_verdicts()


def test_a_host_zlib_that_is_not_a_reference_release_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deflate.zlib, "ZLIB_RUNTIME_VERSION", "1.3.1.zlib-ng")
    deflate.forget_verdicts()
    try:
        assert not host_is_reference(4)
    finally:
        monkeypatch.undo()
        deflate.forget_verdicts()


def test_the_compressor_is_part_of_every_compressed_segment_key(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache filled by one compressor version is never read by another (a shared cache)."""
    from packager.artifact import tarball
    from packager.build import build
    from packager.deps.indexconfig import IndexConfig
    from packager.options import BuildOptions

    _, native, wh = _sources(tmp_path)
    cache = tmp_path / "cache"

    def run(out: str) -> set[str]:
        build(BuildOptions(source=native, output=tmp_path / out, cache_dir=cache, wheelhouses=(wh,),
                           index=IndexConfig(find_links=(str(wh),), offline=True)))
        return {p.name for p in (cache / "segments").rglob("*") if p.is_file()}

    first = run("a.tar.gz")
    assert run("b.tar.gz") == first  # warm: nothing new
    monkeypatch.setattr(tarball, "compressor", lambda: Compressor("zlib", "9.9.9"))
    third = run("c.tar.gz")
    assert len(third) > len(first) and first < third  # launcher + 2 vendored segments made again
    assert json.loads(read_manifest(tmp_path / "a.tar.gz").to_bytes())["compression"]["deflate"]["version"] == "1.3.1"


def test_the_recorded_probe_digests_are_the_pinned_librarys() -> None:
    """PINNED_PROBE lets a host zlib be checked without loading the pinned one: it must be exact."""
    pinned = deflate._pinned()
    assert {level: deflate.probe_digest(pinned.deflate, level) for level in range(1, 10)} == deflate.PINNED_PROBE


def test_the_shipped_probe_file_is_the_generators_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe is read from deflate-probe.zz (no GIL-holding Python at a build's start); it must
    be exactly what the generator makes, per level, and a missing or foreign file falls back to it."""
    for level in (1, 4, 7, 8, 9):
        assert deflate._probe(level) == deflate._generate_probe(level), level
    assert len(deflate._generate_probe(4)) == deflate.PROBE_TEXT_BYTES
    assert len(deflate._generate_probe(9)) == deflate.PROBE_ALL_BYTES
    stale = tmp_path / "stale.zz"
    stale.write_bytes(zlib.compress(b"x" * 1000))
    for path in (stale, tmp_path / "missing.zz"):
        monkeypatch.setattr(deflate, "PROBE_FILE", path)
        assert deflate._probe(4) == deflate._generate_probe(4)


def test_the_pin_the_constant_and_the_installed_library_agree() -> None:
    import importlib.metadata

    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"cmeel-zlib=={deflate.PINNED_VERSION}"' in pyproject
    assert importlib.metadata.version("cmeel-zlib") == deflate.PINNED_VERSION
    assert deflate._pinned().version.decode() == deflate.PINNED_VERSION


def test_a_host_zlib_with_a_reference_version_but_other_output_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A patched zlib that still says "1.3.1" (another matcher) fails the probe: the pinned one deflates."""
    def other_matcher(data: deflate.Buffer, level: int, final: bool, primed: deflate.Buffer = b"") -> bytes:
        comp = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY,
                                *((primed,) if primed else ()))
        return comp.compress(data) + comp.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    monkeypatch.setattr(deflate.zlib, "ZLIB_RUNTIME_VERSION", "1.3.1")
    monkeypatch.setattr(deflate, "_host_deflate", other_matcher)
    deflate.forget_verdicts()
    try:
        assert not host_is_reference(4)
        data = _native_payload()[:400000]
        assert deflate_raw(data, 4, True) == deflate._pinned().deflate(data, 4, True) != other_matcher(data, 4, True)
    finally:
        monkeypatch.undo()
        deflate.forget_verdicts()


def test_threads_asking_at_once_share_one_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build's threads (the early probe, the launcher's segment, the writer) may ask together:
    the host zlib is probed once, and every one of them gets that verdict."""
    import threading
    import time

    real = deflate.probe_digest
    probes: list[int] = []

    def slow_probe(deflater: object, level: int) -> str:
        probes.append(level)
        time.sleep(0.1)  # (long enough for every other thread to ask meanwhile)
        return real(deflater, level)  # type: ignore[arg-type]

    monkeypatch.setattr(deflate, "probe_digest", slow_probe)
    monkeypatch.setattr(deflate.zlib, "ZLIB_RUNTIME_VERSION", "1.3.1")  # (probed whatever this host links)
    monkeypatch.delenv("IGNITE_DEFLATE", raising=False)
    deflate.forget_verdicts()
    answers: list[bool] = []
    try:
        threads = [threading.Thread(target=lambda: answers.append(host_is_reference(4))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        deflate.forget_verdicts()
    assert probes == [4] and len(answers) == 4 and len(set(answers)) == 1


def test_the_probes_verdict_is_noted_per_zlib_files_and_read_back(tmp_path: Path) -> None:
    """A build notes the verdict for this zlib's files; the next one reads it instead of probing.
    Only an exact note counts, and another zlib file (path, size, mtime, inode) is another note."""
    if not deflate._REFERENCE_RELEASE.fullmatch(zlib.ZLIB_RUNTIME_VERSION) or not deflate.host_zlib_files():
        pytest.skip("the host zlib is not a reference release mapped from a file: nothing is noted")
    notes = tmp_path / "host"
    deflate.forget_verdicts()
    deflate.forget_verdicts()
    try:
        assert not deflate.recall_verdict(notes, 4)  # nothing noted yet
        deflate.remember_verdict(notes, 4)
        (note,) = notes.iterdir()
        assert note.read_text() == ("yes" if host_is_reference(4) else "no")
        # the note is what a later build believes: a "no" there sends deflate to the pinned library
        note.write_text("no")
        deflate.forget_verdicts()
        assert deflate.recall_verdict(notes, 4)
        assert not host_is_reference(4)
        assert deflate.implementation(4).startswith("cmeel-zlib")
        for junk in ("", "yes\n", "maybe"):
            note.write_text(junk)
            deflate.forget_verdicts()
            assert not deflate.recall_verdict(notes, 4)
        # another level is another note
        assert deflate._verdict_note(notes, 4) != deflate._verdict_note(notes, 6)
    finally:
        deflate.forget_verdicts()
        deflate.forget_verdicts()


def test_a_build_notes_the_verdict_in_its_cache_and_the_bytes_do_not_depend_on_it(tmp_path: Path) -> None:
    from packager.build import build
    from packager.options import BuildOptions
    from tests.conftest import FIXTURES

    if not deflate._REFERENCE_RELEASE.fullmatch(zlib.ZLIB_RUNTIME_VERSION) or not deflate.host_zlib_files():
        pytest.skip("the host zlib is not a reference release mapped from a file: nothing is noted")
    cache = tmp_path / "cache"
    first = build(BuildOptions(source=FIXTURES / "python-hello", output=tmp_path / "a.tar.gz", cache_dir=cache))
    notes = list((cache / "host").glob("deflate-*"))
    assert len(notes) == 1 and notes[0].read_text() in ("yes", "no")
    notes[0].write_text("no")  # the pinned library writes the same bytes as a reference host zlib
    deflate.forget_verdicts()
    deflate.forget_verdicts()
    try:
        second = build(BuildOptions(source=FIXTURES / "python-hello", output=tmp_path / "b.tar.gz",
                                    cache_dir=cache, refresh=True))
        assert deflate._VERDICTS == {4: False}
        assert second.sha256 == first.sha256
    finally:
        deflate.forget_verdicts()
        deflate.forget_verdicts()
