"""Where the size goes (issue 35): ``inspect --html`` in a real headless browser, ``--why``, ``diff --max-growth``.

The page is rendered by Debian's Chromium (``.ci/run`` installs it; under CI=true a missing
browser fails the test) with every connection sent to a closed loopback port, and the checks read
the DOM the page's own script built. The screenshot is kept in ``out/test-artifacts/``.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from packager.artifact.tarball import read_manifest
from packager.deps.profiles import generate
from packager.errors import EXIT_CODES
from packager.inspect.page import render_page
from packager.inspect.sizemap import size_map
from tests.ci_helpers import build_with, source, validate
from tests.conftest import run_cli
from tests.wheelhouse import make_wheel

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "out" / "test-artifacts"


@pytest.fixture
def wh(tmp_path: Path, hermetic_pip: Path) -> Path:
    w = tmp_path / "wheelhouse"
    make_wheel(w, "app", "1.0", requires=["middle>=1"], metadata=["License-Expression: MIT"])
    make_wheel(w, "middle", "2.0", requires=["leaf"], metadata=["License-Expression: Apache-2.0"])
    make_wheel(w, "leaf", "3.0")
    make_wheel(w, "other", "1.0", requires=["leaf"])
    make_wheel(w, "bulky", "1.0", files={
        "bulky/__init__.py": "",
        "bulky/data.py": "D = '" + "x" * 300_000 + "'\n",
        "bulky/tests/test_bulky.py": "def test_b():\n    pass\n" * 2000,
    })
    return w


def _build(tmp_path: Path, wh: Path, requirements: str, name: str) -> Path:
    out = tmp_path / f"{name}.tar.gz"
    build_with(source(tmp_path, name, requirements), out, wh)
    return out


# ---------------------------------------------------------------- --why


def test_why_names_every_chain_to_a_transitive_dependency(tmp_path: Path, wh: Path) -> None:
    art = _build(tmp_path, wh, "app\nother\n", "src")
    r = run_cli("inspect", str(art), "--why", "LEAF")
    assert r.returncode == 0, r.stdout
    lines = r.stdout.splitlines()
    assert lines[0] == "leaf 3.0 (vendored)"
    # shortest first; each chain starts at the line of requirements.txt that caused it
    assert lines[1:] == ["  requirements.txt:2 other -> leaf", "  requirements.txt:1 app -> middle -> leaf"]
    j = run_cli("inspect", str(art), "--why", "middle", "--json")
    doc = json.loads(j.stdout)
    validate(doc, "why")
    assert doc["why"]["chains"] == [{"file": "requirements.txt:1", "requirement": "app",
                                     "path": [{"name": "app", "version": "1.0", "kind": "vendored"},
                                              {"name": "middle", "version": "2.0", "kind": "vendored"}]}]


def test_why_of_a_name_not_in_the_artifact_is_its_own_error(tmp_path: Path, wh: Path) -> None:
    art = _build(tmp_path, wh, "app\n", "src")
    r = run_cli("inspect", str(art), "--why", "numpy", "--json")
    assert r.returncode == EXIT_CODES["not-in-artifact"] == 26
    err = json.loads(r.stdout)["error"]
    assert err["error"] == "not-in-artifact" and "'numpy'" in err["message"]
    assert "app, leaf, middle" in err["hint"]  # says what is there instead


def test_why_follows_a_chain_into_the_images_preinstalled_packages(tmp_path: Path, hermetic_pip: Path) -> None:
    w = tmp_path / "wh"
    make_wheel(w, "imgpkg", "1.0")
    make_wheel(w, "userlib", "1.0", requires=["imgpkg>=1"])
    profile = tmp_path / "fake.toml"
    assert generate.main(["--name", "fake", "--image", "fake:1", "--python", "3.12.12", "--roots", "imgpkg",
                          "--no-index", "--find-links", str(w), "-o", str(profile)]) == 0
    art = tmp_path / "pre.tar.gz"
    build_with(source(tmp_path, "pre", "userlib\n"), art, w, profile=str(profile))
    assert [s.name for s in read_manifest(art).skipped] == ["imgpkg"]
    r = run_cli("inspect", str(art), "--why", "imgpkg")
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines() == ["imgpkg 1.0 (preinstalled)", "  requirements.txt:1 userlib -> imgpkg (preinstalled)"]


# ---------------------------------------------------------------- diff --max-growth


def test_max_growth_fails_past_the_budget_naming_what_grew(tmp_path: Path, wh: Path) -> None:
    small = _build(tmp_path, wh, "app\n", "small")
    big = _build(tmp_path, wh, "app\nbulky\n", "big")
    over = run_cli("diff", str(small), str(big), "--max-growth", "10%", "--json")
    assert over.returncode == EXIT_CODES["size-budget"] == 27
    err = json.loads(over.stdout)["error"]
    assert "grew past the budget of 10%" in err["message"]
    assert err["hint"].startswith("grew most: bulky +")
    # bulky's 300 kB of one byte compress to ~1 kB: the unpacked size is past 10%, the compressed one is not
    assert [c["measure"] for c in err["details"]["checks"] if not c["ok"]] == ["unpacked"]
    within = run_cli("diff", str(small), str(big), "--max-growth", "50MB", "--json")
    assert within.returncode == 0, within.stdout  # different artifacts, but within the budget
    doc = json.loads(within.stdout)
    validate(doc, "diff")
    assert doc["identical"] is False and all(c["ok"] for c in doc["budget"]["checks"])
    shrink = run_cli("diff", str(big), str(small), "--max-growth", "0%")
    assert shrink.returncode == 0, shrink.stdout  # shrinking is always within a budget
    bad = run_cli("diff", str(small), str(big), "--max-growth", "lots")
    assert bad.returncode == 2 and "--max-growth" in bad.stderr


def test_max_growth_from_the_configuration_file(tmp_path: Path, wh: Path) -> None:
    small = _build(tmp_path, wh, "app\n", "small")
    big = _build(tmp_path, wh, "app\nbulky\n", "big")
    ci = tmp_path / "ci"
    ci.mkdir()
    (ci / "ignite.toml").write_text('[budget]\nmax-growth = "5%"\n')
    r = run_cli("diff", str(small), str(big), cwd=ci)
    assert r.returncode == 27, r.stdout
    assert run_cli("diff", str(small), str(big), "--max-growth", "100MB", cwd=ci).returncode == 0  # the flag wins
    assert run_cli("diff", str(small), str(big), "--no-config", cwd=ci).returncode == 1  # no budget: just "differ"


# ---------------------------------------------------------------- the size map and the page


def test_size_map_charges_every_compressed_byte_and_knows_each_distribution(tmp_path: Path, wh: Path) -> None:
    art = _build(tmp_path, wh, "app\nbulky\n", "src")
    m = read_manifest(art)
    smap = size_map(art)
    assert smap.root.compressed == art.stat().st_size  # every byte of the file is charged somewhere
    assert smap.root.size == sum(f.size for f in m.files) + smap.root.children["manifest.json"].size
    vendor = smap.root.children["vendor"]
    assert {n: c.size for n, c in vendor.children.items()} == {v.name: v.size for v in m.vendored}
    rows = {d["name"]: d for d in smap.dists}
    assert rows["app"]["license"] == "MIT" and rows["app"]["why"] == ["requirements.txt:1 app"]
    # the 300 kB of one repeated byte compress to almost nothing; the tests/ suite is what --slim drops
    assert 0 < rows["bulky"]["compressed"] < rows["bulky"]["size"] // 20
    assert rows["bulky"]["slim"] == {"applied": False, "files": 1, "bytes": len("def test_b():\n    pass\n" * 2000)}


class _Dom(html.parser.HTMLParser):
    """The rendered DOM's elements with their attributes and text, as Chromium's --dump-dom prints them."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        rows = [o for o in self._open if o["tag"] == "tr"]
        e = {"tag": tag, "attrs": dict(attrs), "text": "", "row": rows[-1]["attrs"] if rows else {}}
        self.elements.append(e)
        if tag not in ("meta", "br", "img", "input", "link"):
            self._open.append(e)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for e in self._open:
            e["text"] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, Any]]:
        return [e for e in self.elements
                if e["tag"] == tag and all(e["attrs"].get(k) == v for k, v in attrs.items())]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return exe


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dump(page: Path, tmp_path: Path, fragment: str = "") -> _Dom:
    exe = _chromium()
    r = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--proxy-server=127.0.0.1:{_closed_port()}",
         "--proxy-bypass-list=<-loopback>", "--window-size=1280,1000", "--virtual-time-budget=5000",
         "--dump-dom", page.as_uri() + fragment],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert r.returncode == 0 and "<body" in r.stdout, r.stderr[-3000:]
    dom = _Dom()
    dom.feed(r.stdout)
    return dom


