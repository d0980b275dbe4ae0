"""The resolution speed-ups inside the pip shim give exactly pip's answer.

A loopback PEP 691 (JSON) index lists many files the target cannot use next to
the ones it can; resolution through the patched pip must pick what plain pip
picks, and the tag filter must never drop a wheel pip would accept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from packager.deps._pipshim import wheel_may_fit
from packager.deps.piprun import target_args
from packager.deps.profile import load_profile
from tests.wheelhouse import LoopbackIndex, make_wheel

REPO = Path(__file__).resolve().parents[1]

TAGS = frozenset({"cp312-cp312-manylinux_2_17_x86_64", "cp312-abi3-manylinux_2_17_x86_64",
                  "py3-none-any", "cp312-none-any"})


@pytest.mark.parametrize(("filename", "fits"), [
    ("a-1.0-py3-none-any.whl", True),
    ("a-1.0-py2.py3-none-any.whl", True),
    ("a-1.0-cp312-cp312-manylinux_2_5_x86_64.manylinux_2_17_x86_64.whl", True),
    ("a-1.0-cp38-abi3.cp312-abi3-manylinux_2_17_x86_64.whl", True),
    ("a-1.0-1build-cp312-cp312-manylinux_2_17_x86_64.whl", True),
    ("A-1.0-CP312-CP312-MANYLINUX_2_17_X86_64.whl", True),
    ("a-1.0-cp312-cp312-win_amd64.whl", False),
    ("a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", False),
    ("a-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux_2_17_i686.whl", False),
    ("a-1.0-py2-none-any.whl", False),
    ("not-a-wheel-name-at-all-here.whl", True),  # 7 fields: pip rejects it itself
    ("short-1.0.whl", True),
])
def test_wheel_may_fit(filename: str, fits: bool) -> None:
    assert wheel_may_fit(filename, TAGS) is fits


@pytest.fixture
def json_index(tmp_path: Path) -> Iterator[str]:
    """``fitpkg``: 3.0 only for other platforms/Pythons (24 wheels), 2.0 for the target, 1.0 pure."""
    files = tmp_path / "files"
    for plat in ("win_amd64", "macosx_11_0_arm64", "musllinux_1_1_x86_64", "manylinux_2_17_aarch64"):
        for py in ("cp38", "cp39", "cp310", "cp311", "cp313"):
            make_wheel(files, "fitpkg", "3.0", tag=f"{py}-{py}-{plat}")
        make_wheel(files, "fitpkg", "3.0", tag=f"cp312-cp312-{plat}")
    make_wheel(files, "fitpkg", "2.0", requires=["helper"], tag="cp312-cp312-manylinux_2_5_x86_64.manylinux1_x86_64")
    make_wheel(files, "fitpkg", "1.0", tag="py3-none-any")
    make_wheel(files, "helper", "0.5", tag="py2.py3-none-any")
    with LoopbackIndex(files, json_pages=True) as index:
        yield index.url


def _run(tmp_path: Path, index: str, *, plain: bool, reqs: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    profile = load_profile(None)
    (tmp_path / "r.txt").write_text(reqs)
    report = tmp_path / ("plain.json" if plain else "fast.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONPATH=str(REPO), IGNITE_TARGET_MARKERS=json.dumps(profile.markers))
    if plain:
        env["IGNITE_PIP_PLAIN"] = "1"
    res = subprocess.run(
        [sys.executable, "-m", "packager.deps._pipshim", "pip", "install", "--dry-run", "--ignore-installed",
         "--report", str(report), "-r", str(tmp_path / "r.txt"), *target_args(profile), "--index-url", index],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    return res, report


def _resolve(tmp_path: Path, index: str, *, plain: bool, reqs: str) -> list[tuple[str, str]]:
    res, report = _run(tmp_path, index, plain=plain, reqs=reqs)
    assert res.returncode == 0, res.stderr
    data = json.loads(report.read_text())
    return sorted((i["metadata"]["name"], i["metadata"]["version"]) for i in data["install"])


def test_resolution_with_the_tag_filter_equals_plain_pip(tmp_path: Path, json_index: str) -> None:
    fast = _resolve(tmp_path, json_index, plain=False, reqs="fitpkg\n")
    plain = _resolve(tmp_path, json_index, plain=True, reqs="fitpkg\n")
    assert fast == plain == [("fitpkg", "2.0"), ("helper", "0.5")]


def test_a_version_only_other_platforms_have_fails_the_same_way(tmp_path: Path, json_index: str) -> None:
    fast, _ = _run(tmp_path, json_index, plain=False, reqs="fitpkg>=3\n")
    plain, _ = _run(tmp_path, json_index, plain=True, reqs="fitpkg>=3\n")
    assert fast.returncode == plain.returncode != 0
    seen = [ln for ln in fast.stderr.splitlines() if "from versions:" in ln]
    assert seen == [ln for ln in plain.stderr.splitlines() if "from versions:" in ln]
    assert seen and "(from versions: 1.0, 2.0)" in seen[0]


def test_the_tls_warm_up_thread_is_waited_for_at_exit_even_from_a_daemon_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """It is started from the early-resolution (daemon) thread; a daemon warm-up was still inside
    OpenSSL when a failed build exited, and exit() crashed under it (SIGSEGV)."""
    import threading

    from packager.deps import download as fetch

    release = threading.Event()
    monkeypatch.setattr(fetch, "_ssl_context", lambda: release.wait(10))
    seen: list[bool] = []

    def from_daemon() -> None:
        fetch.warm_up()
        seen.extend(t.daemon for t in threading.enumerate() if t.name == "ignite-tls-warm-up")

    t = threading.Thread(target=from_daemon, daemon=True)
    t.start()
    t.join(10)
    release.set()
    assert seen == [False]


def test_the_plain_switch_reaches_the_shim(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_pip passes an allow-listed environment: IGNITE_PIP_PLAIN must be on the list."""
    from packager.deps import piprun

    seen: dict[str, str] = {}

    def fake_run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.update(kw["env"])
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(piprun, "run_child", fake_run)  # every pip run goes through runtime.run_child
    monkeypatch.setenv("IGNITE_PIP_PLAIN", "1")
    piprun.run_pip("pip", ["--version"], load_profile(None))
    assert seen.get("IGNITE_PIP_PLAIN") == "1"
    monkeypatch.delenv("IGNITE_PIP_PLAIN")
    seen.clear()
    piprun.run_pip("pip", ["--version"], load_profile(None))
    assert "IGNITE_PIP_PLAIN" not in seen
