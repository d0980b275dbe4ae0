"""uv and pip give the same pins on the bench sets, against the real package index.

Marked ``network``; `make test-all` runs them. The hermetic counterpart is
tests/test_uv_resolver.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from packager.build import build
from packager.deps.profile import load_profile
from packager.deps.requirements import parse_requirements
from packager.deps.uvresolve import find_uv
from packager.options import BuildOptions
from packager.resolution import resolve_for

pytestmark = pytest.mark.network

#: bench/build_bench.py's sets (S3 is built whole: it needs an sdist)
SETS = {
    "S1": "pyyaml\norjson\npython-slugify\n",
    "S2": "scikit-learn\nrequests\n",
    "pydantic-extras": "pydantic[email]\nhttpx[http2]\n",
}


@pytest.fixture(scope="module")
def uv() -> str:
    found = find_uv()
    if found is None:
        pytest.fail("uv is missing: the test extra installs it (ignite-packager[uv])")
    return found


@pytest.fixture
def public_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("PIP_") and key != "PIP_CERT":
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


@pytest.mark.parametrize("name", sorted(SETS))
def test_uv_pins_equal_pips_on_the_bench_sets(name: str, tmp_path: Path, uv: str, public_index: None) -> None:
    reqs = parse_requirements(SETS[name].encode(), "requirements.txt")
    profile = load_profile(None)
    said: list[str] = []
    got = {}
    for resolver in ("pip", "uv"):
        options = BuildOptions(source=tmp_path, output=tmp_path / "x", resolver=resolver,
                               cache_dir=tmp_path / f"cache-{resolver}")
        resolution, _, _ = resolve_for(reqs, profile, options, lambda s, m: said.append(m))
        got[resolver] = resolution
    assert any(m.endswith("(uv)") for m in said) and not any("with pip" in m for m in said), said
    assert got["uv"].pins == got["pip"].pins  # names, versions, sha256, file URLs
    assert got["uv"].skipped == got["pip"].skipped
    assert got["uv"].digest == got["pip"].digest


def test_the_sdist_set_builds_the_same_bytes(tmp_path: Path, uv: str, public_index: None) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 'ok'\n")
    (src / "requirements.txt").write_text("docopt\nattrs\n")
    out: dict[str, bytes] = {}
    said: list[str] = []
    for resolver in ("pip", "uv"):
        target = tmp_path / f"{resolver}.tar.gz"
        build(BuildOptions(source=src, output=target, resolver=resolver, cache_dir=tmp_path / f"cache-{resolver}"),
              progress=lambda s, m: said.append(m))
        out[resolver] = target.read_bytes()
    assert any("uv build environment" in m for m in said)
    assert out["uv"] == out["pip"]


@pytest.mark.parametrize("requirements", [SETS["S1"], "docopt\nattrs\n"], ids=["S1", "S3-sdist"])
def test_the_commonest_cold_build_resolves_first_and_writes_pips_bytes(
        tmp_path: Path, uv: str, public_index: None, requirements: str) -> None:
    """`ignite-pack build DIR -o OUT` in an empty cache, as CI runs it: uv's resolution started
    before the CLI was imported is the one the build used (uv ran once more only for the sdist
    round), and the artifact is the bytes of a build resolved by pip."""
    from tests.conftest import run_cli

    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 'ok'\n")
    (src / "requirements.txt").write_text(requirements)
    log, wrapper = tmp_path / "uv.log", tmp_path / "bin" / "uv"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{uv}" "$@"\n')
    wrapper.chmod(0o755)
    out = {}
    for resolver in ("auto", "pip"):
        target = tmp_path / f"{resolver}.tar.gz"
        words = ["build", str(src), "-o", str(target)] + (["--resolver", "pip"] if resolver == "pip" else [])
        res = run_cli(*words, env={"IGNITE_CACHE_DIR": str(tmp_path / f"cache-{resolver}"),
                                   "IGNITE_UV": str(wrapper), "SOURCE_DATE_EPOCH": "1700000000"}, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        out[resolver] = target.read_bytes()
    runs = [line.split()[:2] for line in log.read_text().splitlines()]
    assert runs[0] == ["pip", "compile"] and ["python", "find"] not in runs, runs
    if "docopt" not in requirements:
        assert runs == [["pip", "compile"]], runs
    assert out["auto"] == out["pip"]
