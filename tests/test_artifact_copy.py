"""Cached segments go into the artifact unread (copied by the kernel) and its digest is
remembered by its parts' digests (issue 36: a warm S2 build read, wrote and hashed 46 MB).

What must hold: the same bytes and the same sha256 as a build that read everything; a cache
file that changes after it was vouched for is never shipped; a filesystem that refuses the
kernel copy, or another filesystem, gives the same bytes; a full output disk is still named.
"""

from __future__ import annotations

import hashlib
import os
import random
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

import packager.artifact.tarball as tarball
import packager.cache as cache_mod
from packager.artifact.manifest import FileRecord
from packager.artifact.tarball import CompressedSegment, artifact_sha256, atomic_write
from packager.build import build
from packager.cache import (
    ArtifactDigests,
    Cache,
    VouchedFile,
    cache_key,
    load_blob_lazily,
    store_blob,
)
from packager.errors import ArtifactError
from packager.options import BuildOptions
from tests.ci_helpers import offline, source
from tests.wheelhouse import make_wheel


def _noise(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture
def bulky(tmp_path: Path, hermetic_pip: Path) -> tuple[Path, Path]:
    wh = tmp_path / "wheelhouse"
    # 1.2 MB of data that does not compress: a cached segment big enough for the memo
    make_wheel(wh, "bulky", "1.0", files={"bulky/__init__.py": "X = 1\n", "bulky/blob.bin": _noise(1_200_000)})
    return wh, source(tmp_path, requirements="bulky\n")


def _opts(src: Path, out: Path, wh: Path, cache: Path) -> BuildOptions:
    return BuildOptions(source=src, output=out, cache_dir=cache, **offline(wh))


def test_a_warm_build_copies_cached_segments_unread_and_writes_the_same_bytes(
        tmp_path: Path, bulky: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    wh, src = bulky
    cache = tmp_path / "cache"
    cold = build(_opts(src, tmp_path / "cold.tar.gz", wh, cache))
    blobs = {p.resolve() for p in (cache / "segments").glob("*.bin")}
    assert blobs
    read: list[Path] = []
    real_read_bytes = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(self.resolve())
        return real_read_bytes(self)

    hashed: list[int] = []
    real_sha = hashlib.sha256

    class Counting:
        """hashlib.sha256 that notes how many bytes each call and update hashes."""

        def __init__(self, data: bytes = b"") -> None:
            self._h = real_sha()
            self.update(data)

        def update(self, data: bytes) -> None:
            hashed.append(len(data))
            self._h.update(data)

        def hexdigest(self) -> str:
            return self._h.hexdigest()

    def counting(data: bytes = b"") -> Counting:
        return Counting(data)

    monkeypatch.setattr(Path, "read_bytes", spy)
    monkeypatch.setattr(tarball, "hashlib", SimpleNamespace(sha256=counting))  # (the artifact's hashing only)
    warm = build(_opts(src, tmp_path / "warm.tar.gz", wh, cache))
    monkeypatch.undo()
    vendor = [p for p in blobs if p.stat().st_size > 1_000_000]
    assert vendor and not set(vendor) & set(read)  # the vendored segment was never read into memory
    assert not any(n > 1_000_000 for n in hashed)  # nor hashed: the digest came from the memo
    data = (tmp_path / "warm.tar.gz").read_bytes()
    assert data == (tmp_path / "cold.tar.gz").read_bytes()
    assert warm.sha256 == cold.sha256 == hashlib.sha256(data).hexdigest()
    assert warm.size == cold.size == len(data)
    # the memo is host-local (never in the shared tier's kinds) and holds that digest
    notes = list((cache / "host" / "artifact-sha256").iterdir())
    assert [n.read_text() for n in notes] == [cold.sha256]
    from packager.cacheadmin import prune

    prune(cache, older_than=3600)
    assert list((cache / "host" / "artifact-sha256").iterdir()) == notes  # young: kept
    prune(cache, older_than=-1)
    assert list((cache / "host" / "artifact-sha256").iterdir()) == []


def test_a_build_without_large_cached_parts_writes_no_memo(tmp_path: Path, hermetic_pip: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "handler.py").write_text("def handler(p, c):\n    return 1\n")
    done = build(BuildOptions(source=src, output=tmp_path / "a.tar.gz", cache_dir=tmp_path / "cache"))
    assert done.sha256 == hashlib.sha256((tmp_path / "a.tar.gz").read_bytes()).hexdigest()
    assert not (tmp_path / "cache" / "host" / "artifact-sha256").exists()


def test_a_wrong_memo_cannot_be_planted_by_another_artifacts_parts(tmp_path: Path) -> None:
    """The memo's key names every part by size and sha256: other parts, another key."""
    memo = ArtifactDigests(Cache(tmp_path / "c").ensure())
    a, b = b"a" * (1 << 20), b"b" * (1 << 20)  # (known digests of a MB or more: the memo is used)
    one = [(b"header", None), (a, hashlib.sha256(a).hexdigest())]
    two = [(b"header", None), (b, hashlib.sha256(b).hexdigest())]
    d1 = artifact_sha256(one, memo)
    d2 = artifact_sha256(two, memo)
    assert d1 == hashlib.sha256(b"header" + a).hexdigest()
    assert d2 == hashlib.sha256(b"header" + b).hexdigest()
    assert artifact_sha256(one, memo) == d1 and len(list(memo.dir.iterdir())) == 2
    assert len(list(memo.dir.iterdir())) == 2
    # a large part whose digest is unknown is not hashed twice to name it: no memo entry
    big = [(b"h", None), (b"z" * (2 << 20), None)]
    assert artifact_sha256(big, memo) == hashlib.sha256(b"h" + b"z" * (2 << 20)).hexdigest()
    assert len(list(memo.dir.iterdir())) == 2


def _vouched(tmp_path: Path, blob: bytes) -> tuple[Cache, str, VouchedFile]:
    cache = Cache(tmp_path / "cache").ensure()
    key = cache_key("segment", "copy-test")
    store_blob(cache, "segments", key, {"name": "x"}, blob)
    hit = load_blob_lazily(cache, "segments", key)
    assert hit is not None and isinstance(hit[1], VouchedFile)
    return cache, key, hit[1]


def test_kernel_copy_plain_copy_and_another_filesystem_give_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = _noise(3 << 20, seed=2)
    _, _, part = _vouched(tmp_path, blob)
    want = b"head" + blob + b"tail"
    atomic_write(tmp_path / "a.bin", [b"head", part, b"tail"])
    assert (tmp_path / "a.bin").read_bytes() == want
    monkeypatch.setattr(tarball, "_KERNEL_COPY", [False])  # a system without copy_file_range
    atomic_write(tmp_path / "b.bin", [b"head", part, b"tail"])
    assert (tmp_path / "b.bin").read_bytes() == want
    monkeypatch.undo()
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        out = shm / f"ignite-copy-test-{os.getpid()}"
        out.mkdir()
        try:  # another filesystem: copy_file_range refuses (EXDEV) on recent kernels, copies on older
            atomic_write(out / "c.bin", [b"head", part, b"tail"])
            assert (out / "c.bin").read_bytes() == want
        finally:
            for f in out.iterdir():
                f.unlink()
            out.rmdir()


def test_a_cache_file_replaced_after_it_was_vouched_for(tmp_path: Path) -> None:
    blob = _noise(200_000, seed=3)
    cache, key, part = _vouched(tmp_path, blob)
    path = cache.root / "segments" / f"{key}.bin"
    seg = CompressedSegment("vendor:x", (FileRecord("x", 1, 0o644, "0" * 64),), part, zlib.crc32(b""), 0, part.sha256)
    assert seg.size == len(blob)
    # the same bytes written again (another build stored the same entry): read, checked, used
    tmp = path.with_name("replacement")
    tmp.write_bytes(blob)
    os.replace(tmp, path)
    atomic_write(tmp_path / "same.bin", [b"<", part, b">"])
    assert (tmp_path / "same.bin").read_bytes() == b"<" + blob + b">"
    assert artifact_sha256([(b"<", None), (part, part.sha256)]) == hashlib.sha256(b"<" + blob).hexdigest()
    # other bytes: never shipped, no output and no temp file left
    tmp.write_bytes(blob[:-1] + b"\x00")
    os.replace(tmp, path)
    with pytest.raises(ArtifactError, match="changed after it was checked") as exc:
        atomic_write(tmp_path / "bad.bin", [b"<", part, b">"])
    assert exc.value.where == str(path) and "run the build again" in (exc.value.hint or "")
    assert not (tmp_path / "bad.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bad.bin.")]
    with pytest.raises(ArtifactError):
        seg.data()
    # and a load after that finds out too: the entry is dropped and made again by its caller
    assert load_blob_lazily(cache, "segments", key) is None and not path.exists()


def test_a_vouched_file_deleted_before_the_write_is_named(tmp_path: Path) -> None:
    blob = _noise(1000, seed=4)
    cache, key, part = _vouched(tmp_path, blob)
    (cache.root / "segments" / f"{key}.bin").unlink()
    with pytest.raises(ArtifactError) as exc:
        atomic_write(tmp_path / "gone.bin", [part])
    assert exc.value.where == str(part.path)
    assert not (tmp_path / "gone.bin").exists()


def test_the_lazy_load_reads_and_checks_what_was_never_noted(tmp_path: Path) -> None:
    blob = _noise(5000, seed=5)
    cache = Cache(tmp_path / "cache").ensure()
    key = cache_key("segment", "unnoted")
    store_blob(cache, "segments", key, {"name": "x"}, blob)
    note = cache_mod.sha256_note(cache.root, cache.root / "segments" / f"{key}.bin")
    note.unlink()  # (an older cache, or a note lost): the bytes are read and hashed, then noted
    hit = load_blob_lazily(cache, "segments", key)
    assert hit is not None and hit[1] == blob and note.exists()
    again = load_blob_lazily(cache, "segments", key)
    assert again is not None and isinstance(again[1], VouchedFile) and again[1].read() == blob


def test_the_digest_of_parts_left_in_files_without_mmap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts in cache files are hashed through a memory map; a filesystem that cannot map
    files gives the same digest by reading them."""
    import mmap

    blob = _noise(300_000, seed=6)
    _, _, part = _vouched(tmp_path, blob)
    want = hashlib.sha256(b"<" + blob + b">").hexdigest()
    assert artifact_sha256([(b"<", None), (part, None), (b">", None)]) == want

    def refuse(*a: object, **k: object) -> object:
        raise OSError(19, "No such device")

    monkeypatch.setattr(mmap, "mmap", refuse)
    assert artifact_sha256([(b"<", None), (part, None), (b">", None)]) == want
