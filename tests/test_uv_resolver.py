"""The uv resolver backend stands in for pip without changing a byte of the artifact.

Each test builds the same source twice from empty caches against one loopback
index, once with ``--resolver pip`` and once with ``--resolver uv``, and
compares the artifacts; and checks when uv must not be used.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from packager.build import build
from packager.deps.indexconfig import IndexConfig
from packager.deps.profile import load_profile
from packager.deps.sdistbuilder import build_has_uv_installer
from packager.deps.uvresolve import choose
from packager.errors import UsageError
from packager.options import BuildOptions
from tests.conftest import run_cli
from tests.wheelhouse import LoopbackIndex, make_wheel

HANDLER = "def handler(payload, ctx):\n    return 'ok'\n"

#: A PEP 517 backend small enough to write here: the sdist test needs a build
#: environment from the loopback index, so its backend must be on that index.
TINY_BACKEND = '''
import base64, hashlib, os, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = open("NAME").read().split()
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {f"{dist}.py": open(f"{dist}.py", "rb").read(),
             f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n".encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    record = "".join(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},"
                     f"{len(d)}\\n" for p, d in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\\n").encode()
    name = f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for p in sorted(files):
            zf.writestr(zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0)), files[p])
    return name
'''


def _tiny_sdist(directory: Path, name: str, version: str, source: str) -> Path:
    base = f"{name}-{version}"
    files = {
        f"{base}/pyproject.toml": '[build-system]\nrequires = ["tinyback"]\nbuild-backend = "tinyback"\n',
        f"{base}/NAME": f"{name} {version}\n",
        f"{base}/{name}.py": source,
        f"{base}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    path = directory / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mtime = len(data), 1700000000
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = tmp_path / "index-files"
    make_wheel(d, "app-lib", "2.0", requires=['oldonly; python_version < "3.12"', 'winonly; sys_platform == "win32"',
                                              "helper>=1", "requests"])
    make_wheel(d, "app-lib", "1.0")
    make_wheel(d, "helper", "1.5", requires=["deep"])
    make_wheel(d, "helper", "3.0", requires_python=">=3.13")  # not for the 3.12 target
    make_wheel(d, "deep", "0.1", tag="cp312-cp312-manylinux_2_17_x86_64", files={"deep.py": "X = 312\n"})
    make_wheel(d, "deep", "0.1", tag="cp311-cp311-manylinux_2_17_x86_64", files={"deep.py": "X = 311\n"})
    make_wheel(d, "oldonly", "1.0")
    make_wheel(d, "winonly", "1.0")
    make_wheel(d, "tinyback", "1.0", files={"tinyback.py": TINY_BACKEND})
    _tiny_sdist(d, "tinysd", "0.3", "ANSWER = 42\n")
    _tiny_sdist(d, "tinysd", "0.2", "ANSWER = 41\n")
    return d


def _build(tmp_path: Path, tag: str, reqs: str, index: str, resolver: str) -> tuple[bytes, list[str]]:
    src = tmp_path / f"src-{tag}"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text(reqs)
    out = tmp_path / f"{tag}.tar.gz"
    said: list[str] = []
    build(BuildOptions(source=src, output=out, index=IndexConfig(index_url=index), resolver=resolver,
                       cache_dir=tmp_path / f"cache-{tag}"), progress=lambda stage, msg: said.append(msg))
    return out.read_bytes(), said


def _vendored(artifact: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(artifact)) as tf:
        return {m.name.split("/")[1] for m in tf if m.name.startswith("vendor/") and m.name.endswith(".py")}


def test_uv_gives_the_artifact_pip_gives(tmp_path: Path, files: Path, uv: str, hermetic_pip: Path) -> None:
    with LoopbackIndex(files) as index:
        by_pip, pip_said = _build(tmp_path, "pip", "app-lib\n", index.url, "pip")
        by_uv, uv_said = _build(tmp_path, "uv", "app-lib\n", index.url, "uv")
    assert any(m.endswith("(uv)") for m in uv_said) and not any("with pip" in m for m in uv_said), \
        [m for m in uv_said if "uv" in m]
    assert not any("(uv)" in m for m in pip_said)
    assert _vendored(by_uv) == {"app_lib.py", "helper.py", "deep.py"}  # requests is the image's
    assert by_uv == by_pip


def test_an_sdist_is_built_in_a_uv_environment_with_the_same_bytes(tmp_path: Path, files: Path, uv: str,
                                                                   hermetic_pip: Path) -> None:
    with LoopbackIndex(files) as index:
        by_pip, pip_said = _build(tmp_path, "pip", "tinysd\nhelper\n", index.url, "pip")
        by_uv, uv_said = _build(tmp_path, "uv", "tinysd\nhelper\n", index.url, "uv")
    # build < 1.1 (the lowest allowed) has no --installer: the environment is pip's, bytes the same
    assert any("uv build environment" in m for m in uv_said) is build_has_uv_installer()
    assert not any("uv build environment" in m for m in pip_said)
    assert _vendored(by_uv) == {"tinysd.py", "helper.py", "deep.py"}
    assert by_uv == by_pip
    # uv's "no usable wheel" goes straight to the sdist (no pip run to hear the same), then uv again
    assert "no wheel of tinysd for the target; trying its sdist" in uv_said
    assert not any("with pip" in m for m in uv_said), uv_said


def test_an_sdist_for_a_bounded_requirement_is_the_version_it_allows(tmp_path: Path, files: Path, uv: str,
                                                                     hermetic_pip: Path) -> None:
    with LoopbackIndex(files) as index:
        by_pip, _ = _build(tmp_path, "pip", "tinysd<0.3\n", index.url, "pip")
        by_uv, uv_said = _build(tmp_path, "uv", "tinysd<0.3\n", index.url, "uv")
    assert "no wheel of tinysd<0.3 for the target; trying its sdist" in uv_said
    assert not any("with pip" in m for m in uv_said), uv_said
    with tarfile.open(fileobj=io.BytesIO(by_uv)) as tf:
        member = tf.extractfile("vendor/tinysd.py")
        assert member is not None and member.read() == b"ANSWER = 41\n"
    assert by_uv == by_pip


def test_pip_settings_uv_would_not_read_keep_pip(monkeypatch: pytest.MonkeyPatch, uv: str,
                                                 hermetic_pip: Path) -> None:
    index = IndexConfig(index_url="http://127.0.0.1:9/simple/")
    assert choose("auto", index)[0] == uv
    monkeypatch.setenv("PIP_TRUSTED_HOST", "example.invalid")
    assert choose("auto", index) == (None, "pip is configured by PIP_TRUSTED_HOST, which uv does not read")
    monkeypatch.delenv("PIP_TRUSTED_HOST")
    assert choose("auto", IndexConfig(offline=True)) == (None, "offline")
    assert choose("pip", index) == (None, "--resolver pip")


def test_a_pip_config_file_keeps_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uv: str,
                                     hermetic_pip: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = http://127.0.0.1:9/simple/\n")
    monkeypatch.setenv("HOME", str(tmp_path))  # the machine's own user file out of the way
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    uv_bin, why = choose("auto", IndexConfig())
    assert uv_bin is None and why.startswith("pip is configured by ")
    assert str(conf) in why or "/etc/" in why  # a site-wide file, where the machine has one, comes first
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # pip reads no file at all then
    assert choose("auto", IndexConfig())[0] == uv


def test_resolver_uv_without_uv_is_a_usage_error(tmp_path: Path, hermetic_pip: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text("anything\n")
    res = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--resolver", "uv",
                  env={"IGNITE_UV": str(tmp_path / "no-such-uv")})
    assert res.returncode == 2, res.stderr
    assert "--resolver uv: uv is not installed" in res.stderr and "ignite-packager[uv]" in res.stderr
    with pytest.raises(UsageError):
        choose("fast", IndexConfig())


def test_python_platform_follows_the_profile() -> None:
    from packager.deps.uvresolve import uv_args
    from packager.uvenv import uv_platform

    for name, expected in ((None, "x86_64-manylinux_2_36"), ("python3.12-arm64", "aarch64-manylinux_2_36")):
        args = uv_args(load_profile(name), IndexConfig())
        assert args[args.index("--python-platform") + 1] == expected
    assert uv_platform("linux_x86_64", "x86_64") == "x86_64-unknown-linux-gnu"


def test_the_backend_is_chosen_once_behind_one_protocol(tmp_path: Path, uv: str, hermetic_pip: Path) -> None:
    """--resolver picks the backend; uv answers what it can, and hands anything else to pip (its fallback)."""
    from packager.cache import Cache
    from packager.deps.backends import PipResolverWhenAsked, choose_resolver
    from packager.deps.pipresolve import PipResolver
    from packager.deps.record import ResolutionRecord
    from packager.deps.requirements import parse_requirements
    from packager.deps.resolver import ResolveRequest
    from packager.deps.uvresolve import UvResolver

    said: list[str] = []
    index = IndexConfig(index_url="http://127.0.0.1:9/simple/")  # nothing listens: uv cannot resolve
    assert isinstance(choose_resolver("pip", index, lambda s, m: said.append(m)), PipResolver)
    assert isinstance(choose_resolver("auto", IndexConfig(offline=True), lambda s, m: said.append(m)), PipResolver)
    backend = choose_resolver("auto", index, lambda s, m: said.append(m))
    assert isinstance(backend, UvResolver) and isinstance(backend.fallback, PipResolverWhenAsked)
    assert said == []  # offline is not worth a word

    asked: list[ResolveRequest] = []

    class Fallback:
        def resolve(self, request: ResolveRequest) -> ResolutionRecord:
            asked.append(request)
            return ResolutionRecord((), resolver="fallback")

    def no_sdist(spec: str) -> Path:
        raise AssertionError(spec)

    request = ResolveRequest(parse_requirements(b"demo\n"), load_profile(), index, Cache(tmp_path / "c").ensure(),
                             frozenset(), no_sdist, lambda s, m: said.append(m))
    assert UvResolver(uv, Fallback()).resolve(request).resolver == "fallback"
    assert asked == [request]
    assert said[-1].startswith("uv could not resolve") and said[-1].endswith("; resolving with pip")


def test_an_sdist_is_found_by_uv_without_a_pip_run(tmp_path: Path, files: Path, uv: str, hermetic_pip: Path) -> None:
    """The sdist a requirement names comes from uv's finder and our downloader (~0.1 s; pip's
    finder is a ~0.5 s pip start): the version the specifier allows, the index's hash; a hash
    that is not the lock's is pip's to report, and nothing is left behind."""
    import hashlib

    from packager.cache import Cache
    from packager.deps.sdistbuilder import SdistBuilderImpl
    from packager.deps.uvresolve import uv_sdist

    profile = load_profile("python3.12")
    older = files / "tinysd-0.2.tar.gz"
    with LoopbackIndex(files) as index:
        config = IndexConfig(index_url=index.url)
        pin = uv_sdist(uv, "tinysd<0.3", profile, config, tmp_path / "uv-cache")
        assert pin is not None and pin.name == "tinysd" and pin.version == "0.2"
        assert pin.url.endswith("/tinysd-0.2.tar.gz")
        assert pin.hashes == (f"sha256:{hashlib.sha256(older.read_bytes()).hexdigest()}",)

        builder = SdistBuilderImpl(profile, config, Cache(tmp_path / "cache").ensure(), None, lambda s, m: None, uv=lambda: uv)
        assert builder._sdist_by_uv("tinysd<0.3", (), tmp_path / "dl")
        assert [p.read_bytes() for p in (tmp_path / "dl").iterdir()] == [older.read_bytes()]
        assert not builder._sdist_by_uv("tinysd<0.3", ("sha256:" + "0" * 64,), tmp_path / "dl2")
        assert not (tmp_path / "dl2").exists()


def test_an_extra_index_with_an_older_version_gives_pips_pin(tmp_path: Path, uv: str, hermetic_pip: Path) -> None:
    """pip takes the best version of all its indexes; uv, unless told, the version of the first
    index that has the project, extra indexes first. The pins (and so the artifact) must be pip's."""
    first, extra = tmp_path / "first", tmp_path / "extra"
    make_wheel(first, "twoplaces", "2.0", files={"twoplaces.py": "V = 2\n"})
    make_wheel(extra, "twoplaces", "1.0", files={"twoplaces.py": "V = 1\n"})
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text("twoplaces\n")
    got = {}
    with LoopbackIndex(first) as a, LoopbackIndex(extra) as b:
        for resolver in ("pip", "uv"):
            said: list[str] = []
            out = tmp_path / f"{resolver}.tar.gz"
            build(BuildOptions(source=src, output=out, resolver=resolver, cache_dir=tmp_path / f"cache-{resolver}",
                               index=IndexConfig(index_url=a.url, extra_index_urls=(b.url,))),
                  progress=lambda stage, msg, said=said: said.append(msg))
            if resolver == "uv":  # uv answered, pip did not stand in
                assert any(m.endswith("(uv)") for m in said) and not any("with pip" in m for m in said), said
            with tarfile.open(out) as tf:
                member = tf.extractfile("vendor/twoplaces.py")
                assert member is not None
                got[resolver] = member.read()
    assert got == {"pip": b"V = 2\n", "uv": b"V = 2\n"}
