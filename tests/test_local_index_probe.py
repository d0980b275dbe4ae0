"""The index probe reads ``file://`` indexes and find-links directories (issue 28).

A build machine whose pip configuration lists a local mirror (``extra-index-url =
file:///srv/mirror/simple``) used to report an unknown package as "the package indexes …
is unreachable: 'NoneType' object has no attribute 'headers'" (exit 19): the probe's own
failure replaced the real diagnosis.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packager.deps.indexconfig import IndexConfig
from packager.deps.indexes import classify, probe
from packager.deps.profile import load_profile
from packager.errors import ProjectNotOnIndex
from tests.conftest import run_cli
from tests.wheelhouse import LoopbackIndex, make_sdist, make_wheel


def _mirror(tmp_path: Path) -> Path:
    """A PEP 503 tree on disk, as a local mirror is: simple/<project>/index.html."""
    simple = tmp_path / "mirror" / "simple"
    page = simple / "mirrored"
    page.mkdir(parents=True)
    wheel = make_wheel(tmp_path / "mirror" / "files", "mirrored", "1.0")
    (page / "index.html").write_text(f'<html><body><a href="../../files/{wheel.name}">{wheel.name}</a></body></html>')
    return simple


def test_an_unknown_package_with_a_file_index_in_pip_conf_is_not_found(tmp_path: Path, hermetic_pip: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    simple = _mirror(tmp_path)
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nextra-index-url = {simple.as_uri()}/\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(payload, ctx):\n    return 'ok'\n")
    (src / "requirements.txt").write_text("no-such-project-anywhere\n")
    files = tmp_path / "files"
    make_wheel(files, "other", "1.0")
    with LoopbackIndex(files) as index:
        r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url, "--json",
                    env={"PIP_CONFIG_FILE": str(conf)}, timeout=300)
    err = json.loads(r.stdout)["error"]
    assert r.returncode == 22, r.stdout + r.stderr
    assert err["error"] == "not-found" and "no-such-project-anywhere" in err["message"]
    assert simple.as_uri() in err["message"] and "NoneType" not in r.stdout + r.stderr


def test_file_indexes_and_find_links_directories_answer_present_and_absent(tmp_path: Path,
                                                                           hermetic_pip: Path) -> None:
    simple = _mirror(tmp_path)
    links = tmp_path / "links"
    make_sdist(links, "linked-only", "2.0")
    gone = tmp_path / "gone" / "simple"
    index = IndexConfig(index_url=simple.as_uri() + "/", extra_index_urls=(gone.as_uri(),),
                        find_links=(str(links), str(tmp_path / "no-such-dir")))
    rows = {(p.index, p.project): (p.status, p.error) for p in
            probe(["mirrored", "linked-only", "absent"], index, load_profile())}
    assert rows[(simple.as_uri() + "/", "mirrored")] == (200, None)
    assert rows[(simple.as_uri() + "/", "absent")] == (404, None)
    assert rows[(str(links), "linked-only")] == (200, None)
    assert rows[(str(links), "absent")] == (404, None)
    assert rows[(gone.as_uri(), "absent")] == (None, "unreachable")
    assert not any(i == str(tmp_path / "no-such-dir") for i, _ in rows)  # pip ignores it too


def test_a_failed_probe_never_becomes_the_diagnosis() -> None:
    from packager.deps.indexes import Probe

    probes = [Probe("https://a/simple", "x", 404, None, "", False, 0),
              Probe("file:///m/simple", "x", None, "probe", "AttributeError", False, 0)]
    assert classify(probes, where="requirements.txt") is None
    assert isinstance(classify(probes[:1], where="requirements.txt"), ProjectNotOnIndex)
