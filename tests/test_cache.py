"""The build cache: the fast path gives the same bytes, bad entries are rebuilt, concurrent builds are safe."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from packager.artifact.tarball import Segment, compress_segment, crc32_combine, deflate_segment
from packager.build import build
from packager.deps.indexconfig import IndexConfig
from packager.errors import FetchError
from packager.options import BuildOptions
from tests.ci_helpers import offline
from tests.conftest import REPO
from tests.wheelhouse import make_wheel


@pytest.fixture
def setup(tmp_path: Path, hermetic_pip: Path) -> tuple[Path, Path]:
    wh = tmp_path / "wheelhouse"
    # Big enough to span many deflate blocks, two distributions, one with a dependency.
    make_wheel(wh, "alpha", "1.0", requires=["beta"],
               files={"alpha/__init__.py": "X = 1\n", "alpha/data.py": f"D = {list(range(20000))!r}\n"})
    make_wheel(wh, "beta", "2.0", files={"beta.py": "B = 'b' * 1000\n"})
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("import alpha\n\ndef handler(p, c):\n    return alpha.X\n")
    (src / "requirements.txt").write_text("alpha\n")
    return wh, src


def _opts(src: Path, out: Path, wh: Path, cache: Path) -> BuildOptions:
    return BuildOptions(source=src, output=out, cache_dir=cache, **offline(wh))


def test_crc32_combine_matches_zlib() -> None:
    a, b = b"x" * 100_003, bytes(range(256)) * 77
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b""), 0) == zlib.crc32(a)
    # every bit of the length takes its own cached operator: lengths with few and many set bits
    for n in (1, 2, 3, 8, 255, 256, 4097, 65_535, 1_048_577, 3_054_876):
        tail = (bytes(range(251)) * (n // 251 + 1))[:n]
        assert crc32_combine(zlib.crc32(a), zlib.crc32(tail), n) == zlib.crc32(a + tail), n


def test_segments_join_into_one_valid_gzip_member() -> None:
    from packager.artifact.tarball import Entry

    s1 = compress_segment(Segment("a", (Entry("a.txt", b"a" * 5000),)), 0, 6)
    s2 = compress_segment(Segment("b", (Entry("b.txt", b"b" * 7000),)), 0, 6)
    body = s1.deflated + s2.deflated + deflate_segment(b"", 6, final=True)
    raw = zlib.decompress(body, -zlib.MAX_WBITS)
    assert len(raw) == s1.length + s2.length


def test_fast_path_and_cacheless_build_are_byte_identical(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    wh, src = setup
    cold = build(_opts(src, tmp_path / "cold.tar.gz", wh, tmp_path / "cache-a"))
    warm = build(_opts(src, tmp_path / "warm.tar.gz", wh, tmp_path / "cache-a"))  # segments from the cache
    fresh = build(_opts(src, tmp_path / "fresh.tar.gz", wh, tmp_path / "cache-b"))  # an empty cache
    assert cold.sha256 == warm.sha256 == fresh.sha256
    assert any((tmp_path / "cache-a" / "segments").glob("*.bin"))
    with tarfile.open(tmp_path / "warm.tar.gz", "r|gz") as tf:
        names = tf.getnames()
    assert "vendor/alpha/data.py" in names and "vendor/beta.py" in names


def test_corrupted_cache_entries_are_rebuilt_not_shipped(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    wh, src = setup
    cache = tmp_path / "cache"
    good = build(_opts(src, tmp_path / "good.tar.gz", wh, cache))
    # Corrupt every cached segment's bytes and every resolution record.
    for f in (cache / "segments").glob("*.bin"):
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0xFF
        f.write_bytes(bytes(data))
    for f in (cache / "resolutions").glob("*.json"):
        doc = json.loads(f.read_text())
        doc["data"]["install"] = []
        f.write_text(json.dumps(doc))
    again = build(_opts(src, tmp_path / "again.tar.gz", wh, cache))
    assert again.sha256 == good.sha256
    assert {v.name for v in again.manifest.vendored} == {"alpha", "beta"}


def test_corrupted_cached_wheel_is_not_used(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    wh, src = setup
    cache = tmp_path / "cache"
    lock = tmp_path / "requirements.lock"
    import hashlib

    lines = []
    for w in sorted(wh.glob("*.whl")):
        name, version = w.name.split("-")[:2]
        lines.append(f"{name}=={version} --hash=sha256:{hashlib.sha256(w.read_bytes()).hexdigest()}")
    lock.write_text("\n".join(lines) + "\n")
    opts = BuildOptions(source=src, output=tmp_path / "a.tar.gz", cache_dir=cache, lock=lock,
                        index=IndexConfig(offline=True))
    # Only the cache can provide the wheels: seed it, then corrupt one copy.
    (cache / "wheels").mkdir(parents=True)
    for w in wh.glob("*.whl"):
        (cache / "wheels" / w.name).write_bytes(w.read_bytes())
    build(opts)
    victim = next((cache / "wheels").glob("alpha-*.whl"))
    victim.write_bytes(victim.read_bytes()[:-10] + b"corrupted!")
    with pytest.raises(FetchError) as err:
        build(BuildOptions(source=src, output=tmp_path / "b.tar.gz", cache_dir=cache, lock=lock,
                           index=IndexConfig(offline=True)))
    assert "alpha==1.0" in err.value.message  # the bad copy is refused, never shipped
    assert not (tmp_path / "b.tar.gz").exists()


def test_concurrent_builds_sharing_one_cache(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    wh, src = setup
    cache = tmp_path / "cache"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from packager.build import build\n"
        "from packager.options import BuildOptions\n"
        "from packager.deps.piprun import IndexConfig\n"
        "wh, src, out, cache = map(Path, sys.argv[1:5])\n"
        "r = build(BuildOptions(source=src, output=out, cache_dir=cache, wheelhouses=(wh,),\n"
        "          index=IndexConfig(find_links=(str(wh),), offline=True)))\n"
        "print(r.sha256)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(wh), str(src), str(tmp_path / f"o{i}.tar.gz"), str(cache)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for i in range(4)
    ]
    digests = set()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        digests.add(out.strip())
    assert len(digests) == 1
    # And the cache they left behind still gives the same bytes.
    assert build(_opts(src, tmp_path / "after.tar.gz", wh, cache)).sha256 in digests
    assert not list(cache.rglob(".*.tmp")) and not [p for p in cache.rglob(".*") if p.is_file()]


def test_a_large_segment_is_chunked_the_same_way_on_any_pool_and_reads_back() -> None:
    """Chunks (primed with the 32 KiB before them) decode as one stream, compress about as
    well as one stream, and do not depend on how many threads compressed them."""
    from concurrent.futures import ThreadPoolExecutor

    from packager.artifact.tarball import CHUNK_BYTES, Entry

    rnd = random.Random(7)
    words = [bytes(rnd.choice(b"abcdefghij") for _ in range(rnd.randint(3, 9))) for _ in range(400)]
    text = b" ".join(rnd.choice(words) for _ in range(CHUNK_BYTES // 2))  # ~3 chunks of compressible text
    seg = Segment("vendor:big", (Entry("vendor/big.txt", text), Entry("vendor/small.py", b"X = 1\n")))
    own = compress_segment(seg, 0, 4)
    with ThreadPoolExecutor(max_workers=1) as one, ThreadPoolExecutor(max_workers=3) as three:
        assert compress_segment(seg, 0, 4, one).deflated == own.deflated
        assert compress_segment(seg, 0, 4, three).deflated == own.deflated
    assert own.length > 2 * CHUNK_BYTES
    tar = seg.tar(0)
    assert zlib.decompress(own.deflated + deflate_segment(b"", 4, final=True), -zlib.MAX_WBITS) == tar
    assert own.crc == zlib.crc32(tar)
    single = deflate_segment(tar, 4, final=False)
    assert len(own.deflated) <= len(single) * 1.002  # priming keeps the ratio (unprimed chunks lose more)


def test_a_segment_of_two_chunks_deflated_on_the_callers_thread_is_the_pool_s_bytes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two chunks without a pool are deflated without one (the last on one plain thread): the
    same bytes as any pool, primed the same way, not one unchunked stream."""
    import concurrent.futures
    from concurrent.futures import ThreadPoolExecutor

    from packager.artifact.tarball import CHUNK_BYTES, Entry

    rnd = random.Random(11)
    text = bytes(rnd.choice(b"abcdefgh ") for _ in range(CHUNK_BYTES + CHUNK_BYTES // 2))
    seg = Segment("launcher", (Entry("__ignite__/big.txt", text),))
    tar = seg.tar(0)
    assert CHUNK_BYTES < len(tar) <= 2 * CHUNK_BYTES
    def no_pool(*_a: object) -> None:
        raise AssertionError("a pool was made for two chunks")

    with monkeypatch.context() as m:
        m.setattr(concurrent.futures, "ThreadPoolExecutor", no_pool)
        own = compress_segment(seg, 0, 4)
    with ThreadPoolExecutor(max_workers=2) as two:
        assert compress_segment(seg, 0, 4, two).deflated == own.deflated
    assert own.deflated != deflate_segment(tar, 4, final=False)
    assert zlib.decompress(own.deflated + deflate_segment(b"", 4, final=True), -zlib.MAX_WBITS) == tar
    assert own.crc == zlib.crc32(tar) and own.length == len(tar)


def test_a_chunk_that_fails_on_the_helper_thread_fails_on_the_caller_s() -> None:
    from packager.artifact.tarball import _beside

    def work(n: int) -> bytes:
        if n == 2:
            raise OSError(28, "No space left on device")
        return bytes([n])

    assert _beside(work, [1, 3]) == [b"\x01", b"\x03"] and _beside(work, [5]) == [b"\x05"]
    with pytest.raises(OSError, match="No space left"):
        _beside(work, [1, 2])


def test_a_json_entry_nested_too_deep_to_read_is_dropped_and_recomputed(tmp_path: Path) -> None:
    """A cache entry JSON cannot parse without a RecursionError counts as corrupted, as any other."""
    from packager.cache import Cache

    cache = Cache(tmp_path / "cache").ensure()
    cache.put_json("resolutions", "ok", {"install": ["alpha"]})
    assert cache.get_json("resolutions", "ok") == {"install": ["alpha"]}
    deep = cache.resolutions / "deep.json"
    deep.write_bytes(b'{"sha256": "0", "data": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    assert cache.get_json("resolutions", "deep") is None
    assert not deep.exists()


def test_a_cached_files_digest_is_noted_per_stat_stamp_and_any_rewrite_rehashes(tmp_path: Path) -> None:
    """noted_sha256: the note is believed while size, mtime, ctime and inode hold; rewriting the
    file, even with the same bytes and its old mtime put back, changes ctime: hashed again."""
    import hashlib
    import os
    import time

    from packager.cache import Cache, noted_sha256

    cache = Cache(tmp_path / "cache").ensure()
    wheel = cache.wheels / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK" + b"x" * 5000)
    real = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert noted_sha256(cache, wheel) == real
    (note,) = (cache.root / "host" / "sha256").iterdir()
    stamp, digest = note.read_text().split(" ")
    assert digest == real
    note.write_text(f"{stamp} {'0' * 64}")
    assert noted_sha256(cache, wheel) == "0" * 64  # the note stands for the hash while the stamp holds
    st = os.stat(wheel)
    time.sleep(0.01)
    with open(wheel, "r+b") as fh:  # the same bytes, written again
        fh.write(b"PK")
    os.utime(wheel, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime put back
    assert noted_sha256(cache, wheel) == real
    assert note.read_text().split(" ")[1] == real
    note.write_text("garbage")
    assert noted_sha256(cache, wheel) == real


def test_a_segment_is_vouched_for_by_its_noted_stamp_and_hashed_again_when_rewritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_blob: a warm build need not hash its cached segments again (S2: 45 MB, ~25 ms) while
    their stat stamps hold; any rewrite changes ctime, and the bytes are hashed and checked."""
    import hashlib

    import packager.cache as cache_mod
    from packager.cache import Cache, cache_key, load_blob, sha256_note, store_blob
    from packager.cacheadmin import prune

    cache = Cache(tmp_path / "cache").ensure()
    key = cache_key("segment", "demo")
    blob = bytes(range(256)) * 400
    store_blob(cache, "segments", key, {"name": "demo"}, blob)
    path = cache.root / "segments" / f"{key}.bin"
    note = sha256_note(cache.root, path)
    assert note.read_text().split(" ")[1] == hashlib.sha256(blob).hexdigest()

    hashed: list[int] = []
    real = hashlib.sha256

    def counting(data: bytes = b"", **kw: object) -> object:
        hashed.append(len(data))
        return real(data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_mod.hashlib, "sha256", counting)
    got = load_blob(cache, "segments", key)
    assert got is not None and got[1] == blob and len(blob) not in hashed  # the note vouched
    path.write_bytes(blob)  # the same bytes, written again: a new stamp
    got = load_blob(cache, "segments", key)
    assert got is not None and got[1] == blob and len(blob) in hashed
    hashed.clear()
    assert load_blob(cache, "segments", key) is not None and len(blob) not in hashed  # noted again
    path.write_bytes(blob[:-1] + b"\x00")  # other bytes: found out, the entry goes
    assert load_blob(cache, "segments", key) is None
    assert not path.exists()

    store_blob(cache, "segments", key, {"name": "demo"}, blob)
    assert note.exists()
    prune(cache.root, older_than=-1)
    assert not path.exists() and not note.exists()