def test_page_renders_offline_in_a_real_browser_with_every_distribution(tmp_path: Path, wh: Path) -> None:
    art = _build(tmp_path, wh, "app\nbulky\nother\n", "src")
    m = read_manifest(art)
    page = tmp_path / "size.html"
    r = run_cli("inspect", str(art), "--html", str(page), "--json")
    assert r.returncode == 0, r.stdout
    doc = json.loads(r.stdout)
    validate(doc, "inspect")
    assert doc["html"] == {"path": str(page), "size": page.stat().st_size}
    text = page.read_text()
    # self-contained: nothing to fetch, and the browser is told to refuse any fetch anyway
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "default-src 'none'" in text

    dom = _dump(page, tmp_path)
    assert dom.find(tag="body")[0]["attrs"].get("data-ready") == "true", "the page's script did not finish"
    for v in m.vendored:  # the keyboard/screen-reader table: every distribution with its size
        (row,) = dom.find(tag="tr", **{"data-dist": v.name})
        cells = [e for e in dom.find(tag="td", **{"data-bytes": str(v.size)}) if e["row"].get("data-dist") == v.name]
        assert len(cells) == 1 and re.fullmatch(r"[\d.]+ (B|KiB|MiB)", cells[0]["text"])
        assert v.version in row["text"]
    assert "requirements.txt:1 app -> middle -> leaf" in dom.find(tag="tr", **{"data-dist": "leaf"})[0]["text"]
    assert "would drop 1 files" in dom.find(tag="tr", **{"data-dist": "bulky"})[0]["text"]

    zoomed = _dump(page, tmp_path, "#/vendor")  # the treemap itself, zoomed into vendor/ by the link
    boxes = {e["attrs"]["data-name"]: int(e["attrs"]["data-bytes"])
             for e in zoomed.find(tag="div", **{"data-kind": "dist"})}
    assert boxes == {v.name: v.size for v in m.vendored}

    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "inspect-html.png"
    r2 = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-shot'}", f"--proxy-server=127.0.0.1:{_closed_port()}",
         "--window-size=1280,1000", "--hide-scrollbars", "--virtual-time-budget=5000",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert r2.returncode == 0 and shot.stat().st_size > 10_000, r2.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_of_a_3000_file_artifact_stays_small_and_renders(tmp_path: Path, hermetic_pip: Path) -> None:
    w = tmp_path / "wh"
    make_wheel(w, "many", "1.0", files={f"many/sub{i // 100}/mod{i}.py": f"X = {i}\n" for i in range(3000)})
    art = _build(tmp_path, w, "many\n", "big")
    smap = size_map(art)
    assert smap.root.children["vendor"].children["many"].files == 3000 + 4  # + its dist-info files
    page = tmp_path / "many.html"
    page.write_bytes(render_page(smap))
    assert page.stat().st_size < 1_000_000
    dom = _dump(page, tmp_path, "#/vendor/many")
    assert dom.find(tag="body")[0]["attrs"].get("data-ready") == "true"
    assert len(dom.find(tag="tr", **{"data-name": "many"})) == 1  # the contents table lists the package dir
