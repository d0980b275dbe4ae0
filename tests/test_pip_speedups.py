"""The resolution speed-ups inside the pip shim give exactly pip's answer.

A loopback PEP 691 (JSON) index lists many files the target cannot use next to
the ones it can; resolution through the patched pip must pick what plain pip
picks, and the tag filter must never drop a wheel pip would accept.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from packager.deps._pipshim import wheel_may_fit
from packager.deps.piprun import target_args
from packager.deps.profile import load_profile
from tests.wheelhouse import make_wheel

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


class _Index(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    pages: dict[str, bytes] = {}

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in self.pages:
            body, ctype = self.pages[path], "application/vnd.pypi.simple.v1+json"
        elif path in self.files:
            body, ctype = self.files[path], "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def json_index(tmp_path: Path) -> Iterator[str]:
    """``fitpkg``: 3.0 only for other platforms/Pythons (40 wheels), 2.0 for the target, 1.0 pure."""
    wheels = tmp_path / "wheels"
    listed: list[tuple[str, Path]] = []
    for plat in ("win_amd64", "macosx_11_0_arm64", "musllinux_1_1_x86_64", "manylinux_2_17_aarch64"):
        for py in ("cp38", "cp39", "cp310", "cp311", "cp313"):
            listed.append(("3.0", make_wheel(wheels / f"{py}{plat}", "fitpkg", "3.0", tag=f"{py}-{py}-{plat}")))
        listed.append(("3.0", make_wheel(wheels / f"py2{plat}", "fitpkg", "3.0", tag=f"cp312-cp312-{plat}")))
    listed.append(("2.0", make_wheel(wheels / "t", "fitpkg", "2.0", requires=["helper"],
                                     tag="cp312-cp312-manylinux_2_5_x86_64.manylinux1_x86_64")))
    listed.append(("1.0", make_wheel(wheels / "p", "fitpkg", "1.0", tag="py3-none-any")))
    helper = make_wheel(wheels / "h", "helper", "0.5", tag="py2.py3-none-any")

    def page(project: str, entries: list[Path]) -> bytes:
        return json.dumps({"meta": {"api-version": "1.0"}, "name": project, "files": [
            {"filename": p.name, "url": f"/files/{p.name}", "hashes": {}} for p in entries]}).encode()

    _Index.files = {f"/files/{p.name}": p.read_bytes() for _, p in listed}
    _Index.files[f"/files/{helper.name}"] = helper.read_bytes()
    _Index.pages = {"/simple/fitpkg/": page("fitpkg", [p for _, p in listed]),
                    "/simple/helper/": page("helper", [helper])}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


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
