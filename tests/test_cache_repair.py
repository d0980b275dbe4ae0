"""A damaged cache is repaired, never a failure (issue 31 items 6 and 11).

Deleting or corrupting one sdist-built wheel made every later build fail (exit 8, "hash
mismatch") until --refresh; losing its sidecar flipped built_from_sdist to false; resolutions
stored absolute paths into the cache, so a copied cache read the old location; an entry
replaced by a directory stayed broken.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from packager.build import BuildResult, build
from packager.deps.indexconfig import IndexConfig
from packager.options import BuildOptions
from tests.wheelhouse import make_sdist, make_wheel

WHEEL = "puresdist-0.3-py3-none-any.whl"


@pytest.fixture
def fn(tmp_path: Path, hermetic_pip: Path) -> Callable[[Path, str], BuildResult]:
    wh = tmp_path / "wh"
    make_sdist(wh, "puresdist", "0.3", module_source="ANSWER = 42\n")
    make_wheel(wh, "demo", "1.0")
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("import puresdist\n\ndef handler(payload, ctx):\n    return puresdist.ANSWER\n")
    (src / "requirements.txt").write_text("puresdist\ndemo\n")

    def run(cache: Path, out: str) -> BuildResult:
        return build(BuildOptions(source=src, output=tmp_path / out, cache_dir=cache,
                                  index=IndexConfig(find_links=(str(wh),), offline=True), wheelhouses=(wh,)))
    return run


def _built(result: BuildResult) -> bool:
    return {d.name: d.built_from_sdist for d in result.manifest.vendored}["puresdist"]


@pytest.mark.parametrize("damage", ["delete", "corrupt", "sidecar", "directory"])
def test_a_damaged_sdist_built_wheel_is_rebuilt_from_its_sdist(tmp_path: Path, fn: Callable[[Path, str], BuildResult],
                                                               damage: str) -> None:
    cache = tmp_path / "cache"
    first = fn(cache, "a.tar.gz")
    assert _built(first)
    wheel = cache / "built" / WHEEL
    if damage == "delete":
        wheel.unlink()
    elif damage == "corrupt":
        wheel.write_bytes(b"PK\x03\x04 not the wheel any more")
    elif damage == "sidecar":
        (cache / "built" / (WHEEL + ".sdist-sha256")).unlink()
    else:
        wheel.unlink()
        (wheel / "sub").mkdir(parents=True)
    again = fn(cache, "b.tar.gz")
    assert _built(again)  # never flips to a published wheel
    assert again.sha256 == first.sha256  # the same wheel, rebuilt (reproducible sdist builds)
    assert wheel.is_file()  # the cache is repaired: the next build finds it
    third = fn(cache, "c.tar.gz")
    assert third.sha256 == first.sha256


def test_a_copied_cache_works_and_refers_to_nothing_by_path(tmp_path: Path,
                                                            fn: Callable[[Path, str], BuildResult]) -> None:
    old = tmp_path / "old-cache"
    first = fn(old, "a.tar.gz")
    new = tmp_path / "new-cache"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    again = fn(new, "b.tar.gz")
    assert again.sha256 == first.sha256 and _built(again)
    assert not old.exists()  # nothing was read from, or written to, the old place
    for entry in (new / "resolutions").iterdir():
        assert str(old) not in entry.read_text() and "old-cache" not in entry.read_text()


def test_a_file_changed_on_the_index_since_the_cached_resolution_says_refresh(tmp_path: Path,
                                                                             hermetic_pip: Path) -> None:
    """No lock is involved: the hint is --refresh, not "re-lock"."""
    from tests.conftest import run_cli
    from tests.wheelhouse import LoopbackIndex

    files = tmp_path / "files"
    make_wheel(files, "demo", "1.0")
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 1\n")
    (src / "requirements.txt").write_text("demo\n")
    cache = tmp_path / "cache"
    with LoopbackIndex(files) as index:
        args = ["build", str(src), "--index-url", index.url, "--cache-dir", str(cache), "--resolver", "pip"]
        assert run_cli(*args, "-o", str(tmp_path / "a.tar.gz")).returncode == 0
        for wheel in (cache / "wheels").iterdir():
            wheel.unlink()
        make_wheel(files, "demo", "1.0", files={"demo.py": "CHANGED = True\n"})  # same name, other bytes
        r = run_cli(*args, "-o", str(tmp_path / "b.tar.gz"))
        assert r.returncode == 8, r.stderr
        assert "--refresh" in r.stderr and "re-lock" not in r.stderr
        assert run_cli(*args, "--refresh", "-o", str(tmp_path / "c.tar.gz")).returncode == 0
